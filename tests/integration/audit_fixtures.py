"""Helpers for the audit trail tests: a register with an auditor, a broker
with small segments and frequent checkpoints, the auditor's client, the
`sekisho audit` commands, and tampering with a pulled directory.

The pulled directory (docs/audit.md): checkpoint.note, proof.txt,
leaves.bin, records.audit (and previous.note).
"""

import io
import json
import os
import pathlib
import shutil
import subprocess

import cbor2

from conftest import EXIT_OK, SEKISHOD

AUDITOR = "kansa"            # user id of the auditor's certificate
AUDITOR_DEPT = "kansa-ka"
EXIT_INVALID = 7             # sekisho audit verify: the trail does not hold

REGISTER = {
    "principals": {
        "users": [
            {"id": AUDITOR, "department": AUDITOR_DEPT,
             "roles": ["auditor"]},
        ],
    },
    "interfaces": [
        {"id": "IF-2026-001", "max_class": 2},
    ],
}


def audit_config(**overrides):
    """The audit section of a test broker: small segments so the tree spans
    several of them, frequent checkpoints."""
    cfg = {"segment_size": "4KiB", "checkpoint_records": 5,
           "checkpoint_interval": "1s"}
    cfg.update(overrides)
    return cfg


def ensure_auditor(pki):
    """Issues the auditor's certificate once per session."""
    cert, key = pki.user_files(AUDITOR)
    if not cert.exists():
        pki.issue_user(AUDITOR, AUDITOR_DEPT)
    return cert, key


def start_broker(broker, pki, audit=None, extra=None, start=True):
    ensure_auditor(pki)
    ext = {"audit": audit_config(**(audit or {}))}
    ext.update(extra or {})
    return broker(register=REGISTER, extra=ext, start=start)


def verifier_key(b):
    """The verifier key file the broker generated at its first start."""
    return b.dir / "audit-verifier.pub"


def upload(c, path, to="IF-2026-001"):
    rc, obj, err = c.json("put", path, "--to", to, "--class", 1,
                          "--purpose", "audit trail test")
    assert rc == EXIT_OK, (rc, obj, err)
    return obj["transfer"]


def audit(c, *args, json_out=False):
    """Runs `sekisho audit ARGS`; (exit code, stdout or parsed JSON,
    stderr)."""
    extra = ("--json",) if json_out else ()
    rc, out, err = c.run("audit", *args, *extra)
    if json_out:
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1, (rc, out, err)
        return rc, json.loads(lines[0]), err
    return rc, out, err


def pull(c, out, *args):
    rc, obj, err = audit(c, "pull", "--out", out, *args, json_out=True)
    assert rc == EXIT_OK, (rc, obj, err)
    return obj


def verify(c, d, key, *args):
    """(exit code, result object) of `sekisho audit verify --json`."""
    rc, obj, err = audit(c, "verify", d, "--key", key, *args,
                         json_out=True)
    return rc, obj


def records_of(d):
    """The pulled records as (bytes, decoded) pairs."""
    data = (pathlib.Path(d) / "records.audit").read_bytes()
    out = []
    fp = io.BytesIO(data)
    while fp.tell() < len(data):
        start = fp.tell()
        item = cbor2.CBORDecoder(fp).decode()
        out.append((data[start:fp.tell()], item))
    return out


def write_records(d, raws):
    (pathlib.Path(d) / "records.audit").write_bytes(b"".join(raws))


def copy_pull(src, dst):
    shutil.copytree(src, dst)
    return dst


def keygen(tmp, name="other.example/sekisho-audit"):
    """Another key pair, made with sekishod --audit-keygen: (private, public)
    paths."""
    tmp = pathlib.Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "keygen.yaml"
    cfg.write_text(
        'listen: "127.0.0.1:1"\n'
        "tls: {cert: x, key: x, ca: x, crl: x}\n"
        "spool_dir: s\nstate_db: d\naudit_dir: a\nregister: r\n"
        f'audit:\n  name: "{name}"\n  signing_key: other.key\n'
        "  verifier_key: other.pub\n")
    proc = subprocess.run([str(SEKISHOD), "-c", str(cfg), "--audit-keygen"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return tmp / "other.key", tmp / "other.pub"


def can_mount_tmpfs(path):
    """Mounts a small tmpfs at path; returns None, or why it cannot."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700",
                           "tmpfs", str(path)], capture_output=True,
                          text=True, timeout=30)
    if proc.returncode != 0:
        return f"cannot mount a tmpfs here: {proc.stderr.strip()}"
    return None


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True,
                   timeout=30)


def fill(path):
    """Fills the file system of path until it is full; returns the filler."""
    filler = pathlib.Path(path) / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler
