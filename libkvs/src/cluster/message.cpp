#include "cluster/message.hpp"

#include <string>
#include <string_view>
#include <utility>

#include <simdjson.h>

#include "kvs/cluster.hpp"
#include "util/json_writer.hpp"

namespace kvs::cluster {

int compare_freshness(const MemberEntry& a, const MemberEntry& b) noexcept {
  if (a.incarnation != b.incarnation) return a.incarnation > b.incarnation ? 1 : -1;
  if (a.heartbeat != b.heartbeat) return a.heartbeat > b.heartbeat ? 1 : -1;
  if (a.state != b.state) return a.state == EntryState::kLeft ? 1 : -1;
  return 0;
}

std::string_view message_type_name(const PeerMessage& message) noexcept {
  switch (message.index()) {
    case 0: return "join";
    case 1: return "join_reply";
    case 2: return "gossip";
    case 3: return "leave";
    default: return "unknown";
  }
}

std::string_view peer_path(const PeerMessage& message) noexcept {
  return std::holds_alternative<JoinRequest>(message) ? peer_protocol::kJoin : peer_protocol::kGossip;
}

namespace {

// A minimal JSON writer: only what the peer messages need (objects, arrays of objects, strings
// and integers). Strings are written by util/json_writer.hpp.
class Writer {
 public:
  void begin_object() { separate(); out_ += '{'; first_ = true; }
  void end_object() { out_ += '}'; first_ = false; }
  void begin_array(std::string_view key) { write_key(key); out_ += '['; first_ = true; }
  void end_array() { out_ += ']'; first_ = false; }
  void key_string(std::string_view key, std::string_view value) { write_key(key); write_string(value); }
  void key_bool(std::string_view key, bool value) {
    write_key(key);
    out_ += value ? "true" : "false";
    first_ = false;
  }
  void key_int(std::string_view key, std::int64_t value) {
    write_key(key);
    out_ += std::to_string(value);
    first_ = false;
  }
  void key_uint(std::string_view key, std::uint64_t value) {
    write_key(key);
    out_ += std::to_string(value);
    first_ = false;
  }
  // The key of a nested object; the object follows with begin_object().
  void object_key(std::string_view key) { write_key(key); }
  std::string take() { return std::move(out_); }

 private:
  void separate() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  void write_key(std::string_view key) {
    separate();
    write_string(key);
    out_ += ':';
    first_ = true;  // the value that follows needs no comma
  }
  void write_string(std::string_view value) {
    util::append_json_string(out_, value);
    first_ = false;
  }

  std::string out_;
  bool first_ = true;
};

void write_entry(Writer& writer, const MemberEntry& entry) {
  writer.begin_object();
  writer.key_string("id", entry.id);
  writer.key_string("address", entry.address);
  writer.key_int("joined_ms", entry.joined_ms);
  writer.key_uint("incarnation", entry.incarnation);
  writer.key_uint("heartbeat", entry.heartbeat);
  writer.key_string("state", entry.state == EntryState::kLeft ? "left" : "alive");
  writer.end_object();
}

void write_entries(Writer& writer, const std::vector<MemberEntry>& entries) {
  writer.begin_array("members");
  for (const auto& entry : entries) write_entry(writer, entry);
  writer.end_array();
}

// --- decoding ---

Status bad(std::string_view what) { return Status::invalid_argument("peer message: " + std::string(what)); }

Status read_string(const simdjson::dom::object& object, std::string_view key, std::size_t max_bytes,
                   std::string& out) {
  std::string_view value;
  if (object[key].get_string().get(value) != simdjson::SUCCESS) {
    return bad("field '" + std::string(key) + "' is missing or not a string");
  }
  if (value.empty() || value.size() > max_bytes) {
    return bad("field '" + std::string(key) + "' is empty or longer than " + std::to_string(max_bytes) + " bytes");
  }
  out.assign(value);
  return Status::ok();
}

Status read_entry(const simdjson::dom::element& element, MemberEntry& entry) {
  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) return bad("a member entry is not an object");
  if (Status s = read_string(object, "id", kMaxIdBytes, entry.id); !s) return s;
  if (Status s = read_string(object, "address", kMaxAddressBytes, entry.address); !s) return s;
  if (object["joined_ms"].get_int64().get(entry.joined_ms) != simdjson::SUCCESS) {
    return bad("member field 'joined_ms' is missing or not an integer");
  }
  if (object["incarnation"].get_uint64().get(entry.incarnation) != simdjson::SUCCESS) {
    return bad("member field 'incarnation' is missing or not an unsigned integer");
  }
  if (object["heartbeat"].get_uint64().get(entry.heartbeat) != simdjson::SUCCESS) {
    return bad("member field 'heartbeat' is missing or not an unsigned integer");
  }
  std::string_view state;
  if (object["state"].get_string().get(state) != simdjson::SUCCESS) return bad("member field 'state' is missing");
  if (state == "alive") {
    entry.state = EntryState::kAlive;
  } else if (state == "left") {
    entry.state = EntryState::kLeft;
  } else {
    return bad("member field 'state' is neither 'alive' nor 'left'");
  }
  return Status::ok();
}

Status read_entries(const simdjson::dom::object& object, std::vector<MemberEntry>& entries) {
  simdjson::dom::array array;
  if (object["members"].get_array().get(array) != simdjson::SUCCESS) {
    return bad("field 'members' is missing or not an array");
  }
  if (array.size() > kMaxMembersPerMessage) {
    return Status::too_large("peer message: more than " + std::to_string(kMaxMembersPerMessage) + " members");
  }
  entries.reserve(array.size());
  for (simdjson::dom::element element : array) {
    MemberEntry entry;
    if (Status s = read_entry(element, entry); !s) return s;
    entries.push_back(std::move(entry));
  }
  return Status::ok();
}

Status read_member(const simdjson::dom::object& object, MemberEntry& entry) {
  simdjson::dom::element element;
  if (object["member"].get(element) != simdjson::SUCCESS) return bad("field 'member' is missing");
  return read_entry(element, entry);
}

}  // namespace

