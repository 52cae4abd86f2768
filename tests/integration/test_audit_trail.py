"""The auditor's trail end to end: uploads, `sekisho audit pull` as an
auditor, offline `verify` with the broker's published key only; every kind
of tampering named with the right record; consistency with an earlier
checkpoint; refusal (and record) of a non-auditor; the trail spanning
segments and surviving retention; a full audit file system stopping
transfers without losing any acknowledged record; show and export; the
signer process confined by its seccomp filter, and the trail going
unhealthy when the signer is killed."""

import csv
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from audit_fixtures import (AUDITOR, EXIT_INVALID, can_mount_tmpfs,
                            copy_pull, fill, keygen, pull, records_of,
                            start_broker, umount, upload, verifier_key,
                            verify, write_records, audit)
from conftest import EXIT_NOTFOUND, EXIT_OK, EXIT_POLICY, SEKISHOD


@pytest.fixture
def trail(broker, client, pki, tmp_path):
    """A broker with six uploads behind it, a staff client and an auditor
    client."""
    b = start_broker(broker, pki)
    staff = client(b)
    auditor = client(b, user=AUDITOR)
    ids = []
    for i in range(6):
        f = tmp_path / f"report-{i}.txt"
        f.write_bytes(f"報告書 {i}\n".encode() * (i + 1))
        ids.append(upload(staff, f))
    return b, staff, auditor, ids


def test_pull_and_verify(trail, tmp_path):
    b, staff, auditor, ids = trail
    d = tmp_path / "pull1"
    obj = pull(auditor, d, "--from-seq", "0")
    assert obj["from_seq"] == 0 and obj["count"] == obj["tree_size"] > 20
    # The tree spans several segment files.
    assert len(list((b.dir / "audit.log").glob("*.audit"))) > 1
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_OK, res
    assert res["ok"] is True and res["records"] == obj["count"]
    recs = [r for _, r in records_of(d)]
    assert [r["seq"] for r in recs] == list(range(obj["count"]))
    stored = {r["subject"].get("transfer") for r in recs
              if r["type"] == "stored"}
    assert set(ids) <= stored
    # Every record says how far its time can be trusted.
    assert all(r["clock"] in ("synced", "unsynced", "unknown") for r in recs)
    # The pull itself is in the trail.
    d2 = tmp_path / "pull2"
    pull(auditor, d2, "--from-seq", str(obj["count"]))
    later = [r for _, r in records_of(d2)]
    pulls = [r for r in later if r["type"] == "audit_pull"]
    assert pulls and pulls[0]["actor"]["user"] == AUDITOR
    assert pulls[0]["details"]["count"] == obj["count"]
    rc, res = verify(auditor, d2, verifier_key(b))
    assert rc == EXIT_OK, res


def test_pull_a_range_and_a_period(trail, tmp_path):
    b, staff, auditor, ids = trail
    d = tmp_path / "range"
    obj = pull(auditor, d, "--from-seq", "5", "--to-seq", "12")
    assert obj["from_seq"] == 5 and obj["count"] == 8
    assert [r["seq"] for _, r in records_of(d)] == list(range(5, 13))
    assert verify(auditor, d, verifier_key(b))[0] == EXIT_OK
    # A period: today (local date) holds everything; the future nothing.
    today = time.strftime("%Y-%m-%d")
    d = tmp_path / "today"
    obj = pull(auditor, d, "--since", today, "--until", today)
    assert obj["count"] > 20
    assert verify(auditor, d, verifier_key(b))[0] == EXIT_OK
    d = tmp_path / "future"
    obj = pull(auditor, d, "--since", "2099-01-01T00:00:00Z")
    assert obj["count"] == 0
    assert verify(auditor, d, verifier_key(b))[0] == EXIT_OK
    d = tmp_path / "offset"
    obj = pull(auditor, d, "--since",
               time.strftime("%Y-%m-%dT00:00:00+09:00"))
    assert verify(auditor, d, verifier_key(b))[0] == EXIT_OK


