#include "util/host_name.hpp"

#include <unistd.h>

namespace kvs::util {

std::string host_name() {
  // One byte more than gethostname may fill, so the name is terminated even when truncated.
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return "kvs-node";
  return buffer;
}

}  // namespace kvs::util
