#pragma once

// Moved to util/thread_annotations.hpp. Only storage/store.cpp still includes this path; it
// goes once that file includes the new one.
#include "util/thread_annotations.hpp"
