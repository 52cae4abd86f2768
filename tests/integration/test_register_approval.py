"""The interface register under two-person approval (register.mode:
approved, docs/policy.md "Approved register"): the broker runs only the
approved version stored in the state store, installed first by an explicit
and audited `sekishod --register-bootstrap`; an edited file on disk is never
loaded by itself (SIGHUP refuses it, audited), and a restart runs the
approved version whatever the file says."""

import hashlib

import pytest

from conftest import EXIT_OK, EXIT_POLICY
from stepup_helpers import records, sekishod, wait_records

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
    with pytest.raises(RuntimeError) as e:
        b.start()
    b.ended_on_purpose = True
    assert "--register-bootstrap" in str(e.value)
    # --check-config says the same, with a non-zero status.
    proc = b.check_config()
    assert proc.returncode == 1
    assert "--register-bootstrap" in proc.stderr


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
