"""Interrupted uploads continue where the broker's durable copy ends.

The real client is SIGKILLed in the middle of a large upload and run again;
raw connections are dropped without a TLS close_notify and resumed by hand.
Interruption is triggered by what the spool shows (bytes of the partial file),
never by elapsed time."""

import hashlib
import os
import signal
import time

import pytest

from conftest import EXIT_OK, raw_client

MiB = 1 << 20
BIG = 256 * MiB


def make_file(path, size):
    h = hashlib.sha256()
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for i in range(size // MiB):
            # distinct blocks, so a misplaced block changes the hash
            b = hashlib.sha256(i.to_bytes(8, "big")).digest() + block[32:]
            f.write(b)
            h.update(b)
        rest = os.urandom(size % MiB)
        f.write(rest)
        h.update(rest)
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def partials(b):
    return [n for n in b.spool_entries() if n.endswith(".part")]


def proc_io(pid):
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f)}


def kill_when_half_spooled(b, proc, size, limit=120.0):
    """SIGKILLs proc once a partial file of at least size/2 bytes exists.
    Returns the transfer id of that partial file."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"client ended (rc {proc.returncode}) before it could "
                        f"be interrupted: {out!r} {err!r}")
        for name in partials(b):
            try:
                n = (b.spool / name).stat().st_size
            except FileNotFoundError:
                continue
            if size // 2 <= n < size:
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=30)
                return name[:-len(".part")]
        time.sleep(0.005)
    proc.kill()
    proc.communicate(timeout=30)
    pytest.fail(f"no partial upload of {size // 2}+ bytes within {limit}s")


def put_args(path):
    return ("put", path, "--to", "IF-2026-001", "--class", "1",
            "--purpose", "resume test")


def test_killed_client_resumes(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "big.bin"
    digest = make_file(f, BIG)
    proc = c.popen(*put_args(f), "--json")
    transfer = kill_when_half_spooled(b, proc, BIG)

    before = proc_io(b.proc.pid)
    rc, obj, err = c.json(*put_args(f), timeout=600)
    after = proc_io(b.proc.pid)
    assert rc == EXIT_OK, (obj, err)
    assert obj["transfer"] == transfer, "the second run started a new transfer"
    assert obj["size"] == BIG
    assert obj["sha256"].lower() == digest
    assert sha256_file(b.spool / transfer) == digest
    # The broker wrote less than the whole file the second time: it kept the
    # durable prefix instead of receiving everything again.
    written = after["wchar"] - before["wchar"]
    assert written < BIG, f"broker wrote {written} bytes for the resumed run"
    resumes = [r for r in b.audit_records()
               if "resum" in str(r.get("type", "")).lower()
               and isinstance(r.get("subject"), dict)
               and r["subject"].get("transfer") == transfer]
    assert resumes, "no resume record in the audit log"
    assert partials(b) == []


def test_changed_file_is_not_resumed(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "big.bin"
    make_file(f, BIG)
    proc = c.popen(*put_args(f), "--json")
    transfer = kill_when_half_spooled(b, proc, BIG)
    # same size, other content, newer mtime
    digest = make_file(f, BIG)
    st = os.stat(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    rc, obj, err = c.json(*put_args(f), timeout=600)
    assert rc == EXIT_OK, (obj, err)
    assert obj["sha256"].lower() == digest
    assert sha256_file(b.spool / obj["transfer"]) == digest
    assert obj["transfer"] != transfer


# --- raw connections -------------------------------------------------------

def put_fields(size, resume=None, name="resume.bin"):
    m = {"interface": "IF-2026-001", "name": name, "size": size, "class": 1,
         "purpose": "resume test"}
    if resume:
        m["resume"] = resume
    return m


def start(c, size, resume=None, **kw):
    c.hello()
    rid = c.request("put", **put_fields(size, resume, **kw))
    return rid, c.recv()


def send_and_abort(pki, b, data, upto):
    """Starts an upload of data, sends data[:upto], drops the connection
    without close_notify. Returns the transfer id."""
    c = raw_client(pki, b)
    try:
        _, ready = start(c, len(data))
        assert ready.get("op") == "ready", ready
        for i in range(0, upto, MiB):
            c.send(data[i:min(i + MiB, upto)])
    finally:
        c.abort()
    return ready["transfer"]


def resume_ready(pki, b, size, transfer, user="alice@T001", limit=10.0,
                 **kw):
    """Opens a connection and asks to resume transfer; retries (bounded)
    while the broker says the old session is still being wound up.
    Returns (connection, answer); the caller closes the connection."""
    deadline = time.monotonic() + limit
    while True:
        c = raw_client(pki, b, user=user)
        _, answer = start(c, size, resume=transfer, **kw)
        if answer.get("op") == "ready" or time.monotonic() > deadline or \
                not (answer.get("op") == "error" and
                     ("retry_after" in answer or answer.get("code") == "busy")):
            return c, answer
        c.close()
        time.sleep(0.2)


def finish(c, data, offset):
    for i in range(offset, len(data), MiB):
        c.send(data[i:min(i + MiB, len(data))])
    c.request("end", sha256=hashlib.sha256(data).digest())
    return c.recv(60)


def test_broken_connection_leaves_resumable_partial(pki, broker):
    b = broker()
    data = os.urandom(64 * MiB)
    sent = 48 * MiB
    transfer = send_and_abort(pki, b, data, sent)

    c, ready = resume_ready(pki, b, len(data), transfer)
    with c:
        assert ready.get("op") == "ready", ready
        assert ready["transfer"] == transfer
        assert 0 < ready["offset"] <= sent, ready
        stored = finish(c, data, ready["offset"])
        assert stored.get("op") == "stored", stored
        assert stored["transfer"] == transfer
    assert (b.spool / transfer).read_bytes() == data
    assert partials(b) == []


def test_status_of_partial_upload(pki, broker):
    b = broker()
    data = os.urandom(8 * MiB)
    transfer = send_and_abort(pki, b, data, 5 * MiB)
    with raw_client(pki, b) as c:
        c.hello()
        c.request("status", transfer=transfer)
        st = c.recv()
    assert st.get("op") == "state", st
    assert st["transfer"] == transfer
    assert st["state"] != "stored"
    assert st["size"] == len(data)
    assert st["received"] <= 5 * MiB


def test_partial_survives_broker_restart(pki, broker):
    b = broker()
    data = os.urandom(16 * MiB)
    transfer = send_and_abort(pki, b, data, 12 * MiB)
    assert b.stop(signal.SIGTERM) == 0
    b.start()
    c, ready = resume_ready(pki, b, len(data), transfer)
    with c:
        assert ready.get("op") == "ready", ready
        assert ready["offset"] <= 12 * MiB
        stored = finish(c, data, ready["offset"])
        assert stored.get("op") == "stored", stored
    assert (b.spool / transfer).read_bytes() == data


def test_resume_by_another_user_refused(pki, broker):
    b = broker()
    data = os.urandom(4 * MiB)
    transfer = send_and_abort(pki, b, data, 2 * MiB)
    c, answer = resume_ready(pki, b, len(data), transfer, user="bob")
    with c:
        assert answer.get("op") == "error", answer
    # alice still can
    c, ready = resume_ready(pki, b, len(data), transfer)
    with c:
        assert ready.get("op") == "ready", ready
        assert finish(c, data, ready["offset"]).get("op") == "stored"


@pytest.mark.parametrize("change", ["size", "unknown_id", "malformed_id"])
def test_resume_must_match_the_transfer(pki, broker, change):
    b = broker()
    data = os.urandom(4 * MiB)
    transfer = send_and_abort(pki, b, data, 2 * MiB)
    size = len(data)
    if change == "size":
        size += 1
    elif change == "unknown_id":
        transfer = "0123456789abcdef" * 2
    else:
        transfer = "../" + transfer
    c, answer = resume_ready(pki, b, size, transfer)
    with c:
        assert answer.get("op") == "error", answer
    assert b.running()


def test_resume_of_stored_transfer_answers_stored(pki, broker):
    """A resume of a transfer the broker stored before (its "stored" may
    never have reached the client) answers "stored" with what the broker
    holds, instead of a refusal that would make the client start over."""
    b = broker()
    data = os.urandom(1000)
    with raw_client(pki, b) as c:
        _, ready = start(c, len(data))
        stored = finish(c, data, 0)
        assert stored.get("op") == "stored", stored
    c, answer = resume_ready(pki, b, len(data), ready["transfer"])
    with c:
        assert answer.get("op") == "stored", answer
        assert answer["transfer"] == ready["transfer"]
        assert answer["size"] == len(data)
        assert answer["sha256"] == hashlib.sha256(data).digest()
        assert answer["state"] == "stored"
    assert (b.spool / ready["transfer"]).read_bytes() == data
    # Another file under the same id is still refused, and so is another
    # user (who must not learn the transfer exists).
    c, answer = resume_ready(pki, b, len(data), ready["transfer"],
                             name="other.bin")
    with c:
        assert answer.get("op") == "error", answer
        assert answer["code"] == "mismatch", answer
    c, answer = resume_ready(pki, b, len(data), ready["transfer"], user="bob")
    with c:
        assert answer.get("op") == "error", answer
        assert answer["code"] == "not_found", answer
