"""Delivery exactly once, seen from outside: a lost "stored" answer, a
failed stored->queued commit, orphan partial files, and forward attempts
cut off by a crash. Real processes: the broker, the client, nginx as the
WebDAV upstream; faults by kill -9 and the broker's test hooks."""

import hashlib
import http.client
import json
import os
import socket
import threading
import time

from conftest import free_port, raw_client
from delivery_fixtures import (  # noqa: F401  (fixtures)
    delivery, fault_proxy, make_file, nginx, service)


def one_object(n):
    objs = {k: v for k, v in n.objects().items()
            if not os.path.basename(k).startswith(".")}
    assert len(objs) == 1, sorted(objs)
    return next(iter(objs.values()))


def resume_state_file(client, path, interface, cls):
    """Where the client keeps the transfer id of an unfinished upload of
    path (client/resume.h: the key is the SHA-256 of realpath, size,
    mtime in ns, interface and class, each followed by a NUL)."""
    st = os.stat(path)
    h = hashlib.sha256()
    for field in (os.path.realpath(path), str(st.st_size),
                  str(st.st_mtime_ns), interface, str(cls)):
        h.update(field.encode() + b"\0")
    d = client.home / "state" / "sekisho" / "uploads"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d / h.hexdigest()


def upload_and_vanish(pki, b, path, interface="IF-DLV", cls=1):
    """Uploads path as alice on a raw connection, sends end and drops the
    connection without reading the broker's answer, as a client killed
    right after end would. Returns the transfer id."""
    data = path.read_bytes()
    c = raw_client(pki, b)
    try:
        c.hello()
        c.request("put", interface=interface, name=path.name,
                  size=len(data), **{"class": cls}, purpose="test")
        ready = c.recv()
        assert ready.get("op") == "ready", ready
        for i in range(0, len(data), 1 << 20):
            c.send(data[i:i + (1 << 20)])
        c.request("end", sha256=hashlib.sha256(data).digest())
    finally:
        c.abort()
    return ready["transfer"]


