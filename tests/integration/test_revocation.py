"""Revocation and age of open sessions: a certificate revoked while its
connection is open loses that connection at the CRL reload (with its
step-up grant), and no session outlives limits.max_session_lifetime."""

import shutil
import socket
import subprocess
import time
import uuid

import cbor2
import pytest

from approvals_fixtures import (  # noqa: F401  (fixtures)
    nginx, officer_pki, officers)
from conftest import RawClient, tls_context
from stepup_helpers import (enroll, need_oathtool, put_fields, stepup_broker,
                            totp, wait_records)


def test_revoked_certificate_loses_its_open_session(pki, broker):
    need_oathtool()
    b = stepup_broker(broker)
    uid = "rev" + uuid.uuid4().hex[:8]
    cert, key = pki.issue_user(uid, "soumu")
    secret, _ = enroll(b, uid)
    with RawClient(b.port, tls_context(pki, cert, key)) as r:
        r.hello()
        # A step-up: the grant is bound to this certificate.
        r.request("put", **put_fields(otp=totp(secret)))
        ans = r.recv()
        assert ans["op"] == "ready", ans
        pki.revoke(cert)
        b.install_crl()
        line = b.reload_and_wait()
        # The broker says why and closes; nothing more is served.
        ans = r.recv()
        assert ans is not None and ans["op"] == "error", ans
        assert ans["code"] == "certificate_refused", ans
        assert "revoked" in ans["message"], ans
        try:
            r.request("status", transfer="0" * 32)
            after = r.recv()
        except OSError:
            after = None
        assert after is None, after
        assert "sessions_revoked=1" in line, line
    rec = wait_records(b, "session_revoked")[0]
    assert rec["actor"]["user"] == uid
    assert "revoked" in rec["details"]["reason"]
    assert rec["details"]["stepup_dropped"] is True
    # Others keep working.
    with RawClient(b.port, tls_context(pki, *pki.alice())) as r:
        assert r.hello()["user"] == "alice"


def test_session_lifetime_ends_a_busy_session(pki, broker):
    b = broker(limits={"max_session_lifetime": "2s"})
    with RawClient(b.port, tls_context(pki, *pki.alice())) as r:
        r.hello()
        start = time.monotonic()
        ended = None
        # Traffic does not extend it.
        while time.monotonic() - start < 6:
            try:
                r.request("status", transfer="x")
                ans = r.recv()
            except OSError:
                ans = None
            if ans is None or ans.get("code") == "session_expired":
                ended = time.monotonic() - start
                break
            assert ans["code"] == "bad_value", ans
            time.sleep(0.25)
        assert ended is not None, "session lived past its lifetime"
        assert 1.5 <= ended <= 3.5, ended
    recs = wait_records(b, "disconnect")
    assert any("max_session_lifetime" in r["details"]["reason"]
               for r in recs), recs


def test_revoked_officer_cannot_approve_on_its_open_session(officers, pki,
                                                            tmp_path):
    """An approval officer's open connection, with a fresh step-up, is
    closed when its certificate is revoked: the approval it then sends is
    not taken, and the held transfer stays pending."""
    o = officers(upstream=False)
    f = tmp_path / "held.pdf"
    f.write_bytes(b"%PDF-1.4 held\n")
    tid = o.put("u-staff", f, "IF-HOLD", cls=2)["transfer"]
    term = "R" + uuid.uuid4().hex[:6].upper()
    cert, key = pki.issue_user("u-off1", "somu", term)
    with RawClient(o.broker.port, tls_context(pki, cert, key)) as r:
        assert r.hello()["user"] == "u-off1"
        r.request("approvals_ls", otp=o.code("u-off1"))
        items = []
        while True:
            ans = r.recv()
            assert ans is not None and ans["op"] != "error", ans
            if ans["op"] == "listed":
                break
            items.append(ans)
        assert [i["transfer"] for i in items] == [tid], items
        pki.revoke(cert)
        o.broker.install_crl()
        line = o.broker.reload_and_wait()
        try:
            r.request("approve", transfer=tid, comment="確認しました")
            answers = [r.recv(), r.recv()]
        except OSError:
            answers = [None]
        # What comes back is the refusal and the end, never "decided".
        assert answers[0] is not None, "closed without a reason"
        assert answers[0]["code"] == "certificate_refused", answers
        assert answers[1] is None, answers
        assert "sessions_revoked=1" in line, line
    rec = o.wait_records("session_revoked")
    assert rec and rec[0]["actor"]["user"] == "u-off1", rec
    assert rec[0]["details"]["stepup_dropped"] is True
    st = o.status("u-staff", tid)
    assert st["state"] == "held" and st["approval"] == "pending", st


