"""The interface register under two-person approval (register.mode:
approved, docs/policy.md "Approved register"): the broker runs only the
approved version stored in the state store, installed first by an explicit
and audited `sekishod --register-bootstrap`; an edited file on disk is never
loaded by itself (SIGHUP refuses it, audited), and a restart runs the
approved version whatever the file says."""

import hashlib
import os
import secrets
import time

import pytest

from conftest import EXIT_OK, EXIT_POLICY, raw_client, to_yaml
from stepup_helpers import (enroll, hooks_built, need_oathtool, records,
                            sekishod, totp, wait_records)

REGISTER_V1 = {"interfaces": [
    {"id": "IF-A", "max_class": 2},
    {"id": "IF-B", "max_class": 1},
]}

REGISTER_EDITED = {"interfaces": [
    {"id": "IF-A", "max_class": 2},
    {"id": "IF-NEW", "max_class": 3},           # a new route out
]}

APPROVED = {"register": {"path": "register.yaml", "mode": "approved"}}


def sha256_text(text):
    return hashlib.sha256(text.encode()).hexdigest()


def approved_broker(broker, register=REGISTER_V1, extra=None, start=True):
    """A broker in approved mode whose register.yaml was bootstrapped."""
    b = broker(register=register, extra=dict(APPROVED, **(extra or {})),
               start=False)
    proc = sekishod(b, "--register-bootstrap", b.register, "--reason",
                    "初回登録 / first version")
    assert proc.returncode == 0, proc.stderr
    return b.start() if start else b


def put(c, f, to, cls=1):
    return c.json("put", f, "--to", to, "--class", cls, "--purpose", "t")


def test_approved_mode_without_bootstrap_does_not_start(broker):
    b = broker(register=REGISTER_V1, extra=APPROVED, start=False)
    # --check-config says so, with a non-zero status, and creates no state
    # database (it may run as another user than the broker's).
    proc = b.check_config()
    assert proc.returncode == 1
    assert "--register-bootstrap" in proc.stderr
    assert not b.state_db.exists()
    with pytest.raises(RuntimeError) as e:
        b.start()
    b.ended_on_purpose = True
    assert "--register-bootstrap" in str(e.value)
    assert not b.state_db.exists()


def test_bootstrap_installs_the_first_version_audited(broker):
    b = approved_broker(broker)
    want = sha256_text(b.register.read_text())
    start = records(b, "start")[-1]["details"]
    assert start["register"] == want
    assert start["register_mode"] == "approved"
    boot = wait_records(b, "register_bootstrap")[0]
    assert boot["details"]["detail"] == f"version={want}"
    assert boot["details"]["actor"] != ""
    # Only once: later versions are proposed and approved.
    proc = sekishod(b, "--register-bootstrap", b.register, "--reason", "x")
    assert proc.returncode == 1
    assert "in force already" in proc.stderr
    assert "register propose" in proc.stderr


def test_bootstrap_needs_a_reason_and_approved_mode(broker):
    b = broker(register=REGISTER_V1, start=False)
    proc = sekishod(b, "--register-bootstrap", b.register)
    assert proc.returncode == 2
    assert "--reason" in proc.stderr
    proc = sekishod(b, "--register-bootstrap", b.register, "--reason", "r")
    assert proc.returncode == 1
    assert "register.mode is file" in proc.stderr


def test_bootstrap_lint_error_is_refused_with_its_line(broker):
    b = broker(register="interfaces:\n  - id: IF-A\n    max_class: 9\n",
               extra=APPROVED, start=False)
    proc = sekishod(b, "--register-bootstrap", b.register, "--reason", "r")
    assert proc.returncode == 1
    assert f"{b.register}:3:" in proc.stderr, proc.stderr
    # Nothing was installed: the broker still cannot start.
    with pytest.raises(RuntimeError) as e:
        b.start()
    b.ended_on_purpose = True
    assert "--register-bootstrap" in str(e.value)


