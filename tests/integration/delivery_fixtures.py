"""Fixtures of the delivery tests: real upstream servers on 127.0.0.1.

- `nginx` (factory): nginx with WebDAV over HTTPS, its certificate from the
  test CA (sekisho-pki), one process under a temporary prefix. Objects are
  read back from its document root; its access log counts requests; fault
  switches make it answer 500, 403 or 429.
- `davserver` (factory): the webdav-server package from npm over HTTPS, a
  WebDAV server that, unlike nginx, answers 409 to a PUT into a missing
  folder and makes folders with MKCOL, as RFC 4918 has it.
- `s3rver` (factory): the s3rver S3 emulator from npm (installed by
  `npm ci` in tests/integration) over HTTPS with the same certificate.
- `tinyproxy` (factory): Debian's tinyproxy as an HTTP CONNECT proxy.
- FaultProxy: a TCP relay in front of a server that can refuse, stall or
  reset connections, to test what TLS-level faults do to a delivery.
- `delivery` (factory): a broker whose register has services pointing at
  those servers and a client for it, plus helpers to wait for a state.

Every server listens on 127.0.0.1 only, on a free port, and every wait is
bounded.
"""

import base64
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (CLIENT_TIMEOUT, REPO, free_port, port_accepts, to_yaml)

HERE = pathlib.Path(__file__).resolve().parent
NGINX_TEMPLATE = HERE / "fixtures" / "nginx-webdav.conf.in"
S3RVER = HERE / "node_modules" / "s3rver" / "bin" / "s3rver.js"
DAVSERVER = HERE / "fixtures" / "webdav-server.js"
DAVSERVER_LIFETIME = 600  # seconds; it exits by itself after that
SERVER_START = 15.0

# The access key s3rver accepts out of the box (its signature check covers
# the key id only; the SigV4 test checks signatures itself).
S3_KEY, S3_SECRET = "S3RVER", "S3RVER"
# What nginx's /basic/ and /bearer/ locations accept.
BASIC_USER, BASIC_PASSWORD = "lgwan-upload", "pw: 関所 \"x\""
BEARER_TOKEN = "tok-3b1f9c0e7a5d4e2f8a6b"


