"""Helpers for the browser API tests: an HTTP/2 client that honours flow
control (bodies of any size), tus 1.0 requests, and the same-origin headers
the pages send."""

import base64
import hashlib
import json
import socket

import h2.config
import h2.connection
import h2.events

from conftest import tls_context


def api_ctx(pki, cert=None, key=None):
    return tls_context(pki, cert, key, alpn=("h2",))


class Api:
    """One HTTP/2 connection to the broker, as a page of the broker."""

    def __init__(self, port, ctx, timeout=20.0):
        self.port = port
        self.origin = f"https://localhost:{port}"
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _events(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("connection closed")
        evs = self.conn.receive_data(chunk)
        self.flush()
        return evs

    def request(self, method, path, headers=(), body=None, same_origin=True,
                stop_after=None):
        """(status, headers, body). The body is sent as the windows allow;
        stop_after: send only that many bytes, then reset the stream (a
        cut-off upload)."""
        if body is not None and len(body) == 0:
            body = None
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "https"),
                (":authority", f"localhost:{self.port}")]
        if same_origin and method not in ("GET", "HEAD"):
            hdrs += [("origin", self.origin), ("x-sekisho-request", "1")]
        hdrs += list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=body is None)
        self.flush()
        status, rh, data, ended = None, {}, b"", False
        sent = 0
        total = len(body) if body is not None else 0
        limit = total if stop_after is None else min(stop_after, total)
        while True:
            while body is not None and sent < limit and not ended:
                win = min(self.conn.local_flow_control_window(sid),
                          self.conn.max_outbound_frame_size, limit - sent)
                if win <= 0:
                    break
                last = stop_after is None and sent + win == total
                self.conn.send_data(sid, body[sent:sent + win],
                                    end_stream=last)
                sent += win
                self.flush()
            if body is not None and stop_after is not None and \
                    sent >= limit:
                self.conn.reset_stream(sid)
                self.flush()
                return None, {}, b""
            for ev in self._events():
                if isinstance(ev, h2.events.ResponseReceived) and \
                        ev.stream_id == sid:
                    rh = dict(ev.headers)
                    status = int(rh[":status"])
                elif isinstance(ev, h2.events.DataReceived) and \
                        ev.stream_id == sid:
                    data += ev.data
                    self.conn.acknowledge_received_data(
                        ev.flow_controlled_length, sid)
                    self.flush()
                elif isinstance(ev, h2.events.StreamReset) and \
                        ev.stream_id == sid:
                    if status is not None:
                        return status, rh, data
                    raise ConnectionError(f"stream reset {ev.error_code}")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    raise ConnectionError(f"GOAWAY {ev.error_code}")
                elif isinstance(ev, h2.events.StreamEnded) and \
                        ev.stream_id == sid:
                    return status, rh, data

    def json(self, method, path, obj=None, headers=()):
        body = None if obj is None else json.dumps(obj).encode()
        hs = list(headers)
        if body is not None:
            hs.append(("content-type", "application/json"))
        status, rh, data = self.request(method, path, hs, body)
        return status, (json.loads(data) if data else None), rh

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def b64(s):
    return base64.b64encode(s.encode()).decode()


def tus_metadata(**kv):
    return ",".join(f"{k} {b64(str(v))}" for k, v in kv.items())


def tus_create(api, data, interface="IF-2026-001", name="report.pdf",
               cls=1, purpose="test", sha=None, extra=(), **meta):
    """POST /api/v1/uploads: (status, headers, json or None)."""
    sha = sha if sha is not None else hashlib.sha256(data).hexdigest()
    md = dict(interface=interface, filename=name, purpose=purpose,
              sha256=sha, **meta)
    if cls is not None:
        md["class"] = cls
    status, rh, body = api.request("POST", "/api/v1/uploads", [
        ("tus-resumable", "1.0.0"), ("upload-length", str(len(data))),
        ("upload-metadata", tus_metadata(**md)), *extra], body=b"")
    return status, rh, (json.loads(body) if body else None)


def tus_patch(api, url, data, offset, stop_after=None, extra=()):
    status, rh, body = api.request("PATCH", url, [
        ("tus-resumable", "1.0.0"), ("upload-offset", str(offset)),
        ("content-type", "application/offset+octet-stream"), *extra],
        body=data[offset:], stop_after=stop_after)
    return status, rh, (json.loads(body) if body else None)


def tus_head(api, url):
    status, rh, _ = api.request("HEAD", url, [("tus-resumable", "1.0.0")])
    return status, rh
