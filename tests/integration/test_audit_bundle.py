"""A pull saved as one file (the "bundle" the browser downloads from
/api/v1/audit/bundle): exactly the sekisho/1 items the broker sends for an
audit_pull. `sekisho audit pull --raw FILE` saves them as received;
`sekisho audit verify FILE` checks the file offline exactly as a pulled
directory, and names what is wrong when it was changed, cut or had a
record removed. show and export read it too."""

import io

import cbor2
import pytest

from audit_fixtures import (AUDITOR, EXIT_INVALID, audit, pull,
                            records_of, start_broker, upload, verifier_key,
                            verify)
from conftest import EXIT_OK, raw_client


@pytest.fixture
def trail(broker, client, pki, tmp_path):
    b = start_broker(broker, pki)
    staff = client(b)
    auditor = client(b, user=AUDITOR)
    ids = []
    for i in range(4):
        f = tmp_path / f"report-{i}.txt"
        f.write_bytes(f"報告書 {i}\n".encode() * (i + 1))
        ids.append(upload(staff, f))
    return b, staff, auditor, ids


def pull_raw(c, path, *args):
    rc, obj, err = audit(c, "pull", "--raw", path, *args, json_out=True)
    assert rc == EXIT_OK, (rc, obj, err)
    return obj


def items_of(data):
    """The CBOR items of a bundle, in order."""
    fp = io.BytesIO(data)
    out = []
    while fp.tell() < len(data):
        out.append(cbor2.CBORDecoder(fp).decode())
    return out


def split_records(data):
    fp = io.BytesIO(data)
    out = []
    while fp.tell() < len(data):
        start = fp.tell()
        cbor2.CBORDecoder(fp).decode()
        out.append(data[start:fp.tell()])
    return out


def test_bundle_is_the_pull_and_verifies(trail, pki, tmp_path):
    b, staff, auditor, ids = trail
    f = tmp_path / "q.bundle"
    obj = pull_raw(auditor, f, "--from-seq", "0", "--to-seq", "15")
    assert obj["file"] == str(f) and obj["count"] == 16
    assert f.stat().st_mode & 0o777 == 0o600
    items = items_of(f.read_bytes())
    assert items[0]["op"] == "audit_head"
    assert items[-1] == {"op": "audit_done", "id": items[0]["id"],
                         "count": 16}
    # The file is the broker's answer byte for byte: the same request
    # over a raw connection gets the same items (but a fresher checkpoint
    # and a later tree size, as the pull is itself recorded).
    with raw_client(pki, b, user=AUDITOR) as rc:
        rc.hello()
        rid = rc.request("audit_pull", from_seq=0, to_seq=15)
        got = []
        while True:
            item = rc.recv()
            got.append(item)
            if isinstance(item, dict) and item["op"] in ("audit_done",
                                                         "error"):
                break
    assert got[-1]["op"] == "audit_done" and got[-1]["id"] == rid
    assert [x for x in got if isinstance(x, bytes)] == \
        [x for x in items if isinstance(x, bytes)]

    rc_, res = verify(auditor, f, verifier_key(b))
    assert rc_ == EXIT_OK, res
    assert res["ok"] is True and res["records"] == 16
    assert res["from_seq"] == 0

    # The same period pulled into a directory verifies the same way.
    d = tmp_path / "dir"
    pull(auditor, d, "--from-seq", "0", "--to-seq", "15")
    assert b"".join(raw for raw, _ in records_of(d)) == b"".join(
        x for x in items if isinstance(x, bytes))

    # show and export read the file like a directory.
    rc_, out, err = audit(auditor, "show", ids[0], f)
    assert rc_ == EXIT_OK, err
    assert "accept" in out and "stored" in out
    rc_, out, err = audit(auditor, "export", f, "--format", "jsonl")
    assert rc_ == EXIT_OK, err
    assert len(out.splitlines()) == 16


def tamper(path, fn):
    data = path.read_bytes()
    path.write_bytes(fn(data))


def test_flipped_byte_in_a_record_is_named(trail, tmp_path):
    b, staff, auditor, ids = trail
    f = tmp_path / "q.bundle"
    pull_raw(auditor, f, "--from-seq", "0")
    data = bytearray(f.read_bytes())
    recs = [r for x in items_of(bytes(data)) if isinstance(x, bytes)
            for r in split_records(x)]
    bad = next(n for n, r in enumerate(recs) if b"report-1.txt" in r)
    i = data.index(b"report-1.txt") + 7
    data[i] ^= 0x01
    f.write_bytes(bytes(data))
    rc, res = verify(auditor, f, verifier_key(b))
    assert rc == EXIT_INVALID, res
    assert res["ok"] is False and res["fault"] == "changed", res
    assert res["seq"] == bad, res
    assert "changed" in res["message"]