def wait_port(port, proc, what, log=None):
    deadline = time.monotonic() + SERVER_START
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log and \
                log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n"
                               + text)
        if port_accepts(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not accept on 127.0.0.1:{port}")


def stop_process(proc):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- nginx -----------------------------------------------------------------

class Nginx:
    def __init__(self, pki, directory, port=None, cert=None, key=None):
        self.dir = pathlib.Path(directory)
        self.root = self.dir / "root"
        self.faults = self.dir / "faults"
        for d in (self.dir, self.root, self.faults):
            d.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = self.dir / "nginx.conf"
        self.log = self.dir / "error.log"
        # nginx reads "{SHA}" + base64(SHA-1) password entries.
        sha = base64.b64encode(hashlib.sha1(
            BASIC_PASSWORD.encode()).digest()).decode()
        (self.dir / "htpasswd").write_text(f"{BASIC_USER}:{{SHA}}{sha}\n")
        self.conf.write_text(NGINX_TEMPLATE.read_text().format(
            prefix=self.dir, port=self.port, root=self.root,
            faults=self.faults, cert=cert or pki.server_cert,
            key=key or pki.server_key, bearer=BEARER_TOKEN))
        self.proc = None

    def start(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen(
            [nginx, "-p", str(self.dir), "-c", str(self.conf),
             "-e", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "ab"))
        wait_port(self.port, self.proc, "nginx", self.dir / "stderr.log")
        return self

    def stop(self):
        stop_process(self.proc)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def endpoint(self):
        return f"https://localhost:{self.port}"

    def fault(self, name, on=True):
        path = self.faults / name
        if on:
            path.write_text("on\n")
        elif path.exists():
            path.unlink()

    def objects(self):
        """{relative path: bytes} of every file in the document root."""
        out = {}
        for p in self.root.rglob("*"):
            if p.is_file():
                out["/" + str(p.relative_to(self.root))] = p.read_bytes()
        return out

    def requests(self, method=None):
        """(method, uri, status) of each logged request."""
        path = self.dir / "access.log"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and (method is None or parts[0] == method):
                rows.append((parts[0], parts[1], int(parts[2])))
        return rows


@pytest.fixture
def nginx(pki, tmp_path):
    """Factory: nginx(port=None, start=True, cert=None, key=None) -> Nginx
    (the certificate defaults to the test CA's "localhost")."""
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        pytest.skip("nginx is not installed")
    made = []

    def make(port=None, start=True, cert=None, key=None):
        n = Nginx(pki, tmp_path / f"nginx{len(made) + 1}", port, cert, key)
        made.append(n)
        return n.start() if start else n

    yield make
    for n in made:
        n.stop()


# --- servers run by node --------------------------------------------------

class NodeServer:
    """A server from the npm registry, run by node on 127.0.0.1 over HTTPS
    with the test CA's "localhost" certificate."""
    name = "node"

    def run(self, argv, log, cwd):
        self.proc = subprocess.Popen(
            ["node", *map(str, argv)], stdin=subprocess.DEVNULL,
            stdout=open(log, "ab"), stderr=subprocess.STDOUT, cwd=cwd)
        wait_port(self.port, self.proc, self.name, log)
        return self

    def stop(self):
        stop_process(self.proc)

    @property
    def endpoint(self):
        return f"https://localhost:{self.port}"


# --- webdav-server ---------------------------------------------------------

class DavServer(NodeServer):
    name = "webdav-server"
    def __init__(self, pki, directory):
        self.dir = pathlib.Path(directory)
        self.root = self.dir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.dir / "requests.log"
        self.out = self.dir / "stdout.log"
        self.pki = pki
        self.proc = None

    def start(self):
        return self.run([DAVSERVER, self.port, self.root,
                         self.pki.server_cert, self.pki.server_key, self.log,
                         DAVSERVER_LIFETIME], self.out, HERE)

    def objects(self):
        """{relative path: bytes} of every file under the root."""
        return {"/" + str(p.relative_to(self.root)): p.read_bytes()
                for p in self.root.rglob("*") if p.is_file()}

    def requests(self, method=None):
        """(method, path, status) of each request, in order."""
        if not self.log.exists():
            return []
        rows = []
        for line in self.log.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and (method is None or parts[0] == method):
                rows.append((parts[0], parts[1], int(parts[2])))
        return rows


@pytest.fixture
def davserver(pki, tmp_path):
    """Factory: davserver() -> DavServer (started)."""
    if not (HERE / "node_modules" / "webdav-server").exists():
        pytest.skip("webdav-server is not installed (run npm ci in "
                    "tests/integration)")
    made = []

    def make():
        d = DavServer(pki, tmp_path / f"davserver{len(made) + 1}")
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.stop()


# --- s3rver ----------------------------------------------------------------

class S3rver(NodeServer):
    name = "s3rver"
    def __init__(self, pki, directory, bucket="sekisho"):
        self.dir = pathlib.Path(directory)
        self.data = self.dir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        self.port = free_port()
        self.log = self.dir / "s3rver.log"
        self.pki = pki
        self.proc = None

    def start(self):
        return self.run([S3RVER, "-d", self.data, "-a", "127.0.0.1",
                         "-p", self.port, "--key", self.pki.server_key,
                         "--cert", self.pki.server_cert, "--no-vhost-buckets",
                         "--configure-bucket", self.bucket], self.log,
                        self.dir)

    def service(self, creds_dir, endpoint=None):
        """A register service "s3" for this bucket, with the key s3rver
        accepts written to creds_dir/s3.yaml; endpoint defaults to the
        emulator's own (a proxy in front of it may stand there)."""
        write_credentials(creds_dir, "s3", type="aws",
                          access_key_id=S3_KEY, secret_access_key=S3_SECRET)
        return service("s3", endpoint or self.endpoint, connector="s3",
                       credentials=str(pathlib.Path(creds_dir) / "s3.yaml"),
                       region="ap-northeast-1", bucket=self.bucket)

    def objects(self):
        """{key: (bytes, metadata dict)} of the bucket's objects."""
        out = {}
        base = self.data / self.bucket
        suffix = "._S3rver_object"
        for p in base.rglob("*" + suffix):
            key = str(p.relative_to(base))[:-len(suffix)]
            meta_path = p.with_name(p.name[:-len("object")] +
                                    "metadata.json")
            meta = json.loads(meta_path.read_text()) \
                if meta_path.exists() else {}
            out[key] = (p.read_bytes(), meta)
        return out

    def uploads_in_progress(self):
        d = self.data / self.bucket / "._S3rver_uploads"
        return sorted(os.listdir(d)) if d.is_dir() else []

    def stored(self):
        """What s3rver logged as stored: ("object", key) for each object
        written (a PUT or a completed multipart upload) and ("part", n)
        for each part."""
        if not self.log.exists():
            return []
        rows = []
        for line in self.log.read_text(errors="replace").splitlines():
            m = re.search(r'Stored object "([^"]*)"', line)
            if m:
                rows.append(("object", m.group(1)))
            m = re.search(r"Stored part (\d+) of", line)
            if m:
                rows.append(("part", int(m.group(1))))
        return rows


@pytest.fixture
def s3rver(pki, tmp_path):
    """Factory: s3rver(bucket="sekisho") -> S3rver (started)."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    if not S3RVER.exists():
        pytest.skip("s3rver is not installed (run npm ci in "
                    "tests/integration)")
    made = []

    def make(bucket="sekisho"):
        s = S3rver(pki, tmp_path / f"s3rver{len(made) + 1}", bucket)
        made.append(s)
        return s.start()

    yield make
    for s in made:
        s.stop()


# --- tinyproxy -------------------------------------------------------------

class TinyProxy:
    def __init__(self, directory, connect_ports):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "tinyproxy.conf"
        self.log = self.dir / "tinyproxy.log"
        lines = [f"Port {self.port}", "Listen 127.0.0.1", "Timeout 30",
                 f"LogFile \"{self.log}\"", "LogLevel Connect",
                 f"PidFile \"{self.dir / 'tinyproxy.pid'}\"",
                 "MaxClients 20", "Allow 127.0.0.1", "DisableViaHeader Yes"]
        lines += [f"ConnectPort {p}" for p in connect_ports]
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [shutil.which("tinyproxy") or "/usr/bin/tinyproxy", "-d", "-c",
             str(self.conf)], stdin=subprocess.DEVNULL,
            stdout=open(self.dir / "stdout.log", "ab"),
            stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "tinyproxy", self.dir / "stdout.log")
        return self

    def stop(self):
        stop_process(self.proc)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def connects(self):
        text = self.log.read_text(errors="replace") if self.log.exists() \
            else ""
        return [line for line in text.splitlines() if "CONNECT" in line]


@pytest.fixture
def tinyproxy(tmp_path):
    """Factory: tinyproxy(connect_ports) -> TinyProxy (started)."""
    if not (shutil.which("tinyproxy") or os.path.exists("/usr/bin/tinyproxy")):
        pytest.skip("tinyproxy is not installed")
    made = []

    def make(connect_ports):
        t = TinyProxy(tmp_path / f"tinyproxy{len(made) + 1}", connect_ports)
        made.append(t)
        return t.start()

    yield make
    for t in made:
        t.stop()


# --- a TCP relay that misbehaves on purpose --------------------------------

class FaultProxy:
    """Relays TCP connections from its own port to target_port. Modes:
    'pass' relays; 'refuse' closes at once; 'stall' accepts and never
    answers; 'reset' relays until reset_after bytes came from the client,
    then resets both sides (RST). `resets` counts down: after that many
    resets, the mode becomes 'pass'. rate (bytes/s, 0: unlimited) slows
    what the client sends."""

    def __init__(self, target_port, mode="pass", reset_after=0, resets=1,
                 rate=0):
        self.target = target_port
        self.mode = mode
        self.reset_after = reset_after
        self.resets = resets
        self.rate = rate
        self.connections = 0
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.held = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            mode = self.mode
            if mode == "refuse":
                conn.close()
            elif mode == "stall":
                self.held.append(conn)
            else:
                threading.Thread(target=self._relay, args=(conn, mode),
                                 daemon=True).start()

    @staticmethod
    def _rst(s):
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        except OSError:
            pass

    def _relay(self, client, mode):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target),
                                                timeout=10)
        except OSError:
            client.close()
            return
        budget = [self.reset_after if mode == "reset" else None]
        if mode == "reset":
            self.resets -= 1
            if self.resets <= 0:
                self.mode = "pass"
        done = threading.Event()

        def pump(src, dst, count):
            try:
                while not done.is_set():
                    src.settimeout(0.5)
                    try:
                        data = src.recv(16384 if self.rate else 65536)
                    except socket.timeout:
                        continue
                    if not data:
                        break
                    if count and self.rate:
                        time.sleep(len(data) / self.rate)
                    if count and budget[0] is not None:
                        if len(data) >= budget[0]:
                            dst.sendall(data[:budget[0]])
                            self._rst(client)
                            self._rst(upstream)
                            break
                        budget[0] -= len(data)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                done.set()

        t = threading.Thread(target=pump, args=(upstream, client, False),
                             daemon=True)
        t.start()
        pump(client, upstream, True)
        t.join(5)
        for s in (client, upstream):
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def fault_proxy():
    made = []

    def make(target_port, **kw):
        p = FaultProxy(target_port, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


# --- a broker that delivers ------------------------------------------------

def write_credentials(directory, name, **fields):
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    path = d / f"{name}.yaml"
    path.write_text(to_yaml(fields))
    os.chmod(path, 0o600)
    return path


FAST = {
    "connect_timeout": "3s",
    "stall_timeout": "3s",
    "max_attempts": 3,
    "max_age": "10m",
    "backoff_base": "1s",
    "backoff_max": "2s",
    "circuit_threshold": 50,
    "circuit_cooldown": "2s",
}


class Delivery:
    """A broker, its client and helpers."""

    def __init__(self, broker, client_factory):
        self.broker = broker
        self.client = client_factory(broker)

    def put(self, path, interface="IF-DLV", cls=1):
        rc, obj, err = self.client.json("put", path, "--to", interface,
                                        "--class", cls, "--purpose", "test")
        assert rc == 0, (rc, obj, err, self.broker.log_text()[-3000:])
        return obj["transfer"]

    def status(self, transfer):
        rc, obj, err = self.client.json("status", transfer)
        assert rc == 0, (rc, obj, err)
        return obj

    def wait(self, transfer, states=("delivered", "failed"), timeout=60.0,
             pred=None):
        """Polls status until its state is one of states (and pred(obj) is
        true); returns the status. Fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.status(transfer)
            if last["state"] in states and (pred is None or pred(last)):
                return last
            time.sleep(0.1)
        raise AssertionError(f"transfer {transfer} did not reach {states} "
                             f"in {timeout}s; last status {last}\n"
                             + self.broker.log_text()[-4000:])

    def wait_spool_gone(self, transfer, timeout=10.0):
        """The spool copy goes in a job after the end state is durable:
        waits (bounded) until it is gone."""
        deadline = time.monotonic() + timeout
        while any(e.startswith(transfer)
                  for e in self.broker.spool_entries()):
            assert time.monotonic() < deadline, \
                f"spool copy of {transfer} still there after {timeout}s"
            time.sleep(0.05)

    def records(self, rtype, transfer=None):
        out = []
        for r in self.broker.audit_records():
            if not isinstance(r, dict) or r.get("type") != rtype:
                continue
            if transfer is not None and \
                    (r.get("subject") or {}).get("transfer") != transfer:
                continue
            out.append(r)
        return out


def service(sid, endpoint, connector="webdav", ca=None, pins=None,
            credentials=None, region=None, bucket=None):
    s = {"id": sid, "connector": connector, "endpoint": endpoint}
    for k, v in (("ca", ca), ("pins", pins), ("credentials", credentials),
                 ("region", region), ("bucket", bucket)):
        if v is not None:
            s[k] = v
    return s


def register(services, interfaces):
    """A register with the given services; interfaces are
    (id, service id, path template)."""
    return {
        "services": services,
        "interfaces": [
            {"id": iid, "max_class": 2, "service": sid, "path": path}
            for iid, sid, path in interfaces],
    }


@pytest.fixture
def delivery(broker, client, pki):
    """Factory: delivery(services, interfaces, delivery=None, limits=None,
    start=True, extra=None) -> Delivery. CA files default to the test CA;
    extra adds sections to the broker's configuration."""

    def make(services, interfaces, delivery_cfg=None, limits=None,
             start=True, extra=None):
        for s in services:
            s.setdefault("ca", str(pki.ca))
        cfg = dict(FAST, **(delivery_cfg or {}))
        b = broker(register=register(services, interfaces), limits=limits,
                   extra=dict({"delivery": cfg}, **(extra or {})),
                   start=False)
        if start:
            b.start()
        return Delivery(b, client)

    return make


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def make_file(directory, name, size, seed=0):
    """A file of pseudo-random bytes (deterministic for a seed)."""
    path = pathlib.Path(directory) / name
    block = hashlib.sha256(f"{seed}".encode()).digest() * 2048  # 64 KiB
    with open(path, "wb") as f:
        left = size
        i = 0
        while left > 0:
            chunk = hashlib.sha256(block + i.to_bytes(8, "big")).digest()
            piece = (chunk * 2048)[:min(left, 65536)]
            f.write(piece)
            left -= len(piece)
            i += 1
    return path


def spki_pin(cert):
    """curl's "sha256//<base64>" pin of a certificate's public key, and the
    hex SHA-256 the audit trail shows."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey",
                          "-noout"], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"],
                         input=pub, capture_output=True, check=True).stdout
    digest = hashlib.sha256(der).digest()
    return "sha256//" + base64.b64encode(digest).decode(), digest.hex()
