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

using namespace kvs::test;

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
ServerConfig tls_node(TestPki& pki, const ClusterFixture& cluster, const std::string& node_id,
                      const std::vector<std::string>& seeds, bool with_ca = true) {
  pki.issue(node_id);
  ServerConfig config = cluster.config(node_id, seeds);
  config.tls = true;  // the test's client speaks https (it does not verify; the nodes do)
  config.extra_yaml += "tls_cert_file: \"" + pki.cert(node_id) + "\"\n";
  config.extra_yaml += "tls_key_file: \"" + pki.key(node_id) + "\"\n";
  if (with_ca) config.extra_yaml += "tls_ca_file: \"" + pki.ca() + "\"\n";
  return config;
}

long put(const ServerProcess& server, const std::string& key, const std::string& json) {
  return HttpClient(server.base_url()).put("/kv/" + key, json).status;
}

}  // namespace

TEST_CASE("a three-node TLS cluster replicates writes and repairs a restarted node", "[cluster][tls]") {
  TestPki pki;
  ClusterFixture cluster(kSecret);
  ServerProcess& a = cluster.start(tls_node(pki, cluster, "node-a", {}));
  ServerProcess& b = cluster.start(tls_node(pki, cluster, "node-b", {address_of(a)}));
  ServerProcess& c = cluster.start(tls_node(pki, cluster, "node-c", {address_of(a), address_of(b)}));
  std::vector<ServerProcess*> all{&a, &b, &c};
  REQUIRE(eventually([&] { return all_count(all, 3); }));
  // The nodes speak only TLS: plain HTTP gets no answer, so everything below went over HTTPS.
  CHECK(HttpClient("http://127.0.0.1:" + std::to_string(a.port())).get("/health").status != 200);

  REQUIRE(put(a, "users/john", R"({"age":42})") == 200);
  for (auto* server : {&b, &c}) {
    CHECK(eventually([&] { return live_document(*server, "users/john") == R"({"age":42})"; }, std::chrono::seconds(10)));
  }

  c.kill();
  for (int i = 0; i < 20; ++i) REQUIRE(put(i % 2 ? a : b, "during/" + std::to_string(i), std::to_string(i)) == 200);
  // Once a and b have dropped c, their push queues for it are gone: only anti-entropy can bring
  // c up to date. Not just suspect (the member count falls then): a suspect's queue is kept,
  // and would deliver the writes the moment c is back.
  REQUIRE(eventually([&] { return !lists_member(a, "node-c") && !lists_member(b, "node-c"); },
                     std::chrono::seconds(20)));
  REQUIRE(all_count({&a, &b}, 2));
  REQUIRE(c.start());
  REQUIRE(eventually([&] { return same_root(all); }));
  CHECK(live_document(c, "during/19") == "19");
  CHECK(live_document(c, "users/john") == R"({"age":42})");
  // The repairing node logs its round after it has applied what it fetched: the line may trail
  // the equal roots by a moment.
  CHECK(eventually([&] { return any_logged(all, "anti_entropy.repaired"); }));

  CHECK(c.stop() == 0);
  CHECK(b.stop() == 0);
  CHECK(a.stop() == 0);
}

TEST_CASE("a node without the cluster's CA cannot join a TLS cluster", "[cluster][tls]") {
  TestPki pki;
  ClusterFixture cluster(kSecret);
  ServerProcess& a = cluster.start(tls_node(pki, cluster, "node-a", {}));
  ServerConfig outsider_config = tls_node(pki, cluster, "node-d", {address_of(a)}, /*with_ca=*/false);
  outsider_config.extra_yaml += "log_level: debug\n";
  ServerProcess& outsider = cluster.start(outsider_config);
  // The control: a node with the CA joins the same seed.
  ServerProcess& insider = cluster.start(tls_node(pki, cluster, "node-e", {address_of(a)}));
  REQUIRE(eventually([&] { return lists_member(a, "node-e") && member_count(insider) == 2; }));

  // Bounded wait: many join attempts of node-d (100..250 ms apart) have gone by meanwhile.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK_FALSE(lists_member(a, "node-d"));
  CHECK(member_count(outsider) == 1);
  CHECK(member_count(a) == 2);
  // It failed on a's certificate, which it could not verify.
  CHECK(outsider.stderr_text().find("SSL") != std::string::npos);

  CHECK(insider.stop() == 0);
  CHECK(outsider.stop() == 0);
  CHECK(a.stop() == 0);
}
