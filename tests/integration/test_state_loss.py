"""State loss is never silent (issue 9, items 7-9): acknowledged transfers
that the state database lost (deleted, truncated to 0, its WAL deleted
after a kill -9, one row deleted) stop the start with the count and the
recovery command; sekishod --recover-state rebuilds them from the audit
trail and the spool (SHA-256 checked), audited, and they are delivered.
The upstream is down while the damage is done, so the transfers stay
undelivered ("queued")."""

import os
import signal
import sqlite3
import subprocess

import pytest

from approvals_fixtures import officer_pki, officers  # noqa: F401
from conftest import SEKISHOD
from delivery_fixtures import (  # noqa: F401  (fixtures)
    delivery, make_file, nginx, service, sha256)

START_REFUSAL_TIMEOUT = 30


def run_sekishod(b, *args):
    return subprocess.run([str(SEKISHOD), "-c", str(b.config), *args],
                          cwd=b.dir, capture_output=True, text=True,
                          timeout=START_REFUSAL_TIMEOUT)


def queued_uploads(d, tmp_path, n):
    files, tids = [], []
    for i in range(n):
        f = make_file(tmp_path, f"f{i}.bin", 40_000 + i, seed=i)
        tid = d.put(f)
        d.wait(tid, ("queued",), pred=lambda s: s.get("attempts", 0) >= 1)
        files.append(f)
        tids.append(tid)
    return files, tids


def damage(b, mode, tids):
    """Stops the broker and damages its state; returns how many of tids
    the state lost."""
    if mode == "wal_deleted":
        # Killed: the commits are still in the WAL only.
        b.kill()
        wal = b.state_db.with_name(b.state_db.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0
        wal.unlink()
        shm = b.state_db.with_name(b.state_db.name + "-shm")
        if shm.exists():
            shm.unlink()
        return len(tids)
    assert b.stop(signal.SIGTERM) == 0
    if mode == "deleted":
        b.state_db.unlink()
        return len(tids)
    if mode == "truncated":
        os.truncate(b.state_db, 0)
        return len(tids)
    assert mode == "row_deleted"
    db = sqlite3.connect(b.state_db)
    try:
        with db:
            db.execute("DELETE FROM transfers WHERE id = ?", (tids[0],))
    finally:
        db.close()
    return 1


@pytest.mark.parametrize("mode", ["deleted", "truncated", "wal_deleted",
                                  "row_deleted"])
def test_lost_state_stops_the_start_and_is_rebuilt(delivery, nginx, tmp_path,
                                                   mode):
    n = nginx(start=False)
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"max_attempts": 1000, "backoff_base": "1s",
                  "backoff_max": "1s"})
    files, tids = queued_uploads(d, tmp_path, 2)
    lost = damage(d.broker, mode, tids)
    # A partial file no row accounts for: the refused start must not
    # sweep it either (nothing changes before the cross-check).
    partial = d.broker.spool / (os.urandom(16).hex() + ".part")
    partial.write_bytes(b"p" * 5000)

    # The start refuses, names the count and the command, changes nothing.
    before = len(d.broker.audit_records())
    r = run_sekishod(d.broker)
    assert r.returncode != 0, r
    assert f"lost {lost} transfer" in r.stderr, r.stderr
    assert "--recover-state" in r.stderr, r.stderr
    assert tids[0] in r.stderr
    assert "Sanitizer" not in r.stderr, r.stderr
    assert len(d.broker.audit_records()) == before
    assert partial.exists()

    # The command rebuilds them from the trail and the spool, audited.
    r = run_sekishod(d.broker, "--recover-state")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f"rebuilt {lost} transfer" in r.stdout, r.stdout
    rebuilt = d.records("state_rebuilt")
    assert sorted(x["subject"]["transfer"] for x in rebuilt) == \
        sorted(tids[:lost])
    for x in rebuilt:
        assert x["details"]["state"] == "stored"
        i = tids.index(x["subject"]["transfer"])
        assert x["details"]["sha256"].hex() == sha256(files[i].read_bytes())
    # A second run finds nothing more to rebuild.
    r = run_sekishod(d.broker, "--recover-state")
    assert r.returncode == 0 and "rebuilt 0 transfers" in r.stdout, r

    # After it: status finds them, and they are delivered.
    n.start()
    d.broker.start()
    for tid, f in zip(tids, files):
        st = d.wait(tid)
        assert st["state"] == "delivered", st
        assert st["sha256"] == sha256(f.read_bytes())
    assert sorted(n.objects().values()) == \
        sorted(f.read_bytes() for f in files)


def test_damaged_spool_copy_of_a_lost_transfer_is_rebuilt_as_failed(
        delivery, nginx, tmp_path):
    n = nginx(start=False)
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"max_attempts": 1000, "backoff_base": "1s",
                  "backoff_max": "1s"})
    files, tids = queued_uploads(d, tmp_path, 1)
    damage(d.broker, "deleted", tids)
    with open(d.broker.spool / tids[0], "r+b") as f:
        f.seek(100)
        f.write(b"X")
    r = run_sekishod(d.broker, "--recover-state")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "1 of them failed" in r.stdout, r.stdout
    d.broker.start()
    st = d.status(tids[0])
    assert st["state"] == "failed", st
    assert "SHA-256" in st.get("error", ""), st
    (x,) = d.records("state_rebuilt", tids[0])
    assert x["details"]["state"] == "failed"
    assert not (d.broker.spool / tids[0]).exists()


def test_lost_held_transfer_is_held_again_then_approved(officers, tmp_path):
    """A held transfer whose rows (transfer and approval request) were lost
    is rebuilt held; an officer approves it and it is delivered."""
    o = officers()
    f = tmp_path / "申請書.pdf"
    f.write_bytes(b"%PDF-1.4 held and lost\n")
    tid = o.put("u-staff", f, "IF-HOLD", cls=2)["transfer"]
    assert o.status("u-staff", tid)["state"] == "held"
    assert o.broker.stop(signal.SIGTERM) == 0
    db = sqlite3.connect(o.broker.state_db)
    try:
        with db:
            db.execute("DELETE FROM approval_requests WHERE transfer = ?",
                       (tid,))
            db.execute("DELETE FROM transfers WHERE id = ?", (tid,))
    finally:
        db.close()
    r = run_sekishod(o.broker)
    assert r.returncode != 0 and "lost 1 transfer" in r.stderr, r.stderr
    r = run_sekishod(o.broker, "--recover-state")
    assert r.returncode == 0 and "rebuilt 1 transfer" in r.stdout, r
    o.broker.start()
    st = o.status("u-staff", tid)
    assert st["state"] == "held" and st["approval"] == "pending", st
    (x,) = [r for r in o.records("state_rebuilt")
            if r["subject"]["transfer"] == tid]
    assert x["details"]["state"] == "held"
    rc, dec, err = o.json("u-off1", "approvals", "approve", tid, otp=True)
    assert rc == 0, (dec, err)
    st = o.wait_state("u-staff", tid, ("delivered", "failed"))
    assert st["state"] == "delivered", st
    assert list(o.upstream.objects().values()) == [f.read_bytes()]
