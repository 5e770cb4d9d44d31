#include "auth/secret.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <sstream>
#include <system_error>

#include <sodium.h>

#include "kvs/log.hpp"
#include "util/blake2b.hpp"
#include "util/hex.hpp"
#include "util/private_dir.hpp"
#include "util/text.hpp"

namespace kvs::auth {
namespace {

// crypto_kdf contexts are exactly crypto_kdf_CONTEXTBYTES (8) characters.
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "kvs-auth";
// Subkey ids: append-only (see the header).
constexpr std::uint64_t kTokenSubkeyId = 1;
constexpr std::uint64_t kPeerSubkeyId = 2;
// The audit chain's context: distinct from the auth keys' (see the header).
constexpr char kAuditKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "kvs-audt";
constexpr std::uint64_t kAuditSubkeyId = 1;

Status errno_status(const std::string& what, const std::filesystem::path& path) {
  return Status::io_error(what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

void ensure_sodium() {
  static const bool initialised = [] { return sodium_init() >= 0; }();
  if (!initialised) {
    std::fputs("kvs: libsodium failed to initialise\n", stderr);
    std::abort();
  }
}

DerivedKeys derive_keys(std::string_view cluster_secret) {
  ensure_sodium();
  static_assert(crypto_kdf_KEYBYTES == 32);
  auto master = util::blake2b<crypto_kdf_KEYBYTES>(cluster_secret);
  DerivedKeys keys{};
  crypto_kdf_derive_from_key(keys.token_signing.data(), keys.token_signing.size(), kTokenSubkeyId, kKdfContext,
                             master.data());
  crypto_kdf_derive_from_key(keys.peer_signing.data(), keys.peer_signing.size(), kPeerSubkeyId, kKdfContext,
                             master.data());
  sodium_memzero(master.data(), master.size());
  return keys;
}

Key derive_audit_key(std::string_view cluster_secret) {
  ensure_sodium();
  auto master = util::blake2b<crypto_kdf_KEYBYTES>(cluster_secret);
  Key key{};
  crypto_kdf_derive_from_key(key.data(), key.size(), kAuditSubkeyId, kAuditKdfContext, master.data());
  sodium_memzero(master.data(), master.size());
  return key;
}

std::string generate_cluster_secret() {
  ensure_sodium();
  unsigned char bytes[32];
  randombytes_buf(bytes, sizeof bytes);
  std::string hex = util::to_hex(std::span<const std::uint8_t>(bytes));
  sodium_memzero(bytes, sizeof bytes);
  return hex;
}

namespace {

// Writes `content` to the new file `temp` (mode 0600, whatever a leftover had) and fsyncs it.
Status write_synced(const std::filesystem::path& temp, std::string_view content) {
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errno_status("open", temp);
  // O_TRUNC keeps the mode of a leftover temporary file; set it explicitly.
  if (::fchmod(fd, 0600) != 0) {
    auto status = errno_status("chmod", temp);
    ::close(fd);
    return status;
  }
  const char* data = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      auto status = errno_status("write", temp);
      ::close(fd);
      return status;
    }
    data += written;
    left -= static_cast<std::size_t>(written);
  }
  if (::fsync(fd) != 0) {
    auto status = errno_status("fsync", temp);
    ::close(fd);
    return status;
  }
  if (::close(fd) != 0) return errno_status("close", temp);
  return Status::ok();
}

// Makes a rename or link in `parent` durable.
void sync_directory(const std::filesystem::path& parent) {
  int dir_fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

Status make_parent(const std::filesystem::path& path) {
  auto parent = path.parent_path();
  if (parent.empty()) return Status::ok();
  return util::create_private_directories(parent);
}

}  // namespace

Status write_private_file(const std::filesystem::path& path, std::string_view content) {
  if (Status made = make_parent(path); !made.is_ok()) return made;
  auto temp = path;
  temp += ".tmp";
  if (Status written = write_synced(temp, content); !written.is_ok()) return written;
  if (::rename(temp.c_str(), path.c_str()) != 0) return errno_status("rename to", path);
  sync_directory(path.parent_path());
  return Status::ok();
}

Status create_private_file(const std::filesystem::path& path, std::string_view content) {
  if (Status made = make_parent(path); !made.is_ok()) return made;
  // A temporary name of this call's own: two processes, or two threads, creating the same
  // file at once must not write into one temporary file.
  static std::atomic<std::uint64_t> calls{0};
  auto temp = path;
  temp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(calls.fetch_add(1));
  if (Status written = write_synced(temp, content); !written.is_ok()) {
    ::unlink(temp.c_str());
    return written;
  }
  // link() publishes the whole file under its name, and fails if the name exists: the first
  // creator wins and nobody replaces its content.
  int linked = ::link(temp.c_str(), path.c_str());
  int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked != 0) {
    if (link_errno == EEXIST) return Status::conflict(path.string() + " exists");
    errno = link_errno;
    return errno_status("link to", path);
  }
  sync_directory(path.parent_path());
  return Status::ok();
}

Result<std::string> load_or_create_cluster_secret(std::string_view configured, const std::filesystem::path& data_dir) {
  const std::string_view given = util::trim(configured, util::kBlanksAndNewlines);
  if (!given.empty()) return std::string(given);
  auto path = data_dir / std::string(kClusterSecretFileName);
  std::error_code ec;
  bool exists = std::filesystem::exists(path, ec);
  if (ec) return Status::io_error("stat " + path.string() + ": " + ec.message());
  if (!exists) {
    std::string secret = generate_cluster_secret();
    auto created = create_private_file(path, secret + "\n");
    if (created.is_ok()) {
      log(LogLevel::kInfo, "auth.cluster_secret_generated", {{"path", path.string()}});
      return secret;
    }
    sodium_memzero(secret.data(), secret.size());
    // Another process starting on this data_dir created it first: everyone uses that one.
    if (created.code() != Status::Code::kConflict) return created;
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    log(LogLevel::kWarn, "auth.cluster_secret_readable_by_others", {{"path", path.string()}});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_status("open", path);
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return errno_status("read", path);
  std::string secret(util::trim(content.str(), util::kBlanksAndNewlines));
  if (secret.empty()) return Status::corruption("cluster secret file " + path.string() + " is empty");
  return secret;
}

}  // namespace kvs::auth
