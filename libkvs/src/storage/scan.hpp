#pragma once
// The visitor of a scan over the current versions in path order (Store::scan_skipping,
// WriteView::scan, Tables::scan_versions): it sees each version and says what comes next.

#include <functional>
#include <string>

#include "kvs/version.hpp"

namespace kvs::storage {

// The next version, the end of the scan, or a skip to the first path >= the `skip_to` the
// visitor set (greater than the path it was given), seeking past what lies between instead of
// reading it.
enum class ScanStep { kNext, kStop, kSkip };

// The visitor may move members out of the version it is given (a _range page takes each
// document instead of copying it): the scan reads nothing of it afterwards.
using ScanVisitor = std::function<ScanStep(Version&, std::string& skip_to)>;

}  // namespace kvs::storage
