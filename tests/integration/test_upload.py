"""Uploads through the real client and broker: what lands in the spool, what
the client reports, what policy refuses, and that hostile file names never
reach a path."""

import hashlib
import os
import re
import signal

import pytest

from conftest import EXIT_OK, EXIT_POLICY, EXIT_NOTFOUND

ID_RE = re.compile(r"^[0-9a-f]{32}$")
SPOOL_ENTRY_RE = re.compile(r"^[0-9a-f]{32}(\.part)?$")
MiB = 1 << 20


def make_file(path, size, chunk=MiB):
    """Writes size random bytes to path; returns the hex SHA-256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left > 0:
            block = os.urandom(min(chunk, left))
            f.write(block)
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def put(c, path, *args, to="IF-2026-001", cls=1, timeout=300):
    return c.json("put", path, "--to", to, "--class", cls,
                  "--purpose", "integration test", *args, timeout=timeout)


def error_of(obj):
    assert "error" in obj, f"no error object in {obj}"
    err = obj["error"]
    assert err.get("code") and err.get("message"), err
    return err


def tree(root):
    """Every path under root, relative, as a set."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


def assert_spool_only_ids(b):
    for name in b.spool_entries():
        assert SPOOL_ENTRY_RE.match(name), f"unexpected spool entry {name!r}"


def assert_stored(b, obj, size, digest):
    assert ID_RE.match(obj["transfer"]), obj
    assert obj["size"] == size
    assert obj["sha256"].lower() == digest
    assert obj["state"] == "stored"
    spooled = b.spool / obj["transfer"]
    assert spooled.is_file(), f"{spooled} missing; spool has {b.spool_entries()}"
    assert spooled.stat().st_size == size
    assert sha256_file(spooled) == digest
    assert_spool_only_ids(b)


@pytest.mark.parametrize("size", [1, 0])
def test_small_upload_is_spooled_with_its_hash(broker, client, tmp_path, size):
    b = broker()
    c = client(b)
    f = tmp_path / "small.bin"
    digest = make_file(f, size)
    rc, obj, err = put(c, f)
    assert rc == EXIT_OK, (obj, err)
    assert_stored(b, obj, size, digest)