def test_lost_stored_answer_is_not_uploaded_twice(delivery, nginx, pki,
                                                  tmp_path):
    n = nginx()
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")])
    f = make_file(tmp_path, "a.bin", 300_000)
    tid = upload_and_vanish(pki, d.broker, f)
    # The broker stored it although nobody read its "stored".
    d.wait(tid, ("stored", "queued", "forwarding", "delivered"))
    # The client's resume state still names the transfer, as it does when
    # the client was killed between end and stored.
    resume_state_file(d.client, f, "IF-DLV", 1).write_text(tid + "\n")

    rc, obj, err = d.client.json("put", f, "--to", "IF-DLV", "--class", 1,
                                 "--purpose", "test")
    assert rc == 0, (rc, obj, err)
    assert obj["transfer"] == tid, "the client started a second transfer"
    assert obj["size"] == f.stat().st_size
    assert obj["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert obj["state"] in ("stored", "queued", "forwarding", "delivered")
    assert "already stored" in err
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    assert one_object(n) == f.read_bytes()
    assert len(d.records("accept")) == 1
    assert [r["details"]["state"] for r in d.records("resume", tid)] == \
        [obj["state"]]
    # The resume state is gone: a third run is a new upload, on purpose.
    assert not resume_state_file(d.client, f, "IF-DLV", 1).exists()


def test_resume_of_stored_transfer_past_the_daily_limit(broker, pki,
                                                        tmp_path):
    """The transfer itself used up today's limit; its resume (after a lost
    answer) still learns that it is stored instead of being refused."""
    b = broker(register={"interfaces": [
        {"id": "IF-COUNT", "max_class": 2, "daily_count": 1}]})
    f = tmp_path / "c.bin"
    f.write_bytes(os.urandom(5000))
    tid = upload_and_vanish(pki, b, f, interface="IF-COUNT")
    deadline = time.monotonic() + 10
    while not [r for r in b.audit_records() if r.get("type") == "stored"]:
        assert time.monotonic() < deadline, "not stored"
        time.sleep(0.05)
    with raw_client(pki, b) as c:
        c.hello()
        fields = {"interface": "IF-COUNT", "name": f.name,
                  "size": f.stat().st_size, "class": 1, "purpose": "test"}
        c.request("put", resume=tid, **fields)
        answer = c.recv()
        assert answer.get("op") == "stored", answer
        assert answer["transfer"] == tid and answer["state"] == "stored"
        # A new upload is still past the limit.
        c.request("put", **fields)
        answer = c.recv()
        assert answer.get("op") == "error", answer
        assert answer["reason"] == "daily_count_exceeded", answer


class Blackhole:
    """A TCP relay to the broker that can stop passing the broker's bytes
    to the client (the client's still go through), so the broker's answer
    to end is lost while the client waits for it."""

    def __init__(self, target_port):
        self.target = target_port
        self.drop_down = False
        self.stopping = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            u = socket.create_connection(("127.0.0.1", self.target), 10)
            self.conns += [c, u]
            for src, dst, down in ((c, u, False), (u, c, True)):
                threading.Thread(target=self._pump, args=(src, dst, down),
                                 daemon=True).start()

    def _pump(self, src, dst, down):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not (down and self.drop_down):
                    dst.sendall(data)
        except OSError:
            pass

    def close(self):
        self.stopping = True
        self.thread.join(5)
        for s in self.conns + [self.sock]:
            try:
                s.close()
            except OSError:
                pass


def test_client_killed_waiting_for_stored_does_not_upload_twice(
        delivery, nginx, tmp_path):
    """The real client sends the whole file and end; the broker stores it
    but its answer never arrives; the client is killed (-9) while it
    waits. Run again, it reports the stored transfer and sends nothing."""
    n = nginx()
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")])
    f = make_file(tmp_path, "a.bin", 4_000_000)
    hole = Blackhole(d.broker.port)
    try:
        d.client.write_config(broker=f"127.0.0.1:{hole.port}")
        proc = d.client.popen("put", f, "--to", "IF-DLV", "--class", 1,
                              "--purpose", "test", "--json")
        deadline = time.monotonic() + 30
        tid = None
        while tid is None:
            assert time.monotonic() < deadline, "no upload in time"
            assert proc.poll() is None, proc.communicate()
            for e in d.broker.spool_entries():
                try:
                    grown = e.endswith(".part") and \
                        (d.broker.spool / e).stat().st_size > 0
                except FileNotFoundError:
                    continue
                if grown:                # data flows: "ready" was read
                    hole.drop_down = True
                    tid = e[:-len(".part")]
            time.sleep(0.002)
        while d.records("stored", tid) == []:
            assert time.monotonic() < deadline, "not stored in time"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        hole.close()
    d.client.write_config(broker=f"127.0.0.1:{d.broker.port}")
    rc, obj, err = d.client.json("put", f, "--to", "IF-DLV", "--class", 1,
                                 "--purpose", "test")
    assert rc == 0, (rc, obj, err)
    assert obj["transfer"] == tid, "the client started a second transfer"
    assert "already stored" in err
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    assert one_object(n) == f.read_bytes()
    assert len(d.records("accept")) == 1


def test_lost_stored_answer_other_content_is_refused(delivery, nginx, pki,
                                                     tmp_path):
    """The broker holds other bytes under the id the client remembers
    (same size and mtime, so the client's key still matches): the client
    says so and sends nothing."""
    n = nginx()
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")])
    f = make_file(tmp_path, "a.bin", 100_000)
    tid = upload_and_vanish(pki, d.broker, f)
    d.wait(tid)
    original = f.read_bytes()
    st = os.stat(f)
    f.write_bytes(make_file(tmp_path, "other.bin", 100_000,
                            seed=1).read_bytes())
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    resume_state_file(d.client, f, "IF-DLV", 1).write_text(tid + "\n")
    rc, out, err = d.client.run("put", f, "--to", "IF-DLV", "--class", 1,
                                "--purpose", "test")
    assert rc != 0, (out, err)
    assert "not sent again" in err and tid in err
    assert len(d.records("accept")) == 1
    assert one_object(n) == original


# --- a failed stored->queued commit ----------------------------------------

def monitor_get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_failed_queue_commit_is_retried_and_shown(delivery, nginx, tmp_path,
                                                  monkeypatch):
    """The commit that moves an acknowledged transfer from stored to queued
    fails (three times, by the test hook): the transfer is not dropped but
    retried with backoff, /health is degraded and the metric counts it
    meanwhile, and it is delivered once the commits succeed again."""
    monkeypatch.setenv("SEKISHO_TEST_FAIL_QUEUE", "3")
    n = nginx()
    port = free_port()
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 extra={"monitor": {"listen": f"127.0.0.1:{port}"}})
    f = make_file(tmp_path, "a.bin", 20_000)
    tid = d.put(f)
    # The first queue commit runs just after "stored" was sent.
    deadline = time.monotonic() + 5
    while True:
        status, body = monitor_get(port, "/health")
        h = json.loads(body)
        if h["status"] != "ok" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200 and h["status"] == "degraded", h
    assert any("could not be queued" in r and "injected fault" in r
               for r in h["reasons"]), h
    _, body = monitor_get(port, "/metrics")
    assert "sekisho_forward_queue_failing 1\n" in body.decode()
    assert d.status(tid)["state"] == "stored"

    st = d.wait(tid, timeout=30)        # 1 + 2 + 4 s of backoff
    assert st["state"] == "delivered", st
    assert one_object(n) == f.read_bytes()
    status, body = monitor_get(port, "/health")
    h = json.loads(body)
    assert status == 200 and h["status"] == "ok", h
    _, body = monitor_get(port, "/metrics")
    assert "sekisho_forward_queue_failing 0\n" in body.decode()
    log = d.broker.log_text()
    assert log.count(f"event=forward transfer={tid} tries=") >= 4, log


