#!/usr/bin/env python3
"""crash_rounds: kill -9 a kvs-server during concurrent PUTs, many times, and check what survived.

    bench/crash_rounds.py [--server BIN] [--rounds N] [--writers W] [--reset-every K] [--seed S]
                          [--kill-after MAX]

Each round starts kvs-server on one data_dir, runs W writer threads that PUT over keep-alive
connections and record every acknowledged write (path, uuid), sends SIGKILL after a random
0.05-MAX s (default 1.2), restarts the server on the same data_dir and checks:
  - every acknowledged write of every earlier round is present with its uuid (a key that one
    writer overwrites holds its last acknowledged uuid, or the one write it had in flight);
  - GET /sync/merkle/root equals the root recomputed here from GET /admin/export (every
    stored version, tombstones included), the way replication/merkle.cpp defines it, so the
    tree the server rebuilt at start and the versions on disk agree;
  - GET /audit/verify answers ok, and its head is at or past the head seen before the kill;
  - nothing present is a document that no writer sent.
Every K rounds the data_dir starts afresh, so a long run stays fast. A MAX over 2 s lets kills
land after the first background checkpoints (about one a second), in a log segment made from a
file prepared ahead with zeros. Prints one line per
round and a summary; exits 1 when any round failed. The unit suite's "process killed
mid-write" test (tests/unit/node/node_crash_test.cpp) runs a few rounds of the same idea in
process; this one goes through the real server and many more rounds. Loopback only.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

LEAVES = 4096
FANOUT = 64


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def field(data):
    return len(data).to_bytes(8, "little") + data


def version_digest(v):
    h = hashlib.blake2b(digest_size=32)
    h.update(field(v["path"].encode()))
    h.update(field(v["uuid"].encode()))
    h.update(field(str(v["timestamp"]).encode()))
    h.update(field(str(v["origin_joined_timestamp"]).encode()))
    h.update(field(b"1" if v["deleted"] else b"0"))
    return int.from_bytes(h.digest(), "little")


def merkle_root(versions):
    """The root replication/merkle.cpp computes over `versions`: leaf = sum mod 2^256 of the
    version digests in its bucket, branch = BLAKE2b-256 of its 64 leaves, root = BLAKE2b-256
    of the 64 branch hashes."""
    sums = [0] * LEAVES
    for v in versions:
        bucket = int.from_bytes(hashlib.blake2b(v["path"].encode(), digest_size=16).digest()[:8], "little") % LEAVES
        sums[bucket] = (sums[bucket] + version_digest(v)) % (1 << 256)
    top = b""
    for branch in range(LEAVES // FANOUT):
        leaves = b"".join(s.to_bytes(32, "little") for s in sums[branch * FANOUT:(branch + 1) * FANOUT])
        top += hashlib.blake2b(leaves, digest_size=32).digest()
    return hashlib.blake2b(top, digest_size=32).hexdigest()


class Server:
    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.data_dir = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "config.yaml")
        self.proc = None

    def write_config(self):
        with open(self.config, "w") as f:
            f.write(f"""node_id: crash-node
port: {self.port}
bind_address: 127.0.0.1
data_dir: {self.data_dir}
log_level: warn
auth_enabled: false
clustering_enabled: true
cluster_secret: crash-rounds-cluster-secret-0123456789abcdef
rate_limiting_enabled: false
tamper_logging_enabled: true
backup_enabled: false
map_size_mb: 1024
""")

    def start(self):
        self.write_config()
        log = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen([self.binary, self.config], stdout=log, stderr=log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kvs-server exited with {self.proc.returncode} at start; see {self.workdir}/server.log")
            try:
                status, _ = self.request("GET", "/health", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("kvs-server did not answer /health within 30 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def request(self, method, target, body=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, target, body, headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


def document(round_no, thread, n):
    return json.dumps({"round": round_no, "t": thread, "n": n, "pad": "p" * ((n * 37 + thread) % 400)})


def writer(server, round_no, thread, stop, acks, hot_acks, inflight, errors):
    """PUTs new keys c/r<round>/t<thread>/<n> and, every other write, overwrites its hot key
    c/hot/t<thread>. Records (path, n, uuid) for each 200 it reads."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    hot = f"c/hot/t{thread}"
    n = 0
    while not stop.is_set():
        n += 1
        path = hot if n % 2 == 0 else f"c/r{round_no}/t{thread}/{n}"
        if path == hot:
            inflight[thread] = n
        try:
            conn.request("PUT", "/kv/" + path, document(round_no, thread, n), {"Content-Type": "application/json"})
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            return  # the server is gone: this write was never acknowledged
        if response.status != 200:
            errors.append(f"PUT {path}: {response.status} {body[:200]!r}")
            return
        uuid = json.loads(body)["uuid"]
        if path == hot:
            hot_acks[thread] = (n, uuid, round_no)
        else:
            acks.append((path, uuid))


