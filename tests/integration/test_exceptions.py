"""Exceptions (例外措置): staff request them, officers grant, refuse and
revoke them; an exception widens exactly what it says for exactly whom it
names, until its deadline or usage limit, never past class 3; revoking it
stops transfers still waiting under it; an emergency grant lapses unless
a second officer confirms it. Real certificates and TOTP codes; the
broker's clock is moved with the test hook."""

import csv
import io
import re
import time

import pytest

import approvals_fixtures
from approvals_fixtures import (  # noqa: F401  (fixtures)
    nginx, officer_pki, officers, webhook)
from conftest import EXIT_OK, EXIT_POLICY, EXIT_USAGE
from stepup_helpers import hooks_built

HOUR = 3600


def need_hooks():
    if not hooks_built():
        pytest.skip("needs a build with -Dtest_hooks=true "
                    "(SEKISHO_TEST_CLOCK_OFFSET)")


def a_file(tmp_path, name="stats.csv"):
    f = tmp_path / name
    f.write_bytes(b"ward,count\n1,2\n")
    return f


def request(o, who="u-staff", *more):
    rc, ex, err = o.json(who, "exception", "request", "--to", "IF-EX",
                         "--class", "2", "--until", "+2h", "--reason",
                         "年次統計の提出", *more)
    assert rc == EXIT_OK, (ex, err)
    return ex


def test_exception_widens_class_for_one_user_only(officers, tmp_path):
    o = officers()
    f = a_file(tmp_path)
    # Class 2 is above IF-EX's limit: refused, and the reason says an
    # exception could help.
    obj = o.put("u-staff", f, "IF-EX", cls=2, expect=EXIT_POLICY)
    assert "exception" in obj["error"]["message"]
    ex = request(o)
    assert ex["status"] == "requested"
    assert ex["users"] == ["u-staff"]
    assert ex["requester"] == "u-staff"
    eid = ex["exception"]
    # A request alone changes nothing.
    o.put("u-staff", f, "IF-EX", cls=2, expect=EXIT_POLICY)
    rc, g, err = o.json("u-off1", "exception", "grant", eid, "--comment",
                        "承認", otp=True)
    assert rc == EXIT_OK, (g, err)
    assert g["status"] == "active" and g["granted_by"] == "u-off1"
    tid = o.put("u-staff", f, "IF-EX", cls=2)["transfer"]
    assert o.wait_state("u-staff", tid, ("delivered", "failed"))[
        "state"] == "delivered"
    # Only for the user it names.
    o.put("u-staff2", f, "IF-EX", cls=2, expect=EXIT_POLICY)
    # Never class 3, exception or not.
    obj = o.put("u-staff", f, "IF-EX", cls=3, expect=EXIT_POLICY)
    assert obj["error"]["reason"] == "class_forbidden"
    # Counted, and the decision names the exception.
    rc, ls, err = o.json("u-off1", "exception", "ls", "--active")
    assert rc == EXIT_OK and ls["count"] == 1, (ls, err)
    assert ls["exceptions"][0]["uses"] == 1
    accept = [r for r in o.records("accept")
              if r["subject"].get("transfer") == tid]
    assert accept[0]["details"]["exception"] == eid
    assert o.wait_records("exception_requested")[0]["details"][
        "exception"] == eid
    granted = o.wait_records("exception_granted")
    assert granted[0]["actor"]["user"] == "u-off1"


def test_grant_rules_on_the_broker(officers, tmp_path):
    o = officers()
    # Staff may not grant, not even to themselves.
    rc, out, err = o.run("u-staff", "exception", "grant", "--to", "IF-EX",
                         "--users", "u-staff", "--class", "2", "--until",
                         "+1h", "--reason", "x")
    assert rc == EXIT_POLICY and "officer role" in err, (out, err)
    # A request for someone else is not a request.
    rc, out, err = o.run("u-staff", "exception", "request", "--to",
                         "IF-EX", "--class", "2", "--until", "+1h",
                         "--reason", "x", "--users", "u-staff2")
    assert rc == EXIT_USAGE, (out, err)
    # Beyond the interface's limits: a day at most, class 2 at most.
    rc, out, err = o.run("u-staff", "exception", "request", "--to",
                         "IF-EX", "--class", "2", "--until", "+3d",
                         "--reason", "x")
    assert rc == EXIT_POLICY and "longer" in err, (out, err)
    rc, out, err = o.run("u-staff", "exception", "request", "--to",
                         "IF-EX", "--max-bytes", "1GiB", "--until", "+1h",
                         "--reason", "x")
    assert rc == EXIT_POLICY, (out, err)
    # An officer cannot grant an exception that would cover them (here
    # through their department's group).
    rc, out, err = o.run("u-off3", "exception", "grant", "--to", "IF-EX",
                         "--groups", "kikaku", "--class", "2", "--until",
                         "+1h", "--reason", "x", "--emergency", otp=True)
    assert rc == EXIT_POLICY and "another officer" in err, (out, err)
    # Another officer can; it covers the group's members.
    rc, g, err = o.json("u-off1", "exception", "grant", "--to", "IF-EX",
                        "--groups", "kikaku", "--class", "2", "--until",
                        "+1h", "--reason", "企画課の集計", otp=True)
    assert rc == EXIT_OK and g["groups"] == ["kikaku"], (g, err)
    o.put("u-staff2", a_file(tmp_path), "IF-EX", cls=2)
    o.put("u-staff", a_file(tmp_path), "IF-EX", cls=2, expect=EXIT_POLICY)
    refused = [r["details"]["code"] for r in o.records("officer_refused")]
    assert "not_officer" in refused and "own_request" in refused


