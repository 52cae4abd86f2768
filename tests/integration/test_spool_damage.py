"""A damaged spool copy of a queued transfer is not a reason to retry
(issue 9, item 8): a truncated or altered copy fails the transfer at once,
loudly and audited, whether the damage is found by an attempt or by the
start-up check (which verifies size and SHA-256 of queued and stored
copies)."""

import os
import signal

from delivery_fixtures import (  # noqa: F401  (fixtures)
    delivery, make_file, nginx, service)

MANY = {"max_attempts": 1000, "backoff_base": "1s", "backoff_max": "1s"}


def queued(d, tmp_path, size=60_000):
    f = make_file(tmp_path, "a.bin", size)
    tid = d.put(f)
    d.wait(tid, ("queued",), pred=lambda s: s.get("attempts", 0) >= 1)
    return tid


def flip_byte(path, at=1000):
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xFF]))


def assert_failed_loudly(d, tid, st, words):
    assert st["state"] == "failed", st
    assert st["attempts"] <= 3, st          # not retried to max_attempts
    assert words in st["error"], st
    (end,) = d.records("delivery_failed", tid) or d.records("failed", tid)
    assert words in (end["details"].get("reason") or ""), end
    assert "level=error" in d.broker.log_text()


def test_truncated_queued_copy_fails_at_once(delivery, nginx, tmp_path):
    n = nginx(start=False)
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 MANY)
    tid = queued(d, tmp_path)
    os.truncate(d.broker.spool / tid, 10_000)
    n.start()
    st = d.wait(tid, timeout=30)
    assert_failed_loudly(d, tid, st, "spool copy")
    assert n.objects() == {}


def test_altered_queued_copy_fails_at_once(delivery, nginx, tmp_path):
    n = nginx(start=False)
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 MANY)
    tid = queued(d, tmp_path)
    flip_byte(d.broker.spool / tid)
    n.start()
    st = d.wait(tid, timeout=30)
    assert_failed_loudly(d, tid, st, "SHA-256")
    assert not any(not os.path.basename(k).startswith(".")
                   for k in n.objects())
    # Found by the check that runs after bytes that did not hash right.
    assert f"event=spool_verify transfer={tid} result=damaged" in \
        d.broker.log_text()


def test_start_checks_queued_copies(delivery, nginx, tmp_path):
    n = nginx(start=False)
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 MANY)
    tid = queued(d, tmp_path)
    assert d.broker.stop(signal.SIGTERM) == 0
    flip_byte(d.broker.spool / tid)
    d.broker.start()
    st = d.status(tid)
    assert st["state"] == "failed", st
    assert "SHA-256" in st["error"], st
    (rec,) = d.records("failed", tid)
    assert "SHA-256" in rec["details"]["reason"]
    assert not (d.broker.spool / tid).exists()


def test_local_prep_error_does_not_reread_the_spool(delivery, nginx, pki,
                                                    tmp_path):
    """An attempt that fails before it reads the spool (here: the
    service's CA file is gone, a configuration error retried until an
    administrator fixes it) is no reason to read the whole copy again on
    every retry: the verification runs only after failures that read the
    spool."""
    ca = tmp_path / "dav-ca.pem"
    ca.write_bytes(pki.ca.read_bytes())
    n = nginx()
    d = delivery([service("dav", n.endpoint, ca=str(ca))],
                 [("IF-DLV", "dav", "/in/")], MANY)
    ca.unlink()
    f = make_file(tmp_path, "a.bin", 60_000)
    tid = d.put(f)
    st = d.wait(tid, ("queued",), timeout=30,
                pred=lambda s: s.get("attempts", 0) >= 3)
    assert "dav-ca.pem" in (st.get("last_error") or ""), st
    log = d.broker.log_text()
    assert "event=spool_verify" not in log, log[-3000:]
    assert n.objects() == {}
