"""Browsers over HTTP/2 on the same TLS 1.3 mTLS listener: ALPN selects
sekisho/1 or h2, HTTP/1.1 is refused with a clear reason, the identity is the
client certificate alone, every answer carries the security headers, the
pages come from a whitelist (no traversal, no links), state-changing
requests must be same-origin, and the HTTP/2 bounds (concurrent streams,
header list, CONTINUATION frames, rapid reset) end the abusing connection
without stalling another user's.

curl (--http2) plays the browser where it can; the attacks are written frame
by frame with hyperframe/hpack so the test controls exactly what is sent."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid

import h2.config
import h2.connection
import h2.events
import hpack
import pytest
from hyperframe.frame import (ContinuationFrame, Frame, GoAwayFrame,
                              HeadersFrame, RstStreamFrame, SettingsFrame)

from conftest import ALPN, REPO, RawClient, tls_context
from stepup_helpers import wait_records

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENHANCE_YOUR_CALM = 0xB
REFUSED_STREAM = 0x7
PROTOCOL_ERROR = 0x1
ASSET = REPO / "tests" / "integration" / "webroot" / "probe.txt"


def need_curl():
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")


def web_root(tmp_path):
    """A page root: the test asset, a subdirectory, a hidden file, and a
    link to a secret outside the root (which must never be served)."""
    root = tmp_path / "webroot"
    (root / "sub").mkdir(parents=True)
    shutil.copyfile(ASSET, root / "probe.txt")
    shutil.copyfile(ASSET, root / "sub" / "app.js")
    (root / ".hidden").write_text("hidden\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET outside the root\n")
    os.symlink(secret, root / "link.txt")
    os.symlink(tmp_path, root / "up")
    return root


def web_broker(broker, tmp_path, **kw):
    return broker(extra={"web": {"root": str(web_root(tmp_path))}}, **kw)


class H2:
    """A well-behaved HTTP/2 client (python-h2) over the broker's TLS."""

    def __init__(self, port, ctx, timeout=10.0):
        self.port = port
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.goaway = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method, path, headers=(), body=None):
        """(status, headers, body) of one request."""
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "https"),
                (":authority", f"localhost:{self.port}"), *headers]
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=True)
        self.flush()
        status, rh, data = None, {}, b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            for ev in self.conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived) and \
                        ev.stream_id == sid:
                    rh = dict(ev.headers)
                    status = int(rh[":status"])
                elif isinstance(ev, h2.events.DataReceived) and \
                        ev.stream_id == sid:
                    data += ev.data
                    self.conn.acknowledge_received_data(
                        ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamReset) and \
                        ev.stream_id == sid:
                    raise ConnectionError(f"stream reset {ev.error_code}")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = ev
                    raise ConnectionError(f"GOAWAY {ev.error_code}")
                elif isinstance(ev, h2.events.StreamEnded) and \
                        ev.stream_id == sid:
                    self.flush()
                    return status, rh, data
            self.flush()

    def json(self, method, path, headers=(), body=None):
        status, rh, data = self.request(method, path, headers, body)
        assert rh["content-type"] == "application/json", rh
        return status, json.loads(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def h2_ctx(pki, cert=None, key=None, alpn=("h2",)):
    return tls_context(pki, cert, key, alpn=alpn)


class RawH2:
    """Frames written by hand: the attacks."""

    def __init__(self, port, ctx, timeout=10.0):
        self.port = port
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        assert self.sock.selected_alpn_protocol() == "h2"
        self.buf = b""
        self.enc = hpack.Encoder()
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize())

    def settings(self):
        """The server's first SETTINGS, acknowledged."""
        while True:
            f = self.frame()
            assert f is not None, "closed before SETTINGS"
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                self.sock.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
                return f.settings

    def block(self, path="/api/v1/whoami", method="GET", extra=()):
        return self.enc.encode([(":method", method), (":path", path),
                                (":scheme", "https"),
                                (":authority", f"localhost:{self.port}"),
                                *extra])

    def frame(self, timeout=10.0):
        """The next frame, or None when the connection closed."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) >= 9 + length:
                    f.parse_body(memoryview(self.buf[9:9 + length]))
                    self.buf = self.buf[9 + length:]
                    return f
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionError, ssl.SSLError):
                return None
            if not chunk:
                return None
            self.buf += chunk

    def until_goaway(self, timeout=15.0):
        """The GOAWAY frame, None if the connection closed without one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = self.frame(timeout=max(0.1, deadline - time.monotonic()))
            if f is None or isinstance(f, GoAwayFrame):
                return f
        raise AssertionError("neither GOAWAY nor close within the timeout")

    def closed(self, timeout=10.0):
        """True once the broker has closed the connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.frame(timeout=max(0.1, deadline - time.monotonic())) \
                    is None:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def curl(b, pki, path, *args, cert=True):
    cmd = ["curl", "-sS", "--max-time", "10", "--http2", "--cacert",
           str(pki.ca), "--resolve", f"localhost:{b.port}:127.0.0.1",
           "-D", "-"]
    if cert:
        c, k = pki.alice()
        cmd += ["--cert", str(c), "--key", str(k)]
    cmd += [*args, f"https://localhost:{b.port}{path}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def parse_curl(out):
    # text mode: the CRLFs are newlines here
    head, _, body = out.partition("\n\n")
    lines = head.split("\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs, body


def assert_security_headers(hdrs):
    csp = hdrs["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert hdrs["x-content-type-options"] == "nosniff"
    assert hdrs["referrer-policy"] == "no-referrer"
    assert hdrs["strict-transport-security"].startswith("max-age=")
    assert "set-cookie" not in hdrs


def test_whoami_over_h2_is_the_certificate(pki, broker, tmp_path):
    need_curl()
    b = web_broker(broker, tmp_path)
    r = curl(b, pki, "/api/v1/whoami", "-H", "Cookie: user=mallory",
             "-H", "Authorization: Basic bWFsbG9yeTpwdw==")
    assert r.returncode == 0, r.stderr
    status, hdrs, body = parse_curl(r.stdout)
    assert status.startswith("HTTP/2 200"), r.stdout
    assert hdrs.get("content-type") == "application/json", r.stdout
    assert hdrs["cache-control"] == "no-store"
    assert_security_headers(hdrs)
    who = json.loads(body)
    # Cookies and passwords mean nothing: the certificate is the identity.
    assert (who["user"], who["dept"], who["terminal"]) == \
        ("alice", "soumu", "T001"), who
    with H2(b.port, h2_ctx(pki, *pki.bob())) as c:
        status, who = c.json("GET", "/api/v1/whoami")
        assert status == 200 and who["user"] == "bob", who
    rec = [r for r in wait_records(b, "connect", 2)
           if r["details"].get("protocol") == "h2"]
    assert rec, "the h2 connections are audited as connects"


def test_h2_without_certificate_is_refused(pki, broker, tmp_path):
    need_curl()
    b = web_broker(broker, tmp_path)
    r = curl(b, pki, "/api/v1/whoami", cert=False)
    assert r.returncode != 0 and "HTTP/2 200" not in r.stdout, r.stdout
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with H2(b.port, h2_ctx(pki)) as c:
            c.request("GET", "/api/v1/whoami")
    assert "no client certificate" in b.log_text()


def test_http11_only_is_refused_with_the_reason(pki, broker, tmp_path):
    need_curl()
    b = web_broker(broker, tmp_path)
    r = curl(b, pki, "/api/v1/whoami", "--http1.1")
    assert r.returncode != 0, r.stdout
    with pytest.raises(ssl.SSLError) as e:
        RawClient(b.port, tls_context(pki, *pki.alice(), alpn=("http/1.1",)))
    assert "NO APPLICATION PROTOCOL" in \
        str(e.value).upper().replace("_", " "), e.value
    deadline = time.monotonic() + 5
    while "HTTP/1.1 is not served" not in b.log_text():
        assert time.monotonic() < deadline, b.log_text()[-2000:]
        time.sleep(0.05)
    line = [ln for ln in b.log_text().splitlines()
            if "HTTP/1.1 is not served" in ln][0]
    assert "event=refuse" in line and "use HTTP/2 or the sekisho client" \
        in line, line
    # The command-line client still gets sekisho/1, preferred over h2.
    with RawClient(b.port, tls_context(pki, *pki.alice(),
                                       alpn=("h2", ALPN))) as c:
        assert c.sock.selected_alpn_protocol() == ALPN
        assert c.hello()["user"] == "alice"


def test_pages_come_from_the_whitelist_only(pki, broker, tmp_path):
    b = web_broker(broker, tmp_path)
    with H2(b.port, h2_ctx(pki, *pki.alice())) as c:
        status, hdrs, body = c.request("GET", "/probe.txt")
        assert status == 200 and body == ASSET.read_bytes()
        assert hdrs["content-type"] == "text/plain; charset=utf-8"
        assert_security_headers(hdrs)
        status, hdrs, _ = c.request("GET", "/sub/app.js")
        assert status == 200
        assert hdrs["content-type"] == "text/javascript; charset=utf-8"
        status, hdrs, body = c.request("HEAD", "/probe.txt")
        assert status == 200 and body == b""
        assert hdrs["content-length"] == str(ASSET.stat().st_size)
        for path in ("/../secret.txt", "/sub/../probe.txt",
                     "/%2e%2e/secret.txt", "/sub%2fapp.js", "/sub%2Fapp.js",
                     "/link.txt", "/up/secret.txt", "/.hidden",
                     "/probe.txt/", "//probe.txt", "/sub/..%2f..%2fsecret.txt",
                     "/nope.html"):
            status, hdrs, body = c.request("GET", path)
            assert status == 404, (path, status)
            assert b"SECRET" not in body
            assert_security_headers(hdrs)
            err = json.loads(body)
            assert err["code"] == "not_found", err
            assert err["message"]["ja"] and err["message"]["en"], err
        status, err = c.json("GET", "/api/v1/nothing")
        assert status == 404 and err["code"] == "not_found"
    assert "skipped=3" in b.log_text()  # the two links and the hidden file


def test_state_changing_requests_must_be_same_origin(pki, broker, tmp_path):
    b = web_broker(broker, tmp_path)
    own = f"https://localhost:{b.port}"
    with H2(b.port, h2_ctx(pki, *pki.alice())) as c:
        for method in ("POST", "DELETE", "PUT"):
            status, err = c.json(method, "/api/v1/whoami", [
                ("origin", "https://evil.example"),
                ("x-sekisho-request", "1")], body=b"{}")
            assert status == 403 and err["code"] == "cross_origin", err
            assert err["message"]["ja"] and err["message"]["en"]
        # Same origin, without the custom header: refused too.
        status, err = c.json("POST", "/api/v1/whoami",
                             [("origin", own)], body=b"{}")
        assert status == 403 and err["code"] == "cross_origin", err
        # No Origin at all: refused.
        status, err = c.json("POST", "/api/v1/whoami",
                             [("x-sekisho-request", "1")], body=b"{}")
        assert status == 403 and err["code"] == "cross_origin", err
        # Both: the request reaches its route (which takes GET only).
        status, hdrs, body = c.request("POST", "/api/v1/whoami", [
            ("origin", own), ("x-sekisho-request", "1")], body=b"{}")
        assert status == 405, body
        assert json.loads(body)["code"] == "method_not_allowed"
        assert hdrs["allow"] == "GET, HEAD"
        assert_security_headers(hdrs)
        # A cross-origin GET changes nothing and is answered.
        status, who = c.json("GET", "/api/v1/whoami",
                             [("origin", "https://evil.example")])
        assert status == 200 and who["user"] == "alice"
    assert "event=web_refuse" in b.log_text()


def test_concurrent_streams_are_bounded_by_settings(pki, broker, tmp_path):
    b = web_broker(broker, tmp_path)
    c = RawH2(b.port, h2_ctx(pki, *pki.alice()))
    try:
        settings = c.settings()
        limit = settings[SettingsFrame.MAX_CONCURRENT_STREAMS]
        assert 0 < limit <= 100, settings
        assert settings[SettingsFrame.MAX_HEADER_LIST_SIZE] <= 65536
        assert settings[SettingsFrame.INITIAL_WINDOW_SIZE] <= 1 << 20
        # Streams held open (no END_STREAM): as many as allowed are
        # answered...
        data = b""
        for i in range(limit):
            f = HeadersFrame(1 + 2 * i, c.block())
            f.flags.add("END_HEADERS")
            data += f.serialize()
        c.sock.sendall(data)
        answered = set()
        deadline = time.monotonic() + 10
        while len(answered) < limit:
            assert time.monotonic() < deadline, len(answered)
            f = c.frame()
            assert f is not None, "connection closed"
            assert not isinstance(f, (RstStreamFrame, GoAwayFrame)), f
            if isinstance(f, HeadersFrame):
                answered.add(f.stream_id)
        # ... and one more is refused (RFC 9113 5.1.2: REFUSED_STREAM or
        # PROTOCOL_ERROR; nghttp2 ends the connection).
        extra = 1 + 2 * limit
        f = HeadersFrame(extra, c.block())
        f.flags.add("END_HEADERS")
        c.sock.sendall(f.serialize())
        while True:
            f = c.frame()
            assert f is not None, "closed without refusing the stream"
            assert not (isinstance(f, HeadersFrame) and
                        f.stream_id == extra), "stream over the bound served"
            if isinstance(f, RstStreamFrame) and f.stream_id == extra:
                assert f.error_code in (REFUSED_STREAM, PROTOCOL_ERROR), f
                break
            if isinstance(f, GoAwayFrame):
                assert f.error_code == PROTOCOL_ERROR, f
                assert f.last_stream_id < extra, f
                break
    finally:
        c.close()


# What "answered promptly" means while another connection attacks: far
# above a normal answer (milliseconds), far below a stall (the attack would
# hold the loop for as long as it lasts). Generous for a loaded CI machine
# and a sanitizer build; this is a liveness check, not a speed figure.
SERVED_WITHIN = 5.0


def timed_whoami(pki, b):
    start = time.monotonic()
    with H2(b.port, h2_ctx(pki, *pki.bob()), timeout=2 * SERVED_WITHIN) as c:
        status, who = c.json("GET", "/api/v1/whoami")
    assert status == 200 and who["user"] == "bob"
    return time.monotonic() - start


def test_rapid_reset_gets_goaway_and_others_are_served(pki, broker,
                                                       tmp_path):
    b = web_broker(broker, tmp_path)
    c = RawH2(b.port, h2_ctx(pki, *pki.alice()))
    result = {}

    def flood():
        try:
            c.settings()
            sid = 1
            for _ in range(20):
                data = b""
                for _ in range(250):
                    f = HeadersFrame(sid, c.block())
                    f.flags.add("END_HEADERS")
                    f.flags.add("END_STREAM")
                    data += f.serialize()
                    data += RstStreamFrame(sid, error_code=0x8).serialize()
                    sid += 2
                c.sock.sendall(data)
        except OSError as e:
            result["send"] = e      # the broker closed on us: expected
        result["goaway"] = c.until_goaway()

    t = threading.Thread(target=flood)
    t.start()
    try:
        time.sleep(0.05)
        # Another user, during the flood, is answered promptly.
        elapsed = [timed_whoami(pki, b) for _ in range(3)]
    finally:
        t.join(30)
        c.close()
    assert not t.is_alive()
    g = result["goaway"]
    assert isinstance(g, GoAwayFrame), result
    assert g.error_code == ENHANCE_YOUR_CALM, g
    assert max(elapsed) < SERVED_WITHIN, elapsed
    assert "event=h2_abuse" in b.log_text()
    assert "too many streams reset" in b.log_text()
    assert timed_whoami(pki, b) < SERVED_WITHIN


def test_continuation_flood_closes_the_connection(pki, broker, tmp_path):
    b = web_broker(broker, tmp_path)
    c = RawH2(b.port, h2_ctx(pki, *pki.alice()))
    try:
        c.settings()
        f = HeadersFrame(1, c.block())      # no END_HEADERS
        data = f.serialize()
        for _ in range(2000):
            data += ContinuationFrame(1, b"").serialize()
        try:
            c.sock.sendall(data)
        except OSError:
            pass
        assert c.closed(), "the connection stays open"
    finally:
        c.close()
    assert timed_whoami(pki, b) < SERVED_WITHIN
    assert "event=h2_abuse" in b.log_text()


def test_oversized_header_list_closes_the_connection(pki, broker, tmp_path):
    b = web_broker(broker, tmp_path)
    c = RawH2(b.port, h2_ctx(pki, *pki.alice()))
    try:
        c.settings()
        # 40 KiB of headers (never indexed, so each costs its bytes) in
        # fragments of 8 KiB: under the CONTINUATION bound, over the list
        # size the broker advertised.
        block = c.enc.encode([(":method", "GET"), (":path", "/"),
                              (":scheme", "https"),
                              (":authority", f"localhost:{c.port}")] +
                             [(f"x-pad-{i}", "v" * 1000, True)
                              for i in range(40)])
        frags = [block[i:i + 8192] for i in range(0, len(block), 8192)]
        data = HeadersFrame(1, frags[0]).serialize()
        for i, frag in enumerate(frags[1:]):
            f = ContinuationFrame(1, frag)
            if i == len(frags) - 2:
                f.flags.add("END_HEADERS")
            data += f.serialize()
        try:
            c.sock.sendall(data)
        except OSError:
            pass
        g = c.until_goaway()
        assert g is None or g.error_code == ENHANCE_YOUR_CALM, g
        assert c.closed(), "the connection stays open"
    finally:
        c.close()
    assert "header list larger than" in b.log_text()
    assert timed_whoami(pki, b) < SERVED_WITHIN


def test_revoked_certificate_loses_its_h2_connection(pki, broker, tmp_path):
    b = web_broker(broker, tmp_path)
    uid = "h2rev" + uuid.uuid4().hex[:8]
    cert, key = pki.issue_user(uid, "soumu")
    with H2(b.port, h2_ctx(pki, cert, key)) as c, \
            H2(b.port, h2_ctx(pki, *pki.bob())) as other:
        status, who = c.json("GET", "/api/v1/whoami")
        assert status == 200 and who["user"] == uid
        pki.revoke(cert)
        b.install_crl()
        line = b.reload_and_wait()
        assert "sessions_revoked=1" in line, line
        with pytest.raises(ConnectionError):
            c.request("GET", "/api/v1/whoami")
        # The other user's open connection is untouched.
        status, who = other.json("GET", "/api/v1/whoami")
        assert status == 200 and who["user"] == "bob"
    rec = wait_records(b, "session_revoked")[0]
    assert rec["actor"]["user"] == uid
    assert rec["details"]["protocol"] == "h2"
    assert "revoked" in rec["details"]["reason"]


def test_h2_session_lifetime_and_shutdown(pki, broker, tmp_path):
    b = web_broker(broker, tmp_path, limits={"max_session_lifetime": "2s"})
    with H2(b.port, h2_ctx(pki, *pki.alice())) as c:
        assert c.json("GET", "/api/v1/whoami")[0] == 200
        start = time.monotonic()
        ended = None
        while time.monotonic() - start < 8:
            try:
                c.json("GET", "/api/v1/whoami")     # traffic does not help
            except ConnectionError as e:
                ended = e
                break
            time.sleep(0.2)
        assert ended is not None, "the h2 connection outlived its lifetime"
        assert time.monotonic() - start < 4
    assert "limits.max_session_lifetime (2s) reached" in b.log_text()
    # At shutdown an open h2 connection gets GOAWAY and the broker exits
    # cleanly without waiting for the client.
    c = RawH2(b.port, h2_ctx(pki, *pki.alice()))
    try:
        c.settings()
        start = time.monotonic()
        assert b.stop() == 0
        assert time.monotonic() - start < 5
        g = c.until_goaway(timeout=5)
        assert g is None or g.error_code == 0, g
    finally:
        c.close()


def test_client_that_does_not_read_is_bounded(pki, broker, tmp_path):
    b = web_broker(broker, tmp_path)
    c = RawH2(b.port, h2_ctx(pki, *pki.alice()))
    try:
        c.settings()
        # PINGs never read: every one asks for an ACK. The broker stops
        # reading while its output waits, and ends the connection once
        # too many ACKs are queued; it never queues without bound.
        ping = Frame.parse_frame_header(memoryview(
            b"\x00\x00\x08\x06\x00\x00\x00\x00\x00"))[0]
        ping.opaque_data = b"12345678"
        data = ping.serialize() * 2000
        sent = 0
        c.sock.settimeout(5)
        try:
            for _ in range(50):
                c.sock.sendall(data)
                sent += len(data)
        except (OSError, socket.timeout):
            pass
        assert timed_whoami(pki, b) < SERVED_WITHIN
        assert c.closed(), "the flooding connection stays open"
    finally:
        c.close()
    assert b.running()
    assert "Flooding was detected" in b.log_text()


def test_missing_web_root_stops_check_config_and_start(pki, broker,
                                                        tmp_path):
    b = broker(extra={"web": {"root": str(tmp_path / "no-such-dir")}},
               start=False)
    r = b.check_config()
    assert r.returncode != 0
    assert "web.root" in r.stderr and "no-such-dir" in r.stderr, r.stderr
    with pytest.raises(RuntimeError) as e:
        b.start()
    assert "web.root" in str(e.value)
    b.ended_on_purpose = True