def test_refused_request_tells_the_requester(officers):
    o = officers()
    eid = request(o)["exception"]
    rc, out, err = o.run("u-off1", "exception", "refuse", eid)
    assert rc == EXIT_USAGE and "comment" in err
    rc, r, err = o.json("u-off1", "exception", "refuse", eid, "--comment",
                        "目的が不明確です", otp=True)
    assert rc == EXIT_OK, err
    assert r["status"] == "refused" and r["ended_by"] == "u-off1"
    rc, ls, err = o.json("u-staff", "exception", "ls", "--all")
    assert rc == EXIT_OK and ls["count"] == 1, (ls, err)
    mine = ls["exceptions"][0]
    assert (mine["status"], mine["end_reason"]) == ("refused",
                                                    "目的が不明確です")
    # Staff see only their own.
    rc, ls, err = o.json("u-staff2", "exception", "ls", "--all")
    assert ls["count"] == 0


def test_usage_limit(officers, tmp_path):
    o = officers()
    eid = request(o, "u-staff", "--max-count", "1")["exception"]
    rc, g, err = o.json("u-off2", "exception", "grant", eid, otp=True)
    assert rc == EXIT_OK, err
    o.put("u-staff", a_file(tmp_path, "a.csv"), "IF-EX", cls=2)
    obj = o.put("u-staff", a_file(tmp_path, "b.csv"), "IF-EX", cls=2,
                expect=EXIT_POLICY)
    assert obj["error"]["reason"] == "class_too_high"
    rc, ls, err = o.json("u-off2", "exception", "ls", "--all")
    e = ls["exceptions"][0]
    assert (e["status"], e["uses"], e["max_count"]) == ("used_up", 1, 1)
    # Class 1 never needed it.
    o.put("u-staff", a_file(tmp_path, "c.csv"), "IF-EX", cls=1)


def test_exception_expires_at_its_deadline(officers, tmp_path, monkeypatch):
    need_hooks()
    o = officers()
    eid = request(o)["exception"]          # until now + 2h
    rc, g, err = o.json("u-off1", "exception", "grant", eid, otp=True)
    assert rc == EXIT_OK, err
    o.put("u-staff", a_file(tmp_path), "IF-EX", cls=2)
    o.restart(offset=3 * HOUR, monkeypatch=monkeypatch)
    obj = o.put("u-staff", a_file(tmp_path), "IF-EX", cls=2,
                expect=EXIT_POLICY)
    assert obj["error"]["reason"] == "class_too_high"
    rc, ls, err = o.json("u-off1", "exception", "ls", "--expired",
                         otp=True)
    assert [e["exception"] for e in ls["exceptions"]] == [eid], (ls, err)
    assert ls["exceptions"][0]["status"] == "expired"
    rc, ls, err = o.json("u-off1", "exception", "ls", "--active")
    assert ls["count"] == 0


