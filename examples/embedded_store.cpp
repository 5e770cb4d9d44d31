// embedded_store: kvs as a library inside another program. It opens a node on a fresh
// temporary directory, writes a few JSON documents, reads one back, lists a range, deletes a
// key, and exits 0 when every step behaved as documented (1 otherwise).
//
// Build it against an installed kvs:
//   find_package(kvs CONFIG REQUIRED)
//   target_link_libraries(embedded_store PRIVATE kvs::kvs)

#include <kvs/kvs.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace {

int fail(const std::string& step, const kvs::Status& status) {
  std::cerr << "embedded_store: " << step << " failed: " << status.to_string() << "\n";
  return 1;
}

}  // namespace

int main() {
  // A private data directory, removed at the end.
  std::string pattern = (std::filesystem::temp_directory_path() / "kvs-example-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "embedded_store: cannot create a temporary directory\n";
    return 1;
  }
  const std::filesystem::path dir = pattern;
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } cleanup{dir};

  // A lone node for one program: no cluster, no users, no HTTP.
  kvs::Config config;
  config.node_id = "embedded";
  config.data_dir = (dir / "data").string();
  config.backup_path = (dir / "backups").string();
  config.clustering_enabled = false;
  config.auth_enabled = false;
  config.backup_enabled = false;
  config.rate_limiting_enabled = false;
  kvs::set_log_level(kvs::LogLevel::kWarn);

  auto opened = kvs::Node::open(config);
  if (!opened) return fail("open", opened.status());
  kvs::Node& node = **opened;
  std::cout << "opened kvs " << kvs::library_version() << " in " << config.data_dir << "\n";

  // Writes are durable when put returns.
  for (const auto& [key, json] : {std::pair{"users/ann", R"({"name":"Ann","age":36})"},
                                  std::pair{"users/bob", R"({"name":"Bob","age":41})"},
                                  std::pair{"users/cy", R"({"name":"Cy","age":29})"},
                                  std::pair{"settings/theme", R"("dark")"}}) {
    auto written = node.put(key, json);
    if (!written) return fail(std::string("put ") + key, written.status());
    std::cout << "put " << key << " uuid=" << written->uuid << " timestamp=" << written->timestamp_ms << "\n";
  }

  auto ann = node.get("users/ann");
  if (!ann) return fail("get users/ann", ann.status());
  std::cout << "get users/ann -> " << ann->data << "\n";

  // A conditional write: only while users/ann is still the version just read.
  kvs::PutOptions if_match;
  if_match.if_match = ann->uuid;
  auto updated = node.put("users/ann", R"({"name":"Ann","age":37})", if_match);
  if (!updated) return fail("conditional put users/ann", updated.status());
  auto stale = node.put("users/ann", R"({"name":"stale"})", if_match);
  if (stale || stale.status().code() != kvs::Status::Code::kPreconditionFailed) {
    std::cerr << "embedded_store: a stale If-Match was not refused\n";
    return 1;
  }
  std::cout << "a second write with the old uuid is refused: " << stale.status().code_name() << "\n";

  // Everything under users/, with the documents.
  kvs::RangeQuery query;
  query.prefix = "users/";
  query.values = true;
  auto users = node.range(query);
  if (!users) return fail("range users/", users.status());
  std::cout << "range prefix=users/ -> " << users->items.size() << " items\n";
  for (const auto& item : users->items) std::cout << "  " << item.path << " " << item.data.value_or("") << "\n";
  if (users->items.size() != 3) {
    std::cerr << "embedded_store: expected 3 users\n";
    return 1;
  }

  kvs::Status removed = node.remove("users/cy");
  if (!removed) return fail("remove users/cy", removed);
  auto gone = node.get("users/cy");
  if (gone || gone.status().code() != kvs::Status::Code::kNotFound) {
    std::cerr << "embedded_store: users/cy is still readable after remove\n";
    return 1;
  }
  std::cout << "removed users/cy; get -> " << gone.status().code_name() << "\n";

  auto history = node.history("users/ann");
  if (!history) return fail("history users/ann", history.status());
  std::cout << "users/ann has " << history->revisions.size() << " revisions, newest: "
            << history->revisions.front().data.value_or("") << "\n";

  std::cout << "health: status=" << node.health().status << " keys=" << node.health().keys << "\n";
  return 0;
}
