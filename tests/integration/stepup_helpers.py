"""Helpers of the step-up and register-reload tests (the shared fixtures are
in conftest.py): a broker with a `stepup` section and key file, TOTP
enrolment through `sekishod --totp-enroll`, codes computed by oathtool from
the enrolled secret, and small waits on the audit trail."""

import json
import os
import re
import secrets
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, SEKISHOD

URI_RE = re.compile(r"otpauth://totp/sekisho:([^?\s]+)\?secret=([A-Z2-7]+)"
                    r"&issuer=sekisho&algorithm=SHA1&digits=6&period=30")

STEPUP_REGISTER = {
    "interfaces": [
        {"id": "IF-STEP", "max_class": 2,
         "step_up": {"when": "always", "max_age": "15m"}},
        {"id": "IF-OPEN", "max_class": 2},
        {"id": "IF-C3", "max_class": 3},
    ],
}


def need_oathtool():
    if not shutil.which("oathtool"):
        pytest.skip("oathtool is not installed")


def hooks_built():
    """True when the build under test was configured with -Dtest_hooks=true
    (the broker then honours SEKISHO_TEST_CLOCK_OFFSET)."""
    try:
        opts = json.loads((BUILD / "meson-info" /
                           "intro-buildoptions.json").read_text())
    except (OSError, ValueError):
        return False
    return any(o.get("name") == "test_hooks" and o.get("value") is True
               for o in opts)


def stepup_broker(broker, register=None, start=True, key_mode=0o600,
                  **stepup):
    """A broker whose configuration has a stepup section and a fresh key
    file (64 hex digits) with the given mode."""
    section = {"key_file": "totp.key"}
    section.update(stepup)
    b = broker(register=register or STEPUP_REGISTER,
               extra={"stepup": section}, start=False)
    key = b.dir / "totp.key"
    key.write_text(secrets.token_hex(32) + "\n")
    os.chmod(key, key_mode)
    return b.start() if start else b


def sekishod(b, *args, env=None):
    """Runs `sekishod -c CONFIG ARGS...`; returns the CompletedProcess."""
    return subprocess.run([str(SEKISHOD), "-c", str(b.config),
                           *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=env)


def enroll(b, user="alice", force=False):
    """Enrols user; returns (base32 secret, completed process)."""
    args = ["--totp-enroll", user] + (["--force"] if force else [])
    proc = sekishod(b, *args)
    assert proc.returncode == 0, proc.stderr
    m = URI_RE.search(proc.stdout)
    assert m, f"no otpauth URI in {proc.stdout!r}"
    assert m.group(1) == user
    return m.group(2), proc


def totp(secret, at=None):
    """The code oathtool computes from the base32 secret at unix time at
    (default now)."""
    cmd = ["oathtool", "--totp", "-b", secret]
    if at is not None:
        cmd += ["-N", f"@{int(at)}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                         check=True).stdout.strip()
    assert re.fullmatch(r"\d{6}", out), out
    return out


def wrong_code(secret, at=None):
    """A six-digit code that is none of the secret's codes from 90 s before
    to 90 s after at (so it is wrong whatever step the broker is in)."""
    t = int(at if at is not None else time.time())
    valid = {totp(secret, t + d) for d in range(-90, 91, 30)}
    for n in range(1000000):
        code = f"{n:06d}"
        if code not in valid:
            return code
    raise AssertionError("no wrong code found")


def records(b, rtype):
    return [r for r in b.audit_records() if r.get("type") == rtype]


def wait_records(b, rtype, count=1, timeout=15.0):
    """Waits (bounded) until the audit log holds count records of rtype;
    returns them."""
    deadline = time.monotonic() + timeout
    while True:
        found = records(b, rtype)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} audit record(s) {rtype!r} not "
                                 f"written within {timeout}s; have "
                                 f"{len(found)}")
        time.sleep(0.1)


def second_cert(pki, user="alice", dept="soumu", terminal="T002"):
    """Another certificate of the same user (another terminal): a step-up
    is bound to one certificate, so this one has none."""
    cert, key = pki.user_files(f"{user}@{terminal}")
    if not cert.exists():
        pki.issue_user(user, dept, terminal)
    return f"{user}@{terminal}"


def put_fields(interface="IF-STEP", size=5, cls=1, **extra):
    fields = {"interface": interface, "name": "report.pdf", "size": size,
              "class": cls, "purpose": "step-up test"}
    fields.update(extra)
    return fields


def values(obj):
    """Every scalar inside a decoded audit record."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from values(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from values(v)
    else:
        yield obj