def test_revoke_stops_a_held_transfer(officers, tmp_path):
    o = officers()
    rc, ex, err = o.json("u-staff", "exception", "request", "--to",
                         "IF-EXH", "--class", "2", "--until", "+2h",
                         "--reason", "至急")
    eid = ex["exception"]
    rc, g, err = o.json("u-off1", "exception", "grant", eid, otp=True)
    assert rc == EXIT_OK, err
    tid = o.put("u-staff", a_file(tmp_path), "IF-EXH", cls=2)["transfer"]
    assert o.status("u-staff", tid)["state"] == "held"
    rc, r, err = o.json("u-off1", "exception", "revoke", eid, "--reason",
                        "誤って付与")
    assert rc == EXIT_OK and r["status"] == "revoked", (r, err)
    # Approved afterwards, it is still never forwarded: the exception is
    # checked again before forwarding.
    rc, dec, err = o.json("u-off2", "approve", tid, otp=True)
    assert rc == EXIT_OK and dec["state"] == "approved", (dec, err)
    st = o.wait_state("u-staff", tid, ("failed", "delivered"))
    assert st["state"] == "failed", st
    assert "revoked" in st["error"]
    assert o.upstream.objects() == {}
    # And new transfers under it are refused at once.
    o.put("u-staff", a_file(tmp_path), "IF-EXH", cls=2, expect=EXIT_POLICY)
    rev = o.wait_records("exception_revoked")
    assert rev[0]["actor"]["user"] == "u-off1"
    assert rev[0]["details"]["end_reason"] == "誤って付与"


def test_revoke_stops_a_queued_transfer(officers, tmp_path):
    # The upstream fails the first attempt; the retry waits 10 s, and
    # the revocation comes in between.
    o = officers(delivery={"backoff_base": "10s", "backoff_max": "10s"})
    eid = request(o)["exception"]
    rc, g, err = o.json("u-off1", "exception", "grant", eid, otp=True)
    assert rc == EXIT_OK, err
    o.upstream.fault("fail500")
    tid = o.put("u-staff", a_file(tmp_path), "IF-EX", cls=2)["transfer"]
    # "queued" is also the state before the first attempt: wait for the
    # failed attempt itself, or the upstream could be healed too early.
    deadline = time.monotonic() + 60
    while True:
        st = o.wait_state("u-staff", tid, ("queued",))
        if st.get("attempts", 0) >= 1:
            break
        assert time.monotonic() < deadline, st
        time.sleep(0.1)
    o.upstream.fault("fail500", on=False)
    rc, r, err = o.json("u-off1", "exception", "revoke", eid, "--reason",
                        "不要になった")
    assert rc == EXIT_OK, err
    st = o.wait_state("u-staff", tid, ("failed", "delivered"))
    assert st["state"] == "failed" and "revoked" in st["error"], st
    assert o.upstream.objects() == {}


def test_emergency_lapses_without_confirmation(officers, tmp_path,
                                               monkeypatch):
    need_hooks()
    o = officers(approvals={"emergency_confirm": "1m"})
    # u-off3 is no approver of IF-EX: only an emergency grant is open to
    # them, and it needs a second officer.
    rc, a, err = o.json("u-off3", "exception", "grant", "--to", "IF-EX",
                        "--users", "u-staff", "--class", "2", "--until",
                        "+2h", "--reason", "災害対応", "--emergency",
                        otp=True)
    assert rc == EXIT_OK, err
    assert a["emergency"] is True and a["status"] == "active"
    assert "confirm_by" in a
    rc, out, err = o.run("u-off3", "exception", "grant", "--to", "IF-EX",
                         "--users", "u-staff2", "--class", "2", "--until",
                         "+2h", "--reason", "x")
    assert rc == EXIT_POLICY and "not an approver" in err, (out, err)
    rc, b, err = o.json("u-off3", "exception", "grant", "--to", "IF-EX",
                        "--users", "u-staff2", "--class", "2", "--until",
                        "+2h", "--reason", "災害対応", "--emergency")
    assert rc == EXIT_OK, err
    # Effective at once.
    o.put("u-staff", a_file(tmp_path), "IF-EX", cls=2)
    o.put("u-staff2", a_file(tmp_path), "IF-EX", cls=2)
    # The granting officer cannot confirm their own grant; an approver can.
    rc, out, err = o.run("u-off3", "exception", "confirm", b["exception"])
    assert rc == EXIT_POLICY, (out, err)
    rc, c, err = o.json("u-off1", "exception", "confirm", b["exception"],
                        otp=True)
    assert rc == EXIT_OK and c["confirmed_by"] == "u-off1", (c, err)
    # Two minutes later: the unconfirmed one is revoked, the other stays.
    o.restart(offset=120, monkeypatch=monkeypatch)
    auto = o.wait_records("exception_auto_revoked")
    assert [r["details"]["exception"] for r in auto] == [a["exception"]]
    o.put("u-staff", a_file(tmp_path), "IF-EX", cls=2, expect=EXIT_POLICY)
    o.put("u-staff2", a_file(tmp_path), "IF-EX", cls=2)
    rc, ls, err = o.json("u-off1", "exception", "ls", "--all", otp=True)
    by_id = {e["exception"]: e for e in ls["exceptions"]}
    assert by_id[a["exception"]]["status"] == "revoked"
    assert "not confirmed" in by_id[a["exception"]]["end_reason"]
    assert by_id[b["exception"]]["status"] == "active"
    assert o.wait_records("exception_emergency", 2)
    assert o.wait_records("exception_confirmed")[0]["actor"]["user"] == \
        "u-off1"