def test_sighup_with_an_edited_file_is_refused_and_audited(broker, client,
                                                           tmp_path):
    b = approved_broker(broker)
    approved = sha256_text(b.register.read_text())
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"x\n")
    b.write_register(REGISTER_EDITED)
    edited = sha256_text(b.register.read_text())
    line = b.reload_and_wait()
    assert "register=kept" in line
    ref = wait_records(b, "register_reload_refused")[0]["details"]
    assert ref["file_sha256"] == edited
    assert ref["register"] == approved
    assert ref["path"] == str(b.register)
    rec = wait_records(b, "reload")[0]["details"]
    assert rec["register_reloaded"] is False
    assert rec["register"] == approved
    assert "register_reload_refused" in b.log_text()
    # Decisions still follow the approved version.
    rc, obj, err = put(c, f, "IF-NEW")
    assert rc == EXIT_POLICY, (obj, err)
    rc, obj, err = put(c, f, "IF-B")
    assert rc == EXIT_OK, (obj, err)
    acc = [r for r in records(b, "accept")
           if r["subject"].get("transfer") == obj["transfer"]]
    assert acc[0]["details"]["register"] == approved


def test_sighup_with_the_approved_file_changes_nothing(broker):
    b = approved_broker(broker)
    line = b.reload_and_wait()
    assert "register=reloaded" in line
    rec = wait_records(b, "reload")[0]["details"]
    assert rec["register_changed"] is False
    assert records(b, "register_reload_refused") == []


def test_restart_runs_the_approved_version_not_the_file(broker, client,
                                                        tmp_path):
    b = approved_broker(broker)
    approved = sha256_text(b.register.read_text())
    b.write_register(REGISTER_EDITED)
    b.restart()
    assert records(b, "start")[-1]["details"]["register"] == approved
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"x\n")
    rc, obj, err = put(c, f, "IF-NEW")
    assert rc == EXIT_POLICY, (obj, err)
    rc, obj, err = put(c, f, "IF-B")
    assert rc == EXIT_OK, (obj, err)
    # --check-config warns that the working copy is not in force.
    proc = b.check_config()
    assert proc.returncode == 0, proc.stderr
    assert "register_file_differs" in proc.stderr
    assert approved in proc.stdout


# --- proposals and approvals through `sekisho register` -------------------

PEOPLE = {
    "r-admin": ("r-admin", "joho"),      # admin; also in reg-approvers
    "r-appr1": ("r-appr1", "somu"),
    "r-appr2": ("r-appr2", "somu"),
    "r-staff": ("r-staff", "somu"),
    "r-off": ("r-off", "somu"),
}
STEPUP_PEOPLE = ("r-admin", "r-appr1", "r-appr2", "r-off")


def reg_v1(extra_interfaces=(), padding=""):
    reg = {
        "principals": {
            "users": [
                {"id": "r-admin", "department": "joho",
                 "roles": ["staff", "admin"]},
                {"id": "r-appr1", "department": "somu", "roles": ["staff"]},
                {"id": "r-appr2", "department": "somu", "roles": ["staff"]},
                {"id": "r-staff", "department": "somu", "roles": ["staff"]},
                {"id": "r-off", "department": "somu",
                 "roles": ["staff", "officer"]},
            ],
            "groups": [{"id": "reg-approvers",
                        "users": ["r-admin", "r-appr1", "r-appr2"]}],
        },
        "register_approvers": {"group": "reg-approvers", "count": 2},
        "interfaces": [
            {"id": "IF-A", "max_class": 2},
            {"id": "IF-B", "max_class": 1},
            *extra_interfaces,
        ],
    }
    return to_yaml(reg) + padding


def reg_v2(padding=""):
    return reg_v1([{"id": "IF-NEW", "max_class": 2}], padding)


class Reg:
    """A broker in approved mode with REG_V1 bootstrapped, TOTP enrolled
    for the people who step up, and a client per person."""

    def __init__(self, broker, client, pki, extra=None):
        for name, (uid, dept) in PEOPLE.items():
            cert, _ = pki.user_files(name)
            if not cert.exists():
                pki.issue_user(uid, dept, None)
        self.b = broker(register=reg_v1(), extra=dict(
            APPROVED, stepup={"key_file": "totp.key"}, **(extra or {})),
            start=False)
        key = self.b.dir / "totp.key"
        key.write_text(secrets.token_hex(32) + "\n")
        os.chmod(key, 0o600)
        self.secrets = {u: enroll(self.b, u)[0] for u in STEPUP_PEOPLE}
        proc = sekishod(self.b, "--register-bootstrap", self.b.register,
                        "--reason", "first version")
        assert proc.returncode == 0, proc.stderr
        self.v1 = sha256_text(self.b.register.read_text())
        self.b.start()
        self.offset = 0
        self.clients = {n: client(self.b, user=n) for n in PEOPLE}

    def code(self, who):
        return totp(self.secrets[who], time.time() + self.offset)

    def json(self, who, *args, otp=False):
        extra = ("--otp", self.code(who)) if otp else ()
        return self.clients[who].json(*args, *extra)

    def propose(self, who, path, *more, otp=True):
        return self.json(who, "register", "propose", path, "--reason",
                         "新しい連携先 / new route", *more, otp=otp)

    def vote(self, who, verb, version, *more):
        return self.json(who, "register", verb, version, *more, otp=True)

    def put(self, who, path, interface):
        return self.clients[who].json("put", path, "--to", interface,
                                      "--class", 1, "--purpose", "t")

    def restart(self, monkeypatch, offset):
        self.b.stop()
        monkeypatch.setenv("SEKISHO_TEST_CLOCK_OFFSET", str(offset))
        self.offset = offset
        self.b.start()


