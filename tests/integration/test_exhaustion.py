"""Exhaustion from outside: unauthenticated sockets must not take every
slot, must not grow the signed trail without limit, and a client that never
reads must not grow the broker's memory.

All with real sockets on 127.0.0.1 and small limits."""

import select
import socket
import ssl
import time

import json
import re

import cbor2

from audit_fixtures import (AUDITOR, REGISTER, audit, audit_config,
                            ensure_auditor, pull, verifier_key, verify)
from conftest import BUILD, EXIT_OK, tls_context


def make_client_hello(pki):
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = tls_context(pki, *pki.alice())
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = outgoing.read()
    assert len(data) > 100, "no ClientHello produced"
    return data


def closed_by_peer(sock, wait):
    """True when the peer closed sock (EOF or reset) within wait seconds."""
    r, _, _ = select.select([sock], [], [], wait)
    if not r:
        return False
    try:
        return sock.recv(4096) == b""
    except (ConnectionError, OSError):
        return True


def wait_log(b, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while text not in b.log_text():
        assert time.monotonic() < deadline, f"{text!r} not logged"
        time.sleep(0.05)


def idle_socket(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


# --- item 11: handshakes ---------------------------------------------------

def test_drip_fed_client_hello_closed_at_the_handshake_deadline(pki, broker):
    """Bytes keep coming, one every 0.3 s, but the handshake must finish
    within handshake_timeout of the accept: an inactivity timer never
    fires here."""
    b = broker(limits={"handshake_timeout": "2s"})
    hello = make_client_hello(pki)
    s = idle_socket(b.port)
    start = time.monotonic()
    closed_at = None
    try:
        for i in range(len(hello) - 1):
            try:
                s.sendall(hello[i:i + 1])
            except (ConnectionError, OSError):
                closed_at = time.monotonic()
                break
            if closed_by_peer(s, 0.3):
                closed_at = time.monotonic()
                break
            if time.monotonic() - start > 8:
                break
    finally:
        s.close()
    assert closed_at is not None, "a drip-fed handshake kept its slot " \
        "for 8 s with handshake_timeout 2s"
    assert 1.5 <= closed_at - start <= 4.0, closed_at - start
    assert "handshake" in b.log_text()


def test_connections_per_source_are_capped(pki, broker):
    b = broker(limits={"max_connections_per_source": 3,
                       "handshake_timeout": "30s"})
    # The fixture's readiness probe is a connection from this source too:
    # let the broker see it closed before counting ours.
    wait_log(b, "event=refuse ")
    held = [idle_socket(b.port) for _ in range(3)]
    try:
        time.sleep(0.3)
        extra = idle_socket(b.port)
        try:
            assert closed_by_peer(extra, 3.0), \
                "a fourth connection from one source was kept:\n" + \
                b.log_text()[-3000:]
        finally:
            extra.close()
        for s in held:
            assert not closed_by_peer(s, 0.05), "a held socket was closed"
        assert "max_connections_per_source" in b.log_text()
        # A slot given back is free again.
        held.pop().close()
        time.sleep(0.3)
        again = idle_socket(b.port)
        held.append(again)
        assert not closed_by_peer(again, 0.5)
    finally:
        for s in held:
            s.close()


def test_idle_handshakes_cannot_starve_a_real_client(pki, broker, client):
    """Every connection slot is taken by sockets that never send a byte;
    a real client must still get in (handshakes have their own budget and
    the oldest idle one gives way)."""
    b = broker(limits={"max_connections": 8, "max_handshakes": 4,
                       "max_connections_per_source": 100,
                       "handshake_timeout": "60s"})
    idle = []
    try:
        for _ in range(8):
            idle.append(idle_socket(b.port))
            time.sleep(0.05)
        time.sleep(0.3)
        rc, obj, err = client(b).json("whoami")
        assert rc == EXIT_OK, (obj, err, b.log_text()[-2000:])
        assert obj["user"] == "alice"
    finally:
        for s in idle:
            s.close()


# --- item 13: refusals in the trail ----------------------------------------

def refuse_records(b):
    return [r for r in b.audit_records() if r.get("type") == "refuse"]


def test_refusals_are_aggregated_in_the_trail(pki, broker, client,
                                             tmp_path):
    ensure_auditor(pki)
    b = broker(register=REGISTER, limits={"refusal_interval": "1s"},
               extra={"audit": audit_config()})
    # The start-up probe of the fixture was a refusal too: let its count
    # reach the trail first.
    time.sleep(2.5)
    before = refuse_records(b)
    n = 500
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        s.close()
    deadline = time.monotonic() + 15
    while True:
        recs = refuse_records(b)[len(before):]
        total = sum(r["details"].get("count", 1) for r in recs)
        if total >= n or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert total == n, (total, len(recs))
    # A handful of records, not one per connection: the first promptly,
    # then one per interval (the loop takes a few seconds at most).
    assert len(recs) <= 12, len(recs)
    agg = [r for r in recs if r["details"].get("count", 1) > 1]
    assert agg, recs
    d = agg[0]["details"]
    assert d["first"] <= d["last"]
    # "reason (n); reason (n)": the counts of the reasons add up too.
    per_reason = re.findall(r"\((\d+)\)(?=; |$)", d["reasons"])
    assert sum(map(int, per_reason)) == d["count"], d
    assert d["reason"] in d["reasons"], d
    assert agg[0]["actor"]["peer"] == "127.0.0.1"
    # The auditor's tools take the counted record: the pulled trail
    # verifies offline and the export carries count and reasons.
    auditor = client(b, user=AUDITOR)
    d = tmp_path / "pull"
    pull(auditor, d, "--from-seq", "0")
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_OK, res
    rc, out, err = audit(auditor, "export", d, "--format", "jsonl")
    assert rc == EXIT_OK, err
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    counted = [r for r in rows if r["type"] == "refuse" and
               r["details"].get("count", 1) > 1]
    assert counted and "reasons" in counted[0]["details"], counted[:2]


# --- item 14: a client that never reads -------------------------------------

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class BioClient:
    """TLS over a non-blocking socket through memory BIOs, so writing can
    go on while nothing is read (one thread, no SSL object shared)."""

    def __init__(self, pki, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setblocking(False)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = tls_context(pki, *pki.alice()).wrap_bio(
            self.inc, self.out, server_hostname="localhost")
        self.pending = b""
        self.rbuf = b""
        deadline = time.monotonic() + 10
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush(deadline)
                self.pull(deadline)
        self.flush(deadline)

    def flush(self, deadline):
        self.pending += self.out.read()
        while self.pending:
            try:
                n = self.sock.send(self.pending)
                self.pending = self.pending[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                select.select([], [self.sock], [], 0.1)
        return True

    def pull(self, deadline):
        r, _, _ = select.select([self.sock], [], [],
                                max(0, deadline - time.monotonic()))
        if not r:
            raise AssertionError("no bytes from the broker")
        data = self.sock.recv(1 << 20)
        if not data:
            raise AssertionError("broker closed the connection")
        self.inc.write(data)

    def write(self, data):
        self.obj.write(data)
        self.pending += self.out.read()

    def try_send(self, wait):
        """Sends what it can within wait seconds; True when all went."""
        end = time.monotonic() + wait
        while self.pending:
            try:
                n = self.sock.send(self.pending)
                self.pending = self.pending[n:]
            except BlockingIOError:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                select.select([], [self.sock], [], left)
        return True

    def read_items(self, deadline):
        """Reads whatever is there, decodes whole items."""
        items = []
        while True:
            try:
                self.rbuf += self.obj.read(1 << 20)
            except ssl.SSLWantReadError:
                break
        while self.rbuf:
            dec = cbor2.CBORDecoder(__import__("io").BytesIO(self.rbuf))
            try:
                item = dec.decode()
            except Exception:
                break
            self.rbuf = self.rbuf[dec.fp.tell():]
            items.append(item)
        return items


def sanitized_build():
    """True for a build with AddressSanitizer (its quarantine keeps freed
    memory resident, so RSS says nothing there)."""
    try:
        opts = json.loads((BUILD / "meson-info" /
                           "intro-buildoptions.json").read_text())
    except (OSError, ValueError):
        return False
    return any(o.get("name") == "b_sanitize" and o.get("value") not in
               ("none", "", None) for o in opts)


def test_pipelined_requests_without_reading_stay_bounded(pki, broker):
    b = broker()
    c = BioClient(pki, b.port)
    c.write(cbor2.dumps({"op": "hello", "id": 1, "version": 1,
                         "software": "sekisho-tests"}))
    deadline = time.monotonic() + 10
    got = []
    c.flush(deadline)
    while not got:
        c.pull(deadline)
        got += c.read_items(deadline)
    assert got[0]["op"] == "welcome"
    base = rss_kib(b.proc.pid)
    # 400k small requests (12 MB), each answered by an error of ~150
    # bytes (60 MB if the broker queued them all).
    n = 400_000
    one = b"".join(cbor2.dumps({"op": "status", "id": i + 2,
                                "transfer": "x"}) for i in range(1000))
    for _ in range(n // 1000):
        c.write(one)
    # Write only, never read: the broker must stop taking requests once
    # its answers pile up, so our sending stalls (what TCP buffers
    # between us is far less than 12 MB).
    all_sent = c.try_send(8.0)
    time.sleep(0.5)
    grown = rss_kib(b.proc.pid) - base
    assert not all_sent, "the broker took every request while its " \
        "answers were not read"
    if not sanitized_build():
        assert grown < 8 * 1024, f"broker grew by {grown} KiB"
    # Now read: every request gets its answer, in order.
    answers = 0
    deadline = time.monotonic() + 120
    while answers < n:
        c.try_send(0)
        try:
            c.pull(deadline)
        except AssertionError:
            break
        for it in c.read_items(deadline):
            assert it["op"] == "error" and it["code"] == "bad_value", it
            assert it["id"] == answers % 1000 + 2, it
            answers += 1
    assert answers == n
    c.sock.close()