def test_inventory_export_as_csv(officers):
    o = officers()
    request(o, "u-staff")
    eid = request(o, "u-staff2")["exception"]
    o.json("u-off1", "exception", "refuse", eid, "--comment",
           "=HYPERLINK(\"http://x\")", otp=True)
    rc, out, err = o.run("u-off1", "exception", "ls", "--all", "--csv")
    assert rc == EXIT_OK, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2
    assert {r["requester"] for r in rows} == {"u-staff", "u-staff2"}
    assert {r["status"] for r in rows} == {"requested", "refused"}
    refused = [r for r in rows if r["status"] == "refused"][0]
    # A cell a spreadsheet would run is written as text.
    assert refused["end_reason"].startswith("'=")
    assert rows[0]["valid_until"].endswith("Z")


def test_inventory_csv_opens_in_excel_with_the_comments(officers):
    """The inventory CSV is written as the audit CSV is (UTF-8 with a BOM,
    CRLF line ends), so Japanese reads right in Excel, and it carries the
    officers' grant and confirmation comments."""
    o = officers()
    eid = request(o)["exception"]
    rc, g, err = o.json("u-off1", "exception", "grant", eid, "--comment",
                        "年度末のため承認", otp=True)
    assert rc == EXIT_OK, (g, err)
    rc, e, err = o.json("u-off3", "exception", "grant", "--to", "IF-EX",
                        "--users", "u-staff2", "--class", "2", "--until",
                        "+2h", "--reason", "災害対応", "--emergency",
                        "--comment", "緊急", otp=True)
    assert rc == EXIT_OK, (e, err)
    rc, c, err = o.json("u-off1", "exception", "confirm", e["exception"],
                        "--comment", "確認しました")
    assert rc == EXIT_OK, (c, err)
    rc, out, err = o.run("u-off1", "exception", "ls", "--all", "--csv")
    assert rc == EXIT_OK, err
    assert out.startswith("\ufeff"), out[:20]
    assert out.endswith("\r\n") and "\n" not in out.replace("\r\n", ""), \
        repr(out)
    rows = {r["exception"]: r for r in
            csv.DictReader(io.StringIO(out[1:], newline=""))}
    assert rows[eid]["grant_comment"] == "年度末のため承認"
    assert rows[eid]["confirm_comment"] == ""
    assert rows[e["exception"]]["grant_comment"] == "緊急"
    assert rows[e["exception"]]["confirm_comment"] == "確認しました"
    assert rows[e["exception"]]["reason"] == "災害対応"
    confirmed = o.wait_records("exception_confirmed")
    assert confirmed[0]["details"]["confirm_comment"] == "確認しました"


BASE_REGISTER = approvals_fixtures.register


def csv_only_register(service=None):
    """The fixtures' register and IF-CSV, which accepts only .csv files;
    an exception may add .pdf to it, nothing else."""
    reg = BASE_REGISTER(service)
    iface = {"id": "IF-CSV", "max_class": 1,
             "extensions": {"allow": ["csv"]},
             "approval": {"when": "class>=3", "approvers": "approvers-somu",
                          "count": 1},
             "exception_limits": {"extensions": ["pdf"],
                                  "max_duration": "1d"}}
    if service is not None:
        iface["service"] = service["id"]
        iface["path"] = "/in/{interface}/"
    reg["interfaces"].append(iface)
    return reg