std::string encode_message(const PeerMessage& message) {
  Writer writer;
  writer.begin_object();
  writer.key_int("v", kMessageFormatVersion);
  writer.key_string("type", message_type_name(message));
  std::visit(
      [&writer](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, JoinRequest> || std::is_same_v<T, Leave>) {
          writer.object_key("member");
          write_entry(writer, body.member);
        } else {
          writer.key_string("from", body.from);
          if constexpr (std::is_same_v<T, Gossip>) {
            if (body.reply) writer.key_bool("reply", true);
          }
          write_entries(writer, body.members);
        }
      },
      message);
  writer.end_object();
  return writer.take();
}

Result<PeerMessage> decode_message(std::string_view bytes) {
  if (bytes.size() > kMaxMessageBytes) {
    return Status::too_large("peer message: larger than " + std::to_string(kMaxMessageBytes) + " bytes");
  }
  if (bytes.empty()) return bad("empty body");
  // One parser per thread: a simdjson parser keeps its buffers between documents and must not be
  // shared between threads. realloc_if_needed copies the input into a padded buffer.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(bytes.data(), bytes.size(), /*realloc_if_needed=*/true).get(root);
      error != simdjson::SUCCESS) {
    return bad(std::string("not JSON: ") + simdjson::error_message(error));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return bad("not a JSON object");
  std::int64_t version = 0;
  if (object["v"].get_int64().get(version) != simdjson::SUCCESS) return bad("field 'v' is missing");
  if (version != kMessageFormatVersion) {
    return bad("unsupported format version " + std::to_string(version));
  }
  std::string_view type;
  if (object["type"].get_string().get(type) != simdjson::SUCCESS) return bad("field 'type' is missing");

  if (type == "join" || type == "leave") {
    MemberEntry entry;
    if (Status s = read_member(object, entry); !s) return s;
    if (type == "join") return PeerMessage{JoinRequest{std::move(entry)}};
    if (entry.state != EntryState::kLeft) return bad("a leave must carry a member in state 'left'");
    return PeerMessage{Leave{std::move(entry)}};
  }
  if (type == "join_reply" || type == "gossip") {
    std::string from;
    if (Status s = read_string(object, "from", kMaxIdBytes, from); !s) return s;
    std::vector<MemberEntry> entries;
    if (Status s = read_entries(object, entries); !s) return s;
    if (type == "gossip") {
      bool reply = false;
      if (auto field = object["reply"]; field.error() != simdjson::NO_SUCH_FIELD) {
        if (field.get_bool().get(reply) != simdjson::SUCCESS) return bad("field 'reply' is not a boolean");
      }
      return PeerMessage{Gossip{std::move(from), std::move(entries), reply}};
    }
    return PeerMessage{JoinReply{std::move(from), std::move(entries)}};
  }
  return bad("unknown type '" + std::string(type.substr(0, 64)) + "'");
}

}  // namespace kvs::cluster