def test_large_upload_is_spooled_with_its_hash(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "large.bin"
    size = 100 * MiB
    digest = make_file(f, size)
    rc, obj, err = put(c, f)
    assert rc == EXIT_OK, (obj, err)
    assert_stored(b, obj, size, digest)


def test_status_of_a_stored_transfer(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "doc.txt"
    f.write_bytes(b"hello sekisho\n")
    rc, obj, err = put(c, f)
    assert rc == EXIT_OK, (obj, err)
    rc, st, err = c.json("status", obj["transfer"])
    assert rc == EXIT_OK, (st, err)
    assert st["transfer"] == obj["transfer"]
    assert st["state"] == "stored"
    assert st["size"] == 14
    assert st["received"] == 14


def test_status_of_unknown_transfer_is_not_found(broker, client):
    b = broker()
    c = client(b)
    rc, obj, err = c.json("status", "0123456789abcdef0123456789abcdef")
    assert rc == EXIT_NOTFOUND, (obj, err)
    error_of(obj)


def test_status_of_another_users_transfer_is_not_shown(broker, client,
                                                        tmp_path):
    b = broker()
    alice, bob = client(b), client(b, user="bob")
    f = tmp_path / "secret.txt"
    f.write_bytes(b"alice only\n")
    rc, obj, err = put(alice, f)
    assert rc == EXIT_OK, (obj, err)
    rc, st, err = bob.json("status", obj["transfer"])
    assert rc in (EXIT_POLICY, EXIT_NOTFOUND), (st, err)
    error_of(st)
    assert "size" not in st and "sha256" not in st


def test_unknown_interface_is_refused(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"x")
    rc, obj, err = put(c, f, to="IF-9999-999")
    assert rc == EXIT_POLICY, (obj, err)
    e = error_of(obj)
    assert "interface" in (e["code"] + " " + e["message"]).lower(), e
    assert b.spool_entries() == []


@pytest.mark.parametrize("to,cls", [("IF-2026-002", 2), ("IF-2026-001", 3)])
def test_class_too_high_is_refused(broker, client, tmp_path, to, cls):
    b = broker()
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"x")
    rc, obj, err = put(c, f, to=to, cls=cls)
    assert rc == EXIT_POLICY, (obj, err)
    e = error_of(obj)
    assert "class" in (e["code"] + " " + e["message"]).lower(), e
    assert b.spool_entries() == []


HOSTILE_NAMES = [
    "../../../../tmp/sekisho-escape",
    "../escape",
    "/etc/sekisho-escape",
    "dir/sub/file.txt",
    "..\\..\\escape.txt",
    "C:\\Windows\\escape.txt",
    "ctl\x01\x1b[31mred\x7f.txt",
    "new\nline\r.txt",
    "..",
    ".",
    "\u202etxt.exe",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_never_become_paths(broker, client, tmp_path, name):
    b = broker()
    c = client(b)
    f = tmp_path / "payload.bin"
    digest = make_file(f, 1000)
    root = tmp_path.parent
    before = tree(b.dir)
    outside_before = set(os.listdir(root))
    rc, obj, err = put(c, f, "--name", name)
    if rc == EXIT_OK:
        assert_stored(b, obj, 1000, digest)
    else:
        error_of(obj)
        assert b.spool_entries() == [] or all(
            n.endswith(".part") for n in b.spool_entries())
    assert_spool_only_ids(b)
    # Nothing appeared in the broker's directory except spool entries and
    # the broker's own files, and nothing next to it.
    new = {p for p in tree(b.dir) - before
           if not p.startswith("spool" + os.sep)}
    allowed = re.compile(r"^(state\.db.*|audit\.log.*|broker\.log|\.?[\w.-]*\.(tmp|lock|new))$")
    assert all(allowed.match(p) for p in new), new
    assert set(os.listdir(root)) == outside_before
    assert not os.path.exists("/tmp/sekisho-escape")
    assert not os.path.exists("/etc/sekisho-escape")


def test_hostile_local_file_name(broker, client, tmp_path):
    """Without --name the client sends the file's own base name."""
    b = broker()
    c = client(b)
    d = tmp_path / "in"
    d.mkdir()
    f = d / "we\x1bird\nname..txt"
    digest = make_file(f, 10)
    rc, obj, err = put(c, f)
    if rc == EXIT_OK:
        assert_stored(b, obj, 10, digest)
    else:
        error_of(obj)
    assert_spool_only_ids(b)
    assert "\x1b" not in err


def test_over_long_name_is_refused_clearly(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"x")
    rc, obj, err = put(c, f, "--name", "n" * 4096)
    assert rc != EXIT_OK, obj
    e = error_of(obj)
    assert "name" in (e["code"] + " " + e["message"]).lower(), e
    assert b.spool_entries() == []


def test_restart_keeps_stored_transfers(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "keep.bin"
    digest = make_file(f, 3 * MiB + 17)
    rc, obj, err = put(c, f)
    assert rc == EXIT_OK, (obj, err)
    assert b.stop(signal.SIGTERM) == 0, b.log_text()[-2000:]
    b.start()
    rc, st, err = c.json("status", obj["transfer"])
    assert rc == EXIT_OK, (st, err)
    assert st["state"] == "stored"
    assert st["size"] == 3 * MiB + 17
    assert sha256_file(b.spool / obj["transfer"]) == digest


def test_restart_after_kill_keeps_stored_transfers(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "keep.bin"
    digest = make_file(f, 12345)
    rc, obj, err = put(c, f)
    assert rc == EXIT_OK, (obj, err)
    b.stop(signal.SIGKILL)
    b.start()
    rc, st, err = c.json("status", obj["transfer"])
    assert rc == EXIT_OK, (st, err)
    assert st["state"] == "stored"
    assert sha256_file(b.spool / obj["transfer"]) == digest


def test_audit_log_records_the_upload(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"audited\n")
    rc, obj, err = put(c, f)
    assert rc == EXIT_OK, (obj, err)
    records = b.audit_records()
    assert records, "audit log is empty"
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    mine = [r for r in records
            if isinstance(r.get("subject"), dict)
            and r["subject"].get("transfer") == obj["transfer"]]
    assert mine, f"no audit record for {obj['transfer']}: {records}"


def test_register_reload_on_sighup(broker, client, tmp_path):
    b = broker()
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"new interface\n")
    rc, obj, err = put(c, f, to="IF-2026-003")
    assert rc == EXIT_POLICY, (obj, err)
    b.write_register({"interfaces": [
        {"id": "IF-2026-001", "max_class": 2},
        {"id": "IF-2026-003", "max_class": 2},
    ]})
    b.reload_and_wait()
    rc, obj, err = put(c, f, to="IF-2026-003")
    assert rc == EXIT_OK, (obj, err)
    # IF-2026-002 is gone from the register now
    rc, obj, err = put(c, f, to="IF-2026-002")
    assert rc == EXIT_POLICY, (obj, err)


@pytest.mark.parametrize("bad", [
    "interfaces: [\n",                                   # not YAML
    "interfaces:\n  - id: IF-2026-001\n    max_clas: 2\n",  # unknown key
    "",                                                  # empty
])
def test_broken_register_reload_keeps_the_old_one(broker, client, tmp_path,
                                                  bad):
    b = broker()
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"still allowed\n")
    b.write_register(bad)
    b.reload_and_wait()
    assert b.running()
    rc, obj, err = put(c, f, to="IF-2026-002")
    assert rc == EXIT_OK, (obj, err)
    rc, obj, err = put(c, f, to="IF-2026-002", cls=2)
    assert rc == EXIT_POLICY, (obj, err)


def test_check_config(broker):
    b = broker(start=False)
    proc = b.check_config()
    assert proc.returncode == 0, proc.stderr
    b.config.write_text(b.config.read_text() + "unknown_key: 1\n")
    proc = b.check_config()
    assert proc.returncode == 1
    assert "unknown_key" in proc.stderr + proc.stdout
