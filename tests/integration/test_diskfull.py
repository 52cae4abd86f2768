"""Disk full: the spool on a small tmpfs of its own.

A full spool must give the client a clear error and leave nothing
half-written behind, and the broker must go on serving once space is back.
Mounting needs root (CI runs as root); elsewhere these tests skip."""

import os
import subprocess
import time

import pytest

from conftest import EXIT_OK

MiB = 1 << 20


@pytest.fixture
def small_spool(broker):
    mounts = []

    def make(size_mib, limits):
        b = broker(limits=limits, start=False)
        b.spool.mkdir(mode=0o700, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                            f"size={size_mib}m,mode=0700", "tmpfs",
                            str(b.spool)], capture_output=True)
        if r.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root): "
                        + r.stderr.decode(errors="replace").strip())
        mounts.append(b.spool)
        return b.start()

    yield make
    for m in mounts:
        subprocess.run(["umount", "-l", str(m)], capture_output=True)


def write_file(path, size):
    with open(path, "wb") as f:
        block = os.urandom(MiB)
        for i in range(size // MiB):
            f.write(i.to_bytes(8, "little") + block[8:])
        f.write(block[: size % MiB])


def fill_up(filler, where):
    """Takes all the space left on where's file system while an upload is
    still writing to it: a large reservation first, then small blocks
    until the file system says it is full."""
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        off = 0
        for _ in range(100):
            st = os.statvfs(where)
            want = st.f_bavail * st.f_frsize - 2 * MiB
            if want <= 0:
                break
            try:
                os.posix_fallocate(fd, off, want)
                off += want
                break
            except OSError:
                continue
        block = b"\0" * 65536
        os.lseek(fd, 0, os.SEEK_END)
        while True:
            try:
                os.write(fd, block)
            except OSError:
                break
    finally:
        os.close(fd)


def test_upload_larger_than_free_space_is_refused_up_front(small_spool,
                                                           client, tmp_path):
    b = small_spool(16, {"min_free_space": "1MiB"})
    c = client(b)
    src = tmp_path / "big.bin"
    write_file(src, 20 * MiB)
    rc, out, err = c.run("put", src, "--to", "IF-2026-001", "--class", "1", "--retries", "0")
    assert rc != EXIT_OK
    assert "room" in err or "disk_full" in err, err
    assert list(b.spool.iterdir()) == []
    # still serving
    small = tmp_path / "small.bin"
    write_file(small, 100_000)
    rc, obj, err = c.json("put", small, "--to", "IF-2026-001", "--class", "1")
    assert rc == EXIT_OK, err
    assert (b.spool / obj["transfer"]).stat().st_size == 100_000


def test_disk_filling_up_during_upload_fails_cleanly(small_spool, client,
                                                     tmp_path):
    b = small_spool(64, {"min_free_space": "1MiB"})
    c = client(b)
    src = tmp_path / "big.bin"
    write_file(src, 48 * MiB)
    proc = c.popen("put", src, "--to", "IF-2026-001", "--class", "1", "--retries", "0",
                   "--json")
    filler = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            parts = [p for p in b.spool.glob("*.part")
                     if p.stat().st_size >= 4 * MiB]
            if parts:
                filler = b.spool / "filler"
                fill_up(filler, b.spool)
                break
            time.sleep(0.002)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if filler is None:
        pytest.fail("the upload finished before the disk could be filled")
    assert proc.returncode != EXIT_OK, out
    text = (out + err).decode(errors="replace")
    assert "disk_full" in text, text
    # nothing half-written left: no partial, no final file
    left = sorted(p.name for p in b.spool.iterdir() if p.name != "filler")
    assert left == [], left
    log = b.log_text()
    assert "disk_full" in log or "No space left" in log, log
    # the failure is in the audit trail
    types = [r.get("type") for r in b.audit_records()]
    assert "failed" in types
    # space back: the broker serves again
    filler.unlink()
    small = tmp_path / "small.bin"
    write_file(small, 1000)
    rc, obj, err = c.json("put", small, "--to", "IF-2026-001", "--class", "1")
    assert rc == EXIT_OK, err


def test_concurrent_puts_reserve_their_declared_size(small_spool, pki,
                                                     tmp_path):
    """Four puts of 20 MiB on a spool with about 63 MiB free: the first
    three get their space promised, the fourth is refused up front with
    disk_full and a retry hint (not "ready" and a failure mid-write), and
    the three complete."""
    import hashlib
    from conftest import raw_client

    b = small_spool(64, {"min_free_space": "1MiB"})
    size = 20 * MiB
    data = os.urandom(MiB) * 20
    clients = [raw_client(pki, b) for _ in range(4)]
    try:
        answers = []
        for c in clients:
            c.hello()
            c.request("put", interface="IF-2026-001", name="big.bin",
                      size=size, **{"class": 1}, purpose="reservation test")
            answers.append(c.recv())
        ops = [a["op"] for a in answers]
        assert ops == ["ready", "ready", "ready", "error"], answers
        assert answers[3]["code"] == "disk_full", answers[3]
        assert answers[3].get("retry_after", 0) > 0, answers[3]
        # The ones that got their space finish, interleaved.
        for i in range(0, size, MiB):
            for c in clients[:3]:
                c.send(data[i:i + MiB])
        for c in clients[:3]:
            c.request("end", sha256=hashlib.sha256(data).digest())
        for c in clients[:3]:
            stored = c.recv(60)
            assert stored["op"] == "stored", stored
        # Space promised to finished uploads is given back: the fourth
        # would still not fit (the files are spooled), but a small one
        # does.
        c = clients[3]
        c.request("put", interface="IF-2026-001", name="small.bin",
                  size=1000, **{"class": 1}, purpose="reservation test")
        assert c.recv()["op"] == "ready"
    finally:
        for c in clients:
            c.close()


def test_resume_needs_room_only_for_what_is_left(small_spool, pki):
    """A resume reserves the bytes still to come, not the whole declared
    size again: what arrived before is on the disk already. 40 MiB
    declared, 30 MiB received, 64 MiB spool: the 10 MiB left fit, the whole
    40 MiB do not."""
    from test_resume import resume_ready, send_and_abort, finish

    b = small_spool(64, {"min_free_space": "4MiB"})
    data = os.urandom(40 * MiB)
    transfer = send_and_abort(pki, b, data, 30 * MiB)
    c, ready = resume_ready(pki, b, len(data), transfer)
    with c:
        assert ready.get("op") == "ready", ready
        assert ready["offset"] > 20 * MiB, ready
        stored = finish(c, data, ready["offset"])
        assert stored.get("op") == "stored", stored
    assert (b.spool / transfer).read_bytes() == data