def _broker_send_queue(port):
    """Bytes the kernel still holds to send on the broker's side of the
    one connection to port (ss: Send-Q)."""
    out = subprocess.run(["ss", "-tnH", "state", "established", "sport",
                          f"= :{port}"], capture_output=True, text=True,
                         timeout=10).stdout.split()
    return int(out[1]) if len(out) >= 2 else 0


def _stuffed_client(pki, b, monkeypatch, cert=None):
    """A connected, welcomed client whose answers stay queued in the broker:
    a small receive window and unread answers until the kernel's send
    buffer stops growing, so a session that ends cannot finish closing by
    itself (it stays "closing" with output pending). Returns (client, next
    request id)."""
    from test_exhaustion import BioClient

    if shutil.which("ss") is None:
        pytest.skip("needs ss (iproute2)")
    orig = socket.create_connection

    def small_window(addr, timeout=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(timeout)
        s.connect(addr)
        return s
    monkeypatch.setattr(socket, "create_connection", small_window)
    if cert is not None:
        monkeypatch.setattr(pki, "alice", lambda: cert)
    c = BioClient(pki, b.port)
    monkeypatch.undo()
    start = time.monotonic()
    c.write(cbor2.dumps({"op": "hello", "id": 1, "version": 1,
                         "software": "sekisho-tests"}))
    deadline = start + 10
    c.flush(deadline)
    got = []
    while not got:
        c.pull(deadline)
        got += c.read_items(deadline)
    assert got[0]["op"] == "welcome"
    rid, last = 2, -1
    while time.monotonic() - start < 4:
        c.write(b"".join(cbor2.dumps({"op": "status", "id": rid + i,
                                      "transfer": "x"}) for i in range(1000)))
        rid += 1000
        assert c.try_send(1.0)
        time.sleep(0.1)
        now = _broker_send_queue(b.port)
        if now == last:
            break
        last = now
    return c, rid


def test_session_ending_while_its_create_job_runs(pki, broker, monkeypatch):
    """A session that ends (lifetime, revocation, shutdown) while the job
    that creates its transfer is still running, and whose last answers are
    still queued: the job's end must not touch the upload the end already
    handed to the abort job (it crashed the broker)."""
    import sqlite3

    b = broker(limits={"max_session_lifetime": "6s"})
    start = time.monotonic()
    c, rid = _stuffed_client(pki, b, monkeypatch)
    # The create job waits on the state database while the lifetime ends.
    db = sqlite3.connect(str(b.state_db), timeout=5, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    c.write(cbor2.dumps({"op": "put", "id": rid, "interface": "IF-2026-001",
                         "name": "a.txt", "size": 10, "class": 1,
                         "purpose": "p"}))
    c.try_send(1.0)
    wait_until = start + 6.8
    while "max_session_lifetime (6s) reached" not in b.log_text():
        assert time.monotonic() < start + 9, "lifetime did not end"
        time.sleep(0.05)
    time.sleep(max(0, wait_until - time.monotonic()))
    db.execute("ROLLBACK")
    db.close()
    for _ in range(40):
        if "event=receive" in b.log_text() or not b.running():
            break
        time.sleep(0.05)
    time.sleep(0.3)
    assert b.running(), "broker died when the create job ended"
    assert "event=abort" in b.log_text()
    c.sock.close()


def test_revocation_while_a_put_waits_for_its_code_check(pki, broker,
                                                         monkeypatch):
    """A certificate revoked while its put waits for the one-time code
    check: once the check ends, the closing session must neither get a
    step-up grant again nor go on to accept the transfer."""
    import sqlite3

    need_oathtool()
    b = stepup_broker(broker)
    uid = "rvw" + uuid.uuid4().hex[:8]
    cert, key = pki.issue_user(uid, "soumu")
    secret, _ = enroll(b, uid)
    c, rid = _stuffed_client(pki, b, monkeypatch, cert=(cert, key))
    # The code check writes the state: it waits while we hold it.
    db = sqlite3.connect(str(b.state_db), timeout=5, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        c.write(cbor2.dumps({"op": "put", "id": rid,
                             **put_fields(otp=totp(secret))}))
        c.try_send(1.0)
        time.sleep(0.3)
        pki.revoke(cert)
        b.install_crl()
        line = b.reload_and_wait()
        assert "sessions_revoked=1" in line, line
    finally:
        db.execute("ROLLBACK")
        db.close()
    wait_records(b, "stepup")
    wait_records(b, "session_revoked")
    time.sleep(1.0)
    accepted = [r for r in b.audit_records() if r.get("type") == "accept"
                and r.get("actor", {}).get("user") == uid]
    assert accepted == [], accepted
    assert not any(p.name.endswith(".part") for p in b.spool.iterdir()), \
        b.spool_entries()
    c.sock.close()


def test_revoked_officer_approval_waiting_for_its_code_check(officers, pki,
                                                             tmp_path,
                                                             monkeypatch):
    """An officer's approve whose one-time code is being checked when the
    certificate is revoked: once the check ends, the closing session must
    neither get the step-up grant nor go on to approve."""
    import sqlite3

    o = officers(upstream=False)
    f = tmp_path / "held.pdf"
    f.write_bytes(b"%PDF-1.4 held\n")
    tid = o.put("u-staff", f, "IF-HOLD", cls=2)["transfer"]
    term = "R" + uuid.uuid4().hex[:6].upper()
    cert, key = pki.issue_user("u-off1", "somu", term)
    c, rid = _stuffed_client(pki, o.broker, monkeypatch, cert=(cert, key))
    db = sqlite3.connect(str(o.broker.state_db), timeout=5,
                         isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        c.write(cbor2.dumps({"op": "approve", "id": rid, "transfer": tid,
                             "comment": "確認しました",
                             "otp": o.code("u-off1")}))
        c.try_send(1.0)
        time.sleep(0.3)
        pki.revoke(cert)
        o.broker.install_crl()
        line = o.broker.reload_and_wait()
        assert "sessions_revoked=1" in line, line
    finally:
        db.execute("ROLLBACK")
        db.close()
    o.wait_records("session_revoked")
    o.wait_records("stepup")
    time.sleep(1.5)
    votes = [r for r in o.broker.audit_records()
             if r.get("type") == "approval_vote"]
    assert votes == [], votes
    st = o.status("u-staff", tid)
    assert st["state"] == "held" and st["approval"] == "pending", st
    c.sock.close()


def test_handshake_started_before_the_crl_reload_uses_the_new_crl(pki,
                                                                   broker):
    """A connection accepted before a CRL reload whose handshake ends after
    it: its certificate is judged by the CRL now in force, not by the one
    of the context the connection was accepted with."""
    b = broker()
    uid = "rvh" + uuid.uuid4().hex[:8]
    cert, key = pki.issue_user(uid, "soumu")
    raw = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    try:
        pki.revoke(cert)
        b.install_crl()
        line = b.reload_and_wait()
        assert "part=tls" not in line, line
        r = RawClient.__new__(RawClient)
        r.raw = raw
        r.sock = tls_context(pki, cert, key).wrap_socket(
            raw, server_hostname="localhost")
        r.buf = b""
        r.next_id = 1
        try:
            r.request("hello", version=1, software="sekisho-tests")
            ans = r.recv()
        except OSError:
            ans = None
        assert ans is None or ans.get("op") != "welcome", ans
    finally:
        raw.close()
    assert f"user={uid}" not in "\n".join(
        ln for ln in b.log_text().splitlines() if "event=connect" in ln)