@pytest.fixture
def reg(broker, client, pki):
    need_oathtool()
    return lambda **kw: Reg(broker, client, pki, **kw)


def ecode(obj):
    """The error code of a --json failure."""
    return obj.get("error", {}).get("code")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_staff_and_officer_cannot_propose(reg, tmp_path):
    r = reg()
    f = write(tmp_path, "v2.yaml", reg_v2())
    for who in ("r-staff", "r-off"):
        rc, obj, err = r.propose(who, f, otp=who == "r-off")
        assert rc == EXIT_POLICY, (obj, err)
        assert ecode(obj) == "not_admin", obj
    refused = wait_records(r.b, "register_refused", 2)
    assert {x["actor"]["user"] for x in refused} == {"r-staff", "r-off"}
    assert all(x["details"]["code"] == "not_admin" for x in refused)
    rc, obj, err = r.json("r-admin", "register", "ls")
    assert rc == EXIT_OK, (obj, err)
    assert [v["state"] for v in obj["versions"]] == ["active"]


def test_lint_error_is_refused_with_its_line(reg, tmp_path):
    r = reg()
    bad = reg_v1() + "  - id: IF-BAD\n    max_class: 9\n"
    line = bad.count("\n")             # the max_class line
    rc, obj, err = r.propose("r-admin", write(tmp_path, "bad.yaml", bad))
    assert rc == EXIT_POLICY, (obj, err)
    assert ecode(obj) == "register_invalid", obj
    assert f"proposed register:{line}:" in obj["error"]["message"], obj
    rc, obj, err = r.json("r-admin", "register", "ls")
    assert [v["state"] for v in obj["versions"]] == ["active"], obj
    assert records(r.b, "register_proposed") == []


