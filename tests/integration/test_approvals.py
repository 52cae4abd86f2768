"""Held transfers (上長承認): a transfer the register holds for approval
officers is stored, not forwarded, until enough officers approve it; a
rejected or expired one is never delivered and its spool copy is deleted.
Officers need the officer role, authority over the interface and a fresh
TOTP step-up; nobody approves their own transfer or counts twice. Real
certificates, real TOTP codes (oathtool), a real WebDAV upstream."""

import hashlib

from approvals_fixtures import (  # noqa: F401  (fixtures)
    nginx, officer_pki, officers, webhook)
from conftest import EXIT_OK, EXIT_POLICY, EXIT_USAGE
from stepup_helpers import hooks_built, wrong_code
import pytest

DAY = 86400


def held_file(tmp_path, name="申請書.pdf", data=b"%PDF-1.4 held\n"):
    f = tmp_path / name
    f.write_bytes(data)
    return f


def test_held_transfer_is_approved_and_delivered(officers, tmp_path):
    o = officers()
    f = held_file(tmp_path)
    put = o.put("u-staff", f, "IF-HOLD", cls=2)
    tid = put["transfer"]
    assert put["state"] == "held"
    # Held: waiting, not forwarded, and the sender sees why.
    st = o.status("u-staff", tid)
    assert st["state"] == "held"
    assert st["approval"] == "pending"
    assert (st["approvals"], st["required"]) == (0, 1)
    assert o.upstream.objects() == {}
    assert tid in o.broker.spool_entries()

    # The officer sees everything needed to decide.
    rc, ls, err = o.json("u-off1", "approvals", "ls", otp=True)
    assert rc == EXIT_OK, (ls, err)
    assert ls["count"] == 1
    item = ls["approvals"][0]
    assert item["transfer"] == tid
    assert item["user"] == "u-staff"
    assert item["dept"] == "somu"
    assert item["terminal"] == "T100"
    assert item["name"] == "申請書.pdf"
    assert item["size"] == f.stat().st_size
    assert item["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert item["class"] == 2
    assert item["purpose"] == "monthly report for the prefecture"
    assert item["interface"] == "IF-HOLD"
    assert item["approvers"] == "approvers-somu"
    assert item["voted"] is False
    assert item["created"].endswith("Z") and item["expires"].endswith("Z")

    # The step-up is fresh: no code needed for the decision.
    rc, dec, err = o.json("u-off1", "approvals", "approve", tid,
                          "--comment", "確認しました")
    assert rc == EXIT_OK, (dec, err)
    assert dec == {"transfer": tid, "state": "approved", "approvals": 1,
                   "required": 1}
    st = o.wait_state("u-staff", tid, ("delivered", "failed"))
    assert st["state"] == "delivered", st
    assert st["approval"] == "approved"
    assert st["comment"] == "確認しました"
    objs = o.upstream.objects()
    assert len(objs) == 1 and list(objs.values())[0] == f.read_bytes()

    # Audited: held at store time, the vote, the decision.
    stored = [r for r in o.records("stored")
              if r["subject"].get("transfer") == tid]
    assert stored and stored[0]["details"]["state"] == "held"
    vote = o.wait_records("approval_vote")
    assert vote[0]["actor"]["user"] == "u-off1"
    assert vote[0]["details"]["vote"] == "approve"
    assert vote[0]["details"]["comment"] == "確認しました"
    dec = o.wait_records("approval_decided")
    assert dec[0]["details"]["state"] == "approved"
    assert dec[0]["subject"]["transfer"] == tid


def test_rejected_is_never_delivered_and_spool_is_gone(officers, tmp_path):
    o = officers()
    tid = o.put("u-staff", held_file(tmp_path), "IF-HOLD")["transfer"]
    # A rejection needs a comment (the client says so before connecting).
    rc, out, err = o.run("u-off1", "reject", tid)
    assert rc == EXIT_USAGE and "comment" in err
    rc, dec, err = o.json("u-off1", "reject", tid, "--comment",
                          "個人情報が含まれています", otp=True)
    assert rc == EXIT_OK, (dec, err)
    assert dec["state"] == "rejected"
    st = o.status("u-staff", tid)
    assert st["state"] == "rejected"
    assert st["approval"] == "rejected"
    assert st["comment"] == "個人情報が含まれています"
    assert tid not in o.broker.spool_entries()
    assert o.upstream.objects() == {}
    # A later approval cannot bring it back.
    rc, out, err = o.run("u-off2", "approve", tid, otp=True)
    assert rc == EXIT_POLICY and "already decided" in err, (rc, out, err)
    assert o.status("u-staff", tid)["state"] == "rejected"


def test_uploader_cannot_approve_own_transfer(officers, tmp_path):
    o = officers()
    tid = o.put("u-off1", held_file(tmp_path), "IF-HOLD")["transfer"]
    # Not even listed for the uploader ...
    rc, ls, err = o.json("u-off1", "approvals", "ls", otp=True)
    assert rc == EXIT_OK and ls["count"] == 0, (ls, err)
    # ... and refused when tried: separation of duties, on the broker.
    rc, out, err = o.run("u-off1", "approve", tid)
    assert rc == EXIT_POLICY, (out, err)
    assert "yourself" in err
    refused = o.wait_records("officer_refused")
    assert refused[-1]["details"]["code"] == "own_request"
    assert refused[-1]["actor"]["user"] == "u-off1"
    assert o.status("u-off1", tid)["state"] == "held"
    # Another officer may.
    rc, dec, err = o.json("u-off2", "approve", tid, otp=True)
    assert rc == EXIT_OK and dec["state"] == "approved", (dec, err)


def test_two_of_m_and_one_officer_counts_once(officers, tmp_path):
    o = officers()
    tid = o.put("u-staff", held_file(tmp_path), "IF-N2")["transfer"]
    rc, dec, err = o.json("u-off1", "approve", tid, otp=True)
    assert rc == EXIT_OK, err
    assert (dec["state"], dec["approvals"], dec["required"]) == \
        ("pending", 1, 2)
    assert o.status("u-staff", tid)["state"] == "held"
    rc, ls, err = o.json("u-off1", "approvals", "ls")
    assert ls["approvals"][0]["voted"] is True
    # Twice is still once.
    rc, out, err = o.run("u-off1", "approve", tid)
    assert rc == EXIT_POLICY and "already decided" in err, (out, err)
    assert o.status("u-staff", tid)["approvals"] == 1
    rc, dec, err = o.json("u-off2", "approve", tid, otp=True)
    assert rc == EXIT_OK, err
    assert (dec["state"], dec["approvals"]) == ("approved", 2)
    st = o.wait_state("u-staff", tid, ("delivered", "failed"))
    assert st["state"] == "delivered"


def test_officer_needs_a_fresh_step_up(officers, tmp_path):
    o = officers()
    tid = o.put("u-staff", held_file(tmp_path), "IF-HOLD")["transfer"]
    # No code (and no terminal to ask on): refused.
    rc, out, err = o.run("u-off1", "approve", tid)
    assert rc == EXIT_POLICY, (out, err)
    assert "one-time code" in err
    # A wrong code: refused, and counted by the step-up lockout.
    rc, out, err = o.run("u-off1", "approve", tid, "--otp",
                         wrong_code(o.secrets["u-off1"]))
    assert rc == EXIT_POLICY and "not accepted" in err, (out, err)
    assert o.status("u-staff", tid)["state"] == "held"
    su = [r for r in o.records("stepup") if r["actor"]["user"] == "u-off1"]
    assert su and su[-1]["details"]["result"] == "wrong_code"
    # The step-up is bound to the certificate that made it: the same
    # officer is no "fresher" on another connection without a code, but
    # with a good code the decision goes through.
    rc, dec, err = o.json("u-off1", "approve", tid, otp=True)
    assert rc == EXIT_OK and dec["state"] == "approved", (dec, err)


def test_staff_certificate_cannot_act_as_officer(officers, tmp_path):
    o = officers()
    tid = o.put("u-staff2", held_file(tmp_path), "IF-HOLD")["transfer"]
    for args in (("approvals", "ls"), ("approve", tid),
                 ("reject", tid, "--comment", "x")):
        rc, out, err = o.run("u-staff", *args)
        assert rc == EXIT_POLICY, (args, out, err)
        assert "approval officer role" in err
    codes = [r["details"]["code"] for r in o.wait_records(
        "officer_refused", 3)]
    assert codes.count("not_officer") == 3
    assert o.status("u-staff2", tid)["state"] == "held"


def test_officer_without_authority_over_the_interface(officers, tmp_path):
    o = officers()
    tid = o.put("u-staff", held_file(tmp_path), "IF-HOLD")["transfer"]
    rc, ls, err = o.json("u-off3", "approvals", "ls", otp=True)
    assert rc == EXIT_OK and ls["count"] == 0, (ls, err)
    rc, out, err = o.run("u-off3", "approve", tid)
    assert rc == EXIT_POLICY and "not an approver" in err, (out, err)
    assert o.status("u-staff", tid)["state"] == "held"


def test_restart_keeps_pending_state(officers, tmp_path, monkeypatch):
    if not hooks_built():
        pytest.skip("needs a build with -Dtest_hooks=true")
    o = officers()
    tid = o.put("u-staff", held_file(tmp_path), "IF-N2")["transfer"]
    rc, dec, err = o.json("u-off1", "approve", tid, otp=True)
    assert rc == EXIT_OK and dec["approvals"] == 1, err
    # A minute later (a new TOTP step; step-ups do not survive a restart).
    o.restart(offset=60, monkeypatch=monkeypatch)
    st = o.status("u-staff", tid)
    assert (st["state"], st["approvals"], st["required"]) == ("held", 1, 2)
    rc, ls, err = o.json("u-off2", "approvals", "ls", otp=True)
    assert [i["transfer"] for i in ls["approvals"]] == [tid], (ls, err)
    # The first vote still counts, and still counts once.
    rc, out, err = o.run("u-off1", "approve", tid, otp=True)
    assert rc == EXIT_POLICY and "already decided" in err, (out, err)
    rc, dec, err = o.json("u-off2", "approve", tid)
    assert rc == EXIT_OK and dec["state"] == "approved", (dec, err)
    assert o.wait_state("u-staff", tid, ("delivered", "failed"))[
        "state"] == "delivered"


def test_wait_expires_and_spool_copy_is_deleted(officers, tmp_path,
                                                monkeypatch):
    if not hooks_built():
        pytest.skip("needs a build with -Dtest_hooks=true")
    o = officers(approvals={"hold": "1h"})
    tid = o.put("u-staff", held_file(tmp_path), "IF-HOLD")["transfer"]
    assert tid in o.broker.spool_entries()
    # Two hours later nobody decided: expired at the broker's first sweep.
    o.restart(offset=2 * 3600, monkeypatch=monkeypatch)
    st = o.wait_state("u-staff", tid, ("expired",))
    assert st["approval"] == "expired"
    assert tid not in o.broker.spool_entries()
    assert o.upstream.objects() == {}
    exp = o.wait_records("approval_expired")
    assert exp and exp[0]["subject"]["transfer"] == tid
    rc, out, err = o.run("u-off1", "approve", tid, otp=True)
    assert rc == EXIT_POLICY, (out, err)


def test_webhook_hears_requests_and_decisions(officers, webhook, tmp_path):
    o = officers(notify={"webhook": webhook.url, "retries": 2,
                         "retry_delay": "1s"})
    tid = o.put("u-staff", held_file(tmp_path), "IF-HOLD")["transfer"]
    req = webhook.wait("approval_requested")[0]
    assert req["transfer"] == tid
    assert req["interface"] == "IF-HOLD"
    assert req["user"] == "u-staff"
    assert req["approvers"] == "approvers-somu"
    assert req["required"] == 1
    # Ids and states only: no file name, purpose or comment leaves.
    text = str(webhook.posts)
    assert "申請書" not in text and "monthly report" not in text
    rc, dec, err = o.json("u-off1", "reject", tid, "--comment", "理由あり",
                          otp=True)
    assert rc == EXIT_OK, err
    done = webhook.wait("approval_decided")[0]
    assert done["transfer"] == tid
    assert done["state"] == "rejected"
    assert done["officer"] == "u-off1"
    assert "理由あり" not in str(webhook.posts)
    path, ctype, _ = webhook.posts[0]
    assert path == "/hook" and ctype == "application/json"


@pytest.mark.parametrize("section,text", [
    ({"approvals": {"hold": "10s"}}, "approvals.hold must be 1m to 90d"),
    ({"approvals": {"officer_stepup_max_age": "2h"}},
     "officer_stepup_max_age must be 30s to 1h"),
    ({"approvals": {"emergency_confirm": "8d"}},
     "emergency_confirm must be 1m to 7d"),
    ({"approvals": {"holdd": "1h"}}, "holdd"),
    ({"notify": {"retries": 11}}, "retries"),
    ({"notify": {"timeout": "0s"}}, "timeouts must be 1s to 5m"),
])
def test_bad_settings_are_refused(broker, section, text):
    b = broker(extra=section, start=False)
    proc = b.check_config()
    assert proc.returncode != 0
    assert text in proc.stderr, proc.stderr


def test_notify_url_must_be_https(broker):
    # Checked when the broker starts the notifications: it does not start.
    b = broker(extra={"notify": {"webhook": "http://hooks.example.jp/x"}},
               start=False)
    with pytest.raises(RuntimeError, match="only https"):
        b.start()
    b.ended_on_purpose = True
