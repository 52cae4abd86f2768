"""Shared fixtures of the integration tests: real processes, 127.0.0.1 only.

- `pki` (session): a CA made with sekisho-pki, a server certificate for
  localhost and the users the tests need, good and bad.
- `broker` (factory): writes a configuration and an interface register into a
  fresh directory, starts `sekishod -c CONFIG` on a free loopback port and
  waits until the port accepts; every broker is killed at teardown.
- `client` (factory): runs `sekisho --config FILE ...` as a given user and
  returns (exit code, stdout, stderr).
- RawClient: a TLS + CBOR client in Python for the protocol and TLS tests.

Binaries come from the build directory $SEKISHO_BUILD (default <repo>/build);
tests that need a binary that is not built are skipped with the reason.
Every wait is a bounded loop; nothing listens anywhere but 127.0.0.1.
"""

import io
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import cbor2
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("SEKISHO_BUILD", REPO / "build")).resolve()
PKI_TOOL = REPO / "pki" / "sekisho-pki"
SEKISHOD = BUILD / "broker" / "sekishod"
SEKISHO = BUILD / "client" / "sekisho"
# The client speaks the locale's language (gettext); the tests read its
# English, so every process they start runs in the C locale. LANGUAGE is
# dropped too: glibc honours it under C.UTF-8. test_i18n sets its own.
for _var in ("LANGUAGE", "LANG", "LC_MESSAGES"):
    os.environ.pop(_var, None)
os.environ["LC_ALL"] = "C.UTF-8"

ALPN = "sekisho/1"
START_TIMEOUT = 10.0      # seconds for a broker to accept connections
STOP_TIMEOUT = 10.0       # seconds for a broker to exit after a signal
CLIENT_TIMEOUT = 120.0    # seconds for one client run

DEFAULT_REGISTER = {
    "interfaces": [
        {"id": "IF-2026-001", "max_class": 2},
        {"id": "IF-2026-002", "max_class": 1},
    ],
}

DEFAULT_LIMITS = {
    "max_file_size": "4GiB",
    "max_connections": 1024,
    "handshake_timeout": "10s",
    "idle_timeout": "300s",
    "partial_ttl": "24h",
    "min_free_space": "16MiB",
}

# Exit codes of the client (docs/operations.md, client section).
EXIT_OK, EXIT_USAGE, EXIT_LOCAL, EXIT_CONN, EXIT_POLICY, EXIT_BROKER, \
    EXIT_NOTFOUND = range(7)