def test_n_of_m_activation_for_the_next_decision(reg, tmp_path):
    r = reg()
    data = tmp_path / "a.txt"
    data.write_bytes(b"x\n")
    # Over 12 KiB: the text travels in several parts.
    text = reg_v2(padding="# pad\n" * 7000)
    assert len(text) > 3 * 12288
    f = write(tmp_path, "v2.yaml", text)
    v2 = sha256_text(text)
    rc, obj, err = r.propose("r-admin", f)
    assert rc == EXIT_OK, (obj, err)
    assert obj["version"] == v2 and obj["state"] == "proposed"
    assert obj["required"] == 2 and obj["approvals"] == 0
    assert "IF-NEW" in obj["summary"]
    prop = wait_records(r.b, "register_proposed")[0]["details"]
    assert prop["version"] == v2 and prop["register"] == r.v1
    assert prop["added"] == "IF-NEW"

    # The proposer is in the group but cannot approve.
    rc, obj, err = r.vote("r-admin", "approve", v2[:12])
    assert rc == EXIT_POLICY and ecode(obj) == "own_request", obj
    # Someone outside the group cannot either.
    rc, obj, err = r.vote("r-off", "approve", v2[:12])
    assert rc == EXIT_POLICY and ecode(obj) == "not_register_approver", obj
    # One of two.
    rc, obj, err = r.vote("r-appr1", "approve", v2[:12], "--comment", "ok")
    assert rc == EXIT_OK, (obj, err)
    assert obj["state"] == "proposed" and obj["approvals"] == 1
    rc, obj, err = r.vote("r-appr1", "approve", v2[:12])
    assert rc == EXIT_POLICY and ecode(obj) == "already_voted", obj
    rc, obj, err = r.put("r-staff", data, "IF-NEW")
    assert rc == EXIT_POLICY, (obj, err)
    # Two of two: in force for the next decision.
    rc, obj, err = r.vote("r-appr2", "approve", v2, "--comment", "確認")
    assert rc == EXIT_OK, (obj, err)
    assert obj["state"] == "active" and obj["approvals"] == 2
    assert obj["in_force"] is True
    act = wait_records(r.b, "register_activated")[0]
    assert act["details"]["register"] == v2
    assert act["details"]["register_previous"] == r.v1
    assert act["details"]["approvers"] == "r-appr1,r-appr2"
    assert act["actor"]["user"] == "r-appr2"
    rc, obj, err = r.put("r-staff", data, "IF-NEW")
    assert rc == EXIT_OK, (obj, err)
    acc = [x for x in records(r.b, "accept")
           if x["subject"].get("transfer") == obj["transfer"]]
    assert acc[0]["details"]["register"] == v2

    # show: the votes; ls: the old version superseded.
    rc, obj, err = r.json("r-appr1", "register", "show", v2[:8])
    assert rc == EXIT_OK, (obj, err)
    assert [(v["approver"], v["vote"]) for v in obj["votes"]] == \
        [("r-appr1", "approve"), ("r-appr2", "approve")]
    rc, obj, err = r.json("r-admin", "register", "ls")
    states = {v["version"]: v["state"] for v in obj["versions"]}
    assert states == {v2: "active", r.v1: "superseded"}
    # Staff may not read the proposals.
    rc, obj, err = r.json("r-staff", "register", "ls")
    assert rc == EXIT_POLICY and ecode(obj) == "not_register_approver"

    # A restart runs the last approved version, not the file on disk
    # (which still says v1).
    r.b.restart()
    assert records(r.b, "start")[-1]["details"]["register"] == v2
    rc, obj, err = r.put("r-staff", data, "IF-NEW")
    assert rc == EXIT_OK, (obj, err)
    # The working copy still says v1: a SIGHUP refuses it; exported from
    # the store it is the approved text, and a SIGHUP is content.
    r.b.reload_and_wait()
    assert wait_records(r.b, "register_reload_refused")[0]["details"][
        "file_sha256"] == r.v1
    proc = sekishod(r.b, "--register-export", r.b.register)
    assert proc.returncode == 0, proc.stderr
    assert r.b.register.read_text() == text
    line = r.b.reload_and_wait()
    assert "register=reloaded" in line
    assert len(records(r.b, "register_reload_refused")) == 1
    proc = sekishod(r.b, "--register-export", "-")
    assert proc.returncode == 0 and proc.stdout == text


def test_reject_and_diff(reg, tmp_path):
    r = reg()
    v2 = sha256_text(reg_v2())
    rc, obj, err = r.propose("r-admin", write(tmp_path, "v2.yaml", reg_v2()))
    assert rc == EXIT_OK, (obj, err)
    rc, obj, err = r.json("r-appr1", "register", "diff", v2[:10])
    assert rc == EXIT_OK, (obj, err)
    assert obj["against"] == r.v1
    assert "interfaces added: IF-NEW" in obj["summary"]
    # For people: the summary one line per line, times as dates.
    rc, out, err = r.clients["r-appr1"].run("register", "diff", v2[:10])
    assert rc == EXIT_OK, (out, err)
    lines = out.splitlines()
    assert "summary       interfaces added: IF-NEW" in lines, out
    assert "              interfaces removed: -" in lines, out
    assert any(ln.startswith("created       20") and ln.endswith("Z")
               for ln in lines), out
    rc, obj, err = r.vote("r-appr1", "reject", v2[:10])
    assert rc != EXIT_OK                 # --comment is required
    rc, obj, err = r.vote("r-appr1", "reject", v2[:10], "--comment",
                          "宛先が未確認")
    assert rc == EXIT_OK and obj["state"] == "rejected", obj
    rej = wait_records(r.b, "register_rejected")[0]["details"]
    assert rej["comment"] == "宛先が未確認"
    rc, obj, err = r.vote("r-appr2", "approve", v2[:10])
    assert rc == EXIT_POLICY and ecode(obj) == "register_not_pending"
    # The same text again is the same version: refused, not duplicated.
    rc, obj, err = r.propose("r-admin", write(tmp_path, "v2b.yaml", reg_v2()))
    assert rc == EXIT_POLICY and ecode(obj) == "register_exists", obj


