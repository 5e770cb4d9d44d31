// The public key and document checks of kvs/node.hpp. The rules live in util/ (util/key.hpp,
// util/json.hpp), below kvs::Node, so that the layers under it need not include node.hpp.

#include "kvs/node.hpp"

#include "util/json.hpp"
#include "util/key.hpp"

namespace kvs {

Result<std::string> normalize_key(std::string_view raw, bool allow_reserved) {
  return util::normalize_key(raw, allow_reserved);
}

Status validate_json(std::string_view json) { return util::validate_json(json); }

}  // namespace kvs
