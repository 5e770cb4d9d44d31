#include "client_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace kvs::server {
namespace {

int remaining_ms(Deadline deadline) {
  // Rounded up: a wait never ends before its deadline, so a caller that finds the deadline
  // not yet passed knows the wait ended for another reason (the header_timeout count relies on it).
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX));
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown TLS error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

}  // namespace

Result<std::unique_ptr<TlsContext>> TlsContext::load(const std::string& cert_file, const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::internal("cannot create a TLS context: " + openssl_error());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Writes are retried with the same buffer after WANT_WRITE; partial writes keep the loop simple.
  // A stream loop's output buffer may move between a write and its retry (it appends, and drops
  // what went out): the bytes at its front stay the same, which is what OpenSSL checks then.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    std::string why = openssl_error();
    SSL_CTX_free(ctx);
    return Status::invalid_argument("cannot load the TLS certificate or key (tls_cert_file, tls_key_file): " + why);
  }
  return std::unique_ptr<TlsContext>(new TlsContext(ctx));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

void TlsSessionFree::operator()(ssl_st* ssl) const noexcept { SSL_free(ssl); }

ClientSocket::ClientSocket(int fd, const TlsContext* tls) : fd_(fd) {
  int flags = ::fcntl(fd_, F_GETFL, 0);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  if (tls != nullptr) {
    ssl_ = SSL_new(tls->native());
    if (ssl_ != nullptr) SSL_set_fd(ssl_, fd_);
  }
}

ClientSocket::~ClientSocket() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ::close(fd_);
}

TlsSession ClientSocket::release_tls(int fd) {
  // A socket BIO holds no bytes of its own (what OpenSSL read ahead stays in the session), so
  // swapping it for one on the new descriptor loses nothing. On failure the session is kept.
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd) != 1) return nullptr;
  return TlsSession(std::exchange(ssl_, nullptr));
}

bool ClientSocket::wait(short events, Deadline deadline) {
  for (;;) {
    pollfd entry{fd_, events, 0};
    int ready = ::poll(&entry, 1, remaining_ms(deadline));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool ClientSocket::wait_for_tls(int error, Deadline deadline) {
  // A TLS read may have to write (a key update's answer) and a write may have to read, so the
  // direction is OpenSSL's to say, whichever call failed.
  if (error == SSL_ERROR_WANT_READ) return wait(POLLIN, deadline);
  if (error == SSL_ERROR_WANT_WRITE) return wait(POLLOUT, deadline);
  ERR_clear_error();
  return false;
}

bool ClientSocket::handshake(Deadline deadline) {
  if (ssl_ == nullptr) return true;
  for (;;) {
    int done = SSL_accept(ssl_);
    if (done == 1) return true;
    if (!wait_for_tls(SSL_get_error(ssl_, done), deadline)) return false;
  }
}

ssize_t ClientSocket::read(char* buffer, std::size_t size, Deadline deadline) {
  if (size == 0) return -1;
  if (ssl_ != nullptr) {
    int want = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
    for (;;) {
      int got = SSL_read(ssl_, buffer, want);
      if (got > 0) return got;
      int error = SSL_get_error(ssl_, got);
      if (error == SSL_ERROR_ZERO_RETURN) return 0;
      if (!wait_for_tls(error, deadline)) return -1;
    }
  }
  for (;;) {
    ssize_t got = ::recv(fd_, buffer, size, 0);
    if (got >= 0) return got;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    if (!wait(POLLIN, deadline)) return -1;
  }
}

bool ClientSocket::write_all(const char* data, std::size_t size, Deadline deadline) {
  while (size > 0) {
    if (ssl_ != nullptr) {
      int want = static_cast<int>(std::min<std::size_t>(size, INT_MAX));
      int put = SSL_write(ssl_, data, want);
      if (put > 0) {
        data += put;
        size -= static_cast<std::size_t>(put);
        continue;
      }
      if (!wait_for_tls(SSL_get_error(ssl_, put), deadline)) return false;
      continue;
    }
    ssize_t put = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (put >= 0) {
      data += put;
      size -= static_cast<std::size_t>(put);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
    if (!wait(POLLOUT, deadline)) return false;
  }
  return true;
}

bool ClientSocket::wait_readable(Deadline deadline) {
  if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return true;
  return wait(POLLIN, deadline);
}

void ClientSocket::linger_close(std::chrono::milliseconds linger, std::size_t max_bytes) {
  if (ssl_ != nullptr) {
    SSL_shutdown(ssl_);  // close_notify; the client's reply is not awaited
  }
  ::shutdown(fd_, SHUT_WR);
  Deadline deadline = std::chrono::steady_clock::now() + linger;
  char scratch[16384];
  std::size_t dropped = 0;
  while (dropped < max_bytes) {
    if (!wait(POLLIN, deadline)) break;
    ssize_t got = ::recv(fd_, scratch, sizeof scratch, 0);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      break;
    }
    dropped += static_cast<std::size_t>(got);
  }
}

}  // namespace kvs::server
