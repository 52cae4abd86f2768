"""The request-layer views the browser pages use, at the CBOR level
(docs/protocol.md, "Own transfers and held files"):

- interfaces_ls: the interfaces the certificate's principal may use under
  the register in force, with their rules;
- transfers_ls: the caller's own transfers, newest first, paged;
- withdraw: the owner ends a held or still partial transfer (audited,
  spool copy removed), never a stored, queued or delivered one;
- held_open: an approval officer of the transfer's approver group, after
  a step-up, reads a held copy (audited before the first byte; checked
  against its SHA-256 before the last chunk leaves).

Real processes, real certificates and TOTP codes, 127.0.0.1 only."""

import hashlib
import os
import time

import cbor2
import pytest

from approvals_fixtures import (  # noqa: F401  (fixtures)
    nginx, officer_pki, officers)
from conftest import raw_client

REGISTER = {
    "principals": {
        "users": [
            {"id": "alice", "department": "soumu", "roles": ["staff"]},
            {"id": "bob", "department": "kikaku", "roles": ["staff"]},
        ],
        "groups": [{"id": "g-ok", "users": ["alice", "bob"]}],
        "terminals": [{"id": "T001"}, {"id": "T009"}],
    },
    "interfaces": [
        {"id": "IF-A", "purpose": "月次報告の提出", "max_class": 2,
         "default_class": 1, "max_size": "10MiB",
         "allow": {"users": ["alice"]},
         "schedule": {"days": "mon-fri", "hours": "08:00-18:00"},
         "extensions": {"allow": ["pdf", "csv"]},
         "step_up": {"when": "class>=2"},
         "approval": {"when": "class>=2", "approvers": "g-ok",
                      "count": 1}},
        {"id": "IF-B", "max_class": 1, "allow": {"users": ["alice"]}},
        {"id": "IF-C", "max_class": 1, "allow": {"users": ["alice"]},
         "extensions": {"allow": [f"e{i:02d}" for i in range(20)]}},
        {"id": "IF-BOB", "max_class": 1, "allow": {"users": ["bob"]}},
        {"id": "IF-OLD", "max_class": 1, "allow": {"users": ["alice"]},
         "valid_until": "2020-01-01"},
        {"id": "IF-NO", "max_class": 1, "allow": {"users": ["alice"]}},
        {"id": "IF-T9", "max_class": 1,
         "allow": {"users": ["alice"], "terminals": ["T009"]}},
    ],
    "forbids": [{"id": "FB-NO", "interfaces": ["IF-NO"],
                 "users": ["alice"]}],
}


def ask(c, op, **fields):
    """Sends a request; returns the answers up to the first that is not an
    item of a list or a data item (listed, error, ...)."""
    rid = c.request(op, **fields)
    out = []
    while True:
        m = c.recv(timeout=20)
        assert m is not None, f"connection closed after {out}"
        if isinstance(m, dict):
            assert m["id"] == rid, m
        out.append(m)
        if isinstance(m, dict) and m["op"] not in ("interface", "state",
                                                   "file"):
            return out
        if isinstance(m, dict) and m["op"] == "state" and \
                op in ("withdraw",):
            return out


def one(c, op, **fields):
    got = ask(c, op, **fields)
    assert len(got) == 1, got
    return got[0]


