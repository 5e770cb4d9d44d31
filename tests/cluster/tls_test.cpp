// TLS between real kvs-server processes on loopback (label cluster), SPEC section 2 "Cluster":
// nodes with tls_cert_file/tls_key_file serve HTTPS and call their peers over HTTPS, verifying
// each peer's certificate against tls_ca_file with the host name (here the IP 127.0.0.1)
// checked. A three-node cluster replicates a write and repairs a restarted node through
// anti-entropy; a node that lacks the cluster's CA (it trusts only the system store) cannot
// join, while one with it can. The certificates (a test CA and one certificate per node, with
// subjectAltName IP:127.0.0.1) are made at test time with the openssl command into a temporary
// directory; no key is kept. Not covered here: pinned certificates (kvs checks host names).

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/cluster_nodes.hpp"
#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

using kvs::test::address_of;
using kvs::test::eventually;
using kvs::test::HttpClient;
using kvs::test::HttpResponse;
using kvs::test::json_int;
using kvs::test::json_string;
using kvs::test::ServerConfig;
using kvs::test::ServerProcess;
using kvs::test::TempDir;

namespace {

constexpr const char* kSecret = "tls-test-cluster-secret-a41c9e07b3d2";

// A CA and certificates it issues, in a temporary directory (gone with the object).
class TestPki {
 public:
  TestPki() {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=kvs-test-ca"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        " -keyout '" + path("ca.key") + "' -out '" + path("ca.pem") + "'");
    run("printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth,clientAuth\\n' > '" +
        path("node.ext") + "'");
  }

  // Issues a certificate for `name` (valid for IP 127.0.0.1); its files are cert(name), key(name).
  void issue(const std::string& name) {
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + name + " -keyout '" +
        key(name) + "' -out '" + path(name + ".csr") + "'");
    run("openssl x509 -req -in '" + path(name + ".csr") + "' -CA '" + ca() + "' -CAkey '" + path("ca.key") +
        "' -set_serial " + std::to_string(++serial_) + " -days 1 -extfile '" + path("node.ext") + "' -out '" +
        cert(name) + "'");
  }

  std::string ca() const { return path("ca.pem"); }
  std::string cert(const std::string& name) const { return path(name + ".pem"); }
  std::string key(const std::string& name) const { return path(name + ".key"); }

 private:
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static void run(const std::string& command) {
    auto result = kvs::test::run_shell(command + " 2>&1");
    if (result.exit_code != 0) throw std::runtime_error("'" + command + "' failed: " + result.out + result.err);
  }

  TempDir dir_{"kvs-tls-test"};
  int serial_ = 0;
};

// A TLS node of the test cluster. `with_ca`: trusts the test CA (tls_ca_file); else only the
// system trust store, which does not know it.
ServerConfig tls_node(TestPki& pki, const std::string& node_id, const std::vector<std::string>& seeds,
                      bool with_ca = true) {
  pki.issue(node_id);
  ServerConfig config = kvs::test::cluster_node_config(node_id, seeds, kSecret, kvs::test::fast_cluster_timings());
  config.tls = true;  // the test's client speaks https (it does not verify; the nodes do)
  config.extra_yaml += "tls_cert_file: \"" + pki.cert(node_id) + "\"\n";
  config.extra_yaml += "tls_key_file: \"" + pki.key(node_id) + "\"\n";
  if (with_ca) config.extra_yaml += "tls_ca_file: \"" + pki.ca() + "\"\n";
  return config;
}

HttpResponse get(const ServerProcess& server, const std::string& path) {
  HttpClient client(server.base_url());
  client.set_timeout(std::chrono::seconds(2));
  return client.get(path);
}

std::optional<std::int64_t> member_count(const ServerProcess& server) {
  return json_int(get(server, "/health").body, "/member_count");
}

bool all_count(const std::vector<ServerProcess*>& servers, std::int64_t count) {
  for (auto* server : servers) {
    if (member_count(*server) != count) return false;
  }
  return true;
}

long put(const ServerProcess& server, const std::string& key, const std::string& json) {
  return HttpClient(server.base_url()).put("/kv/" + key, json).status;
}

