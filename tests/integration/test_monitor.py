"""The broker's monitor: GET /health and /metrics on a loopback address, as
a monitoring agent on the same host reads them."""

import http.client
import json
import re
import time

from conftest import free_port
from delivery_fixtures import (  # noqa: F401  (fixtures)
    delivery, make_file, service)


def get(port, path, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read()
    finally:
        c.close()


def health(port):
    status, ctype, body = get(port, "/health")
    assert ctype == "application/json", ctype
    return status, json.loads(body)


def metrics(port):
    status, ctype, body = get(port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line:
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    # Every sample has its HELP and TYPE.
    names = {re.sub(r"\{.*", "", n) for n in out}
    for n in names:
        assert f"# TYPE {n} gauge" in body.decode(), n
    return out


def test_health_and_metrics(broker, client, tmp_path):
    port = free_port()
    b = broker(extra={"monitor": {"listen": f"127.0.0.1:{port}"}})
    status, h = health(port)
    assert status == 200, h
    assert h["status"] == "ok" and h["reasons"] == []
    assert h["audit"] == {"healthy": True}
    assert h["spool"]["free_bytes"] > h["spool"]["min_free_bytes"] > 0
    started = re.search(r"event=start version=(\S+) .*register_sha256=(\w+)",
                        b.log_text())
    assert h["version"] == started.group(1)
    assert h["register_sha256"] == started.group(2)
    assert h["forward"]["transfers"] == 0

    m = metrics(port)
    assert m["sekisho_up"] == 1 and m["sekisho_healthy"] == 1
    assert m["sekisho_audit_healthy"] == 1
    assert m["sekisho_transfers_known"] == 1
    assert m['sekisho_transfers{state="stored"}'] == 0

    # Two uploads: counted by state once the cached counts are older than
    # their lifetime (5 s), which the loop below waits out, bounded.
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_text("hello")
    for _ in range(2):
        rc, obj, err = c.json("put", f, "--to", "IF-2026-001", "--class", 1,
                              "--purpose", "monitor test")
        assert rc == 0, (obj, err)
    deadline = time.monotonic() + 20
    while metrics(port)['sekisho_transfers{state="stored"}'] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.5)

    # Only GET and HEAD, only the two paths.
    assert get(port, "/health", "POST")[0] == 501   # libevent: not implemented
    assert get(port, "/nope")[0] == 404
    status, _, body = get(port, "/health", "HEAD")
    assert status == 200 and body == b""
    # Headers beyond the 8 KiB bound and a body are refused; the monitor
    # goes on answering.
    for extra, body, want in (({"X-Big": "a" * 9000}, None, 400),
                              ({}, b"hello", 413)):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", "/health", body=body, headers=extra)
            assert c.getresponse().status == want
        finally:
            c.close()
    assert health(port)[0] == 200


def test_spool_below_its_floor_is_failing(broker):
    port = free_port()
    b = broker(limits={"min_free_space": "1000TiB"},
               extra={"monitor": {"listen": f"127.0.0.1:{port}"}})
    status, h = health(port)
    assert status == 503 and h["status"] == "failing", h
    assert any("min_free_space" in r for r in h["reasons"]), h
    assert metrics(port)["sekisho_healthy"] == 0
    assert b.running()


def test_open_circuit_is_degraded(delivery, tmp_path):
    port = free_port()
    dead = free_port()                    # nothing listens there
    d = delivery([service("dead", f"https://localhost:{dead}")],
                 [("IF-DEAD", "dead", "/in/")],
                 {"max_attempts": 50, "circuit_threshold": 2,
                  "circuit_cooldown": "1h"},
                 extra={"monitor": {"listen": f"127.0.0.1:{port}"}})
    for i in range(2):
        d.put(make_file(tmp_path, f"d{i}.bin", 100, seed=i), "IF-DEAD")
    deadline = time.monotonic() + 30
    while "service=dead state=open" not in d.broker.log_text():
        assert time.monotonic() < deadline, d.broker.log_text()[-3000:]
        time.sleep(0.1)
    status, h = health(port)
    assert status == 200 and h["status"] == "degraded", h
    svc = h["forward"]["services"]
    assert [(s["id"], s["circuit"]) for s in svc] == [("dead", "open")]
    assert svc[0]["failures"] >= 2
    assert h["forward"]["transfers"] == 2
    m = metrics(port)
    assert m['sekisho_service_circuit_open{service="dead"}'] == 1
    assert m["sekisho_forward_transfers"] == 2


def test_monitor_only_on_loopback(broker):
    for listen, text in (("0.0.0.0:9464", "not a loopback address"),
                         ("192.0.2.1:9464", "not a loopback address"),
                         ("localhost:9464", "not a loopback address"),
                         ("[::]:9464", "not a loopback address"),
                         ("127.0.0.1", "is not host:port")):
        b = broker(extra={"monitor": {"listen": listen}}, start=False)
        proc = b.check_config()
        assert proc.returncode != 0, listen
        assert text in proc.stderr, (listen, proc.stderr)
    b = broker(extra={"monitor": {"listen": "[::1]:9464", "port": 1}},
               start=False)
    proc = b.check_config()
    assert proc.returncode != 0 and "port" in proc.stderr
