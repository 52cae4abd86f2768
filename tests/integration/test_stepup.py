"""TOTP step-up end to end: enrolment with sekishod --totp-enroll, codes from
oathtool, the client's --otp, and the broker's answers to a missing, wrong,
replayed, skewed or parallel code, lockout and its release, and what the
audit trail says (never the code, never the secret)."""

import hashlib
import os
import signal
import time

import pytest

from conftest import EXIT_OK, EXIT_POLICY, EXIT_USAGE, raw_client
from stepup_helpers import (enroll, hooks_built, need_oathtool, put_fields,
                            records, second_cert, sekishod, stepup_broker,
                            totp, values, wait_records, wrong_code)


@pytest.fixture(autouse=True)
def _oathtool():
    need_oathtool()


def put_file(c, path, *args, to="IF-STEP", cls=1):
    return c.json("put", path, "--to", to, "--class", cls, "--purpose",
                  "step-up test", *args)


def test_step_up_end_to_end(broker, client, tmp_path):
    b = stepup_broker(broker)
    secret, proc = enroll(b, "alice")
    # The enrolment printed a QR code drawn with half blocks.
    assert any(ch in proc.stdout for ch in "\u2580\u2584\u2588")
    c = client(b)
    f = tmp_path / "a.pdf"
    f.write_bytes(b"needs a second factor\n")
    code = totp(secret)
    rc, obj, err = put_file(c, f, "--otp", code)
    assert rc == EXIT_OK, (obj, err)
    assert obj["state"] == "stored"
    assert (b.spool / obj["transfer"]).read_bytes() == f.read_bytes()

    # A second upload with the same certificate rides on the step-up.
    rc, obj2, err = put_file(c, f)
    assert rc == EXIT_OK, (obj2, err)

    enrol = wait_records(b, "totp_enrol")
    assert enrol[0]["actor"]["user"] == "alice" or \
        enrol[0].get("actor", {}).get("user") == "alice"
    ok = [r for r in records(b, "stepup")
          if r["details"].get("result") == "activated"]
    assert len(ok) == 1, records(b, "stepup")
    assert ok[0]["details"]["rule"] == "IF-STEP"
    assert len(ok[0]["details"]["register"]) == 64
    assert records(b, "totp_activate")
    accepts = [r for r in records(b, "accept")
               if r["subject"].get("transfer") == obj["transfer"]]
    assert accepts and "stepup_at" in accepts[0]["details"]

    # Neither the secret nor the code is in the trail or the log.
    raw = b"".join(p.read_bytes() for p in
                   ([b.audit_log] if b.audit_log.is_file()
                    else sorted(b.audit_log.rglob("*"))) if p.is_file())
    assert secret.encode() not in raw
    assert secret not in b.log_text()
    for r in b.audit_records():
        assert code not in [v for v in values(r) if isinstance(v, str)], r
    assert f"otp={code}" not in b.log_text()


def test_put_without_code_is_told_step_up_required(broker, pki):
    b = stepup_broker(broker)
    enroll(b, "alice")
    with raw_client(pki, b) as rc:
        rc.hello()
        rid = rc.request("put", **put_fields())
        ans = rc.recv()
    assert ans["op"] == "error" and ans["id"] == rid, ans
    assert ans["code"] == "step_up_required"
    assert ans["rule"] == "IF-STEP"
    # The policy's reason code (docs/policy.md spells it step_up_required).
    assert ans["reason"] == "step_up_required"
    # The message says what to do and names no other interface.
    assert "code" in ans["message"]
    assert "IF-OPEN" not in ans["message"] and "IF-C3" not in ans["message"]


def test_client_without_code_or_terminal_fails_cleanly(broker, client,
                                                       tmp_path):
    b = stepup_broker(broker)
    enroll(b, "alice")
    c = client(b)
    f = tmp_path / "a.pdf"
    f.write_bytes(b"x")
    # --otp - with nothing on stdin: no code to send.
    rc, obj, err = put_file(c, f, "--otp", "-")
    assert rc == EXIT_POLICY, (obj, err)
    assert obj["error"]["code"] == "step_up_required"
    rc, obj, err = put_file(c, f, "--otp", "12ab56")
    assert rc == EXIT_POLICY, (obj, err)


def test_code_from_stdin(broker, client, tmp_path):
    b = stepup_broker(broker)
    secret, _ = enroll(b, "alice")
    c = client(b)
    f = tmp_path / "a.pdf"
    f.write_bytes(b"scripted\n")
    codefile = tmp_path / "code"
    code = totp(secret)
    codefile.write_text(code[:3] + " " + code[3:] + "\n")
    with open(codefile, "rb") as stdin:
        rc, out, err = c.run("put", f, "--to", "IF-STEP", "--class", "1", "--otp", "-",
                             stdin=stdin)
    assert rc == EXIT_OK, (out, err)


