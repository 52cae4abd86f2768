"""The broker's TLS private key lives in a process of its own: the broker
asks it for each handshake's signature, so without it no terminal can
connect, and the broker's own memory never holds the key."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import EXIT_OK, free_port

MiB = 1 << 20


def children(pid):
    """{comm: pid} of pid's children."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids = f.read().split()
        except FileNotFoundError:
            continue
        for kid in kids:
            with open(f"/proc/{kid}/comm") as f:
                out[f.read().strip()] = int(kid)
    return out


def put(c, tmp_path, name="a.txt"):
    f = tmp_path / name
    f.write_text("hello")
    return c.json("put", f, "--to", "IF-2026-001", "--class", 1,
                  "--purpose", "key test")


def private_scalar(key):
    """The EC private key's scalar, as bytes (big-endian)."""
    text = subprocess.run(["openssl", "pkey", "-in", str(key), "-text",
                           "-noout"], capture_output=True, text=True,
                          check=True).stdout
    m = re.search(r"priv:\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    return bytes.fromhex(re.sub(r"[\s:]", "", m.group(1)))[-32:]


def memory_has(pid, needle):
    """Whether needle (or its byte-reversed form, as OpenSSL's BIGNUM
    words hold it on little-endian machines) is in pid's writable memory.
    Regions larger than 256 MiB (sanitizer shadow, reservations) are
    skipped: a heap that small is what holds a key."""
    forms = (needle, needle[::-1])
    with open(f"/proc/{pid}/maps") as maps, \
            open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("rw"):
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            if hi - lo > 256 * MiB:
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            if any(f in data for f in forms):
                return True
    return False


def test_handshakes_need_the_key_process(broker, client, tmp_path):
    port = free_port()
    b = broker(extra={"monitor": {"listen": f"127.0.0.1:{port}"}})
    assert "event=tls_key separated=1" in b.log_text()
    key_pid = children(b.proc.pid)["sekishod-tlskey"]
    # It runs under its own system call filter, unable to gain rights.
    status = open(f"/proc/{key_pid}/status").read()
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
    c = client(b)
    assert put(c, tmp_path)[0] == EXIT_OK

    os.kill(key_pid, signal.SIGKILL)
    rc, obj, err = put(c, tmp_path, "b.txt")
    assert rc != EXIT_OK, obj
    # Refused at the handshake; the broker says why, once, and keeps
    # running (its health says it cannot take terminals).
    deadline = time.monotonic() + 10
    while "event=tls_key reason=" not in b.log_text():
        assert time.monotonic() < deadline, b.log_text()[-2000:]
        time.sleep(0.1)
    assert b.running()
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/health")
    r = conn.getresponse()
    body = r.read().decode()
    assert r.status == 503 and "TLS key process" in body, body
    b.ended_on_purpose = True


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="reading another process's memory needs root")
def test_key_is_only_in_the_key_process(broker, client, pki, tmp_path):
    b = broker()
    # A few handshakes first, so that anything the broker might keep
    # would be there.
    c = client(b)
    for i in range(3):
        assert put(c, tmp_path, f"{i}.txt")[0] == EXIT_OK
    kids = children(b.proc.pid)
    scalar = private_scalar(pki.server_key)
    # The search finds the key where it is (so it can fail)...
    assert memory_has(kids["sekishod-tlskey"], scalar)
    # ...and not in the process that talks to the terminals.
    assert not memory_has(b.proc.pid, scalar)


def test_a_non_ec_key_stays_in_the_broker(broker, client, pki, tmp_path):
    # An RSA certificate from the same CA, as a commercial or older PKI
    # might issue: the broker still works and says the key is not
    # separated.
    d = tmp_path / "rsa"
    d.mkdir()
    key, csr, crt, ext = (d / "k.pem", d / "r.csr", d / "c.pem",
                          d / "ext.cnf")
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-subj", "/CN=localhost",
                    "-out", csr], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", pki.ca,
                    "-CAkey", pki.dir / "ca.key", "-CAcreateserial",
                    "-days", "2", "-extfile", ext, "-out", crt],
                   check=True, capture_output=True)
    b = broker(start=False)
    shutil.copyfile(crt, b.dir / "server.crt")
    shutil.copyfile(key, b.dir / "server.key")
    os.chmod(b.dir / "server.key", 0o600)
    b.start()
    assert re.search(r"event=tls_key separated=0 reason=\"tls.key \S+ is "
                     r"not an EC key", b.log_text()), b.log_text()
    assert "sekishod-tlskey" not in children(b.proc.pid)
    assert put(client(b), tmp_path)[0] == EXIT_OK


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_tls_key_others_can_read_is_refused(broker, mode):
    """tls.key is held to the rule of every other private key (TOTP key,
    audit signing key, credentials): a key group or others can read is
    refused, by --check-config and by the start alike, with the fix."""
    b = broker(start=False)
    os.chmod(b.dir / "server.key", mode)
    chk = b.check_config()
    assert chk.returncode == 1, chk
    assert "tls.key" in chk.stderr and f"{mode:04o}" in chk.stderr, \
        chk.stderr
    assert "chmod 600" in chk.stderr, chk.stderr
    with pytest.raises(RuntimeError) as e:
        b.start()
    assert f"{mode:04o}" in str(e.value) and "chmod 600" in str(e.value), \
        str(e.value)
    os.chmod(b.dir / "server.key", 0o600)
    assert b.check_config().returncode == 0
    b.start()
