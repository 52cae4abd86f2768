"""The auditor's search and CSV export in the broker (ops audit_search and
audit_csv, the browser's audit pages), over sekisho/1: only auditors;
filters by user, interface, transfer, type and period; paging with after;
a transfer's timeline in order; the CSV in the register's local time with
Japanese headings, a byte order mark and formulas defused, the same rows
the client's export writes; bad requests refused with the field named."""

import csv
import datetime
import io
import re
import time

import pytest

from audit_fixtures import (AUDITOR, audit, pull, start_broker, upload)
from conftest import raw_client

TOKYO = datetime.timezone(datetime.timedelta(hours=9))


@pytest.fixture
def trail(broker, client, pki, tmp_path):
    """Uploads by alice (one with a file name a spreadsheet would run) and
    bob; an auditor."""
    b = start_broker(broker, pki)
    alice = client(b)
    bob = client(b, user="bob")
    ids = []
    for i, name in enumerate(["report-0.txt", "=1+2.txt", "@SUM.txt"]):
        f = tmp_path / name
        f.write_bytes(f"報告書 {i}\n".encode())
        ids.append(upload(alice, f))
    f = tmp_path / "bob.txt"
    f.write_bytes(b"bob\n")
    bob_id = upload(bob, f)
    return b, alice, bob, ids, bob_id


def request(pki, b, op, as_user=AUDITOR, **fields):
    """Sends one request on a fresh connection; the items of the answer up
    to the one that ends it."""
    with raw_client(pki, b, user=as_user) as c:
        c.hello()
        rid = c.request(op, **fields)
        items = []
        while True:
            item = c.recv()
            assert item is not None, items
            items.append(item)
            if isinstance(item, dict):
                # A message the schema refuses is a protocol error: id 0.
                assert item["id"] == rid or item["op"] == "error" and \
                    item["id"] == 0, item
                if item["op"] in ("listed", "audit_done", "error"):
                    return items


def search(pki, b, **fields):
    items = request(pki, b, "audit_search", **fields)
    assert items[-1]["op"] == "listed", items[-1]
    recs = items[:-1]
    assert all(r["op"] == "audit_record" for r in recs)
    assert items[-1]["count"] == len(recs)
    return recs, items[-1].get("next")


def trail_records(b):
    return b.audit_records()


def test_only_auditors_may_search_or_export(trail, pki):
    b, alice, bob, ids, bob_id = trail
    for op in ("audit_search", "audit_csv"):
        items = request(pki, b, op, as_user="alice@T001")
        assert items[-1]["op"] == "error", items
        assert items[-1]["code"] == "forbidden"
        assert "auditor" in items[-1]["message"]
    # The refusal is recorded by a job of its own: wait for it, briefly.
    deadline = time.monotonic() + 5
    while True:
        refused = [r for r in trail_records(b)
                   if r["type"] == "audit_pull_refused"]
        if len(refused) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(refused) == 2
    assert refused[0]["actor"]["user"] == "alice"
    assert "search" in refused[0]["details"]["reason"]
    assert "export" in refused[1]["details"]["reason"]


def test_timeline_of_a_transfer(trail, pki):
    b, alice, bob, ids, bob_id = trail
    recs, nxt = search(pki, b, transfer=ids[1])
    assert nxt is None
    want = [r for r in trail_records(b)
            if r["subject"].get("transfer") == ids[1]]
    assert [r["seq"] for r in recs] == [r["seq"] for r in want]
    assert [r["type"] for r in recs][:1] == ["accept"]
    assert "stored" in [r["type"] for r in recs]
    stored = next(r for r in recs if r["type"] == "stored")
    src = next(r for r in want if r["type"] == "stored")
    # Flattened: text and numbers, hashes as bytes; local time in the
    # register's zone (Asia/Tokyo by default).
    assert stored["user"] == "alice" and stored["dept"]
    assert stored["interface"] == "IF-2026-001"
    assert stored["size"] == src["details"]["size"]
    assert stored["sha256"] == src["details"]["sha256"]
    assert stored["time"] == src["time"]
    utc = datetime.datetime.strptime(src["time"], "%Y-%m-%dT%H:%M:%SZ") \
        .replace(tzinfo=datetime.timezone.utc)
    assert stored["time_local"] == utc.astimezone(TOKYO).isoformat()
    assert stored["zone"] == "Asia/Tokyo"
    accept = next(r for r in recs if r["type"] == "accept")
    assert accept["name"] == "=1+2.txt" and accept["class"] == 1
    assert '"purpose":"audit trail test"' in accept["details"]
    # Nothing of a certificate's private side, no secrets: the fields are
    # the record's own.
    assert set(stored) <= {
        "op", "id", "seq", "time", "time_local", "zone", "clock", "type",
        "user", "dept", "terminal", "cert_fp", "peer", "transfer",
        "interface", "service", "class", "name", "size", "sha256", "state",
        "result", "reason", "comment", "details", "truncated"}