def test_interfaces_ls_lists_what_the_caller_may_use(pki, broker):
    b = broker(register=REGISTER)
    with raw_client(pki, b) as c:
        c.hello()
        got = ask(c, "interfaces_ls")
        items, end = got[:-1], got[-1]
        # Not IF-BOB (not hers), IF-OLD (expired), IF-NO (forbidden),
        # IF-T9 (another terminal).
        assert [i["interface"] for i in items] == ["IF-A", "IF-B", "IF-C"]
        assert end["op"] == "listed" and end["count"] == 3
        assert "next" not in end
        a = items[0]
        assert a["title"] == "月次報告の提出"
        assert a["classes"] == ["1", "2"]
        assert a["default_class"] == 1
        assert a["max_size"] == 10 * 1024 * 1024
        assert a["hours"].startswith("Mon-Fri 08:00-18:00")
        assert a["extensions"] == ["csv", "pdf"]
        assert a["approval"] is True and a["approvals_required"] == 1
        assert a["stepup"] is True
        bb = items[1]
        assert bb["classes"] == ["1"]
        assert bb["approval"] is False and bb["stepup"] is False
        for k in ("max_size", "hours", "extensions", "default_class",
                  "destination", "approvals_required"):
            assert k not in bb, (k, bb)
        # A longer allow list than one item carries says so.
        cc = items[2]
        assert cc["extensions"] == [f"e{i:02d}" for i in range(16)]
        assert cc["extensions_more"] is True
        assert "extensions_more" not in a

        # Paging by interface id.
        got = ask(c, "interfaces_ls", limit=1)
        assert [i["interface"] for i in got[:-1]] == ["IF-A"]
        assert got[-1] == {"op": "listed", "id": got[-1]["id"], "count": 1,
                           "next": "IF-A"}
        got = ask(c, "interfaces_ls", limit=1, after="IF-A")
        assert [i["interface"] for i in got[:-1]] == ["IF-B"]
        assert got[-1]["next"] == "IF-B"
        got = ask(c, "interfaces_ls", limit=2, after="IF-B")
        assert [i["interface"] for i in got[:-1]] == ["IF-C"]
        assert "next" not in got[-1]
        err = one(c, "interfaces_ls", after="../x")
        assert err["op"] == "error" and err["code"] == "bad_value"
        assert err["field"] == "after"

    # Bob sees his own only.
    with raw_client(pki, b, user="bob") as c:
        c.hello()
        got = ask(c, "interfaces_ls")
        assert [i["interface"] for i in got[:-1]] == ["IF-BOB"]

    # Over the page bound: refused by the schema, nothing listed.
    with raw_client(pki, b) as c:
        c.hello()
        c.request("interfaces_ls", limit=201)
        err = c.recv()
        assert err["op"] == "error" and err["code"] == "bad_value"
        assert err["field"] == "limit"


def upload_raw(pki, b, user, interface, data, name="a.pdf", cls=1,
               close_after=None):
    """Uploads data over sekisho/1; returns the transfer id. close_after:
    stop after that many bytes and drop the connection (a partial)."""
    c = raw_client(pki, b, user=user)
    try:
        c.hello()
        rid = c.request("put", interface=interface, name=name,
                        size=len(data), **{"class": cls},
                        purpose="monthly report")
        ready = c.recv()
        assert ready["op"] == "ready" and ready["id"] == rid, ready
        tid = ready["transfer"]
        if close_after is not None:
            c.send_raw(cbor2.dumps(data[:close_after]))
            return tid, c
        for off in range(0, len(data), 1 << 20):
            c.send_raw(cbor2.dumps(data[off:off + (1 << 20)]))
        rid = c.request("end", sha256=hashlib.sha256(data).digest())
        stored = c.recv()
        assert stored["op"] == "stored", stored
        return tid, None
    finally:
        if close_after is None:
            c.close()


def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout}s")


