"""TOTP enrolment without the server console: the administrator issues a
one-time enrolment code (sekishod --totp-enrol-code), the user redeems it
over sekisho/1 (op totp_enrol) and gets the secret, its otpauth URI and a QR
code as SVG, confirms with a first code from oathtool (op totp_confirm), and
can then step up. Refusals: a used, expired, another user's or wrong code
(with a lockout), a confirmation with nothing pending, malformed input. The
code and the secret never reach the audit trail or the log."""

import datetime
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import EXIT_OK, raw_client
from stepup_helpers import (STEPUP_REGISTER, URI_RE, enroll, hooks_built,
                            need_oathtool, records, second_cert, sekishod,
                            stepup_broker, totp, values, wait_records,
                            wrong_code)

CODE_RE = re.compile(r"^    ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})$", re.M)
UNTIL_RE = re.compile(r"valid until: (\d{4}-\d\d-\d\d \d\d:\d\d) "
                      r"\(([+-]\d\d:\d\d) ([^)]+)\) = "
                      r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$", re.M)


@pytest.fixture(autouse=True)
def _oathtool():
    need_oathtool()


def issue(b, user="alice", *args, env=None):
    """Runs --totp-enrol-code; returns (code, completed process)."""
    proc = sekishod(b, "--totp-enrol-code", user, *args, env=env)
    assert proc.returncode == 0, proc.stderr
    found = CODE_RE.findall(proc.stdout)
    assert len(found) == 1, proc.stdout
    return found[0], proc


def ask(r, op, **fields):
    rid = r.request(op, **fields)
    ans = r.recv()
    assert isinstance(ans, dict) and ans.get("id") == rid, ans
    return ans


def redeem(pki, b, code, user="alice@T001"):
    with raw_client(pki, b, user=user) as r:
        r.hello()
        return ask(r, "totp_enrol", code=code)


def trail_bytes(b):
    p = b.audit_log
    files = [p] if p.is_file() else sorted(x for x in p.rglob("*")
                                           if x.is_file())
    return b"".join(f.read_bytes() for f in files)


def assert_never_recorded(b, *texts):
    """None of texts (codes, secrets) is in the trail's bytes, in any
    string of any record, or in the log."""
    raw = trail_bytes(b)
    log = b.log_text()
    for t in texts:
        assert t.encode() not in raw, t
        assert t not in log, t
        for rec in b.audit_records():
            for v in values(rec):
                assert not (isinstance(v, str) and t in v), (t, rec)


def canonical(code):
    return code.replace("-", "")


def test_enrol_confirm_and_step_up(broker, client, pki, tmp_path):
    b = stepup_broker(broker)
    code, proc = issue(b, "alice")
    # The expiry is said in the register's zone (Asia/Tokyo by default)
    # and in UTC: 24 hours from now unless --ttl says otherwise.
    m = UNTIL_RE.search(proc.stdout)
    assert m, proc.stdout
    assert m.group(2) == "+09:00" and m.group(3) == "Asia/Tokyo"
    utc = datetime.datetime.strptime(m.group(4), "%Y-%m-%dT%H:%M:%SZ") \
        .replace(tzinfo=datetime.timezone.utc)
    assert abs(utc.timestamp() - (time.time() + 86400)) < 120
    local = (utc + datetime.timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")
    assert m.group(1) == local

    with raw_client(pki, b) as r:
        r.hello()
        # Typed the way people type: lower case, spaces for hyphens.
        ans = ask(r, "totp_enrol", code=code.lower().replace("-", " "))
        assert ans["op"] == "totp_secret", ans
        assert ans["user"] == "alice"
        um = URI_RE.fullmatch(ans["uri"])
        assert um and um.group(1) == "alice", ans["uri"]
        secret = ans["secret"]
        assert um.group(2) == secret and len(secret) == 32
        assert ans["qr_svg"].startswith("<svg ")
        assert "<script" not in ans["qr_svg"]

        # Pending until the first code: a step-up does not work yet...
        ans = ask(r, "totp_confirm", otp=totp(secret))
        assert ans["op"] == "totp_enrolled", ans
        assert ans["user"] == "alice"

    # ...and after it, the user steps up with the next code.
    c = client(b)
    f = tmp_path / "a.pdf"
    f.write_bytes(b"after enrolment\n")
    rc, obj, err = c.json("put", f, "--to", "IF-STEP", "--class", "1",
                          "--purpose", "enrol test", "--otp",
                          totp(secret, time.time() + 30))
    assert rc == EXIT_OK, (obj, err)
    assert obj["state"] == "stored"

    issued = wait_records(b, "totp_enrol_code_issued")
    assert len(issued) == 1
    assert issued[0]["actor"]["user"] == "alice"
    assert "expires=" + m.group(4) in issued[0]["details"]["detail"]
    redeemed = records(b, "totp_enrol_redeemed")
    assert len(redeemed) == 1
    assert redeemed[0]["actor"]["user"] == "alice"
    assert redeemed[0]["details"]["replaced"] == "none"
    assert redeemed[0]["details"]["forced"] is False
    # The administrator's record comes before its use.
    recs = b.audit_records()
    assert recs.index(issued[0]) < recs.index(redeemed[0])
    confirm = records(b, "totp_confirm")
    assert [x["details"]["result"] for x in confirm] == ["activated"]
    assert len(records(b, "totp_activate")) == 1
    assert_never_recorded(b, code, canonical(code), secret)
    # Nor did the administrator's command leave the code anywhere but on
    # its standard output.
    assert code not in proc.stderr


def test_qr_code_decodes_to_the_uri(broker, pki, tmp_path):
    for tool in ("rsvg-convert", "zbarimg"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (deploy/install-deps.sh "
                        "--test)")
    b = stepup_broker(broker)
    code, _ = issue(b, "alice")
    ans = redeem(pki, b, code)
    assert ans["op"] == "totp_secret", ans
    svg = tmp_path / "qr.svg"
    png = tmp_path / "qr.png"
    svg.write_text(ans["qr_svg"])
    subprocess.run(["rsvg-convert", "-w", "400", "-o", str(png), str(svg)],
                   check=True, timeout=30, capture_output=True)
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(png)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    decoded = [line for line in out.stdout.splitlines() if line]
    assert decoded == [ans["uri"]], out.stdout


def test_code_is_single_use(broker, pki):
    b = stepup_broker(broker)
    code, _ = issue(b, "alice")
    first = redeem(pki, b, code)
    assert first["op"] == "totp_secret", first
    again = redeem(pki, b, code)
    assert again["op"] == "error", again
    assert again["code"] == "enrol_code_used"
    assert again["field"] == "code"
    refused = records(b, "totp_enrol_refused")
    assert [x["details"]["reason"] for x in refused] == ["used"]
    assert len(records(b, "totp_enrol_redeemed")) == 1
    assert_never_recorded(b, code, canonical(code), first["secret"])


def test_expired_code(broker, pki):
    if not hooks_built():
        pytest.skip("needs a build with -Dtest_hooks=true "
                    "(SEKISHO_TEST_CLOCK_OFFSET)")
    b = stepup_broker(broker)
    # Issued "6 minutes ago" for 5 minutes.
    env = dict(os.environ, SEKISHO_TEST_CLOCK_OFFSET="-360")
    code, _ = issue(b, "alice", "--ttl", "5m", env=env)
    ans = redeem(pki, b, code)
    assert ans["op"] == "error" and ans["code"] == "enrol_code_expired", ans
    assert "new one" in ans["message"]
    refused = records(b, "totp_enrol_refused")
    assert [x["details"]["reason"] for x in refused] == ["expired"]
    # Nothing was enrolled.
    with raw_client(pki, b) as r:
        r.hello()
        ans = ask(r, "totp_confirm", otp="123456")
        assert ans["code"] == "no_pending_secret", ans
    # A fresh code works.
    code, _ = issue(b, "alice")
    assert redeem(pki, b, code)["op"] == "totp_secret"


def test_another_users_code_is_a_wrong_code(broker, pki):
    b = stepup_broker(broker)
    bobs, _ = issue(b, "bob")
    ans = redeem(pki, b, bobs, user="alice@T001")
    wrong = redeem(pki, b, "ABCD-EFGH-JKLM", user="alice@T001")
    # Refused exactly like a wrong code: same code, same message.
    assert ans["op"] == "error" and ans["code"] == "enrol_code_invalid", ans
    assert {k: v for k, v in ans.items() if k != "id"} == \
        {k: v for k, v in wrong.items() if k != "id"}
    refused = records(b, "totp_enrol_refused")
    assert [x["actor"]["user"] for x in refused] == ["alice", "alice"]
    assert [x["details"]["reason"] for x in refused] == ["no_code",
                                                          "no_code"]
    # bob's code still works for bob.
    ans = redeem(pki, b, bobs, user="bob")
    assert ans["op"] == "totp_secret" and ans["user"] == "bob", ans
    assert_never_recorded(b, bobs, canonical(bobs))


def test_wrong_codes_lock_enrolment(broker, pki):
    b = stepup_broker(broker, max_failures=3, lockout="60s")
    code, _ = issue(b, "alice")
    guesses = ["AAAA-AAAA-AAAA", "BBBB-BBBB-BBBB", "CCCC-CCCC-CCCC"]
    with raw_client(pki, b) as r:
        r.hello()
        for g in guesses[:2]:
            ans = ask(r, "totp_enrol", code=g)
            assert ans["code"] == "enrol_code_invalid", ans
            assert "retry_after" not in ans
        ans = ask(r, "totp_enrol", code=guesses[2])
        assert ans["code"] == "locked", ans
        assert ans["retry_after"] == 60
        # Locked: the right code is not even looked at.
        ans = ask(r, "totp_enrol", code=code)
        assert ans["code"] == "locked", ans
        assert 0 < ans["retry_after"] <= 60
    refused = records(b, "totp_enrol_refused")
    assert [x["details"]["result"] for x in refused] == \
        ["wrong_code", "wrong_code", "lockout", "locked"]
    assert [x["details"]["failures"] for x in refused[:2]] == [1, 2]
    lock = records(b, "totp_enrol_lockout")
    assert len(lock) == 1 and lock[0]["details"]["seconds"] == 60
    assert lock[0]["actor"]["user"] == "alice"
    assert not records(b, "totp_enrol_redeemed")
    # The step-up lockout is a different one: untouched.
    assert not records(b, "stepup_lockout")
    # The administrator issues a new code: the lock is lifted with it.
    code2, proc = issue(b, "alice")
    assert "previous code no longer works" in proc.stdout
    assert redeem(pki, b, code)["code"] == "enrol_code_invalid"
    assert redeem(pki, b, code2)["op"] == "totp_secret"
    assert_never_recorded(b, code, code2, *guesses)


def test_confirm_without_pending_secret(broker, pki):
    b = stepup_broker(broker)
    with raw_client(pki, b) as r:
        r.hello()
        ans = ask(r, "totp_confirm", otp="123456")
        assert ans["op"] == "error", ans
        assert ans["code"] == "no_pending_secret"
        assert "enrolment code" in ans["message"]
    code, _ = issue(b, "alice")
    with raw_client(pki, b) as r:
        r.hello()
        secret = ask(r, "totp_enrol", code=code)["secret"]
        # A wrong first code: refused like a step-up, still pending.
        ans = ask(r, "totp_confirm", otp=wrong_code(secret))
        assert ans["code"] == "step_up_failed", ans
        assert ans["field"] == "otp"
        ans = ask(r, "totp_confirm", otp=totp(secret))
        assert ans["op"] == "totp_enrolled", ans
        # Active now: nothing is waiting any more.
        ans = ask(r, "totp_confirm", otp=totp(secret, time.time() + 30))
        assert ans["code"] == "no_pending_secret", ans
    results = [x["details"]["result"] for x in records(b, "totp_confirm")]
    assert results == ["not_pending", "wrong_code", "activated",
                       "not_pending"]


def test_active_secret_needs_force(broker, pki):
    b = stepup_broker(broker)
    secret, _ = enroll(b, "alice")
    # Pending (from the console): a code may replace it without --force.
    code, _ = issue(b, "alice")
    with raw_client(pki, b) as r:
        r.hello()
        new = ask(r, "totp_enrol", code=code)
        assert new["op"] == "totp_secret", new
        assert new["secret"] != secret
        assert ask(r, "totp_confirm",
                   otp=totp(new["secret"]))["op"] == "totp_enrolled"
    assert records(b, "totp_enrol_redeemed")[0]["details"]["replaced"] == \
        "pending"
    # Active: refused without --force, and nothing changes.
    proc = sekishod(b, "--totp-enrol-code", "alice")
    assert proc.returncode == 1
    assert "--force" in proc.stderr
    assert not CODE_RE.search(proc.stdout)
    forced, proc = issue(b, "alice", "--force")
    assert "active TOTP secret stops working" in proc.stdout
    ans = redeem(pki, b, forced)
    assert ans["op"] == "totp_secret" and ans["secret"] != new["secret"]
    red = records(b, "totp_enrol_redeemed")
    assert red[-1]["details"]["replaced"] == "active"
    assert red[-1]["details"]["forced"] is True
    issued = wait_records(b, "totp_enrol_code_issued", 2)
    assert "forced=yes" in issued[-1]["details"]["detail"]


def test_bad_input_changes_nothing(broker, pki):
    b = stepup_broker(broker)
    with raw_client(pki, b) as r:
        r.hello()
        for bad in ["ABCD-EFGH", "ABCD-EFGH-IJK9", "ABCD-EFGH-IJKL-MNOP",
                    "ＡＢＣＤ-EFGH-IJKL", ""]:
            ans = ask(r, "totp_enrol", code=bad)
            assert ans["code"] == "bad_value", (bad, ans)
            assert ans["field"] == "code"
            assert "XXXX-XXXX-XXXX" in ans["message"]
        # Over the wire's bound: refused by the codec.
        rid = r.request("totp_enrol", code="A" * 40)
        ans = r.recv()
        assert ans["op"] == "error" and ans["code"] == "too_large", ans
    assert not records(b, "totp_enrol_refused")
    for args, want in [(["--ttl", "1m"], "5m to 7d"),
                       (["--ttl", "8d"], "5m to 7d"),
                       (["--ttl", "soon"], "5m to 7d")]:
        proc = sekishod(b, "--totp-enrol-code", "alice", *args)
        assert proc.returncode == 2, proc
        assert want in proc.stderr
    proc = sekishod(b, "--totp-enrol-code", "no/such user")
    assert proc.returncode == 1 and "not a user id" in proc.stderr
    # --ttl belongs to --totp-enrol-code.
    proc = sekishod(b, "--totp-enroll", "alice", "--ttl", "1h")
    assert proc.returncode == 2
    time.sleep(0.2)
    assert not records(b, "totp_enrol_code_issued")


def test_without_stepup_section(broker, pki):
    b = broker()
    proc = sekishod(b, "--totp-enrol-code", "alice")
    assert proc.returncode == 1
    assert "stepup" in proc.stderr
    with raw_client(pki, b) as r:
        r.hello()
        ans = ask(r, "totp_enrol", code="ABCD-EFGH-IJKL")
        assert ans["code"] == "unavailable", ans
        assert "step-up key" in ans["message"]
        ans = ask(r, "totp_confirm", otp="123456")
        assert ans["code"] == "unavailable", ans


def test_same_code_twice_at_once(broker, pki):
    """Two connections send the same code without waiting: exactly one
    gets the secret."""
    b = stepup_broker(broker)
    code, _ = issue(b, "alice")
    with raw_client(pki, b) as r1, \
            raw_client(pki, b, user=second_cert(pki)) as r2:
        r1.hello()
        r2.hello()
        r1.request("totp_enrol", code=code)
        r2.request("totp_enrol", code=code)
        answers = [r1.recv(), r2.recv()]
    ops = sorted(a["op"] for a in answers)
    assert ops == ["error", "totp_secret"], answers
    err = next(a for a in answers if a["op"] == "error")
    assert err["code"] == "enrol_code_used", err
    assert len(records(b, "totp_enrol_redeemed")) == 1


def test_register_must_admit_the_user(broker, pki):
    register = dict(STEPUP_REGISTER)
    register["principals"] = {"users": [
        {"id": "bob", "department": "kikaku", "disabled": True}]}
    b = stepup_broker(broker, register=register)
    code, _ = issue(b, "bob")
    ans = redeem(pki, b, code, user="bob")
    assert ans["op"] == "error" and ans["code"] == "forbidden", ans
    with raw_client(pki, b, user="bob") as r:
        r.hello()
        assert ask(r, "totp_confirm", otp="123456")["code"] == "forbidden"
    # The refusals are answered before their records are written.
    refused = wait_records(b, "totp_enrol_refused")
    assert [x["details"]["reason"] for x in refused] == ["not_allowed"]
    assert [x["details"]["result"] for x in wait_records(b, "totp_confirm")] \
        == ["not_allowed"]
    # Nothing was used up: once the account is enabled, the code works.
    register["principals"]["users"][0]["disabled"] = False
    b.write_register(register)
    b.reload_and_wait()
    assert redeem(pki, b, code, user="bob")["op"] == "totp_secret"