def check(server, fresh, hot, hot_next, audit_head):
    """Returns a list of failures (empty when the restarted server holds everything)."""
    failures = []
    status, body = server.request("GET", "/admin/export", timeout=300)
    if status != 200:
        return [f"GET /admin/export: {status}"]
    versions = {}
    for line in body.decode().splitlines():
        if line.strip():
            v = json.loads(line)
            versions[v["path"]] = v
    for path, uuid in fresh.items():
        v = versions.get(path)
        if v is None or v["deleted"]:
            failures.append(f"acknowledged {path} missing")
        elif v["uuid"] != uuid:
            failures.append(f"acknowledged {path} has uuid {v['uuid']}, not {uuid}")
    for key, (n, uuid, round_no) in hot.items():
        v = versions.get(key)
        if v is None:
            failures.append(f"acknowledged hot key {key} missing")
            continue
        got_n = v["data"]["n"] if isinstance(v.get("data"), dict) else None
        if v["uuid"] == uuid:
            continue
        # Not the acknowledged uuid: only a write that was in flight when a server was killed
        # after it may stand instead (one per round until the writer is acknowledged again).
        if (v["data"].get("round"), got_n) not in hot_next.get(key, set()):
            failures.append(f"hot key {key} holds round {v['data'].get('round')} n={got_n} uuid {v['uuid']}; "
                            f"acknowledged round {round_no} n={n} uuid {uuid}; in flight after it: "
                            f"{sorted(hot_next.get(key, set()))}")
    for path, v in versions.items():
        if not path.startswith("c/") or v["deleted"]:
            continue
        d = v["data"]
        if not isinstance(d, dict) or d != json.loads(document(d.get("round"), d.get("t"), d.get("n"))):
            failures.append(f"{path} holds a document no writer sent")
    status, body = server.request("GET", "/sync/merkle/root")
    if status != 200:
        failures.append(f"GET /sync/merkle/root: {status}")
    else:
        root = json.loads(body)
        rebuilt = merkle_root(versions.values())
        if root["root"] != rebuilt or root["keys"] != len(versions):
            failures.append(f"merkle root {root} != rebuilt {rebuilt} over {len(versions)} versions")
    status, body = server.request("GET", "/audit/verify", timeout=300)
    verify = json.loads(body) if status == 200 else {}
    if not verify.get("ok"):
        failures.append(f"GET /audit/verify: {status} {body[:200]!r}")
    elif audit_head is not None and verify.get("head_seq", 0) < audit_head:
        failures.append(f"audit head went back from {audit_head} to {verify.get('head_seq')}")
    return failures, verify.get("head_seq")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="build/release/kvs-server/kvs-server")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--reset-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--kill-after", type=float, default=1.2, help="longest wait before the SIGKILL, in seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory of a failed run")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"crash_rounds: {args.rounds} rounds, {args.writers} writers, seed {seed}, server {args.server}", flush=True)

    workdir = tempfile.mkdtemp(prefix="kvs-crash-")
    server = Server(os.path.abspath(args.server), workdir)
    failed_rounds = 0
    total_acks = 0
    started = time.time()
    fresh, hot, hot_next, audit_head = {}, {}, {}, None  # hot_next: key -> {(round, n) in flight}
    try:
        for round_no in range(args.rounds):
            if round_no % args.reset_every == 0:
                shutil.rmtree(server.data_dir, ignore_errors=True)
                fresh, hot, hot_next, audit_head = {}, {}, {}, None
            server.start()
            stop = threading.Event()
            acks, hot_acks, inflight, errors = [], {}, {}, []
            threads = [threading.Thread(target=writer, args=(server, round_no, t, stop, acks, hot_acks, inflight, errors))
                       for t in range(args.writers)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.05, args.kill_after))
            server.kill()
            stop.set()
            for t in threads:
                t.join()
            for path, uuid in acks:
                fresh[path] = uuid
            for t, ack in hot_acks.items():
                hot[f"c/hot/t{t}"] = ack
            for t, n in inflight.items():
                key = f"c/hot/t{t}"
                # The writes sent after the last acknowledged one, at most one per writer and
                # round: each may or may not have landed before its kill.
                acked = hot_acks.get(t)
                if acked is not None:
                    hot_next[key] = set()
                if acked is None or acked[0] < n:
                    hot_next.setdefault(key, set()).add((round_no, n))
            total_acks += len(acks) + len(hot_acks)
            server.start()
            failures, head = check(server, fresh, hot, hot_next, audit_head)
            failures = errors + failures
            audit_head = head if head is not None else audit_head
            server.stop()
            status = "ok" if not failures else "FAILED"
            print(f"round {round_no + 1}/{args.rounds}: {len(acks) + len(hot_acks)} acknowledged, "
                  f"{len(fresh)} keys checked, audit head {head}: {status}", flush=True)
            for failure in failures[:10]:
                print("  " + failure, flush=True)
            if failures:
                failed_rounds += 1
    finally:
        server.stop()
        if failed_rounds == 0 or not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"crash_rounds: work directory kept at {workdir}")
    print(f"crash_rounds: {args.rounds} rounds, {failed_rounds} failed, {total_acks} acknowledged writes, "
          f"{time.time() - started:.0f} s", flush=True)
    return 1 if failed_rounds else 0


if __name__ == "__main__":
    sys.exit(main())
