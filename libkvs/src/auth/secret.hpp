#pragma once

// The cluster secret and the keys derived from it. Every node of a cluster shares one secret
// (config `cluster_secret`, or a file generated once into the data_dir), so every node derives
// the same keys: a token minted on one node verifies on all, and peers can sign requests to
// each other. The secret itself never signs anything; each use has its own subkey, so a key
// leaked from one use (the JWT test hook, say) does not forge the other.
//
// Derivation (libsodium):
//   master     = crypto_generichash(32 bytes, secret)            BLAKE2b, unkeyed
//   token key  = crypto_kdf_derive_from_key(32, 1, "kvs-auth", master)
//   peer key   = crypto_kdf_derive_from_key(32, 2, "kvs-auth", master)
//   audit key  = crypto_kdf_derive_from_key(32, 1, "kvs-audt", master)
// Subkey ids and contexts are append-only: changing one invalidates every token and peer
// signature, or every keyed audit entry. The audit key has a context of its own, so it shares
// no derivation input with the token key even where their ids are equal.
//
// Pure apart from the file helpers, which touch only the paths they are given; safe from any
// thread.

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "kvs/status.hpp"

namespace kvs::auth {

inline constexpr std::size_t kKeyBytes = 32;
using Key = std::array<unsigned char, kKeyBytes>;

// The file, inside data_dir, that holds a generated cluster secret.
inline constexpr std::string_view kClusterSecretFileName = "cluster.secret";

struct DerivedKeys {
  Key token_signing;  // HS256 key of every JWT
  Key peer_signing;   // HMAC-SHA256 key of peer requests
};

// Initialises libsodium once per process (cheap after the first call). Aborts when libsodium
// cannot initialise: no auth is possible without it.
void ensure_sodium();

// The subkeys of `cluster_secret`. Requires: `cluster_secret` is not empty.
DerivedKeys derive_keys(std::string_view cluster_secret);

// The key of the keyed audit chain (audit/chain.hpp). Requires: `cluster_secret` is not empty.
Key derive_audit_key(std::string_view cluster_secret);

// 32 bytes from the OS CSPRNG (never the Random seam: a seeded Random would make guessable
// secrets), as 64 lowercase hex characters.
std::string generate_cluster_secret();

// The secret a node uses: `configured` when it is not empty; else the content of
// <data_dir>/cluster.secret, which is generated (mode 0600) when missing. Processes racing to
// generate it all end with the one secret the first of them created. Surrounding
// whitespace is ignored. Codes: kIOError (cannot read or write the file), kCorruption (the
// file exists but holds no secret).
Result<std::string> load_or_create_cluster_secret(std::string_view configured, const std::filesystem::path& data_dir);

// Writes `content` to `path` with mode 0600, atomically (temporary file, fsync, rename, fsync
// of the directory): a crash leaves the old file or the new one, never a torn or world-readable
// one. Creates missing parent directories. kIOError naming the path on failure. Node uses it
// for <data_dir>/admin.token too.
Status write_private_file(const std::filesystem::path& path, std::string_view content);

// Like write_private_file, but only when `path` does not exist yet: kConflict when it does,
// and the existing file is left as it was. Used where the first writer's content must win.
Status create_private_file(const std::filesystem::path& path, std::string_view content);

}  // namespace kvs::auth
