// Fuzzes the YAML config loader, kvs::parse_config (libkvs/src/config/config.cpp, yaml-cpp
// underneath). No exception may leave it, whatever the text. Properties:
//   - a config it accepts passes validate_config (the loader never returns what it would refuse);
//   - parsing is a function of the text: the same text gives the same answer again.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "kvs/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings;
  auto parsed = kvs::parse_config(yaml, &warnings);
  auto again = kvs::parse_config(yaml);
  KVS_FUZZ_CHECK(parsed.is_ok() == again.is_ok());
  if (!parsed.is_ok()) {
    KVS_FUZZ_CHECK(parsed.status().message() == again.status().message());
    KVS_FUZZ_CHECK(!parsed.status().message().empty());
    return 0;
  }
  KVS_FUZZ_CHECK(kvs::validate_config(*parsed).is_ok());
  KVS_FUZZ_CHECK(parsed->port == again->port && parsed->data_dir == again->data_dir &&
                 parsed->seed_nodes == again->seed_nodes && parsed->max_json_size == again->max_json_size);
  return 0;
}