# --- orphan partial files --------------------------------------------------

def orphan_records(b, tid):
    return [r for r in b.audit_records()
            if r.get("type") == "spool_orphan" and
            (r.get("subject") or {}).get("transfer") == tid]


def test_orphan_partial_is_removed_at_start(broker, pki):
    """A .part file with no transfer row (the broker died between creating
    it and committing the transfer) is removed, audited and logged at the
    next start; the partial of a resumable upload stays."""
    b = broker()
    c = raw_client(pki, b)
    try:
        c.hello()
        c.request("put", interface="IF-2026-001", name="r.bin", size=4096,
                  **{"class": 1}, purpose="test")
        ready = c.recv()
        assert ready.get("op") == "ready", ready
        c.send(b"x" * 1024)
    finally:
        c.abort()
    live = ready["transfer"]
    data = os.urandom(3000)
    with raw_client(pki, b) as c:
        c.hello()
        c.request("put", interface="IF-2026-001", name="s.bin",
                  size=len(data), **{"class": 1}, purpose="test")
        ready = c.recv()
        c.send(data)
        c.request("end", sha256=hashlib.sha256(data).digest())
        assert c.recv().get("op") == "stored"
    stored = ready["transfer"]
    b.kill()
    orphan = os.urandom(16).hex()
    (b.spool / f"{orphan}.part").write_bytes(b"y" * 5000)
    # a leftover partial beside a stored transfer's final file
    (b.spool / f"{stored}.part").write_bytes(b"v" * 10)
    b.start()
    entries = b.spool_entries()
    assert f"{orphan}.part" not in entries, entries
    assert f"{live}.part" in entries, entries
    assert f"{stored}.part" not in entries, entries
    assert (b.spool / stored).read_bytes() == data
    assert [r["details"]["state"] for r in orphan_records(b, stored)] == \
        ["stored"]
    recs = orphan_records(b, orphan)
    assert len(recs) == 1, recs
    assert recs[0]["details"]["size"] == 5000
    assert recs[0]["details"]["state"] == "none"
    assert f"event=spool_orphan transfer={orphan} size=5000 state=none " \
        "action=removed" in b.log_text()
    assert orphan_records(b, live) == []