def test_replay_refused(broker, client, pki, tmp_path):
    b = stepup_broker(broker)
    secret, _ = enroll(b, "alice")
    f = tmp_path / "a.pdf"
    f.write_bytes(b"once\n")
    code = totp(secret)
    rc, obj, err = put_file(client(b), f, "--otp", code)
    assert rc == EXIT_OK, (obj, err)
    # The same code from another certificate of the same user: refused,
    # and the answer does not say it was a replay.
    other = client(b, user=second_cert(pki))
    rc, obj, err = put_file(other, f, "--otp", code)
    assert rc == EXIT_POLICY, (obj, err)
    assert obj["error"]["code"] == "step_up_failed"
    assert "replay" not in obj["error"]["message"]
    fails = [r for r in records(b, "stepup")
             if r["details"].get("result") == "replay"]
    assert len(fails) == 1
    assert fails[0]["actor"]["terminal"] == "T002"


def test_step_up_is_lost_on_restart(broker, client, pki, tmp_path):
    b = stepup_broker(broker)
    secret, _ = enroll(b, "alice")
    f = tmp_path / "a.pdf"
    f.write_bytes(b"x\n")
    code = totp(secret)
    rc, obj, err = put_file(client(b), f, "--otp", code)
    assert rc == EXIT_OK, (obj, err)
    b.restart()
    with raw_client(pki, b) as r:
        r.hello()
        r.request("put", **put_fields())
        ans = r.recv()
        assert ans["code"] == "step_up_required", ans
        # Nor does the old code work after the restart.
        r.request("put", **put_fields(otp=code))
        ans = r.recv()
        assert ans["code"] == "step_up_failed", ans


def test_parallel_use_of_one_code_exactly_one_succeeds(broker, pki):
    b = stepup_broker(broker)
    secret, _ = enroll(b, "alice")
    other = second_cert(pki)
    a1 = raw_client(pki, b)
    a2 = raw_client(pki, b, user=other)
    try:
        a1.hello()
        a2.hello()
        code = totp(secret)
        # Both requests are on the wire before either is answered.
        a1.request("put", **put_fields(otp=code))
        a2.request("put", **put_fields(otp=code))
        answers = [a1.recv(), a2.recv()]
    finally:
        a1.close()
        a2.close()
    ops = sorted((a.get("op"), a.get("code")) for a in answers)
    assert ops == [("error", "step_up_failed"), ("ready", None)], answers
    results = sorted(r["details"]["result"] for r in records(b, "stepup"))
    assert results == ["activated", "replay"], results


def test_two_steps_of_skew_refused(broker, pki):
    b = stepup_broker(broker, max_failures=20)
    secret, _ = enroll(b, "alice")
    with raw_client(pki, b) as r:
        r.hello()
        for delta in (60, -60):
            # Compare against the step the broker decided in: it lies
            # between the request and the answer, so retry when the
            # clock crossed a step boundary meanwhile.
            for _ in range(5):
                step = int(time.time()) // 30
                r.request("put", **put_fields(
                    otp=totp(secret, step * 30 + delta)))
                ans = r.recv()
                if int(time.time()) // 30 == step:
                    break
            assert ans.get("code") == "step_up_failed", (delta, ans)
        # One step of skew is accepted.
        for _ in range(5):
            step = int(time.time()) // 30
            r.request("put", **put_fields(otp=totp(secret, step * 30 + 30)))
            ans = r.recv()
            if int(time.time()) // 30 == step:
                break
        assert ans.get("op") == "ready", ans


def test_lockout_after_five_failures_and_release(broker, pki, monkeypatch):
    if not hooks_built():
        pytest.skip("needs a build with -Dtest_hooks=true "
                    "(SEKISHO_TEST_CLOCK_OFFSET)")
    b = stepup_broker(broker)
    secret, _ = enroll(b, "alice")
    bad = wrong_code(secret)
    with raw_client(pki, b) as r:
        r.hello()
        for i in range(4):
            r.request("put", **put_fields(otp=bad))
            ans = r.recv()
            assert ans["code"] == "step_up_failed", (i, ans)
            assert "retry_after" not in ans
        r.request("put", **put_fields(otp=bad))
        ans = r.recv()
        assert ans["code"] == "locked", ans
        assert ans["retry_after"] == 30
        # While locked even the right code is refused, unseen.
        r.request("put", **put_fields(otp=totp(secret)))
        ans = r.recv()
        assert ans["code"] == "locked", ans
        assert 0 < ans["retry_after"] <= 30
    lock = records(b, "stepup_lockout")
    assert len(lock) == 1 and lock[0]["details"]["seconds"] == 30
    assert lock[0]["actor"]["user"] == "alice"

    # 31 seconds later (the broker's clock moved by the test hook): free.
    b.stop()
    monkeypatch.setenv("SEKISHO_TEST_CLOCK_OFFSET", "31")
    b.start()
    assert "clock_offset=31" in b.log_text()
    with raw_client(pki, b) as r:
        r.hello()
        r.request("put", **put_fields(otp=totp(secret, time.time() + 31)))
        ans = r.recv()
        assert ans.get("op") == "ready", ans