def tamper_flip(d, seq):
    raws = [raw for raw, _ in records_of(d)]
    raw = bytearray(raws[seq])
    i = raw.index("報告書".encode()) if "報告書".encode() in raw else \
        len(raw) // 2
    raw[i] ^= 0x01
    raws[seq] = bytes(raw)
    write_records(d, raws)


def tamper_delete(d, seq):
    raws = [raw for raw, _ in records_of(d)]
    del raws[seq]
    write_records(d, raws)


def tamper_truncate(d, keep):
    raws = [raw for raw, _ in records_of(d)]
    write_records(d, raws[:keep])


def tamper_reorder(d, seq):
    raws = [raw for raw, _ in records_of(d)]
    raws[seq], raws[seq + 1] = raws[seq + 1], raws[seq]
    write_records(d, raws)


@pytest.mark.parametrize("how,expect_fault,expect_seq", [
    ("flip", "changed", 9),
    ("delete", "missing", 9),
    ("truncate", "missing", 15),
    ("truncate_mid", "missing", 15),
    ("reorder", "reordered", 9),
])
def test_tampered_records_are_named(trail, tmp_path, how, expect_fault,
                                    expect_seq):
    b, staff, auditor, ids = trail
    d = tmp_path / "pull"
    pull(auditor, d, "--from-seq", "0")
    if how == "flip":
        # Record 9 is an "accept" or "stored" with a name: flip a byte.
        tamper_flip(d, 9)
    elif how == "delete":
        tamper_delete(d, 9)
    elif how == "truncate":
        tamper_truncate(d, 15)
    elif how == "truncate_mid":
        p = pathlib.Path(d) / "records.audit"
        raws = [raw for raw, _ in records_of(d)]
        p.write_bytes(b"".join(raws[:15]) + raws[15][:len(raws[15]) // 2])
    elif how == "reorder":
        tamper_reorder(d, 9)
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_INVALID, res
    assert res["ok"] is False
    assert res["fault"] == expect_fault, res
    assert res["seq"] == expect_seq, res


def test_the_last_record_changed(trail, tmp_path):
    b, staff, auditor, ids = trail
    d = tmp_path / "pull"
    obj = pull(auditor, d, "--from-seq", "0")
    last = obj["count"] - 1
    tamper_flip(d, last)
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_INVALID
    assert res["fault"] == "changed" and res["seq"] == last, res


def test_replaced_checkpoints_are_refused(trail, broker, pki, client,
                                          tmp_path):
    b, staff, auditor, ids = trail
    old = tmp_path / "old"
    pull(auditor, old, "--from-seq", "0")
    f = tmp_path / "more.txt"
    f.write_bytes(b"more\n")
    upload(staff, f)
    new = tmp_path / "new"
    pull(auditor, new, "--from-seq", "0")
    assert verify(auditor, new, verifier_key(b))[0] == EXIT_OK

    # An older checkpoint in place of the pulled one: rollback.
    d = copy_pull(new, tmp_path / "older-cp")
    shutil.copyfile(old / "checkpoint.note", d / "checkpoint.note")
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_INVALID and res["fault"] == "rollback", res

    # A checkpoint from another key (another broker's trail).
    other = start_broker(broker, pki)
    other_pull = tmp_path / "other"
    pull(client(other, user=AUDITOR), other_pull, "--from-seq", "0")
    d = copy_pull(new, tmp_path / "other-cp")
    shutil.copyfile(other_pull / "checkpoint.note", d / "checkpoint.note")
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_INVALID and res["fault"] == "bad signature", res
    # Nor does a trail verify with another key than its own.
    rc, res = verify(auditor, new, verifier_key(other))
    assert rc == EXIT_INVALID and res["fault"] == "bad signature", res
    _, pub = keygen(tmp_path / "keys")
    rc, res = verify(auditor, new, pub)
    assert rc == EXIT_INVALID and res["fault"] == "bad signature", res

    # The proof or the leaf hashes changed.
    d = copy_pull(new, tmp_path / "leaves")
    leaves = bytearray((d / "leaves.bin").read_bytes())
    leaves[40] ^= 1
    (d / "leaves.bin").write_bytes(bytes(leaves))
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_INVALID and res["fault"] == "bad proof", res


def test_previous_checkpoint(trail, tmp_path):
    b, staff, auditor, ids = trail
    first = tmp_path / "first"
    pull(auditor, first, "--from-seq", "0")
    for i in range(3):
        f = tmp_path / f"later-{i}.txt"
        f.write_bytes(b"later\n")
        upload(staff, f)
    kept = first / "checkpoint.note"
    second = tmp_path / "second"
    obj = pull(auditor, second, "--since", "2000-01-01", "--previous", kept)
    assert obj["previous_size"] < obj["tree_size"]
    assert (second / "previous.note").read_bytes() == kept.read_bytes()
    rc, res = verify(auditor, second, verifier_key(b), "--previous", kept)
    assert rc == EXIT_OK, res
    assert res["previous_size"] == obj["previous_size"]
    # Presented the other way round it is a rollback.
    rc, res = verify(auditor, first, verifier_key(b), "--previous",
                     second / "checkpoint.note")
    assert rc == EXIT_INVALID and res["fault"] == "rollback", res
    # Without a proof for that checkpoint in the pull: said so.
    rc, res = verify(auditor, first, verifier_key(b), "--previous", kept)
    assert rc == EXIT_OK, res


def test_non_auditor_is_refused_and_recorded(trail, tmp_path):
    b, staff, auditor, ids = trail
    rc, obj, err = audit(staff, "pull", "--out", tmp_path / "nope",
                         "--from-seq", "0", json_out=True)
    assert rc == EXIT_POLICY, (rc, obj, err)
    assert obj["error"]["code"] == "forbidden"
    assert not (tmp_path / "nope").exists()
    d = tmp_path / "pull"
    pull(auditor, d, "--from-seq", "0")
    refused = [r for _, r in records_of(d)
               if r["type"] == "audit_pull_refused"]
    assert refused and refused[0]["actor"]["user"] == "alice"


def test_show_and_export(trail, tmp_path):
    b, staff, auditor, ids = trail
    d = tmp_path / "pull"
    obj = pull(auditor, d, "--from-seq", "0")
    rc, out, err = audit(auditor, "show", ids[2], d)
    assert rc == EXIT_OK, err
    lines = out.splitlines()
    kinds = [line.split()[2] for line in lines]
    assert kinds[0] == "accept" and "stored" in kinds, out
    seqs = [int(line.split()[0]) for line in lines]
    assert seqs == sorted(seqs)
    assert all(ids[2] not in line or True for line in lines)
    assert "報告書" in out or "name=" in out
    rc, out, err = audit(auditor, "show", "0" * 32, d)
    assert rc == EXIT_NOTFOUND

    csv_path = tmp_path / "trail.csv"
    rc, out, err = audit(auditor, "export", d, "--format", "csv",
                         "--output", csv_path)
    assert rc == EXIT_OK, err
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"),
                                       newline="")))
    # The first columns never change; new ones only come at the end.
    assert rows[0][:14] == ["seq", "time", "clock", "type", "user", "dept",
                            "terminal", "cert_fp", "peer", "transfer",
                            "interface", "service", "details",
                            "record_sha256"]
    assert rows[0][14:] == ["local_time", "class", "name", "size", "sha256",
                            "state", "result", "reason", "comment"]
    assert len(rows) == obj["count"] + 1
    assert [int(r[0]) for r in rows[1:]] == list(range(obj["count"]))
    stored = [r for r in rows[1:] if r[3] == "stored" and r[9] == ids[0]]
    assert stored and json.loads(stored[0][12])["size"] > 0
    # The flattened columns repeat what details says.
    det = json.loads(stored[0][12])
    assert stored[0][17] == str(det["size"])
    assert stored[0][18] == det["sha256"]

    rc, out, err = audit(auditor, "export", d, "--format", "jsonl")
    assert rc == EXIT_OK, err
    objs = [json.loads(line) for line in out.splitlines()]
    assert len(objs) == obj["count"]
    assert objs[3]["seq"] == 3 and len(objs[3]["prev"]) == 64