def test_transfers_ls_own_newest_first_paged(officers, officer_pki):
    o = officers(upstream=False)
    pki, b = officer_pki, o.broker
    ids = []
    for i in range(3):
        ids.append(upload_raw(pki, b, "u-staff@T100", "IF-HOLD",
                              f"report {i}\n".encode(),
                              name=f"r{i}.pdf")[0])
        if i == 0:
            time.sleep(1.1)       # a later second than the first

    other = upload_raw(pki, b, "u-staff2", "IF-HOLD", b"not yours\n")[0]
    with raw_client(pki, b, user="u-staff@T100") as c:
        c.hello()
        got = ask(c, "transfers_ls")
        items, end = got[:-1], got[-1]
        # Newest first: by creation second, then by id within a second.
        keys = [(i["created"], i["transfer"]) for i in items]
        assert keys == sorted(keys, reverse=True)
        order = [i["transfer"] for i in items]
        assert sorted(order) == sorted(ids) and order[-1] == ids[0]
        assert end["op"] == "listed" and end["count"] == 3
        assert "next" not in end
        first = items[-1]
        assert first["op"] == "state" and first["state"] == "held"
        assert first["name"] == "r0.pdf" and first["interface"] == "IF-HOLD"
        assert first["size"] == first["received"] == len(b"report 0\n")
        assert first["sha256"] == hashlib.sha256(b"report 0\n").digest()
        assert first["approval"] == "pending"
        assert (first["approvals"], first["required"]) == (0, 1)

        got = ask(c, "transfers_ls", limit=2)
        assert [i["transfer"] for i in got[:-1]] == order[:2]
        assert got[-1]["next"] == order[1]
        got = ask(c, "transfers_ls", limit=2, after=order[1])
        assert [i["transfer"] for i in got[:-1]] == [ids[0]]
        assert "next" not in got[-1]

        # Someone else's transfer is no page mark; a bad id is refused.
        err = one(c, "transfers_ls", after=other)
        assert err["op"] == "error" and err["code"] == "bad_value"
        assert err["field"] == "after"
        err = one(c, "transfers_ls", after="nope")
        assert err["code"] == "bad_value"
    with raw_client(pki, b, user="u-staff2") as c:
        c.hello()
        got = ask(c, "transfers_ls")
        assert [i["transfer"] for i in got[:-1]] == [other]
    with raw_client(pki, b, user="u-staff2") as c:
        c.hello()
        c.request("transfers_ls", limit=201)
        err = c.recv()
        assert err["code"] == "bad_value" and err["field"] == "limit"
        assert c.recv() is None       # a schema violation ends it


def test_withdraw_held(officers, officer_pki):
    o = officers(upstream=False)
    pki, b = officer_pki, o.broker
    tid = upload_raw(pki, b, "u-staff@T100", "IF-HOLD", b"held bytes\n")[0]
    assert tid in b.spool_entries()

    # Not the owner: as if it did not exist, nothing changed.
    with raw_client(pki, b, user="u-staff2") as c:
        c.hello()
        err = one(c, "withdraw", transfer=tid)
        assert err["code"] == "not_found" and err["field"] == "transfer"
    assert tid in b.spool_entries()
    assert o.status("u-staff", tid)["state"] == "held"

    with raw_client(pki, b, user="u-staff@T100") as c:
        c.hello()
        st = one(c, "withdraw", transfer=tid, reason="宛先を誤りました")
        assert st["op"] == "state" and st["state"] == "withdrawn", st
        assert st["approval"] == "withdrawn"
        assert "宛先を誤りました" in st["error"]
        # Twice: the state is wrong now.
        err = one(c, "withdraw", transfer=tid)
        assert err["code"] == "wrong_state", err
        assert "withdrawn" in err["message"]
        err = one(c, "withdraw", transfer="0" * 32)
        assert err["code"] == "not_found"
        err = one(c, "withdraw", transfer="../../etc")
        assert err["code"] == "bad_value"
    assert tid not in b.spool_entries()
    rec = o.wait_records("withdrawn")
    assert len(rec) == 1
    assert rec[0]["actor"]["user"] == "u-staff"
    assert rec[0]["subject"]["transfer"] == tid
    assert rec[0]["details"]["reason"] == "宛先を誤りました"
    assert rec[0]["details"]["previous_state"] == "held"
    # Officers no longer see it.
    rc, ls, err = o.json("u-off1", "approvals", "ls", otp=True)
    assert rc == 0, (ls, err)
    assert ls["count"] == 0

    # The next start does not count it as lost.
    b.stop()
    b.start()
    assert o.status("u-staff", tid)["state"] == "withdrawn"


def test_withdraw_partial_and_busy(officers, officer_pki):
    o = officers(upstream=False)
    pki, b = officer_pki, o.broker
    data = os.urandom(256 * 1024)
    tid, live = upload_raw(pki, b, "u-staff@T100", "IF-HOLD", data,
                           close_after=64 * 1024)
    try:
        # Attached to a live connection: refused, nothing changed.
        with raw_client(pki, b, user="u-staff@T100") as c:
            c.hello()
            err = one(c, "withdraw", transfer=tid)
            assert err["code"] == "busy", err
            assert err["transfer"] == tid
    finally:
        live.close()
    wait_for(lambda: o.status("u-staff", tid)["state"] == "receiving" and
             f"{tid}.part" in b.spool_entries(), what="partial")
    with raw_client(pki, b, user="u-staff@T100") as c:
        c.hello()
        # The broker detaches the dropped upload soon after the abort.
        deadline = time.monotonic() + 15
        while True:
            st = one(c, "withdraw", transfer=tid)
            if st["op"] == "state" or time.monotonic() > deadline:
                break
            assert st["code"] == "busy", st
            time.sleep(0.1)
        assert st["op"] == "state" and st["state"] == "withdrawn", st
    assert f"{tid}.part" not in b.spool_entries()
    rec = o.wait_records("withdrawn")
    assert rec[0]["details"]["previous_state"] == "receiving"