@pytest.mark.skipif(not hooks_built(), reason="needs -Dtest_hooks=true")
def test_emergency_reverted_when_not_confirmed(reg, tmp_path, monkeypatch):
    r = reg()
    data = tmp_path / "a.txt"
    data.write_bytes(b"x\n")
    v2 = sha256_text(reg_v2())
    rc, obj, err = r.propose("r-admin", write(tmp_path, "v2.yaml", reg_v2()),
                             "--emergency")
    assert rc == EXIT_OK and obj["emergency"] is True, (obj, err)
    rc, obj, err = r.vote("r-appr1", "approve", v2[:12])
    assert rc == EXIT_OK, (obj, err)
    assert obj["state"] == "emergency" and obj["confirm_by"] > 0
    act = wait_records(r.b, "register_activated")[0]["details"]
    assert act["emergency"] is True and act["register"] == v2
    rc, obj, err = r.put("r-staff", data, "IF-NEW")
    assert rc == EXIT_OK, (obj, err)
    # Nobody confirms within 24 h: the previous version is back, also
    # across a restart (the deadline is in the store).
    r.restart(monkeypatch, 25 * 3600)
    rev = wait_records(r.b, "register_reverted")[0]["details"]
    assert rev["version"] == v2
    assert rev["register"] == r.v1 and rev["register_previous"] == v2
    deadline = time.monotonic() + 10
    while True:
        rc, obj, err = r.put("r-staff", data, "IF-NEW")
        if rc == EXIT_POLICY or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rc == EXIT_POLICY, (obj, err)
    rc, obj, err = r.json("r-admin", "register", "ls")
    states = {v["version"]: v["state"] for v in obj["versions"]}
    assert states == {v2: "expired", r.v1: "active"}


@pytest.mark.skipif(not hooks_built(), reason="needs -Dtest_hooks=true")
def test_emergency_kept_when_confirmed(reg, tmp_path, monkeypatch):
    r = reg()
    data = tmp_path / "a.txt"
    data.write_bytes(b"x\n")
    v2 = sha256_text(reg_v2())
    rc, obj, err = r.propose("r-admin", write(tmp_path, "v2.yaml", reg_v2()),
                             "--emergency")
    assert rc == EXIT_OK, (obj, err)
    rc, obj, err = r.vote("r-appr1", "approve", v2[:12])
    assert rc == EXIT_OK and obj["state"] == "emergency", (obj, err)
    rc, obj, err = r.vote("r-appr2", "approve", v2[:12], "--comment",
                          "事後確認")
    assert rc == EXIT_OK and obj["state"] == "active", (obj, err)
    conf = wait_records(r.b, "register_confirmed")[0]
    assert conf["actor"]["user"] == "r-appr2"
    r.restart(monkeypatch, 25 * 3600)
    time.sleep(1.5)                       # the first sweep has run
    assert records(r.b, "register_reverted") == []
    rc, obj, err = r.put("r-staff", data, "IF-NEW")
    assert rc == EXIT_OK, (obj, err)


@pytest.mark.skipif(not hooks_built(), reason="needs -Dtest_hooks=true")
def test_a_proposal_expires(reg, tmp_path, monkeypatch):
    r = reg(extra={"register": {"path": "register.yaml", "mode": "approved",
                                "proposal_ttl": "2d"}})
    v2 = sha256_text(reg_v2())
    rc, obj, err = r.propose("r-admin", write(tmp_path, "v2.yaml", reg_v2()))
    assert rc == EXIT_OK, (obj, err)
    r.restart(monkeypatch, 3 * 86400)
    exp = wait_records(r.b, "register_expired")[0]["details"]
    assert exp["version"] == v2
    rc, obj, err = r.vote("r-appr1", "approve", v2[:12])
    assert rc == EXIT_POLICY and ecode(obj) == "register_not_pending", obj