def test_class3_refused_even_with_matching_permit(broker, client, tmp_path):
    b = stepup_broker(broker)
    c = client(b)
    f = tmp_path / "secret.pdf"
    f.write_bytes(b"kimitsu 3\n")
    rc, obj, err = put_file(c, f, to="IF-C3", cls=3)
    assert rc == EXIT_POLICY, (obj, err)
    assert obj["error"]["rule"] == "builtin:class3"
    assert obj["error"]["reason"] == "class_forbidden"
    assert "IF-STEP" not in obj["error"]["message"]
    assert not [p for p in b.spool_entries()]


def test_refusal_names_the_rule_and_no_other_interface(broker, client,
                                                       tmp_path):
    register = {"principals": {"users": [{"id": "bob"}]}, "interfaces": [
        {"id": "IF-KIKAKU", "max_class": 2, "allow": {"users": ["bob"]}},
        {"id": "IF-SECRET-NAME", "max_class": 2,
         "allow": {"users": ["bob"]}},
    ]}
    b = broker(register=register)
    c = client(b)
    f = tmp_path / "a.pdf"
    f.write_bytes(b"x")
    rc, obj, err = put_file(c, f, to="IF-KIKAKU")
    assert rc == EXIT_POLICY, (obj, err)
    e = obj["error"]
    assert e["rule"] == "IF-KIKAKU" and e["reason"] == "not_permitted"
    assert "IF-SECRET-NAME" not in e["message"]
    assert "bob" not in e["message"]
    assert "ask" in e["message"]          # what the user can do
    assert "IF-KIKAKU" in err and "not_permitted" in err


def test_enrolment_rules(broker, client, tmp_path):
    b = stepup_broker(broker)
    secret1, _ = enroll(b, "alice")
    # A pending secret is simply replaced.
    secret2, proc = enroll(b, "alice")
    assert secret1 != secret2 and "pending secret was replaced" in proc.stdout
    f = tmp_path / "a.pdf"
    f.write_bytes(b"x")
    rc, obj, err = put_file(client(b), f, "--otp", totp(secret2))
    assert rc == EXIT_OK, (obj, err)
    # An active one needs --force.
    proc = sekishod(b, "--totp-enroll", "alice")
    assert proc.returncode == 1 and "--force" in proc.stderr
    secret3, proc = enroll(b, "alice", force=True)
    assert "active secret was replaced" in proc.stdout
    # Reset, then no step-up is possible.
    proc = sekishod(b, "--totp-reset", "alice")
    assert proc.returncode == 0, proc.stderr
    proc = sekishod(b, "--totp-reset", "alice")
    assert proc.returncode == 1
    proc = sekishod(b, "--totp-enroll", "../etc")
    assert proc.returncode == 1
    proc = sekishod(b, "--force")
    assert proc.returncode == 2
    enrols = wait_records(b, "totp_enrol", 3)
    assert [r["details"].get("detail") for r in enrols] == [
        "replaced=none forced=no", "replaced=pending forced=no",
        "replaced=active forced=yes"]
    assert wait_records(b, "totp_reset")
    for r in enrols:
        assert secret3 not in str(r)


def test_key_file_readable_by_others_is_refused(broker):
    b = stepup_broker(broker, start=False, key_mode=0o644)
    proc = b.check_config()
    assert proc.returncode == 1
    assert "0644" in proc.stderr and "chmod 600" in proc.stderr
    proc = sekishod(b, "--totp-enroll", "alice")
    assert proc.returncode == 1
    os.chmod(b.dir / "totp.key", 0o600)
    proc = b.check_config()
    assert proc.returncode == 0, proc.stderr


def test_no_stepup_section_refuses_step_up_interfaces(broker, client,
                                                      tmp_path):
    from stepup_helpers import STEPUP_REGISTER
    b = broker(register=STEPUP_REGISTER)
    proc = b.check_config()
    assert proc.returncode == 0
    assert "stepup_unconfigured" in proc.stderr
    f = tmp_path / "a.pdf"
    f.write_bytes(b"x")
    rc, obj, err = put_file(client(b), f, "--otp", "123456")
    assert rc == EXIT_POLICY, (obj, err)
    assert obj["error"]["code"] == "step_up_required"
    assert "administrator" in obj["error"]["message"]
    proc = sekishod(b, "--totp-enroll", "alice")
    assert proc.returncode == 1 and "stepup" in proc.stderr