def test_filters(trail, pki):
    b, alice, bob, ids, bob_id = trail
    every = trail_records(b)
    recs, _ = search(pki, b, user="bob", limit=500)
    assert recs and all(r["user"] == "bob" for r in recs)
    assert [r["seq"] for r in recs] == [
        r["seq"] for r in every if r["actor"].get("user") == "bob"]
    recs, _ = search(pki, b, type="stored", limit=500)
    assert sorted(r["transfer"] for r in recs) == sorted(ids + [bob_id])
    recs, _ = search(pki, b, type="stored", user="alice", limit=500)
    assert sorted(r["transfer"] for r in recs) == sorted(ids)
    recs, _ = search(pki, b, interface="IF-2026-001", type="accept")
    assert len(recs) == 4
    recs, _ = search(pki, b, interface="IF-NONE")
    assert recs == []
    # A period: today in the register's zone holds them; tomorrow none.
    today = datetime.datetime.now(TOKYO).date()
    recs, _ = search(pki, b, type="stored", since=today.isoformat(),
                     until=today.isoformat())
    assert len(recs) == 4
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    recs, nxt = search(pki, b, since=tomorrow)
    assert recs == [] and nxt is None
    recs, _ = search(pki, b, type="stored",
                     until="2000-01-01T00:00:00+09:00")
    assert recs == []
    recs, _ = search(pki, b, type="stored",
                     since=time.strftime("%Y-%m-%dT00:00:00Z",
                                         time.gmtime(time.time() - 86400)))
    assert len(recs) == 4
    # The search itself is recorded, with its filters.
    done = [r for r in trail_records(b) if r["type"] == "audit_search"]
    assert done and done[0]["actor"]["user"] == AUDITOR
    assert done[0]["details"]["user"] == "bob"


def test_paging_with_after(trail, pki):
    b, alice, bob, ids, bob_id = trail
    whole, nxt = search(pki, b, user="alice", limit=500)
    assert nxt is None and len(whole) > 7
    got, after, pages = [], None, 0
    while True:
        fields = {"user": "alice", "limit": 3}
        if after is not None:
            fields["after"] = int(after)
        recs, after = search(pki, b, **fields)
        pages += 1
        assert len(recs) <= 3
        got += recs
        if after is None:
            break
        assert int(after) == recs[-1]["seq"]
    assert [r["seq"] for r in got] == [r["seq"] for r in whole]
    assert pages >= 3
    # Past the end: nothing, no next.
    recs, nxt = search(pki, b, after=10 ** 9)
    assert recs == [] and nxt is None
    recs, nxt = search(pki, b, after=2 ** 64 - 1)
    assert recs == [] and nxt is None