def to_yaml(value, indent=0):
    """Block-style YAML for the configurations the tests write: mappings,
    sequences, strings (double-quoted, JSON escapes are valid YAML ones),
    integers and booleans. Kept here so the tests need no YAML package."""
    pad = "  " * indent

    def key(k):
        k = str(k)
        return k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", k) else \
            json.dumps(k, ensure_ascii=False)

    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{key(k)}:\n"
                           + to_yaml(v, indent + 1))
            else:
                out.append(f"{pad}{key(k)}: "
                           + to_yaml(v, 0).strip() + "\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = []
        for item in value:
            text = to_yaml(item, indent + 1)
            out.append(f"{pad}- " + text.lstrip(" "))
        return "".join(out)
    if isinstance(value, bool):
        return pad + ("true" if value else "false") + "\n"
    if isinstance(value, int):
        return pad + str(value) + "\n"
    if isinstance(value, str):
        return pad + json.dumps(value, ensure_ascii=False) + "\n"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def need_binary(path, what):
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.skip(f"{what} not built: {path} is missing "
                    f"(build with meson/ninja, or set SEKISHO_BUILD)")


# --- PKI -------------------------------------------------------------------

class Pki:
    """A CA made by sekisho-pki, with helpers to issue and revoke."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.dir = self.root / "ca"
        self.other_dir = self.root / "other-ca"

    def run(self, *args, ca_dir=None):
        cmd = [str(PKI_TOOL), "--dir", str(ca_dir or self.dir),
               *map(str, args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
        return proc.stdout

    @property
    def ca(self):
        return self.dir / "ca.crt"

    @property
    def crl(self):
        return self.dir / "crl.pem"

    @property
    def server_cert(self):
        return self.dir / "servers" / "localhost.crt"

    @property
    def server_key(self):
        return self.dir / "servers" / "localhost.key"

    def user_files(self, name, ca_dir=None):
        """(cert, key) of users/NAME (NAME may be 'user@terminal')."""
        d = pathlib.Path(ca_dir or self.dir) / "users"
        return d / f"{name}.crt", d / f"{name}.key"

    def issue_user(self, uid, dept="soumu", terminal=None, *extra,
                   ca_dir=None):
        args = ["user", uid, "--dept", dept]
        if terminal:
            args += ["--terminal", terminal]
        self.run(*args, *extra, ca_dir=ca_dir)
        return self.user_files(f"{uid}@{terminal}" if terminal else uid,
                               ca_dir=ca_dir)

    def revoke(self, cert, reason="keyCompromise"):
        self.run("revoke", cert, "--reason", reason)

    # Names the tests use for the prepared users.
    def alice(self):
        return self.user_files("alice@T001")

    def bob(self):
        return self.user_files("bob")


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.run("init", "--name", "sekisho test CA")
    p.run("server", "localhost")
    p.issue_user("alice", "soumu", "T001")
    p.issue_user("bob", "kikaku")
    p.issue_user("expired", "soumu", None, "--not-before", "20200101000000Z",
                 "--not-after", "20200201000000Z")
    p.issue_user("future", "soumu", None, "--not-before", "20990101000000Z",
                 "--not-after", "20991231000000Z")
    p.issue_user("noeku", "soumu", None, "--no-eku")
    p.issue_user("serveronly", "soumu", None, "--eku", "serverAuth")
    cert, _ = p.issue_user("revoked", "soumu")
    p.revoke(cert)
    # Another CA with the same name, issuing the same identity.
    p.run("init", "--name", "sekisho test CA", ca_dir=p.other_dir)
    p.issue_user("alice", "soumu", "T001", ca_dir=p.other_dir)
    p.run("server", "localhost", ca_dir=p.other_dir)
    return p


# --- broker ----------------------------------------------------------------

# Ports this test run has handed out. A port is free when asked for, but a
# server may bind it only later (an upstream made with start=False): without
# this, the kernel could hand the same number to the next server, and a
# broker once delivered to itself ("certificate required").
_PORTS_GIVEN = set()


def free_port():
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port
    raise RuntimeError("no loopback port this run has not handed out yet")


STARTED_LINE = "level=info event=start "


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    """One sekishod process and its directory."""

    def __init__(self, pki_, directory, register=None, limits=None,
                 extra=None):
        self.pki = pki_
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = self.dir / "sekishod.yaml"
        self.spool = self.dir / "spool"
        self.audit_log = self.dir / "audit.log"
        self.state_db = self.dir / "state.db"
        self.register = self.dir / "register.yaml"
        self.log = self.dir / "broker.log"
        self.proc = None
        self.ended_on_purpose = False
        for src, dst in ((pki_.ca, "ca.crt"), (pki_.crl, "crl.pem"),
                         (pki_.server_cert, "server.crt"),
                         (pki_.server_key, "server.key")):
            shutil.copyfile(src, self.dir / dst)
        os.chmod(self.dir / "server.key", 0o600)
        self.write_register(register or DEFAULT_REGISTER)
        limits_ = dict(DEFAULT_LIMITS, **(limits or {}))
        cfg = {
            "listen": f"127.0.0.1:{self.port}",
            "tls": {"cert": "server.crt", "key": "server.key",
                    "ca": "ca.crt", "crl": "crl.pem"},
            "spool_dir": "spool",
            "state_db": "state.db",
            "audit_log": "audit.log",
            "register": "register.yaml",
            "limits": limits_,
        }
        cfg.update(extra or {})
        self.config.write_text(to_yaml(cfg))

    def write_register(self, register):
        text = register if isinstance(register, str) else to_yaml(register)
        self.register.write_text(text)

    def install_crl(self, path=None):
        """Copies a CRL (default: the CA's current one) over the broker's,
        atomically, as an operator would."""
        tmp = self.dir / "crl.pem.new"
        shutil.copyfile(path or self.pki.crl, tmp)
        os.replace(tmp, self.dir / "crl.pem")

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        self.ended_on_purpose = False
        # Ready means the broker logged that it finished starting, not only
        # that its port accepts: a broker that binds early and then fails
        # would otherwise pass for a running one.
        started = self.log_text().count(STARTED_LINE)
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(SEKISHOD), "-c", str(self.config)], cwd=self.dir,
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        finally:
            logf.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"sekishod exited with {self.proc.returncode} at start:\n"
                    + self.log_text()[-4000:])
            if (self.log_text().count(STARTED_LINE) > started and
                    port_accepts(self.port)):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"sekishod did not accept on 127.0.0.1:{self.port} "
                           f"within {START_TIMEOUT}s:\n"
                           + self.log_text()[-4000:])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        assert self.running(), "broker is not running"
        self.proc.send_signal(sig)

    def reload(self):
        """SIGHUP: the broker reloads its CRL and register."""
        self.send_signal(signal.SIGHUP)

    def reload_and_wait(self, timeout=10.0):
        """SIGHUP, then waits (bounded) for the broker's "event=reload" log
        line, which it writes whether the reload succeeded or not. Returns
        that line."""
        before = self.log_text().count("event=reload")
        self.reload()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [ln for ln in self.log_text().splitlines()
                     if "event=reload" in ln]
            if len(lines) > before:
                return lines[-1]
            assert self.running(), "broker died on SIGHUP"
            time.sleep(0.05)
        raise AssertionError(f"no reload logged within {timeout}s of SIGHUP")

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits for the exit; returns the exit status
        (negative for death by signal). Kills on timeout and fails."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.ended_on_purpose = True
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"sekishod did not exit within {timeout}s "
                                 f"of signal {sig}")

    def kill(self):
        if self.running():
            self.ended_on_purpose = True
            self.proc.kill()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        return self.start()

    def teardown_problems(self):
        """Ends a broker still running with SIGTERM and lists what went
        wrong: a broker that died on its own, a non-zero exit after SIGTERM
        (leak reports of a sanitizer build end up here), sanitizer
        reports in the log."""
        if self.proc is None:
            return []
        problems = []
        if self.running():
            try:
                rc = self.stop(signal.SIGTERM)
            except AssertionError as e:
                rc = None
                problems.append(str(e))
            if rc not in (0, None):
                problems.append(f"exit status {rc} after SIGTERM")
        elif not self.ended_on_purpose:
            problems.append(f"sekishod died by itself "
                            f"(status {self.proc.returncode})")
        log = self.log_text()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                       "UndefinedBehaviorSanitizer"):
            if marker in log:
                i = log.index(marker)
                problems.append("sanitizer report in the log: "
                                + log[max(0, i - 300):i + 4000])
                break
        return problems

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def spool_entries(self):
        return sorted(os.listdir(self.spool)) if self.spool.is_dir() else []

    def audit_records(self):
        return read_audit(self.audit_log)

    def check_config(self):
        return subprocess.run([str(SEKISHOD), "-c", str(self.config),
                               "--check-config"], capture_output=True,
                              text=True, timeout=30)


@pytest.fixture
def broker(pki, tmp_path):
    """Factory: broker(register=None, limits=None, extra=None, start=True)."""
    need_binary(SEKISHOD, "sekishod")
    started = []
    counter = [0]

    def make(register=None, limits=None, extra=None, start=True):
        counter[0] += 1
        b = Broker(pki, tmp_path / f"broker{counter[0]}", register, limits,
                   extra)
        started.append(b)
        return b.start() if start else b

    yield make
    problems = []
    for b in started:
        try:
            problems += b.teardown_problems()
        finally:
            b.kill()
    if problems:
        pytest.fail("broker teardown: " + "; ".join(problems), pytrace=False)


def read_audit(path):
    """All records of the audit log (a file, or a directory of segment
    files read in name order) as a list of CBOR-decoded items."""
    path = pathlib.Path(path)
    files = sorted(p for p in path.iterdir() if p.is_file()) \
        if path.is_dir() else [path]
    records = []
    for f in files:
        data = f.read_bytes()
        fp = io.BytesIO(data)
        dec = cbor2.CBORDecoder(fp)
        while fp.tell() < len(data):
            records.append(dec.decode())
    return records


# --- client ----------------------------------------------------------------

class Client:
    """Runs the sekisho client as one user against one broker."""

    def __init__(self, home, broker_, cert, key, ca):
        self.home = pathlib.Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.config = self.home / "client.yaml"
        self.settings = {
            "broker": f"127.0.0.1:{broker_.port}",
            "server_name": "localhost",
            "ca": str(ca), "cert": str(cert), "key": str(key),
        }
        self.write_config()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("SEKISHO_", "XDG_", "LANGUAGE"))}
        self.env.update(HOME=str(self.home),
                        XDG_STATE_HOME=str(self.home / "state"),
                        LC_ALL="C.UTF-8")

    def write_config(self, **changes):
        """Rewrites the client's configuration with some settings changed."""
        self.config.write_text(to_yaml(dict(self.settings, **changes)))

    def argv(self, *args):
        return [str(SEKISHO), "--config", str(self.config), *map(str, args)]

    def run(self, *args, timeout=CLIENT_TIMEOUT, stdin=None):
        """(exit code, stdout, stderr). Fails the test on a timeout."""
        try:
            proc = subprocess.run(self.argv(*args), capture_output=True,
                                  timeout=timeout, env=self.env,
                                  stdin=stdin or subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"sekisho {args} did not finish within "
                                 f"{timeout}s")
        return (proc.returncode, proc.stdout.decode(errors="replace"),
                proc.stderr.decode(errors="replace"))

    def json(self, *args, timeout=CLIENT_TIMEOUT):
        """Runs with --json; returns (exit code, parsed object, stderr)."""
        rc, out, err = self.run(*args, "--json", timeout=timeout)
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1, f"--json printed {len(lines)} lines: {out!r} " \
                                f"(stderr {err!r})"
        return rc, json.loads(lines[0]), err

    def popen(self, *args):
        return subprocess.Popen(self.argv(*args), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=self.env)


@pytest.fixture
def client(pki, tmp_path):
    """Factory: client(broker, user="alice@T001", ca_dir=None) -> Client."""
    need_binary(SEKISHO, "sekisho client")
    counter = [0]

    def make(broker_, user="alice@T001", ca_dir=None, home=None):
        counter[0] += 1
        cert, key = pki.user_files(user, ca_dir=ca_dir)
        return Client(home or tmp_path / f"client{counter[0]}", broker_,
                      cert, key, pki.ca)

    return make


# --- raw TLS + CBOR client -------------------------------------------------

def tls_context(pki_, cert=None, key=None, alpn=(ALPN,),
                version=ssl.TLSVersion.TLSv1_3, ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca or pki_.ca))
    ctx.check_hostname = True
    ctx.minimum_version = version
    ctx.maximum_version = version
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class RawClient:
    """A TLS connection speaking raw CBOR to the broker."""

    def __init__(self, port, ctx, timeout=10.0):
        self.raw = socket.create_connection(("127.0.0.1", port),
                                            timeout=timeout)
        try:
            self.sock = ctx.wrap_socket(self.raw, server_hostname="localhost")
        except BaseException:
            self.raw.close()
            raise
        self.buf = b""
        self.next_id = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Drops the TCP connection without a TLS close_notify."""
        try:
            self.raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, msg):
        self.send_raw(cbor2.dumps(msg))

    def request(self, op, **fields):
        """Sends {"op": op, "id": n, **fields}; returns n."""
        rid = self.next_id
        self.next_id += 1
        self.send({"op": op, "id": rid, **fields})
        return rid

    def recv(self, timeout=10.0):
        """Next CBOR item from the broker, or None once the connection is
        closed (cleanly or not) before a whole item arrived."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buf:
                fp = io.BytesIO(self.buf)
                try:
                    item = cbor2.CBORDecoder(fp).decode()
                except (cbor2.CBORDecodeEOF, EOFError):
                    pass
                else:
                    self.buf = self.buf[fp.tell():]
                    return item
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no answer from the broker in {timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionError, ssl.SSLError):
                return None
            except socket.timeout:
                raise AssertionError(f"no answer from the broker in {timeout}s")
            if not chunk:
                return None
            self.buf += chunk

    def hello(self):
        rid = self.request("hello", version=1, software="sekisho-tests")
        answer = self.recv()
        assert isinstance(answer, dict) and answer.get("op") == "welcome", \
            answer
        assert answer.get("id") == rid
        return answer


def raw_client(pki_, broker_, user="alice@T001", ca_dir=None, **ctx_args):
    cert, key = pki_.user_files(user, ca_dir=ca_dir)
    return RawClient(broker_.port, tls_context(pki_, cert, key, **ctx_args))