def test_withdraw_refused_once_released(officers, officer_pki):
    o = officers()
    pki, b = officer_pki, o.broker
    tid = upload_raw(pki, b, "u-staff@T100", "IF-HOLD", b"go\n")[0]
    rc, dec, err = o.json("u-off1", "approvals", "approve", tid, otp=True)
    assert rc == 0, (dec, err)
    st = o.wait_state("u-staff", tid, ("delivered", "failed"))
    assert st["state"] == "delivered", st
    with raw_client(pki, b, user="u-staff@T100") as c:
        c.hello()
        err = one(c, "withdraw", transfer=tid)
        assert err["code"] == "wrong_state", err
        got = ask(c, "transfers_ls")
        item = got[0]
        assert item["transfer"] == tid and item["state"] == "delivered"
        assert item["destination"].startswith(o.upstream.endpoint.rstrip(
            "/")), item
        assert item["approval"] == "approved"
        # Interfaces name the service they deliver to.
        got = ask(c, "interfaces_ls")
        hold = [i for i in got[:-1] if i["interface"] == "IF-HOLD"][0]
        assert hold["destination"] == "dav"
        assert hold["approval"] is True and hold["approvals_required"] == 1
    assert o.records("withdrawn") == []


def held_open(c, tid, otp=None):
    """(head, data bytes, end message) of a held_open."""
    fields = {"transfer": tid}
    if otp is not None:
        fields["otp"] = otp
    rid = c.request("held_open", **fields)
    head = c.recv(timeout=20)
    assert head["id"] == rid
    if head["op"] != "file":
        return head, b"", None
    data = b""
    while True:
        m = c.recv(timeout=20)
        assert m is not None
        if isinstance(m, bytes):
            assert len(m) <= 1 << 20
            data += m
            continue
        return head, data, m