def test_pulled_bundle_and_export_are_private(trail, tmp_path):
    """A pulled bundle holds every record of the trail (names, users,
    purposes): it is written for its owner only, 0700/0600, even with the
    usual umask 022; so is an export file."""
    b, staff, auditor, ids = trail
    old = os.umask(0o022)
    try:
        d = tmp_path / "pull"
        pull(auditor, d, "--from-seq", "0")
        csv_path = tmp_path / "trail.csv"
        rc, out, err = audit(auditor, "export", d, "--format", "csv",
                             "--output", csv_path)
        assert rc == EXIT_OK, err
    finally:
        os.umask(old)
    assert d.stat().st_mode & 0o777 == 0o700, oct(d.stat().st_mode)
    files = sorted(d.iterdir())
    assert {f.name for f in files} >= {"checkpoint.note", "proof.txt",
                                       "records.audit", "leaves.bin"}
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o600, (f, oct(f.stat().st_mode))
    assert csv_path.stat().st_mode & 0o777 == 0o600


def test_retention_prunes_through_a_signed_record(broker, client, pki,
                                                  tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    b = start_broker(broker, pki, audit={"retention": "2s",
                                         "archive_dir": str(archive)})
    staff = client(b)
    auditor = client(b, user=AUDITOR)
    for i in range(4):
        f = tmp_path / f"old-{i}.txt"
        f.write_bytes(b"x" * 100)
        upload(staff, f)
    before = tmp_path / "before"
    pull(auditor, before, "--from-seq", "0")
    time.sleep(3)
    deadline = time.monotonic() + 30
    pruned = []
    while time.monotonic() < deadline and not pruned:
        f = tmp_path / "new.txt"
        f.write_bytes(b"y" * 100)
        upload(staff, f)
        pruned = [r for r in b.audit_records() if r["type"] == "prune"]
        time.sleep(0.5)
    assert pruned, "no prune record within 30 s"
    p = pruned[0]["details"]
    assert p["archived"] is True and p["to_seq"] > p["from_seq"] == 0
    assert len(list(archive.glob("*.audit"))) == p["segments"]
    # Records before the cut cannot be pulled any more; the broker says so.
    rc, obj, err = audit(auditor, "pull", "--out", tmp_path / "gone",
                         "--from-seq", "0", json_out=True)
    assert rc != EXIT_OK and obj["error"]["code"] == "pruned", obj
    # What is left still verifies against the same tree, and is consistent
    # with the checkpoint taken before the prune.
    after = tmp_path / "after"
    obj = pull(auditor, after, "--since", "2000-01-01", "--previous",
               before / "checkpoint.note")
    assert obj["from_seq"] >= p["to_seq"]
    rc, res = verify(auditor, after, verifier_key(b), "--previous",
                     before / "checkpoint.note")
    assert rc == EXIT_OK, res
    # The earlier pull still verifies too.
    assert verify(auditor, before, verifier_key(b))[0] == EXIT_OK
    # And the broker restarts on a pruned trail.
    b.restart()
    assert verify(auditor, after, verifier_key(b))[0] == EXIT_OK


def test_audit_disk_full(broker, client, pki, tmp_path):
    mnt = tmp_path / "auditfs"
    mnt.mkdir()
    why = can_mount_tmpfs(mnt)
    if why is not None:
        pytest.skip(why)
    try:
        b = start_broker(broker, pki, extra={"audit_log": str(mnt / "trail")},
                         audit={"segment_size": "64KiB"})
        staff = client(b)
        acked = []
        f = tmp_path / "before.txt"
        f.write_bytes(b"before the disk filled\n")
        acked.append(upload(staff, f))
        filler = fill(mnt)
        refused = None
        for i in range(20):
            f = tmp_path / f"during-{i}.txt"
            f.write_bytes(b"during\n")
            rc, obj, err = staff.json("put", f, "--to", "IF-2026-001",
                                      "--class", 1, "--purpose", "t")
            if rc == EXIT_OK:
                acked.append(obj["transfer"])
                continue
            if obj["error"]["code"] == "audit_unavailable":
                refused = obj["error"]
                break
        assert refused is not None, "transfers were not refused"
        assert "audit" in refused["message"]
        # A new connection is refused too, with the same reason.
        rc, obj, err = staff.json("whoami")
        assert rc != EXIT_OK and obj["error"]["code"] == "audit_unavailable"
        assert "audit_unavailable" in b.log_text()
        # Space back, restart: every acknowledged transfer has its record.
        filler.unlink()
        b.stop()
        b.start()
        auditor = client(b, user=AUDITOR)
        d = tmp_path / "pull"
        pull(auditor, d, "--from-seq", "0")
        rc, res = verify(auditor, d, verifier_key(b))
        assert rc == EXIT_OK, res
        stored = {r["subject"].get("transfer") for _, r in records_of(d)
                  if r["type"] == "stored"}
        assert set(acked) <= stored, (acked, stored)
        b.stop()
    finally:
        for proc_dir in [mnt]:
            umount(proc_dir)


def test_resume_refused_for_audit_keeps_the_resume_state(broker, client,
                                                          pki, tmp_path):
    """A stored transfer whose "stored" answer was lost, resumed while the
    broker refuses everything for its audit trail: the client must keep
    its resume state (audit_unavailable says nothing about the transfer),
    so the next run learns it is stored instead of uploading it again."""
    from test_delivery_once import resume_state_file, upload_and_vanish

    mnt = tmp_path / "auditfs"
    mnt.mkdir()
    why = can_mount_tmpfs(mnt)
    if why is not None:
        pytest.skip(why)
    try:
        b = start_broker(broker, pki, extra={"audit_log": str(mnt / "trail")},
                         audit={"segment_size": "64KiB"})
        staff = client(b)
        f = tmp_path / "lost-answer.txt"
        f.write_bytes(b"stored, answer lost\n")
        tid = upload_and_vanish(pki, b, f, interface="IF-2026-001")
        deadline = time.monotonic() + 10
        while "event=stored" not in b.log_text():
            assert time.monotonic() < deadline, "not stored"
            time.sleep(0.05)
        state = resume_state_file(staff, f, "IF-2026-001", 1)
        state.write_text(tid + "\n")
        filler = fill(mnt)
        refused = False
        for i in range(20):
            g = tmp_path / f"during-{i}.txt"
            g.write_bytes(b"during\n")
            rc, obj, err = staff.json("put", g, "--to", "IF-2026-001",
                                      "--class", 1, "--purpose", "t")
            if rc != EXIT_OK and obj["error"]["code"] == "audit_unavailable":
                refused = True
                break
        assert refused, "transfers were not refused"
        rc, obj, err = staff.json("put", f, "--to", "IF-2026-001",
                                  "--class", 1, "--purpose", "t",
                                  "--retries", "0")
        assert rc != EXIT_OK and obj["error"]["code"] == \
            "audit_unavailable", (rc, obj, err)
        assert state.exists(), "the refusal dropped the resume state"
        filler.unlink()
        b.stop()
        b.start()
        rc, obj, err = staff.json("put", f, "--to", "IF-2026-001",
                                  "--class", 1, "--purpose", "t")
        assert rc == EXIT_OK, (rc, obj, err)
        assert obj["transfer"] == tid, "uploaded a second time"
        b.stop()
    finally:
        umount(mnt)


def test_keys_checked_and_never_replaced(broker, pki, tmp_path):
    b = start_broker(broker, pki)
    key = b.dir / "audit-signing.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    proc = b.check_config()
    assert proc.returncode == 0, proc.stderr
    key.chmod(0o644)
    proc = b.check_config()
    assert proc.returncode == 1 and "0600" in proc.stderr, proc.stderr
    key.chmod(0o600)
    proc = subprocess.run([str(SEKISHOD), "-c", str(b.config),
                           "--audit-keygen"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 1 and "exists" in proc.stderr, proc.stderr
    # A trail whose signing key is gone is not silently given a new one.
    b.stop()
    saved = key.read_bytes()
    key.unlink()
    with pytest.raises(RuntimeError, match="signing key"):
        b.start()
    key.write_bytes(saved)
    key.chmod(0o600)
    b.start()


def _proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return fields


def _signer_of(b):
    """The audit signer child of a running broker, found by the name it
    gives itself (the TLS key process is another child)."""
    pid = b.proc.pid
    kids = []
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        kids += (task / "children").read_text().split()
    found = [int(k) for k in kids
             if pathlib.Path(f"/proc/{k}/comm").read_text().strip()
             == "sekishod-audit"]
    assert len(found) == 1, (kids, found)
    return found[0]


def test_signer_is_confined_by_seccomp(trail, tmp_path):
    b, staff, auditor, ids = trail
    signer = _signer_of(b)
    st = _proc_status(signer)
    # SECCOMP_MODE_FILTER, after the signer has signed checkpoints for the
    # uploads above (the filter is in place before the broker serves).
    assert st["Seccomp"] == "2", st
    assert int(st["Seccomp_filters"]) >= 1, st
    assert st["NoNewPrivs"] == "1", st
    # Confined, it still signs: a new upload gets a checkpoint that
    # verifies, and the signer is the same process.
    f = tmp_path / "after.txt"
    f.write_bytes(b"after\n")
    upload(staff, f)
    d = tmp_path / "pull"
    pull(auditor, d, "--from-seq", "0")
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_OK, res
    assert _signer_of(b) == signer
    # A filter violation kills the signer with SIGSYS; the broker names
    # it and stops taking work that it could not record (fail closed).
    os.kill(signer, signal.SIGSYS)
    refused = None
    for i in range(40):
        f = tmp_path / f"later-{i}.txt"
        f.write_bytes(b"later\n")
        rc, obj, err = staff.json("put", f, "--to", "IF-2026-001",
                                  "--class", 1, "--purpose", "t")
        if rc != EXIT_OK:
            refused = obj["error"]
            break
        time.sleep(0.25)
    assert refused is not None and refused["code"] == "audit_unavailable", \
        refused
    assert "SIGSYS" in b.log_text()
    b.stop()


def test_verify_names_the_first_record_of_a_cut_tail_fixed_up(trail,
                                                              tmp_path):
    """The tail cut off, leaves.bin and the proof's count fixed up to
    match: the verdict names the first record it cannot prove."""
    b, staff, auditor, ids = trail
    d = tmp_path / "pull"
    obj = pull(auditor, d, "--from-seq", "0")
    assert obj["count"] > 16
    tamper_truncate(d, 15)
    leaves = d / "leaves.bin"
    leaves.write_bytes(leaves.read_bytes()[:15 * 32])
    proof = d / "proof.txt"
    proof.write_text("".join(
        "count 15\n" if line.startswith("count ") else line + "\n"
        for line in proof.read_text().splitlines()))
    rc, res = verify(auditor, d, verifier_key(b))
    assert rc == EXIT_INVALID, res
    assert res["seq"] == 15, res
    assert res["fault"] == "missing", res
    assert "15" in res["message"], res


def test_print_audit_checks_the_trail_against_its_checkpoints(trail):
    """A trail whose tail was cut below its signed checkpoints: sekishod
    --print-audit fails and names where, as the start does."""
    b, staff, auditor, ids = trail
    assert b.stop(signal.SIGTERM) == 0
    run = [str(SEKISHOD), "-c", str(b.config), "--print-audit"]
    r = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    total = len(r.stdout.splitlines())
    segments = sorted((b.dir / "audit.log").glob("*.audit"))
    assert len(segments) > 1
    first_gone = int(segments[-1].name.split(".")[0])
    segments[-1].unlink()
    r = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, (r.stdout[-2000:], r.stderr)
    assert len(r.stdout.splitlines()) == first_gone < total
    assert f"record {first_gone}" in r.stderr, r.stderr
    assert "checkpoint" in r.stderr, r.stderr
    assert "Sanitizer" not in r.stderr, r.stderr
    # The start refuses the same trail.
    s = subprocess.run([str(SEKISHOD), "-c", str(b.config)],
                       capture_output=True, text=True, timeout=60)
    assert s.returncode != 0, s.stderr
