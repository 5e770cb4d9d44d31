#pragma once

// Small helpers for writing JSON text by hand in the features' REST renderings (audit pages,
// backup lists). Pure functions, safe from any thread.

#include <string>
#include <string_view>

namespace kvs::features {

// The JSON string literal (quotes included) of `text`: escapes quote, backslash and control
// characters, and replaces bytes that are not valid UTF-8 with U+FFFD, so the output is always
// valid JSON whatever bytes a key or actor holds.
std::string json_quote(std::string_view text);

}  // namespace kvs::features