def test_exception_widens_extensions(officers, tmp_path, monkeypatch):
    monkeypatch.setattr(approvals_fixtures, "register", csv_only_register)
    o = officers()
    pdf = a_file(tmp_path, "report.pdf")
    # Only .csv: refused, and the reason says an exception could help.
    obj = o.put("u-staff", pdf, "IF-CSV", expect=EXIT_POLICY)
    assert obj["error"]["reason"] == "extension_not_allowed"
    assert "exception" in obj["error"]["message"]
    # An extension outside the interface's limits is never granted.
    rc, out, err = o.run("u-staff", "exception", "request", "--to",
                         "IF-CSV", "--extensions", "exe", "--until", "+1h",
                         "--reason", "x")
    assert rc == EXIT_POLICY and "exception_limits" in err, (out, err)
    rc, out, err = o.run("u-off1", "exception", "grant", "--to", "IF-CSV",
                         "--users", "u-staff", "--extensions", "pdf,exe",
                         "--until", "+1h", "--reason", "x", otp=True)
    assert rc == EXIT_POLICY and ".exe" in err, (out, err)
    # .pdf for u-staff only.
    rc, g, err = o.json("u-off1", "exception", "grant", "--to", "IF-CSV",
                        "--users", "u-staff", "--extensions", "PDF",
                        "--until", "+2h", "--reason", "議事録のPDF提出",
                        otp=True)
    assert rc == EXIT_OK, (g, err)
    assert g["status"] == "active" and g["extensions"] == "pdf"
    tid = o.put("u-staff", pdf, "IF-CSV")["transfer"]
    assert o.wait_state("u-staff", tid, ("delivered", "failed"))[
        "state"] == "delivered"
    obj = o.put("u-staff2", pdf, "IF-CSV", expect=EXIT_POLICY)
    assert obj["error"]["reason"] == "extension_not_allowed"
    # Nothing beyond what it names.
    o.put("u-staff", a_file(tmp_path, "tool.exe"), "IF-CSV",
          expect=EXIT_POLICY)
    accept = [r for r in o.records("accept")
              if r["subject"].get("transfer") == tid]
    assert accept[0]["details"]["exception"] == g["exception"]
    granted = o.wait_records("exception_granted")
    assert granted[0]["details"]["extensions"] == "pdf"
    # The inventory shows it, as JSON and in the last CSV column.
    rc, ls, err = o.json("u-off1", "exception", "ls", "--active")
    assert rc == EXIT_OK and ls["exceptions"][0]["extensions"] == "pdf"
    rc, out, err = o.run("u-off1", "exception", "ls", "--all", "--csv")
    assert rc == EXIT_OK, err
    assert out.splitlines()[0].split(",")[-1] == "extensions"
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["extensions"] for r in rows] == ["pdf"]
    # A grant of a request takes its extensions as asked; a scope option
    # with an id is refused.
    rc, out, err = o.run("u-off1", "exception", "grant", g["exception"],
                         "--extensions", "pdf")
    assert rc == EXIT_USAGE, (out, err)


def test_exception_too_long_is_refused_as_too_long_in_days(officers,
                                                          monkeypatch):
    """An exception longer than the interface's max_duration is refused with
    the code too_long (not not_permitted) and the limit in days, not as a
    raw number of seconds (issue 9, item 21)."""
    monkeypatch.setattr(approvals_fixtures, "register", csv_only_register)
    o = officers()
    rc, out, err = o.run("u-staff", "exception", "request", "--to",
                         "IF-CSV", "--extensions", "pdf", "--until", "+2d",
                         "--reason", "x")
    assert rc == EXIT_POLICY, (out, err)
    assert "too_long" in err and "not_permitted" not in err, err
    # "+2d" is read on the client's clock and measured from the broker's:
    # when a second ticks between the two it lasts 1 day 23:59:59.
    assert re.search(r"lasts (2 days|1 day 23 hours 59 minutes 5\d "
                     r"seconds) \(", err), err
    assert "the 1 day (1日)" in err, err
    assert "86400" not in err and "172800" not in err, err
    rc, out, err = o.run("u-off1", "exception", "grant", "--to", "IF-CSV",
                         "--users", "u-staff", "--extensions", "pdf",
                         "--until", "+36h", "--reason", "x", otp=True)
    assert rc == EXIT_POLICY and "too_long" in err, (out, err)
    assert "1 day 12 hours (1日12時間)" in err, err


def test_webhook_names_the_requester_of_a_request_not_an_officer(officers,
                                                                 webhook):
    """exception_requested came with "officer": <the staff member who
    asked>; only a grant, refusal or revocation has an officer
    (issue 9, item 21)."""
    o = officers(notify={"webhook": webhook.url, "retries": 2,
                         "retry_delay": "1s"})
    eid = request(o)["exception"]
    req = webhook.wait("exception_requested")[0]
    assert req["exception"] == eid
    assert req["requester"] == "u-staff"
    assert "officer" not in req, req
    rc, g, err = o.json("u-off1", "exception", "grant", eid, "--comment",
                        "承認", otp=True)
    assert rc == EXIT_OK, err
    granted = webhook.wait("exception_granted")[0]
    assert granted["requester"] == "u-staff"
    assert granted["officer"] == "u-off1"
