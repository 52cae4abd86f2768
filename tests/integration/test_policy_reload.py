"""The interface register at run time and in the tools: SIGHUP reloads
(a broken register keeps the old one, a good one is audited with its hash
and the interfaces it changed), decisions record the register hash they
used, `sekishod --check-config` prints lint warnings, and
`sekisho policy explain` shows a decision and its rule chain offline."""

import hashlib
import subprocess
import time

from conftest import EXIT_OK, EXIT_POLICY, EXIT_USAGE, SEKISHO, need_binary
from stepup_helpers import records, wait_records

REGISTER_V1 = {"interfaces": [
    {"id": "IF-A", "max_class": 2},
    {"id": "IF-B", "max_class": 1},
    {"id": "IF-C", "max_class": 1},
]}

REGISTER_V2 = {"interfaces": [
    {"id": "IF-A", "max_class": 1},             # changed
    {"id": "IF-B", "max_class": 1},             # unchanged
    {"id": "IF-D", "max_class": 2},             # added; IF-C removed
]}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def put(c, f, to, cls=1):
    return c.json("put", f, "--to", to, "--class", cls, "--purpose", "t")


def reload_and_wait(b, count):
    b.reload()
    return wait_records(b, "reload", count)[count - 1]


def test_broken_register_keeps_the_old_one(broker, client, tmp_path):
    b = broker(register=REGISTER_V1)
    old_hash = sha256(b.register)
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"x\n")
    b.write_register("interfaces:\n  - id: IF-A\n    max_class: [\n")
    rec = reload_and_wait(b, 1)
    assert rec["details"]["register_reloaded"] is False
    assert rec["details"]["register"] == old_hash
    assert "register.yaml" in rec["details"]["error"]
    assert "old register stays in force" in b.log_text()
    # Still decided by the old register, and the decision says so.
    rc, obj, err = put(c, f, "IF-C")
    assert rc == EXIT_OK, (obj, err)
    acc = [r for r in records(b, "accept")
           if r["subject"].get("transfer") == obj["transfer"]]
    assert acc[0]["details"]["register"] == old_hash

    # A register that is valid YAML but not a valid register: the same.
    b.write_register({"interfaces": [{"id": "IF-A", "max_class": 7}]})
    rec = reload_and_wait(b, 2)
    assert rec["details"]["register_reloaded"] is False
    rc, obj, err = put(c, f, "IF-C")
    assert rc == EXIT_OK, (obj, err)


def test_good_reload_is_audited_with_hash_and_changes(broker, client,
                                                      tmp_path):
    b = broker(register=REGISTER_V1)
    old_hash = sha256(b.register)
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"x\n")
    b.write_register(REGISTER_V2)
    new_hash = sha256(b.register)
    rec = reload_and_wait(b, 1)
    d = rec["details"]
    assert d["register_reloaded"] is True
    assert d["register"] == new_hash
    assert d["register_previous"] == old_hash
    assert d["register_changed"] is True
    assert d["added"] == "IF-D" and d["interfaces_added"] == 1
    assert d["removed"] == "IF-C" and d["interfaces_removed"] == 1
    assert d["changed"] == "IF-A" and d["interfaces_changed"] == 1
    assert d["sections_changed"] == ""

    # Decisions now use (and record) the new register.
    rc, obj, err = put(c, f, "IF-C")
    assert rc == EXIT_POLICY, (obj, err)
    decide = [r for r in records(b, "decide")
              if r["subject"].get("interface") == "IF-C"]
    assert decide and decide[-1]["details"]["register"] == new_hash
    rc, obj, err = put(c, f, "IF-D")
    assert rc == EXIT_OK, (obj, err)

    # Reordering keys is not a change; a new section is.
    b.write_register('principals:\n  unknown_users: staff\n'
                     'interfaces:\n'
                     '  - max_class: 1\n    id: IF-A\n'
                     '  - id: IF-B\n    max_class: 1\n'
                     '  - id: IF-D\n    max_class: 2\n')
    rec = reload_and_wait(b, 2)
    d = rec["details"]
    assert d["register_reloaded"] is True
    assert (d["added"], d["removed"], d["changed"]) == ("", "", "")
    assert d["sections_changed"] == "principals"