def test_truncated_bundle_fails(trail, tmp_path):
    b, staff, auditor, ids = trail
    f = tmp_path / "q.bundle"
    obj = pull_raw(auditor, f, "--from-seq", "0")
    whole = f.read_bytes()
    for cut in (len(whole) - 3, len(whole) // 2):
        f.write_bytes(whole[:cut])
        rc, res = verify(auditor, f, verifier_key(b))
        assert rc == EXIT_INVALID, res
        assert res["ok"] is False and res["fault"] == "missing", res
        assert "cut" in res["message"] or "missing" in res["message"], res
        if cut == len(whole) // 2:
            assert res["seq"] < obj["count"], res
    # Cut right after the head: nothing of the records.
    head_len = len(cbor2.dumps(items_of(whole)[0]))
    f.write_bytes(whole[:head_len])
    rc, res = verify(auditor, f, verifier_key(b))
    assert rc == EXIT_INVALID and res["fault"] == "missing", res
    assert res["seq"] == 0, res
    # Not a bundle at all.
    for junk in (b"", b"hello\n"):
        f.write_bytes(junk)
        rc, out, err = audit(auditor, "verify", f, "--key", verifier_key(b))
        assert rc == 2, (rc, out, err)
        assert "neither a pulled directory nor a pull saved as one file" \
            in err


def test_record_removed_from_bundle_is_named(trail, tmp_path):
    """A careful forger removes record 9 and fixes every count, the leaf
    hashes and the framing: the signed checkpoint still names the hole."""
    b, staff, auditor, ids = trail
    f = tmp_path / "q.bundle"
    pull_raw(auditor, f, "--from-seq", "0")
    items = items_of(f.read_bytes())
    out = []
    seq = 0
    for i, x in enumerate(items):
        if isinstance(x, dict) and x["op"] == "audit_records":
            recs = split_records(items[i + 1])
            first = x["from_seq"]
            if first <= 9 < first + len(recs):
                k = 9 - first
                del recs[k]
                leaves = x["leaves"][:32 * k] + x["leaves"][32 * (k + 1):]
                x = dict(x, count=x["count"] - 1, leaves=leaves)
                items[i + 1] = b"".join(recs)
            seq += x["count"]
        elif isinstance(x, dict) and x["op"] == "audit_head":
            x = dict(x, count=x["count"] - 1)
        elif isinstance(x, dict) and x["op"] == "audit_done":
            x = dict(x, count=seq)
        out.append(cbor2.dumps(x))
    f.write_bytes(b"".join(out))
    rc, res = verify(auditor, f, verifier_key(b))
    assert rc == EXIT_INVALID, res
    assert res["fault"] == "missing" and res["seq"] == 9, res

    # Removing the record's bytes without fixing the framing breaks it.
    g = tmp_path / "naive.bundle"
    pull_raw(auditor, g, "--from-seq", "0")
    data = g.read_bytes()
    items = items_of(data)
    recs = split_records(next(x for x in items if isinstance(x, bytes)))
    g.write_bytes(data.replace(recs[3], b"", 1))
    rc, res = verify(auditor, g, verifier_key(b))
    assert rc == EXIT_INVALID, res
    assert res["ok"] is False and res["fault"] in ("missing", "malformed"), \
        res
    assert res["seq"] == 3, res


def test_pull_by_dates_of_the_register_zone(trail, pki, tmp_path):
    """The browser's date fields give dates (a whole day in the register's
    zone, Asia/Tokyo by default) or times with an offset; a pull takes
    them as it takes UTC times."""
    import datetime

    b, staff, auditor, ids = trail
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    today = datetime.datetime.now(tokyo).date()

    def answer(**fields):
        with raw_client(pki, b, user=AUDITOR) as c:
            c.hello()
            c.request("audit_pull", **fields)
            items = []
            while True:
                item = c.recv()
                items.append(item)
                if isinstance(item, dict) and item["op"] in ("audit_done",
                                                             "error"):
                    return items

    items = answer(since=today.isoformat(), until=today.isoformat())
    assert items[0]["op"] == "audit_head", items[0]
    assert items[0]["count"] > 10 and items[-1]["op"] == "audit_done"
    # The period is the Tokyo day: its start is 15:00 UTC the day before.
    items = answer(since=today.isoformat())
    assert items[0]["from_seq"] == 0
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    items = answer(since=tomorrow)
    assert items[0]["count"] == 0
    items = answer(since=f"{today.isoformat()}T00:00:00+09:00")
    assert items[0]["count"] > 10
    items = answer(since="2026-02-30")
    assert items[-1]["op"] == "error" and items[-1]["field"] == "since"
    assert "register" in items[-1]["message"]
    pulls = [r for r in b.audit_records() if r["type"] == "audit_pull"]
    # Recorded as the UTC instants the dates stand for.
    assert pulls[0]["details"]["since"].endswith("T15:00:00Z")
    assert pulls[0]["details"]["until"].endswith("T14:59:59Z")
