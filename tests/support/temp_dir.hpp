#pragma once

// A fresh directory under the system temp dir (or under `parent`: the benches measure the disk
// they are pointed at), removed with everything in it on destruction.

#include <filesystem>
#include <string>

namespace kvs::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "kvs-test",
                   const std::filesystem::path& parent = std::filesystem::temp_directory_path());
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace kvs::test