// The document of a live key (the "data" member of GET /kv/, the last one), or nullopt.
std::optional<std::string> data_of(const ServerProcess& server, const std::string& key) {
  HttpResponse response = get(server, "/kv/" + key);
  constexpr std::string_view kData = "\"data\":";
  auto at = response.body.rfind(kData);
  if (response.status != 200 || at == std::string::npos || response.body.back() != '}') return std::nullopt;
  at += kData.size();
  return response.body.substr(at, response.body.size() - 1 - at);
}

bool same_root(const std::vector<ServerProcess*>& servers) {
  std::optional<std::string> first;
  for (auto* server : servers) {
    auto root = json_string(get(*server, "/sync/merkle/root").body, "/root");
    if (!root || root->size() != 64) return false;
    if (!first) first = root;
    if (*root != *first) return false;
  }
  return true;
}

bool lists(const ServerProcess& server, const std::string& node_id) {
  return get(server, "/members/").body.find("\"" + node_id + "\"") != std::string::npos;
}

}  // namespace

TEST_CASE("a three-node TLS cluster replicates writes and repairs a restarted node", "[cluster][tls]") {
  TestPki pki;
  ServerProcess a(tls_node(pki, "node-a", {}));
  REQUIRE(a.start());
  ServerProcess b(tls_node(pki, "node-b", {address_of(a)}));
  REQUIRE(b.start());
  ServerProcess c(tls_node(pki, "node-c", {address_of(a), address_of(b)}));
  REQUIRE(c.start());
  std::vector<ServerProcess*> all{&a, &b, &c};
  REQUIRE(eventually([&] { return all_count(all, 3); }));
  // The nodes speak only TLS: plain HTTP gets no answer, so everything below went over HTTPS.
  CHECK(HttpClient("http://127.0.0.1:" + std::to_string(a.port())).get("/health").status != 200);

  REQUIRE(put(a, "users/john", R"({"age":42})") == 200);
  for (auto* server : {&b, &c}) {
    CHECK(eventually([&] { return data_of(*server, "users/john") == R"({"age":42})"; }, std::chrono::seconds(10)));
  }

  c.kill();
  for (int i = 0; i < 20; ++i) REQUIRE(put(i % 2 ? a : b, "during/" + std::to_string(i), std::to_string(i)) == 200);
  // Once a and b have dropped c, their push queues for it are gone: only anti-entropy can bring
  // c up to date.
  REQUIRE(eventually([&] { return all_count({&a, &b}, 2); }));
  REQUIRE(c.start());
  REQUIRE(eventually([&] { return same_root(all); }));
  CHECK(data_of(c, "during/19") == "19");
  CHECK(data_of(c, "users/john") == R"({"age":42})");
  bool repaired = false;
  for (auto* server : all) repaired = repaired || server->stderr_text().find("anti_entropy.repaired") != std::string::npos;
  CHECK(repaired);

  CHECK(c.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("a node without the cluster's CA cannot join a TLS cluster", "[cluster][tls]") {
  TestPki pki;
  ServerProcess a(tls_node(pki, "node-a", {}));
  REQUIRE(a.start());
  ServerConfig outsider_config = tls_node(pki, "node-d", {address_of(a)}, /*with_ca=*/false);
  outsider_config.extra_yaml += "log_level: debug\n";
  ServerProcess outsider(outsider_config);
  REQUIRE(outsider.start());
  // The control: a node with the CA joins the same seed.
  ServerProcess insider(tls_node(pki, "node-e", {address_of(a)}));
  REQUIRE(insider.start());
  REQUIRE(eventually([&] { return lists(a, "node-e") && member_count(insider) == 2; }));

  // Bounded wait: many join attempts of node-d (100..250 ms apart) have gone by meanwhile.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK_FALSE(lists(a, "node-d"));
  CHECK(member_count(outsider) == 1);
  CHECK(member_count(a) == 2);
  // It failed on a's certificate, which it could not verify.
  CHECK(outsider.stderr_text().find("SSL") != std::string::npos);

  CHECK(insider.stop() == 0);
  CHECK(outsider.stop() == 0);
  CHECK(a.stop() == 0);
}