@pytest.mark.parametrize("fields,field", [
    ({"limit": 501}, "limit"),
    ({"limit": 0}, "limit"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-01"}, "until"),
    ({"since": "2026-04-02", "until": "2026-04-01"}, "until"),
    ({"user": ""}, "user"),
    ({"transfer": "not-an-id"}, "transfer"),
    ({"type": "x" * 33}, "type"),
    ({"colour": "red"}, "colour"),
])
def test_bad_search_is_refused(trail, pki, fields, field):
    b, alice, bob, ids, bob_id = trail
    items = request(pki, b, "audit_search", **fields)
    err = items[-1]
    assert err["op"] == "error", items
    assert err.get("field") == field, err
    assert err["code"] in ("bad_value", "too_large", "unknown_field"), err
    assert len(err["message"]) > 10


def test_csv_in_local_time_with_japanese_headings(trail, client, pki,
                                                  tmp_path):
    b, alice, bob, ids, bob_id = trail
    items = request(pki, b, "audit_csv", header="ja")
    head, data, done = items[0], items[1:-1], items[-1]
    assert head["op"] == "audit_csv_head", head
    assert head["content_type"] == "text/csv; charset=utf-8"
    today = datetime.datetime.now(TOKYO).strftime("%Y%m%d")
    assert head["filename"] == f"sekisho-audit-start-{today}.csv"
    assert head["zone"] == "Asia/Tokyo"
    assert all(isinstance(x, bytes) for x in data)
    assert done["op"] == "audit_done"
    raw = b"".join(data)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"),
                                       newline="")))
    assert rows[0][:6] == ["通番", "日時(UTC)", "時刻同期", "種別", "利用者",
                           "所属"]
    assert rows[0][14] == "日時" and rows[0][16] == "ファイル名"
    assert len(rows) - 1 == done["count"] > 15
    every = {r["seq"]: r for r in trail_records(b)}
    for row in rows[1:]:
        rec = every[int(row[0])]
        assert row[1] == rec["time"] and row[3] == rec["type"]
        utc = datetime.datetime.strptime(rec["time"],
                                         "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        assert row[14] == utc.astimezone(TOKYO).isoformat()
    # Formulas are defused: the file names keep their text after a '.
    names = [row[16] for row in rows[1:] if row[3] == "accept"]
    assert "'=1+2.txt" in names and "'@SUM.txt" in names
    assert "report-0.txt" in names
    assert b"\r\n" in raw and raw.endswith(b"\r\n")

    # English headings: no byte order mark; a period by dates.
    day = datetime.datetime.now(TOKYO).date().isoformat()
    items = request(pki, b, "audit_csv", since=day, until=day)
    head = items[0]
    assert head["filename"] == f"sekisho-audit-{today}-{today}.csv"
    raw = b"".join(x for x in items[1:-1])
    assert raw.startswith(b"seq,time,clock,type,user,dept,")
    assert items[-1]["count"] == len(raw.decode().splitlines()) - 1
    items = request(pki, b, "audit_csv", since="2099-01-01")
    assert items[-1] == {"op": "audit_done", "id": items[-1]["id"],
                         "count": 0}
    items = request(pki, b, "audit_csv", header="fr")
    assert items[-1]["op"] == "error" and items[-1]["field"] == "header"

    # One implementation: the client's export of a pull gives the same rows.
    d = tmp_path / "pull"
    pull(client(b, user=AUDITOR), d, "--from-seq", "0")
    out = tmp_path / "export.csv"
    rc, _, err = audit(client(b, user=AUDITOR), "export", d, "--format",
                       "csv", "--header", "ja", "--zone", "Asia/Tokyo",
                       "--output", out)
    assert rc == 0, err
    mine = list(csv.reader(io.StringIO(out.read_bytes()[3:].decode(),
                                       newline="")))
    items = request(pki, b, "audit_csv", header="ja")
    theirs = list(csv.reader(io.StringIO(
        b"".join(items[1:-1])[3:].decode(), newline="")))
    assert mine[0] == theirs[0]
    n = min(len(mine), len(theirs))
    assert n > 15 and mine[1:n] == theirs[1:n]


def test_csv_filename_and_records(trail, pki):
    b, alice, bob, ids, bob_id = trail
    request(pki, b, "audit_csv", since="2026-01-01", until="2026-01-31")
    rec = [r for r in trail_records(b) if r["type"] == "audit_csv"]
    assert rec and rec[-1]["actor"]["user"] == AUDITOR
    # The period as the UTC instants the register's days stand for.
    assert rec[-1]["details"]["since"] == "2025-12-31T15:00:00Z"
    assert rec[-1]["details"]["until"] == "2026-01-31T14:59:59Z"
    assert re.fullmatch(r"\d+", str(rec[-1]["details"]["to_seq"]))


def test_search_work_is_bounded_and_resumable(broker, client, pki, tmp_path,
                                              monkeypatch):
    """A search reads a bounded number of records per request (here 7, by
    a test hook; 50,000 in a real broker): a rare match over a longer
    trail comes in several answers, each with next, none lost."""
    monkeypatch.setenv("SEKISHO_TEST_SEARCH_SCAN", "7")
    b = start_broker(broker, pki)
    alice = client(b)
    ids = []
    for i in range(3):
        f = tmp_path / f"r{i}.txt"
        f.write_bytes(b"x" * (i + 1))
        ids.append(upload(alice, f))
    want = [r["seq"] for r in b.audit_records() if r["type"] == "stored"]
    got, after, answers, first = [], None, 0, None
    while True:
        fields = {"type": "stored", "limit": 500}
        if after is not None:
            fields["after"] = int(after)
        recs, after = search(pki, b, **fields)
        answers += 1
        if first is None:
            first = (len(recs), after)
        got += [r["seq"] for r in recs]
        if after is None:
            break
        assert answers < 100
    assert got == want
    # The first answer read only 7 records: not all matches, a next.
    assert first[0] < len(want) and first[1] is not None
    assert answers >= len(want)


def test_personal_numbers_never_shown(trail, pki, tmp_path):
    """A personal number (個人番号) typed into a file name or a purpose is
    in the trail as typed (the evidence keeps its bytes), but the search
    and the CSV show its digits as '*'."""
    b, alice, bob, ids, bob_id = trail
    f = tmp_path / "個人番号_123456789018.txt"
    f.write_bytes(b"x\n")
    rc, obj, err = alice.json("put", f, "--to", "IF-2026-001", "--class",
                              1, "--purpose", "番号 1234-5678-9018 の照会")
    assert rc == 0, (rc, obj, err)
    tid = obj["transfer"]
    raw = [r for r in trail_records(b) if r["subject"].get("transfer") == tid]
    assert raw[0]["details"]["name"] == "個人番号_123456789018.txt"
    recs, _ = search(pki, b, transfer=tid)
    accept = next(r for r in recs if r["type"] == "accept")
    assert accept["name"] == "個人番号_************.txt"
    assert "****-****-****" in accept["details"]
    for r in recs:
        for v in r.values():
            s = v if isinstance(v, str) else ""
            assert "123456789018" not in s and "5678-9018" not in s, r
    items = request(pki, b, "audit_csv", header="ja")
    text = b"".join(items[1:-1]).decode()
    assert "個人番号_************.txt" in text
    assert "123456789018" not in text and "1234-5678-9018" not in text
