"""The client with an encrypted private key: the passphrase from a file only
the user can read, or asked for on the terminal (a real pseudo-terminal
here) with echo off; never a silent failure, never a terminal left without
echo."""

import fcntl
import os
import select
import signal
import subprocess
import termios
import time

from conftest import EXIT_LOCAL, EXIT_OK

PASSPHRASE = "関所の合言葉 #1"


def encrypted_copy(pki, tmp_path, passphrase=PASSPHRASE):
    """alice's key, encrypted (PKCS#8, AES-256) with passphrase."""
    _, key = pki.alice()
    pw = tmp_path / "pw.tmp"
    pw.write_text(passphrase + "\n")
    out = tmp_path / "alice-enc.key"
    subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc",
                    "-in", str(key), "-out", str(out),
                    "-passout", f"file:{pw}"], check=True)
    pw.unlink()
    os.chmod(out, 0o600)
    assert b"ENCRYPTED PRIVATE KEY" in out.read_bytes()
    return out


def put_args(f):
    return ("put", str(f), "--to", "IF-2026-001", "--class", "1",
            "--purpose", "key test")


def run_detached(c, *args):
    """Runs the client with no controlling terminal at all."""
    proc = subprocess.run(c.argv(*args), capture_output=True, timeout=60,
                          env=c.env, stdin=subprocess.DEVNULL,
                          start_new_session=True)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def staff_with_encrypted_key(broker, client, pki, tmp_path):
    """(broker, client, its encrypted key, a file to upload)."""
    b = broker()
    c = client(b)
    key = encrypted_copy(pki, tmp_path)
    c.write_config(key=str(key))
    f = tmp_path / "a.txt"
    f.write_text("hello")
    return b, c, key, f


def test_passphrase_file(broker, client, pki, tmp_path):
    b, c, key, f = staff_with_encrypted_key(broker, client, pki, tmp_path)

    # No passphrase and no terminal: a clear refusal, nothing sent.
    rc, out, err = run_detached(c, *put_args(f))
    assert rc == EXIT_LOCAL, (rc, out, err)
    assert "encrypted" in err and "--key-passphrase-file" in err, err
    assert b.spool_entries() == []

    pw = tmp_path / "passphrase"
    pw.write_text(PASSPHRASE + "\n")
    os.chmod(pw, 0o644)
    rc, out, err = run_detached(c, "--key-passphrase-file", pw,
                                *put_args(f))
    assert rc == EXIT_LOCAL and "chmod 600" in err, (rc, err)

    os.chmod(pw, 0o600)
    rc, out, err = run_detached(c, "--key-passphrase-file", pw,
                                *put_args(f))
    assert rc == EXIT_OK, (rc, out, err)
    # The same from the configuration file.
    c.write_config(key=str(key), key_passphrase_file=str(pw))
    rc, out, err = run_detached(c, *put_args(f))
    assert rc == EXIT_OK, (rc, out, err)

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    os.chmod(wrong, 0o600)
    rc, out, err = run_detached(c, "--key-passphrase-file", wrong,
                                *put_args(f))
    assert rc == EXIT_LOCAL and "wrong passphrase" in err, (rc, err)
    assert PASSPHRASE not in out + err


class Terminal:
    """The client on a pseudo-terminal that is its controlling terminal."""

    def __init__(self, argv, env):
        self.master, slave = os.openpty()
        self.slave = slave

        def setup():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave,
                                     stderr=slave, env=env,
                                     preexec_fn=setup, close_fds=True)
        self.seen = b""

    def read_until(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, self.seen
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    break
        return self.seen

    def send(self, data):
        os.write(self.master, data)

    def wait(self, timeout=60):
        """Reads what the client writes (a full terminal would block it)
        until it exits; its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, self.seen
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    pass
        while select.select([self.master], [], [], 0.1)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk
        return self.proc.returncode

    def echo_on(self):
        return bool(termios.tcgetattr(self.slave)[3] & termios.ECHO)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)
        os.close(self.slave)


def at_the_prompt(c, f, typed, prompt="Passphrase for"):
    """Runs put on a terminal and types `typed` at the passphrase prompt:
    (exit code, what the terminal showed, whether it echoes again)."""
    t = Terminal(c.argv(*put_args(f)), c.env)
    try:
        t.read_until(prompt)
        t.send(typed)
        rc = t.wait()
        return rc, t.seen, t.echo_on()
    finally:
        t.close()


def test_passphrase_asked_on_the_terminal(broker, client, pki, tmp_path):
    _, c, key, f = staff_with_encrypted_key(broker, client, pki, tmp_path)

    # A typo corrected with the erase key, then the right passphrase.
    rc, seen, echo = at_the_prompt(c, f, b"x\x7f" + PASSPHRASE.encode() +
                                   b"\r", f"Passphrase for {key}: ")
    assert rc == EXIT_OK, seen.decode(errors="replace")
    # Not echoed; the terminal is as it was.
    assert PASSPHRASE.encode() not in seen and echo

    rc, seen, echo = at_the_prompt(c, f, b"guess\n")
    assert rc == EXIT_LOCAL and b"wrong passphrase" in seen and echo

    # The interrupt key at the prompt (^C, the terminal's VINTR): the
    # client stops as interrupted, and the terminal echoes again.
    rc, seen, echo = at_the_prompt(c, f, b"half\x03")
    assert rc == -signal.SIGINT and echo


def test_a_key_others_can_read_is_refused(broker, client, pki, tmp_path):
    """The terminal's private key is held to the same rule as every other
    key of the project: a key that group or others can read is refused with
    the mode and the fix, before any connection is made."""
    b = broker()
    c = client(b)
    _, key = pki.alice()
    for mode in (0o644, 0o640):
        loose = tmp_path / f"alice-{mode:o}.key"
        loose.write_bytes(key.read_bytes())
        os.chmod(loose, mode)
        c.write_config(key=str(loose))
        rc, out, err = c.run("whoami")
        assert rc == EXIT_LOCAL, (mode, rc, out, err)
        assert str(loose) in err and "chmod 600" in err, err
    ok = tmp_path / "alice-600.key"
    ok.write_bytes(key.read_bytes())
    os.chmod(ok, 0o600)
    c.write_config(key=str(ok))
    rc, out, err = c.run("whoami")
    assert rc == EXIT_OK, err