def test_emergency_rejected_by_the_second_approver_is_undone_now(
        reg, tmp_path):
    r = reg()
    data = tmp_path / "a.txt"
    data.write_bytes(b"x\n")
    v2 = sha256_text(reg_v2())
    rc, obj, err = r.propose("r-admin", write(tmp_path, "v2.yaml", reg_v2()),
                             "--emergency")
    assert rc == EXIT_OK, (obj, err)
    rc, obj, err = r.vote("r-appr1", "approve", v2[:12])
    assert rc == EXIT_OK and obj["state"] == "emergency", (obj, err)
    rc, obj, err = r.put("r-staff", data, "IF-NEW")
    assert rc == EXIT_OK, (obj, err)
    rc, obj, err = r.vote("r-appr2", "reject", v2[:12], "--comment",
                          "経路が不要")
    assert rc == EXIT_OK and obj["state"] == "rejected", (obj, err)
    rev = wait_records(r.b, "register_reverted")[0]
    assert rev["actor"]["user"] == "r-appr2"
    assert rev["details"]["register"] == r.v1
    assert rev["details"]["register_previous"] == v2
    rc, obj, err = r.put("r-staff", data, "IF-NEW")
    assert rc == EXIT_POLICY, (obj, err)
    r.b.restart()
    assert records(r.b, "start")[-1]["details"]["register"] == r.v1


def test_a_proposal_based_on_a_superseded_version_is_not_approved(
        reg, tmp_path):
    r = reg()
    v2 = sha256_text(reg_v2())
    other = reg_v1([{"id": "IF-OTHER", "max_class": 1}])
    v3 = sha256_text(other)
    for name, text in (("v2.yaml", reg_v2()), ("v3.yaml", other)):
        rc, obj, err = r.propose("r-admin", write(tmp_path, name, text))
        assert rc == EXIT_OK and obj["base"] == r.v1, (obj, err)
    for who in ("r-appr1", "r-appr2"):
        rc, obj, err = r.vote(who, "approve", v2[:12])
        assert rc == EXIT_OK, (obj, err)
    assert obj["state"] == "active"
    # v3 was written against v1: approving it would drop IF-NEW.
    rc, obj, err = r.vote("r-appr1", "approve", v3[:12])
    assert rc == EXIT_POLICY and ecode(obj) == "register_stale", obj
    rc, obj, err = r.json("r-admin", "register", "show", v3[:12])
    assert obj["versions"][0]["state"] == "proposed"
    assert obj["votes"] == []


def test_proposal_parts_are_bounded_and_checked(reg, pki):
    """The raw protocol: sizes and offsets from the network are bounded,
    a text whose hash is not the announced one is refused and nothing is
    stored."""
    r = reg()
    text = reg_v2().encode()
    good = hashlib.sha256(text).hexdigest()
    with raw_client(pki, r.b, user="r-admin") as c:
        c.hello()

        def propose(**kw):
            fields = dict(version=good, size=len(text), offset=0,
                          part=text, reason="r")
            fields.update(kw)
            rid = c.request("register_propose", **fields)
            ans = c.recv()
            assert ans["id"] == rid, ans
            return ans

        ans = propose(otp=r.code("r-admin"), size=(1 << 20) + 1)
        assert (ans["op"], ans["code"], ans["field"]) == \
            ("error", "bad_value", "size"), ans
        # Parts must follow each other.
        ans = propose(part=text[:10])
        assert ans["op"] == "register_staged" and ans["received"] == 10
        ans = propose(part=text[20:30], offset=20)
        assert (ans["code"], ans["field"]) == ("bad_value", "offset"), ans
        ans = propose(part=text[10:], offset=10)
        assert ans["op"] == "error" and ans["code"] == "bad_value", ans
        # The announced hash must be the text's.
        wrong = hashlib.sha256(b"other").hexdigest()
        ans = propose(version=wrong)
        assert ans["op"] == "error", ans
        assert ans["code"] == "register_hash_mismatch", ans
        ans = propose()
        assert ans["op"] == "register_version", ans
        assert ans["version"] == good and ans["state"] == "proposed"
    # A part over 12 KiB is refused by the codec (and the connection
    # ends: the client broke the protocol).
    with raw_client(pki, r.b, user="r-admin") as c:
        c.hello()
        c.request("register_propose", version=good, size=20000, offset=0,
                  part=b"x" * 12289, reason="r")
        ans = c.recv()
        assert ans["op"] == "error" and ans["code"] == "too_large", ans
        assert ans["field"] == "part"
    refused = wait_records(r.b, "register_refused")
    assert refused[-1]["details"]["code"] == "register_hash_mismatch"
    assert len(records(r.b, "register_proposed")) == 1