def test_service_change_counts_as_interface_change(broker):
    def reg(endpoint):
        return {"services": [{"id": "dav", "connector": "webdav",
                              "endpoint": endpoint}],
                "interfaces": [{"id": "IF-A", "max_class": 1,
                                "service": "dav"},
                               {"id": "IF-B", "max_class": 1}]}
    b = broker(register=reg("https://dav.example.jp/a/"))
    b.write_register(reg("https://dav.example.jp/b/"))
    d = reload_and_wait(b, 1)["details"]
    assert d["changed"] == "IF-A"
    assert d["sections_changed"] == "services"


def test_check_config_prints_lint_warnings(broker):
    b = broker(register={"interfaces": [
        {"id": "IF-A", "max_class": 1},
        {"id": "IF-OLD", "max_class": 1, "purpose": "p", "owner": "o",
         "approved_by": "a", "next_review": "2020-01-01",
         "allow": {"roles": ["staff"]}},
    ], "principals": {"groups": [{"id": "nobody-uses-me",
                                   "departments": ["x"]}]}}, start=False)
    proc = b.check_config()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    reg = str(b.register)
    assert any(ln.startswith(reg + ":") and ": legacy_open: " in ln
               for ln in lines), lines
    assert any(": review_overdue: " in ln for ln in lines), lines
    assert any(": unused_principal: " in ln and "nobody-uses-me" in ln
               for ln in lines), lines
    assert "warning" in proc.stdout and "valid" in proc.stdout
    # An invalid register is an error, not a warning.
    b.write_register({"interfaces": [{"id": "IF-A"}]})
    proc = b.check_config()
    assert proc.returncode == 1
    assert "max_class" in proc.stderr


def explain(register, *args):
    need_binary(SEKISHO, "sekisho client")
    proc = subprocess.run([str(SEKISHO), "policy", "explain", "--register",
                           str(register), *map(str, args)],
                          capture_output=True, text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


def test_policy_explain(broker):
    b = broker(register={
        "principals": {"users": [{"id": "alice", "department": "soumu"}]},
        "interfaces": [
            {"id": "IF-A", "max_class": 2, "allow": {"users": ["alice"]},
             "schedule": {"days": "mon-fri", "hours": "08:00-18:00",
                          "timezone": "Asia/Tokyo"},
             "step_up": {"when": "class>=2"}},
            {"id": "IF-HIDDEN", "max_class": 1,
             "allow": {"users": ["alice"]}},
        ]}, start=False)
    # A Tuesday, 10:00 in Tokyo.
    at = "2026-11-24T10:00:00+09:00"
    rc, out, err = explain(b.register, "--user", "alice", "--dept", "soumu",
                           "--to", "IF-A", "--class", "1", "--at", at)
    assert rc == EXIT_OK, err
    assert "verdict   allow" in out
    assert "rule      IF-A" in out
    assert sha256(b.register) in out
    assert "chain:" in out and len(out.split("chain:")[1].strip()) > 0

    rc, out, err = explain(b.register, "--user", "alice", "--to", "IF-A",
                           "--class", "2", "--at", at)
    assert rc == EXIT_POLICY
    assert "verdict   step_up_required" in out
    rc, out, err = explain(b.register, "--user", "alice", "--to", "IF-A",
                           "--class", "2", "--at", at, "--step-up-age", "1m")
    assert rc == EXIT_OK, out

    # Saturday: outside the schedule.
    rc, out, err = explain(b.register, "--user", "alice", "--to", "IF-A",
                           "--class", "1", "--at", "2026-11-28T10:00:00+09:00")
    assert rc == EXIT_POLICY
    assert "outside_hours" in out

    rc, out, err = explain(b.register, "--user", "alice", "--to", "IF-A",
                           "--class", "3", "--at", at)
    assert rc == EXIT_POLICY
    assert "builtin:class3" in out

    rc, out, err = explain(b.register, "--user", "mallory", "--to", "IF-A",
                           "--class", "1", "--at", "@1795000000")
    assert rc == EXIT_POLICY and "not_permitted" in out

    # Usage errors, and a register that does not load.
    rc, out, err = explain(b.register, "--to", "IF-A")
    assert rc == EXIT_USAGE and "--user" in err
    rc, out, err = explain(b.register, "--user", "a", "--to", "IF-A",
                           "--at", "2026-02-31T10:00:00Z")
    assert rc == EXIT_USAGE
    rc, out, err = explain(b.dir / "missing.yaml", "--user", "a", "--to",
                           "IF-A")
    assert rc == 2 and "missing.yaml" in err
