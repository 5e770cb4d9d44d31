// Fuzzes the cluster's peer messages (libkvs/src/cluster/message.*): join, join_reply, gossip,
// leave. Properties:
//   - any bytes decode to a message or an error, never more than the bounds allow;
//   - a decoded message re-encodes to text that decodes to the same message, and that text is
//     stable (encoding it again gives the same bytes);
//   - peer_path and message_type_name are defined for every decoded message.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "cluster/message.hpp"
#include "fuzz_check.hpp"

using namespace kvs::cluster;

namespace {

void check_entry(const MemberEntry& entry) {
  KVS_FUZZ_CHECK(!entry.id.empty() && entry.id.size() <= kMaxIdBytes);
  KVS_FUZZ_CHECK(!entry.address.empty() && entry.address.size() <= kMaxAddressBytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = decode_message(bytes);
  if (!decoded.is_ok()) return 0;
  std::visit(
      [](const auto& message) {
        using T = std::decay_t<decltype(message)>;
        if constexpr (std::is_same_v<T, JoinRequest> || std::is_same_v<T, Leave>) {
          check_entry(message.member);
        } else {
          KVS_FUZZ_CHECK(message.members.size() <= kMaxMembersPerMessage);
          for (const auto& entry : message.members) check_entry(entry);
        }
      },
      *decoded);
  KVS_FUZZ_CHECK(!message_type_name(*decoded).empty());
  KVS_FUZZ_CHECK(peer_path(*decoded).rfind("/members/", 0) == 0);
  std::string encoded = encode_message(*decoded);
  auto again = decode_message(encoded);
  KVS_FUZZ_CHECK(again.is_ok());
  KVS_FUZZ_CHECK(*again == *decoded);
  KVS_FUZZ_CHECK(encode_message(*again) == encoded);
  return 0;
}
