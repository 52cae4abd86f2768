#!/usr/bin/python3
"""Broker benchmarks on this machine (not tests: nothing here passes or fails).

  /usr/bin/python3 bench/broker_bench.py [--build DIR] [--size-mib 1024]
                                         [--idle 1000]

1. Single-upload throughput: one `sekisho put` of a file of random bytes,
   client-perceived wall time from process start to exit (TLS handshake,
   hello, put, every byte, end, durable commit and `stored`), reported in
   MB/s (10^6 bytes) and MiB/s. The spooled copy's SHA-256 is checked.
2. Idle connections: the broker's resident set size (VmRSS) before and after
   opening N mutually authenticated TLS 1.3 connections that each complete
   `hello`/`welcome` and then stay idle; reported in total and per connection.
   The same loop, one connection after the other, gives the handshake rate
   (handshake + hello/welcome, client-perceived; every one costs the broker
   a signature from its TLS key process).

Everything runs on 127.0.0.1 in a temporary directory that is removed at the
end. The spool lives on the file system of the temporary directory
(override with TMPDIR)."""

import argparse
import hashlib
import os
import pathlib
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import cbor2

REPO = pathlib.Path(__file__).resolve().parents[1]
PKI = REPO / "pki" / "sekisho-pki"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def setup(work, port, max_conns):
    env = dict(os.environ, SEKISHO_PKI_DIR=str(work / "pki"))
    run = lambda *a: subprocess.run([str(PKI), *a], env=env, check=True,
                                    stdout=subprocess.DEVNULL)
    run("init", "--name", "bench CA")
    run("server", "localhost")
    run("user", "bench", "--dept", "soumu", "--terminal", "B001")
    (work / "register.yaml").write_text(
        "interfaces:\n  - id: IF-BENCH\n    max_class: 2\n")
    (work / "sekishod.yaml").write_text(f"""listen: "127.0.0.1:{port}"
tls:
  cert: pki/servers/localhost.crt
  key: pki/servers/localhost.key
  ca: pki/ca.crt
  crl: pki/crl.pem
spool_dir: spool
state_db: state.db
audit_log: audit.log
register: register.yaml
limits:
  max_file_size: 8GiB
  max_connections: {max_conns}
  max_connections_per_source: {max_conns}
  min_free_space: 64MiB
""")
    (work / "client.yaml").write_text(f"""broker: "127.0.0.1:{port}"
server_name: localhost
ca: pki/ca.crt
cert: pki/users/bench@B001.crt
key: pki/users/bench@B001.key
""")


def start_broker(build, work, port):
    log = open(work / "sekishod.log", "wb")
    p = subprocess.Popen([str(build / "broker" / "sekishod"), "-c",
                          str(work / "sekishod.yaml")], stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p
        except OSError:
            if p.poll() is not None:
                raise RuntimeError("broker exited; see sekishod.log")
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("broker did not start")


def bench_upload(build, work, size_mib):
    src = work / "big.bin"
    with open(src, "wb") as f:
        chunk = os.urandom(1 << 20)
        h = hashlib.sha256()
        for i in range(size_mib):
            # vary each MiB cheaply so the file is not one repeated block
            block = i.to_bytes(8, "little") + chunk[8:]
            f.write(block)
            h.update(block)
    want = h.hexdigest()
    os.sync()
    cmd = [str(build / "client" / "sekisho"), "--config",
           str(work / "client.yaml"), "put", str(src), "--to", "IF-BENCH",
           "--class", "1", "--purpose", "bench", "--json"]
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"upload failed: {out.stderr} {out.stdout}")
    import json
    res = json.loads(out.stdout)
    if res["sha256"] != want:
        raise RuntimeError("hash mismatch")
    spooled = work / "spool" / res["transfer"]
    h2 = hashlib.sha256()
    with open(spooled, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h2.update(b)
    if h2.hexdigest() != want:
        raise RuntimeError("spooled copy differs")
    size = size_mib << 20
    src.unlink()
    spooled.unlink()
    return dt, size


def bench_idle(work, broker_pid, port, n):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(work / "pki" / "ca.crt")
    ctx.load_cert_chain(work / "pki" / "users" / "bench@B001.crt",
                        work / "pki" / "users" / "bench@B001.key")
    ctx.set_alpn_protocols(["sekisho/1"])
    time.sleep(0.5)
    before = rss_kib(broker_pid)
    conns = []
    t0 = time.monotonic()
    hello = cbor2.dumps({"op": "hello", "id": 1, "version": 1,
                         "software": "bench"})
    for _ in range(n):
        raw = socket.create_connection(("127.0.0.1", port), 10)
        # As the sekisho client does: no Nagle delay on small writes.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(hello)
        msg = cbor2.loads(s.recv(65536))
        if msg.get("op") != "welcome":
            raise RuntimeError(f"unexpected answer {msg}")
        conns.append(s)
    elapsed = time.monotonic() - t0
    time.sleep(1.0)
    after = rss_kib(broker_pid)
    for s in conns:
        s.close()
    return before, after, elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--idle", type=int, default=1000)
    args = ap.parse_args()
    build = pathlib.Path(args.build).resolve()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(hard, args.idle + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    work = pathlib.Path(tempfile.mkdtemp(prefix="sekisho-bench-"))
    port = free_port()
    broker = None
    try:
        setup(work, port, args.idle + 64)
        broker = start_broker(build, work, port)
        dt, size = bench_upload(build, work, args.size_mib)
        print(f"upload: {size} bytes in {dt:.2f} s = "
              f"{size / dt / 1e6:.1f} MB/s ({size / dt / (1 << 20):.1f} MiB/s)"
              f", client-perceived, durable on `stored`")
        before, after, elapsed = bench_idle(work, broker.pid, port, args.idle)
        print(f"idle: broker RSS {before} KiB before, {after} KiB with "
              f"{args.idle} idle TLS connections "
              f"(+{(after - before) / args.idle:.1f} KiB per connection)")
        print(f"handshakes: {args.idle} in {elapsed:.2f} s, one after the "
              f"other = {args.idle / elapsed:.0f}/s (with hello/welcome)")
    finally:
        if broker is not None:
            broker.terminate()
            try:
                broker.wait(10)
            except subprocess.TimeoutExpired:
                broker.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
