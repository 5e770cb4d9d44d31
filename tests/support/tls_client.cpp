#include "support/tls_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "support/raw_connection.hpp"

namespace kvs::test {
namespace {

using Clock = std::chrono::steady_clock;

// One client context for every connection of the process (made once, thread-safely).
SSL_CTX* client_context() {
  static SSL_CTX* const context = [] {
    SSL_CTX* made = SSL_CTX_new(TLS_client_method());
    if (made == nullptr) throw std::runtime_error("SSL_CTX_new failed");
    SSL_CTX_set_verify(made, SSL_VERIFY_NONE, nullptr);
    // Reads only drain (see read_available); partial writes keep send() simple.
    SSL_CTX_set_mode(made, SSL_MODE_ENABLE_PARTIAL_WRITE);
    return made;
  }();
  return context;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

}  // namespace

TlsClient::TlsClient(int fd) : fd_(fd) {
  int flags = ::fcntl(fd_, F_GETFL, 0);
  ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
  ssl_ = SSL_new(client_context());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ::close(fd_);
    throw std::runtime_error("cannot make a TLS client session");
  }
}

// The connection is made by a RawConnection, whose descriptor is duplicated before it closes.
TlsClient::TlsClient(const std::string& source, std::uint16_t port, std::chrono::milliseconds timeout)
    : TlsClient(::fcntl(RawConnection(source, port).fd(), F_DUPFD_CLOEXEC, 0)) {
  if (!handshake(timeout)) throw std::runtime_error("the TLS handshake with port " + std::to_string(port) + " failed");
}

TlsClient::~TlsClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

bool TlsClient::wait_for(int result, Clock::time_point deadline) {
  int error = SSL_get_error(ssl_, result);
  short events = error == SSL_ERROR_WANT_READ ? POLLIN : error == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
  if (events == 0) {
    ERR_clear_error();
    return false;
  }
  pollfd entry{fd_, events, 0};
  return ::poll(&entry, 1, remaining_ms(deadline)) > 0;
}

bool TlsClient::handshake(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int done = SSL_connect(ssl_);
    if (done == 1) return true;
    if (!wait_for(done, deadline)) return false;
  }
}

bool TlsClient::send(const std::string& bytes, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    int put = SSL_write(ssl_, bytes.data() + sent, static_cast<int>(std::min<std::size_t>(bytes.size() - sent, INT_MAX)));
    if (put > 0) {
      sent += static_cast<std::size_t>(put);
      continue;
    }
    if (!wait_for(put, deadline)) return false;
  }
  return true;
}

bool TlsClient::read_available() {
  if (ended_) return false;
  char buffer[16384];
  for (;;) {
    int got = SSL_read(ssl_, buffer, sizeof buffer);
    if (got > 0) {
      received_.append(buffer, static_cast<std::size_t>(got));
      continue;
    }
    int error = SSL_get_error(ssl_, got);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return true;
    close_notify_ = error == SSL_ERROR_ZERO_RETURN;
    ERR_clear_error();
    ended_ = true;
    return false;
  }
}

bool TlsClient::read_until(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const bool open = read_available();
    if (received_.find(text) != std::string::npos) return true;
    if (!open || Clock::now() >= deadline) return false;
    pollfd entry{fd_, POLLIN, 0};
    ::poll(&entry, 1, std::min(remaining_ms(deadline), 100));
  }
}

bool TlsClient::ends_within(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (read_available()) {
    if (Clock::now() >= deadline) return false;
    pollfd entry{fd_, POLLIN, 0};
    ::poll(&entry, 1, std::min(remaining_ms(deadline), 100));
  }
  return true;
}

void TlsClient::send_close_notify() {
  if (SSL_shutdown(ssl_) < 0) ERR_clear_error();
}

void TlsClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ended_ = true;
}

void write_self_signed_certificate(const std::string& cert_path, const std::string& key_path) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  if (!key || !cert) throw std::runtime_error("cannot make a test key or certificate");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, "IP:127.0.0.1");
  bool made = san != nullptr && X509_add_ext(cert.get(), san, -1) == 1 && X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  if (san != nullptr) X509_EXTENSION_free(san);
  if (!made) throw std::runtime_error("cannot sign the test certificate");

  auto write = [](const std::string& path, auto&& pem) {
    std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "w"), &std::fclose);
    if (!file || pem(file.get()) != 1) throw std::runtime_error("cannot write " + path);
  };
  write(key_path, [&](FILE* file) { return PEM_write_PrivateKey(file, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  write(cert_path, [&](FILE* file) { return PEM_write_X509(file, cert.get()); });
}

}  // namespace kvs::test
