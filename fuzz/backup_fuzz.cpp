// Fuzzes the backup file reader, verify_backup (libkvs/src/features/backup.*), on files written
// from the input. The first byte picks the mode:
//   0: the input is the whole file, as a damaged or forged backup would be;
//   1: the input is the LMDB copy inside a backup that write_backup makes, and the second byte
//      picks one byte of that file to change.
// Properties:
//   - a file that verifies has a size equal to the reported bytes and a node id of at most
//     1024 bytes;
//   - write_backup refuses an empty LMDB copy; any other backup as written verifies, reporting
//     the uncompressed size, creation time and node id it was written with;
//   - the same backup with any one byte changed, or cut short by any amount, is refused as
//     corrupt (the trailer's BLAKE2b covers every byte before it).

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "features/backup.hpp"
#include "fuzz_check.hpp"

using namespace kvs::features;

namespace {

const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "kvs-fuzz-backup-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return std::filesystem::path(pattern);
  }();
  return dir;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto path = scratch_dir() / "input.kvsbackup";
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);

  if (data[0] % 2 == 0) {
    std::string_view file(reinterpret_cast<const char*>(data + 1), size - 1);
    write_file(path, file);
    auto info = verify_backup(path);
    if (info.is_ok()) {
      KVS_FUZZ_CHECK(info->bytes == file.size());
      KVS_FUZZ_CHECK(info->node_id.size() <= 1024);
    }
    return 0;
  }

  BackupWriteOptions options;
  options.created_at_ms = 1'750'000'000'000 + data[1];
  options.node_id = "fuzz-node";
  options.compression_level = 1;
  auto written = write_backup(
      path,
      [&](int fd) {
        std::size_t done = 0;
        while (done < rest.size()) {
          ssize_t n = ::write(fd, rest.data() + done, rest.size() - done);
          if (n <= 0) return kvs::Status::io_error("pipe");
          done += static_cast<std::size_t>(n);
        }
        return kvs::Status::ok();
      },
      options);
  // An environment copy is never empty (LMDB writes its meta pages first): refused as such.
  if (rest.empty()) {
    KVS_FUZZ_CHECK(!written.is_ok());
    return 0;
  }
  KVS_FUZZ_CHECK(written.is_ok());
  auto verified = verify_backup(path);
  KVS_FUZZ_CHECK(verified.is_ok());
  KVS_FUZZ_CHECK(verified->uncompressed_bytes == rest.size());
  KVS_FUZZ_CHECK(verified->created_at_ms == options.created_at_ms && verified->node_id == options.node_id);

  std::string file = read_file(path);
  KVS_FUZZ_CHECK(verified->bytes == file.size());
  std::filesystem::remove(path, ignored);
  std::string changed = file;
  std::size_t at = (static_cast<std::size_t>(data[1]) * 2654435761u + rest.size()) % changed.size();
  changed[at] = static_cast<char>(changed[at] ^ (1 + data[1] % 255));
  write_file(path, changed);
  auto tampered = verify_backup(path);
  KVS_FUZZ_CHECK(!tampered.is_ok());
  KVS_FUZZ_CHECK(tampered.status().code() == kvs::Status::Code::kCorruption);
  write_file(path, std::string_view(file).substr(0, at));
  auto truncated = verify_backup(path);
  KVS_FUZZ_CHECK(!truncated.is_ok() && truncated.status().code() == kvs::Status::Code::kCorruption);
  std::filesystem::remove(path, ignored);
  return 0;
}
