"""A lost transfer whose accept record retention pruned (review of issue 9,
item 7): --recover-state refuses it by name and says how to get past it;
--recover-state --abandon ID --reason TEXT records it as given up (audited,
with the operator's reason), sets its spool copy aside in quarantine/, and
the broker starts."""

import hashlib
import os
import sqlite3
import subprocess
import time

from conftest import SEKISHOD, raw_client

TIMEOUT = 30


def run_sekishod(b, *args):
    return subprocess.run([str(SEKISHOD), "-c", str(b.config), *args],
                          cwd=b.dir, capture_output=True, text=True,
                          timeout=TIMEOUT)


def seq_of(b, rtype, tid):
    for r in b.audit_records():
        if isinstance(r, dict) and r.get("type") == rtype and \
                (r.get("subject") or {}).get("transfer") == tid:
            return r["seq"]
    return None


def test_abandon_a_lost_transfer_whose_accept_was_pruned(broker, client,
                                                         pki):
    b = broker(extra={"audit": {"segment_size": "4KiB",
                                "checkpoint_records": 5,
                                "checkpoint_interval": "1s",
                                "retention": "3s"}})
    staff = client(b)
    data = os.urandom(5000)
    c = raw_client(pki, b)
    c.hello()
    c.request("put", interface="IF-2026-001", name="t.bin", size=len(data),
              **{"class": 1}, purpose="test")
    ready = c.recv()
    assert ready.get("op") == "ready", ready
    tid = ready["transfer"]
    c.send(data[:1000])
    accept_seq = seq_of(b, "accept", tid)
    assert accept_seq is not None
    # Enough records after the accept to start new segments, then let the
    # accept's segment age past the retention before the upload ends.
    for _ in range(12):
        rc, _, err = staff.json("whoami")
        assert rc == 0, err
    time.sleep(4)
    c.send(data[1000:])
    c.request("end", sha256=hashlib.sha256(data).digest())
    assert c.recv().get("op") == "stored"
    c.close()
    stored_seq = seq_of(b, "stored", tid)
    assert stored_seq is not None

    # Wait for the prune that takes the accept record and keeps the stored
    # one (the newest segment always stays), then stop at once.
    deadline = time.monotonic() + TIMEOUT
    cut = None
    while cut is None:
        assert time.monotonic() < deadline, "no prune within the time"
        for r in b.audit_records():
            if isinstance(r, dict) and r.get("type") == "prune" and \
                    r["details"]["to_seq"] > accept_seq:
                cut = r["details"]
        time.sleep(0.1)
    b.kill()
    assert cut["to_seq"] <= stored_seq, (cut, stored_seq)
    assert seq_of(b, "accept", tid) is None

    # The state loses the row.
    db = sqlite3.connect(b.state_db)
    with db:
        db.execute("DELETE FROM transfers WHERE id = ?", (tid,))
    db.close()

    r = run_sekishod(b)
    assert r.returncode != 0 and "lost 1 transfer" in r.stderr, r.stderr
    r = run_sekishod(b, "--recover-state")
    assert r.returncode != 0, r
    assert tid in r.stderr and f"--abandon {tid}" in r.stderr, r.stderr
    assert (b.spool / tid).exists()

    # --abandon needs a reason; the transfer must be the lost one.
    r = run_sekishod(b, "--recover-state", "--abandon", tid)
    assert r.returncode == 2 and "--reason" in r.stderr, r.stderr
    other = os.urandom(16).hex()
    r = run_sekishod(b, "--recover-state", "--abandon", other, "--reason",
                     "x")
    assert r.returncode != 0 and other in r.stderr, r.stderr
    assert not any(x.get("type") == "state_abandoned"
                   for x in b.audit_records() if isinstance(x, dict))

    why = "ticket 42: the sender uploads it again"
    r = run_sekishod(b, "--recover-state", "--abandon", tid, "--reason", why)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert not (b.spool / tid).exists()
    q = b.spool / "quarantine" / tid
    assert q.read_bytes() == data
    (rec,) = [x for x in b.audit_records() if isinstance(x, dict) and
              x.get("type") == "state_abandoned"]
    assert rec["subject"]["transfer"] == tid
    assert rec["details"]["reason"] == why
    assert "pruned" in rec["details"]["cause"]

    b.start()
    assert b.running()