def test_orphan_partial_is_removed_by_the_sweep(broker):
    """While the broker runs, an old orphan goes at the next sweep; a fresh
    one (its transfer may still be being created) is left alone."""
    b = broker(limits={"partial_ttl": "8s"})      # sweeps every 2 s
    old = os.urandom(16).hex()
    fresh = os.urandom(16).hex()
    p = b.spool / f"{old}.part"
    p.write_bytes(b"z" * 100)
    hour_ago = time.time() - 3600
    os.utime(p, (hour_ago, hour_ago))
    (b.spool / f"{fresh}.part").write_bytes(b"w" * 100)
    deadline = time.monotonic() + 20
    while p.exists():
        assert time.monotonic() < deadline, "the orphan was not swept"
        time.sleep(0.2)
    assert (b.spool / f"{fresh}.part").exists()
    assert len(orphan_records(b, old)) == 1
    assert orphan_records(b, fresh) == []
    assert b.running()


# --- forward attempts cut off by a crash -------------------------------------

def kill_during_forward(d, p, n, f):
    tid = d.put(f)
    d.wait(tid, ("forwarding",), timeout=30)
    time.sleep(1.0)                     # part of the body is on its way
    d.broker.kill()
    p.rate = 0
    return tid


def forward_results(d, tid):
    return [(r["details"]["attempt"], r["details"]["result"])
            for r in d.records("forward", tid)]


def test_interrupted_attempt_is_recorded_and_counts(delivery, nginx,
                                                    fault_proxy, tmp_path):
    """kill -9 during a throttled forward: the next start records the cut
    attempt ("forward", result "interrupted") and it counts toward
    max_attempts like a failed one (docs/architecture.md): with
    max_attempts 2, one more failing attempt ends the transfer."""
    n = nginx()
    p = fault_proxy(n.port, rate=400_000)
    d = delivery([service("dav", f"https://localhost:{p.port}")],
                 [("IF-DLV", "dav", "/in/")],
                 {"stall_timeout": "5s", "max_attempts": 2})
    f = make_file(tmp_path, "a.bin", 2_000_000)
    tid = kill_during_forward(d, p, n, f)
    n.fault("fail500")
    d.broker.start()
    st = d.wait(tid, timeout=60)
    assert st["state"] == "failed", st
    assert st["attempts"] == 2, st
    assert "gave up after 2 attempts" in st["error"], st
    assert forward_results(d, tid) == [(1, "interrupted"), (2, "failed")]
    rec = d.records("forward", tid)[0]["details"]
    assert "interrupted" in rec["error"] and "/in/" in rec["url"] and rec["url"].endswith("a.bin")
    assert "interrupted=1" in d.broker.log_text()


def test_interrupted_last_attempt_gets_one_more(delivery, nginx, fault_proxy,
                                                tmp_path):
    """The interrupted attempt was the last one allowed: it may have
    completed upstream, so one more attempt (which checks the destination
    first) is made instead of failing the transfer unseen."""
    n = nginx()
    p = fault_proxy(n.port, rate=400_000)
    d = delivery([service("dav", f"https://localhost:{p.port}")],
                 [("IF-DLV", "dav", "/in/")],
                 {"stall_timeout": "5s", "max_attempts": 1})
    f = make_file(tmp_path, "a.bin", 2_000_000)
    tid = kill_during_forward(d, p, n, f)
    d.broker.start()
    st = d.wait(tid, timeout=60)
    assert st["state"] == "delivered", st
    assert st["attempts"] == 2, st
    assert forward_results(d, tid) == [(1, "interrupted"), (2, "delivered")]
    assert one_object(n) == f.read_bytes()