def test_held_open(officers, officer_pki):
    o = officers(upstream=False)
    pki, b = officer_pki, o.broker
    data = os.urandom(2 * 1024 * 1024 + 12345)
    tid = upload_raw(pki, b, "u-staff@T100", "IF-HOLD", data,
                     name="dir/申請書.pdf")[0]
    # Not an officer.
    with raw_client(pki, b, user="u-staff@T100") as c:
        c.hello()
        err, _, _ = held_open(c, tid)
        assert err["code"] == "not_officer", err
    # An officer without a step-up.
    with raw_client(pki, b, user="u-off1") as c:
        c.hello()
        err, _, _ = held_open(c, tid)
        assert err["code"] == "step_up_required", err
    # An officer who is not one of its approvers.
    with raw_client(pki, b, user="u-off3") as c:
        c.hello()
        err, _, _ = held_open(c, tid, otp=o.code("u-off3"))
        assert err["code"] == "no_authority", err
    assert any(r["details"].get("op") == "held_open"
               for r in o.records("officer_refused"))
    assert o.records("held_open") == []

    with raw_client(pki, b, user="u-off1") as c:
        c.hello()
        head, got, end = held_open(c, tid, otp=o.code("u-off1"))
        assert head["op"] == "file", head
        assert head["name"] == "dir/申請書.pdf"
        assert head["filename"] == "申請書.pdf"
        assert head["content_type"] == "application/pdf"
        assert head["size"] == len(data)
        assert head["sha256"] == hashlib.sha256(data).digest()
        assert got == data
        assert end == {"op": "file_done", "id": head["id"],
                       "transfer": tid, "size": len(data)}
        # Unknown, and not held.
        err, _, _ = held_open(c, "0" * 32)
        assert err["code"] == "not_found", err
        # Office documents carry their long media types; active content
        # is never offered as something a browser would run.
        for name, ctype in (
                ("表.xlsx", "application/vnd.openxmlformats-officedocument."
                 "spreadsheetml.sheet"),
                ("page.html", "application/octet-stream")):
            other = upload_raw(pki, b, "u-staff@T100", "IF-HOLD", b"x\n",
                               name=name)[0]
            h, body, fin = held_open(c, other)
            assert h["op"] == "file", h
            assert h["content_type"] == ctype and h["filename"] == name
            assert body == b"x\n" and fin["op"] == "file_done"
    rec = [r for r in o.wait_records("held_open", 3)
           if r["subject"]["transfer"] == tid]
    assert len(rec) == 1
    assert rec[0]["actor"]["user"] == "u-off1"
    assert rec[0]["subject"]["transfer"] == tid
    assert rec[0]["details"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert rec[0]["details"]["bytes"] == len(data)
    # Still held: reading is not deciding.
    assert o.status("u-staff", tid)["state"] == "held"

    with raw_client(pki, b, user="u-staff@T100") as c:
        c.hello()
        assert one(c, "withdraw", transfer=tid)["state"] == "withdrawn"
    with raw_client(pki, b, user="u-off1") as c:
        c.hello()
        err, _, _ = held_open(c, tid)
        assert err["code"] == "wrong_state", err
        # Never held: not an officer's business.
        never = upload_raw(pki, b, "u-staff@T100", "IF-EX", b"plain\n")[0]
        err, _, _ = held_open(c, never)
        assert err["code"] == "not_found", err
    # Authority comes before the state: another group's officer learns
    # nothing about the transfer.
    with raw_client(pki, b, user="u-off3") as c:
        c.hello()
        err, _, _ = held_open(c, tid, otp=o.code("u-off3"))
        assert err["code"] == "no_authority", err


def test_held_open_damaged_copy_is_not_sent_whole(officers, officer_pki):
    o = officers(upstream=False)
    pki, b = officer_pki, o.broker
    data = b"%PDF-1.4 the original\n" * 100
    tid = upload_raw(pki, b, "u-staff@T100", "IF-HOLD", data)[0]
    path = b.spool / tid
    damaged = bytearray(data)
    damaged[-5] ^= 0x20
    path.write_bytes(bytes(damaged))
    with raw_client(pki, b, user="u-off1") as c:
        c.hello()
        head, got, end = held_open(c, tid, otp=o.code("u-off1"))
        assert head["op"] == "file", head
        # One chunk only, and it is held back: no byte of it was sent.
        assert got == b""
        assert end["op"] == "error" and end["code"] == "damaged", end
        assert "SHA-256" in end["message"]
    failed = o.wait_records("held_open_failed")
    assert failed and failed[0]["subject"]["transfer"] == tid
    assert failed[0]["details"]["bytes"] == 0
    assert "SHA-256" in failed[0]["details"]["reason"]


def test_cli_transfers_withdraw_and_open(officers, officer_pki, tmp_path):
    o = officers(upstream=False)
    pki, b = officer_pki, o.broker
    data = os.urandom(1500 * 1024)
    f = tmp_path / "申請書.pdf"
    f.write_bytes(data)
    tid = o.put("u-staff", f, "IF-HOLD")["transfer"]
    tid2 = o.put("u-staff", f, "IF-HOLD")["transfer"]

    rc, ls, err = o.json("u-staff", "transfers")
    assert rc == 0, (ls, err)
    assert ls["count"] == 2
    assert {t["transfer"] for t in ls["transfers"]} == {tid, tid2}
    assert ls["transfers"][0]["state"] == "held"
    assert ls["transfers"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    rc, out, err = o.run("u-staff", "transfers", "--limit", "1")
    assert rc == 0, err
    assert "more: sekisho transfers --after" in out
    rc, out, err = o.run("u-staff", "transfers", "--limit", "0")
    assert rc == 1 and "--limit" in err

    # The officer reads it before deciding; never over an existing file.
    dst = tmp_path / "out.pdf"
    rc, got, err = o.json("u-off1", "approvals", "open", tid, "-o",
                          str(dst), otp=True)
    assert rc == 0, (got, err)
    assert dst.read_bytes() == data
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    rc, out, err = o.run("u-off1", "approvals", "open", tid, "-o",
                         str(dst))
    assert rc == 2 and "exists" in err, (out, err)
    assert [p.name for p in tmp_path.iterdir()
            if p.name.startswith(".sekisho-open")] == []
    # Not one of its approvers: refused by policy, nothing written.
    rc, out, err = o.run("u-off3", "approvals", "open", tid, "-o",
                         str(tmp_path / "x.pdf"), otp=True)
    assert rc == 4, (out, err)
    assert "approvers" in err, err
    assert not (tmp_path / "x.pdf").exists()

    rc, st, err = o.json("u-staff", "withdraw", tid, "--reason", "誤送信")
    assert rc == 0, (st, err)
    assert st["state"] == "withdrawn"
    rc, out, err = o.run("u-staff", "withdraw", tid)
    assert rc == 5 and "is withdrawn" in err, (rc, out, err)
    rc, out, err = o.run("u-staff2", "withdraw", tid2)
    assert rc == 6, (rc, out, err)
    assert o.status("u-staff", tid2)["state"] == "held"


def test_held_open_connection_ends_mid_stream(officers, officer_pki):
    o = officers(upstream=False)
    pki, b = officer_pki, o.broker
    data = os.urandom(24 * 1024 * 1024)
    tid = upload_raw(pki, b, "u-staff@T100", "IF-HOLD", data)[0]
    c = raw_client(pki, b, user="u-off1")
    try:
        c.hello()
        c.request("held_open", transfer=tid, otp=o.code("u-off1"))
        head = c.recv(timeout=20)
        assert head["op"] == "file", head
        first = c.recv(timeout=20)
        assert isinstance(first, bytes) and len(first) == 1 << 20
    finally:
        c.close()
    # The broker paces the stream by the client's reading, so it cannot
    # have sent all of it to a client that stopped after one chunk.
    failed = o.wait_records("held_open_failed")
    assert failed, b.log_text()[-2000:]
    assert failed[0]["subject"]["transfer"] == tid
    assert 1 << 20 <= failed[0]["details"]["bytes"] < len(data)
    assert "connection ended" in failed[0]["details"]["reason"]
    # The copy stays held and readable.
    assert o.status("u-staff", tid)["state"] == "held"
    assert tid in b.spool_entries()


def test_transfers_ls_pages_over_batches(officers, officer_pki):
    """More transfers than the broker reads in one batch (25): a page is
    whole, in order, and paging ends exactly at the last one."""
    o = officers(upstream=False)
    pki, b = officer_pki, o.broker
    ids = []
    with raw_client(pki, b, user="u-staff2") as c:
        c.hello()
        for i in range(53):
            data = f"file {i}\n".encode()
            c.request("put", interface="IF-HOLD", name=f"f{i}.pdf",
                      size=len(data), purpose="p", **{"class": 1})
            ready = c.recv()
            assert ready["op"] == "ready", ready
            c.send_raw(cbor2.dumps(data))
            c.request("end", sha256=hashlib.sha256(data).digest())
            assert c.recv()["op"] == "stored"
            ids.append(ready["transfer"])
    with raw_client(pki, b, user="u-staff2") as c:
        c.hello()
        got = ask(c, "transfers_ls")
        items = got[:-1]
        assert got[-1]["count"] == 53 and "next" not in got[-1]
        keys = [(i["created"], i["transfer"]) for i in items]
        assert keys == sorted(keys, reverse=True)
        assert sorted(k[1] for k in keys) == sorted(ids)
        full = [k[1] for k in keys]
        seen, after = [], None
        while True:
            args = {"limit": 26}
            if after:
                args["after"] = after
            got = ask(c, "transfers_ls", **args)
            seen += [i["transfer"] for i in got[:-1]]
            assert got[-1]["count"] == len(got) - 1
            after = got[-1].get("next")
            if after is None:
                break
            assert after == seen[-1]
        assert seen == full
        # A page that ends exactly at the last transfer has no next.
        got = ask(c, "transfers_ls", limit=53)
        assert got[-1]["count"] == 53 and "next" not in got[-1]
        got = ask(c, "transfers_ls", limit=52)
        assert got[-1]["next"] == full[51]
