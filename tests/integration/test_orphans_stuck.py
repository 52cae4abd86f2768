"""Orphan partial files the broker cannot remove (review of issue 9, item
5): the start must not list and record the same files forever, and the
running sweep must not record a file again that it recorded and could not
remove. The spool directory is made immutable (chattr +i) so that even
root cannot unlink in it."""

import os
import shutil
import subprocess
import time

import pytest

from conftest import SEKISHOD

TIMEOUT = 30


def chattr(path, flag):
    return subprocess.run(["chattr", flag, str(path)], capture_output=True)


@pytest.fixture
def immutable():
    """immutable(path): sets +i on path; cleared again at teardown."""
    made = []

    def make(path):
        if shutil.which("chattr") is None:
            pytest.skip("chattr is not installed")
        r = chattr(path, "+i")
        if r.returncode != 0:
            pytest.skip(f"no immutable attribute here: {r.stderr!r}")
        made.append(path)
        probe = path / "probe"
        try:
            probe.write_bytes(b"")
        except OSError:
            return
        chattr(path, "-i")
        pytest.skip("the immutable attribute does not stop writes here")

    yield make
    for p in made:
        chattr(p, "-i")


def orphan_records(b):
    out = {}
    for r in b.audit_records():
        if isinstance(r, dict) and r.get("type") == "spool_orphan":
            tid = (r.get("subject") or {}).get("transfer")
            out[tid] = out.get(tid, 0) + 1
    return out


def test_start_with_unremovable_orphans_fails_and_ends(broker, immutable):
    b = broker()
    assert b.stop() == 0
    ids = [os.urandom(16).hex() for _ in range(300)]
    for tid in ids:
        (b.spool / f"{tid}.part").write_bytes(b"o" * 10)
    immutable(b.spool)
    try:
        r = subprocess.run([str(SEKISHOD), "-c", str(b.config)], cwd=b.dir,
                           capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("the start did not end with unremovable orphans")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    assert ".part" in r.stderr and "writable" in r.stderr, r.stderr[-3000:]
    counts = orphan_records(b)
    assert counts and max(counts.values()) == 1, counts
    assert out.count("level=error event=spool_orphan") <= 1, out[-3000:]


def test_sweep_records_an_unremovable_orphan_once(broker, immutable):
    b = broker(limits={"partial_ttl": "8s"})      # sweeps every 2 s
    ids = [os.urandom(16).hex() for _ in range(3)]
    hour_ago = time.time() - 3600
    for tid in ids:
        p = b.spool / f"{tid}.part"
        p.write_bytes(b"z" * 100)
        os.utime(p, (hour_ago, hour_ago))
    immutable(b.spool)
    deadline = time.monotonic() + TIMEOUT
    while len(orphan_records(b)) < 3:
        assert time.monotonic() < deadline, "the orphans were not swept"
        time.sleep(0.2)
    time.sleep(7)                                   # three more sweeps
    assert orphan_records(b) == {tid: 1 for tid in ids}
    log = b.log_text()
    for tid in ids:
        assert log.count(f"level=error event=spool_orphan "
                         f"transfer={tid}") == 1, log[-3000:]
    assert b.running()
    # Once the spool is writable again, the files go without new records.
    chattr(b.spool, "-i")
    while any((b.spool / f"{tid}.part").exists() for tid in ids):
        assert time.monotonic() < deadline + 20, "not removed later"
        time.sleep(0.2)
    assert orphan_records(b) == {tid: 1 for tid in ids}
