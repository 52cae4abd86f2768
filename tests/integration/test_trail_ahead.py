"""The audit trail can run ahead of the state (issue 9, item 9): a crash
between the audit sync and the SQLite commit leaves records the state never
caught up with. The start writes one "reconcile" record per such transfer
that voids the record the state does not reflect, so every transfer's story
ends in one outcome that matches the state; `sekisho audit show` marks the
voided record and `sekisho audit verify` accepts the trail.

The crash window is reproduced by putting back a copy of the state taken
before the records were written (what the state looks like when its commit
never happened)."""

import shutil
import signal

from audit_fixtures import (AUDITOR, ensure_auditor, pull, start_broker,  # noqa: F401
                            verifier_key, verify, audit)
from conftest import EXIT_OK, raw_client
from delivery_fixtures import (  # noqa: F401  (fixtures)
    delivery, make_file, nginx, service)

MANY = {"max_attempts": 1000, "backoff_base": "1s", "backoff_max": "1s"}


def save_state(b, to):
    assert b.stop(signal.SIGTERM) == 0
    shutil.copyfile(b.state_db, to)


def put_back_state(b, saved):
    assert b.stop(signal.SIGTERM) == 0
    for suffix in ("-wal", "-shm"):
        p = b.state_db.with_name(b.state_db.name + suffix)
        if p.exists():
            p.unlink()
    shutil.copyfile(saved, b.state_db)


def outcomes(records, tid):
    """The transfer's end records that no reconcile record voided."""
    voided = {r["details"]["void_seq"] for r in records
              if r["type"] == "reconcile"
              and r["subject"].get("transfer") == tid}
    return [r for r in records if r["subject"].get("transfer") == tid
            and r["type"] in ("delivered", "delivery_failed", "failed",
                              "expired")
            and r["seq"] not in voided]


def test_delivered_record_the_state_never_committed(delivery, nginx,
                                                    tmp_path):
    n = nginx(start=False)
    # The spool copy is kept after delivery, as it still is when a crash
    # cuts between the audit sync and the commit.
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 dict(MANY, retention="1h"))
    f = make_file(tmp_path, "a.bin", 30_000)
    tid = d.put(f)
    d.wait(tid, ("queued",), pred=lambda s: s.get("attempts", 0) >= 1)
    saved = tmp_path / "state.before"
    save_state(d.broker, saved)
    n.start()
    d.broker.start()
    assert d.wait(tid)["state"] == "delivered"
    (first,) = d.records("delivered", tid)
    put_back_state(d.broker, saved)

    d.broker.start()
    (rec,) = d.records("reconcile", tid)
    assert rec["details"]["void_seq"] == first["seq"]
    assert rec["details"]["void_type"] == "delivered"
    assert rec["details"]["state"] in ("queued", "forwarding")
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    records = d.broker.audit_records()
    ends = outcomes(records, tid)
    assert [r["type"] for r in ends] == ["delivered"], ends
    assert ends[0]["seq"] > rec["seq"]
    assert list(n.objects().values()) == [f.read_bytes()]
    # A further start finds the story consistent: nothing more is written.
    d.broker.restart()
    assert len(d.records("reconcile", tid)) == 1


def test_accept_whose_row_never_committed(broker, pki, client, tmp_path):
    b = start_broker(broker, pki)
    saved = tmp_path / "state.before"
    save_state(b, saved)
    b.start()
    with raw_client(pki, b) as c:
        c.hello()
        c.request("put", interface="IF-2026-001", name="x.bin", size=1000,
                  **{"class": 1}, purpose="trail ahead")
        ready = c.recv()
        assert ready.get("op") == "ready", ready
        tid = ready["transfer"]
    (acc,) = [r for r in b.audit_records() if r["type"] == "accept"
              and r["subject"].get("transfer") == tid]
    put_back_state(b, saved)
    b.start()
    recs = [r for r in b.audit_records() if r["type"] == "reconcile"
            and r["subject"].get("transfer") == tid]
    assert len(recs) == 1, recs
    assert recs[0]["details"]["void_seq"] == acc["seq"]
    assert recs[0]["details"]["void_type"] == "accept"
    assert recs[0]["details"]["state"] == "none"
    b.restart()
    assert len([r for r in b.audit_records() if r["type"] == "reconcile"]) \
        == 1

    # The auditor's tools read the story with the void in it.
    ensure_auditor(pki)
    auditor = client(b, user=AUDITOR)
    out = tmp_path / "pull"
    pull(auditor, out, "--from-seq", "0")
    rc, res = verify(auditor, out, verifier_key(b))
    assert rc == EXIT_OK, res
    assert res["reconciled"] == 1, res
    rc, text, err = audit(auditor, "show", tid, out)
    assert rc == EXIT_OK, err
    lines = text.splitlines()
    (acc_line,) = [ln for ln in lines if ln.split()[2] == "accept"]
    assert f"[voided by {recs[0]['seq']}]" in acc_line, text
    assert any(ln.split()[2] == "reconcile" for ln in lines), text
