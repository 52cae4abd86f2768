"""Fixtures of the approval-officer tests (held transfers and exceptions).

- `officer_pki` (session): certificates for the people of REGISTER: staff
  (u-staff from terminal T100, u-staff2), approval officers of the
  approver group (u-off1, u-off2), an officer without authority over the
  interfaces (u-off3).
- `officers` (factory): a broker with a `stepup` section, an `approvals`
  and optionally a `notify` section, TOTP enrolled for every officer, a
  WebDAV upstream (nginx) for delivery, and a client per person. Officers
  run commands with a fresh one-time code from oathtool when asked to.
- WebhookServer: a plain HTTP server on 127.0.0.1 that records what it is
  POSTed.

Every wait is bounded; every server listens on 127.0.0.1 only.
"""

import http.server
import json
import os
import secrets
import threading
import time

import pytest

from conftest import EXIT_OK
from delivery_fixtures import FAST, nginx  # noqa: F401  (fixture)
from stepup_helpers import enroll, need_oathtool, totp

PEOPLE = {
    "u-staff@T100": ("u-staff", "somu", "T100"),
    "u-staff2": ("u-staff2", "kikaku", None),
    "u-off1": ("u-off1", "somu", None),
    "u-off2": ("u-off2", "somu", None),
    "u-off3": ("u-off3", "kikaku", None),
}
OFFICERS = ("u-off1", "u-off2", "u-off3")


def register(service=None):
    """The register of these tests. IF-HOLD: every transfer waits for 1
    approval of approvers-somu; IF-N2: for 2; IF-EX: class 1 only, but
    exceptions may widen it to class 2 for up to a day."""
    reg = {
        "principals": {
            "users": [
                {"id": "u-staff", "department": "somu", "roles": ["staff"]},
                {"id": "u-staff2", "department": "kikaku",
                 "roles": ["staff"]},
                {"id": "u-off1", "department": "somu",
                 "roles": ["staff", "officer"]},
                {"id": "u-off2", "department": "somu",
                 "roles": ["staff", "officer"]},
                {"id": "u-off3", "department": "kikaku",
                 "roles": ["staff", "officer"]},
            ],
            "groups": [
                {"id": "approvers-somu", "users": ["u-off1", "u-off2"]},
                {"id": "kikaku", "departments": ["kikaku"]},
            ],
        },
        "interfaces": [
            {"id": "IF-HOLD", "max_class": 2,
             "approval": {"when": "always", "approvers": "approvers-somu",
                          "count": 1}},
            {"id": "IF-N2", "max_class": 2,
             "approval": {"when": "always", "approvers": "approvers-somu",
                          "count": 2}},
            {"id": "IF-EX", "max_class": 1,
             "approval": {"when": "class>=3", "approvers": "approvers-somu",
                          "count": 1},
             "exception_limits": {"max_class": 2, "max_duration": "1d"}},
            {"id": "IF-EXH", "max_class": 1,
             "approval": {"when": "always", "approvers": "approvers-somu",
                          "count": 1},
             "exception_limits": {"max_class": 2, "max_duration": "1d"}},
        ],
    }
    if service is not None:
        reg["services"] = [service]
        for i in reg["interfaces"]:
            i["service"] = service["id"]
            i["path"] = "/in/{interface}/"
    return reg


@pytest.fixture(scope="session")
def officer_pki(pki):
    for name, (uid, dept, term) in PEOPLE.items():
        cert, _ = pki.user_files(name)
        if not cert.exists():
            pki.issue_user(uid, dept, term)
    return pki


class WebhookServer:
    """Records the JSON documents POSTed to it."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(min(n, 65536))
                with outer.lock:
                    outer.posts.append((self.path, self.headers.get(
                        "Content-Type"), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self, name):
        with self.lock:
            return [doc for _, _, doc in self.posts
                    if doc.get("event") == name]

    def wait(self, name, count=1, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.events(name)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"no {name} notification within {timeout}s; "
                             f"got {self.posts}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Officers:
    """A broker with approvals, its upstream and one client per person."""

    def __init__(self, broker, client_factory, pki, upstream, approvals,
                 notify, delivery):
        self.upstream = upstream
        service = None
        if upstream is not None:
            service = {"id": "dav", "connector": "webdav",
                       "endpoint": upstream.endpoint, "ca": str(pki.ca)}
        stepup = {"key_file": "totp.key"}
        extra = {"stepup": stepup, "delivery": dict(FAST, **delivery),
                 "approvals": approvals}
        if notify:
            extra["notify"] = notify
        self.broker = broker(register=register(service), extra=extra,
                             start=False)
        key = self.broker.dir / "totp.key"
        key.write_text(secrets.token_hex(32) + "\n")
        os.chmod(key, 0o600)
        self.secrets = {u: enroll(self.broker, u)[0] for u in OFFICERS}
        self.broker.start()
        self.offset = 0
        self.clients = {name.split("@")[0]: client_factory(self.broker,
                                                            user=name)
                        for name in PEOPLE}

    def restart(self, offset=None, monkeypatch=None):
        """Stops and starts the broker; with offset, its clock is moved
        that many seconds ahead (SEKISHO_TEST_CLOCK_OFFSET)."""
        self.broker.stop()
        if offset is not None:
            monkeypatch.setenv("SEKISHO_TEST_CLOCK_OFFSET", str(offset))
            self.offset = offset
        self.broker.start()

    def code(self, officer):
        """A one-time code of the broker's current TOTP step."""
        return totp(self.secrets[officer], time.time() + self.offset)

    def run(self, who, *args, otp=False):
        """(exit code, stdout, stderr) of `sekisho ARGS` as who; otp adds
        --otp with a fresh code."""
        extra = ("--otp", self.code(who)) if otp else ()
        return self.clients[who].run(*args, *extra)

    def json(self, who, *args, otp=False):
        extra = ("--otp", self.code(who)) if otp else ()
        return self.clients[who].json(*args, *extra)

    def put(self, who, path, interface, cls=1, expect=EXIT_OK):
        rc, obj, err = self.clients[who].json(
            "put", path, "--to", interface, "--class", cls, "--purpose",
            "monthly report for the prefecture")
        assert rc == expect, (rc, obj, err, self.broker.log_text()[-3000:])
        return obj

    def status(self, who, transfer):
        rc, obj, err = self.clients[who].json("status", transfer)
        assert rc == EXIT_OK, (rc, obj, err)
        return obj

    def wait_state(self, who, transfer, states, timeout=60.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.status(who, transfer)
            if last["state"] in states:
                return last
            time.sleep(0.1)
        raise AssertionError(f"{transfer} did not reach {states}: {last}\n"
                             + self.broker.log_text()[-3000:])

    def records(self, rtype):
        return [r for r in self.broker.audit_records()
                if isinstance(r, dict) and r.get("type") == rtype]

    def wait_records(self, rtype, count=1, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            found = self.records(rtype)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture
def officers(broker, client, officer_pki, nginx):  # noqa: F811
    """Factory: officers(approvals=None, notify=None, upstream=True,
    delivery=None)."""
    need_oathtool()
    made = []

    def make(approvals=None, notify=None, upstream=True, delivery=None):
        up = nginx() if upstream else None
        o = Officers(broker, client, officer_pki, up, approvals or {},
                     notify, delivery or {})
        made.append(o)
        return o

    return make


@pytest.fixture
def webhook():
    w = WebhookServer()
    yield w
    w.close()
