"""sekisho-pki: the certificate authority tool, run as a real process.

Certificates are inspected with the openssl command line tool, independently of
how the script made them, and checked with `openssl verify` the way a TLS peer
would check them.
"""

import os
import re
import stat
import subprocess
import threading

import pytest

from conftest import PKI_TOOL


def pki(ca_dir, *args, env=None, check=False):
    """Runs sekisho-pki --dir ca_dir ARGS; returns the CompletedProcess."""
    cmd = [str(PKI_TOOL), "--dir", str(ca_dir), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}): {proc.stderr}")
    return proc


def openssl(*args, check=True):
    proc = subprocess.run(["openssl", *map(str, args)], capture_output=True,
                          text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"openssl {args} failed: {proc.stderr}")
    return proc


def ext(cert, name):
    """Text of one extension of cert as openssl prints it ('' if absent)."""
    return openssl("x509", "-noout", "-in", cert, "-ext", name).stdout


def san(cert):
    text = ext(cert, "subjectAltName")
    lines = text.splitlines()[1:]
    return sorted(s.strip() for line in lines for s in line.split(","))


def verify(ca_dir, cert, purpose=None, crl=False):
    args = ["verify", "-CAfile", ca_dir / "ca.crt"]
    if purpose:
        args += ["-purpose", purpose]
    if crl:
        args += ["-crl_check", "-CRLfile", ca_dir / "crl.pem"]
    return openssl(*args, cert, check=False)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def serial_of(cert):
    out = openssl("x509", "-noout", "-serial", "-in", cert).stdout
    return out.strip().split("=", 1)[1].upper()


def one_line_error(proc):
    err = proc.stderr.strip()
    assert err, "no reason printed"
    assert len(err.splitlines()) == 1, f"reason is not one line: {err!r}"
    assert err.startswith("sekisho-pki: ")
    return err


@pytest.fixture
def ca(tmp_path):
    d = tmp_path / "ca"
    pki(d, "init", "--name", "Test CA", check=True)
    return d


# --- init ------------------------------------------------------------------

def test_init_creates_a_p256_root_with_database_and_empty_crl(ca):
    for name in ("ca.key", "ca.crt", "index.txt", "serial", "crlnumber",
                 "crl.pem", "openssl.cnf"):
        assert (ca / name).is_file(), name
    assert mode(ca / "ca.key") == 0o600
    text = openssl("x509", "-noout", "-text", "-in", ca / "ca.crt").stdout
    assert "ecdsa-with-SHA256" in text
    assert "NIST CURVE: P-256" in text
    assert re.search(r"Subject: CN ?= ?Test CA", text)
    bc = ext(ca / "ca.crt", "basicConstraints")
    assert "critical" in bc and "CA:TRUE, pathlen:0" in bc
    ku = ext(ca / "ca.crt", "keyUsage")
    assert "critical" in ku
    assert "Certificate Sign, CRL Sign" in ku
    assert ext(ca / "ca.crt", "nameConstraints").strip() == ""
    # self-signed and valid as a trust anchor
    assert verify(ca, ca / "ca.crt").returncode == 0
    crl = openssl("crl", "-noout", "-text", "-in", ca / "crl.pem",
                  "-CAfile", ca / "ca.crt").stdout
    assert "No Revoked Certificates" in crl


def test_init_refuses_to_overwrite_a_ca(ca):
    before = (ca / "ca.key").read_bytes()
    proc = pki(ca, "init")
    assert proc.returncode != 0
    assert "refusing to overwrite" in one_line_error(proc)
    assert (ca / "ca.key").read_bytes() == before


def test_init_name_constraints_limit_server_names(tmp_path):
    d = tmp_path / "nc"
    pki(d, "init", "--permitted-dns", "city.example.lg.jp", check=True)
    nc = ext(d / "ca.crt", "nameConstraints")
    assert "critical" in nc and "DNS:city.example.lg.jp" in nc
    pki(d, "server", "broker.city.example.lg.jp", check=True)
    pki(d, "server", "evil.example.com", check=True)
    assert verify(d, d / "servers/broker.city.example.lg.jp.crt",
                  "sslserver").returncode == 0
    bad = verify(d, d / "servers/evil.example.com.crt", "sslserver")
    assert bad.returncode != 0
    assert "subtree" in bad.stdout + bad.stderr
    # users (URI names only) are not affected by DNS constraints
    pki(d, "user", "u1", "--dept", "soumu", check=True)
    assert verify(d, d / "users/u1.crt", "sslclient").returncode == 0
    # a dotted id would be read as a host name by OpenSSL: refused up front
    proc = pki(d, "user", "taro.yamada", "--dept", "soumu")
    assert proc.returncode != 0
    assert "name constraints" in one_line_error(proc)
    assert not (d / "users/taro.yamada.key").exists()


def test_init_uses_sekisho_pki_dir_from_environment(tmp_path):
    d = tmp_path / "envca"
    env = dict(os.environ, SEKISHO_PKI_DIR=str(d))
    proc = subprocess.run([str(PKI_TOOL), "init"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (d / "ca.crt").is_file()


@pytest.mark.parametrize("args", [
    ["--days", "0"], ["--days", "abc"], ["--name", "a/b"],
    ["--permitted-dns", "not a name"], ["--bogus"],
])
def test_init_bad_arguments_are_usage_errors(tmp_path, args):
    d = tmp_path / "bad"
    proc = pki(d, "init", *args)
    assert proc.returncode == 2
    one_line_error(proc)
    assert not (d / "ca.key").exists()


# --- server ----------------------------------------------------------------

def test_server_localhost_has_dns_and_loopback_san_and_server_eku(ca):
    pki(ca, "server", "localhost", check=True)
    key, crt = ca / "servers/localhost.key", ca / "servers/localhost.crt"
    assert mode(key) == 0o600
    assert san(crt) == ["DNS:localhost", "IP Address:127.0.0.1"]
    eku = ext(crt, "extendedKeyUsage")
    assert "TLS Web Server Authentication" in eku
    assert "Client" not in eku
    assert "CA:FALSE" in ext(crt, "basicConstraints")
    assert verify(ca, crt, "sslserver").returncode == 0
    assert verify(ca, crt, "sslclient").returncode != 0
    # the key belongs to the certificate
    pub_key = openssl("pkey", "-in", key, "-pubout").stdout
    pub_crt = openssl("x509", "-in", crt, "-noout", "-pubkey").stdout
    assert pub_key == pub_crt


def test_server_extra_sans_and_ip_name(ca):
    pki(ca, "server", "broker.example.lg.jp", "--san", "DNS:sekisho.example.lg.jp",
        "--san", "IP:192.0.2.10", check=True)
    assert san(ca / "servers/broker.example.lg.jp.crt") == [
        "DNS:broker.example.lg.jp", "DNS:sekisho.example.lg.jp",
        "IP Address:192.0.2.10"]
    pki(ca, "server", "127.0.0.2", check=True)
    assert san(ca / "servers/127.0.0.2.crt") == ["IP Address:127.0.0.2"]


@pytest.mark.parametrize("args", [
    ["../evil"], ["a b"], ["-x"], [""], ["localhost", "--san", "URI:x"],
    ["localhost", "--san", "DNS:a,DNS:b"], ["localhost", "--san", "IP:300.1.1.1"],
    ["localhost", "--days", "-5"],
])
def test_server_bad_arguments_refused(ca, args):
    proc = pki(ca, "server", *args)
    assert proc.returncode == 2
    one_line_error(proc)
    assert sorted(os.listdir(ca / "servers")) == []


def test_server_refuses_overwrite(ca):
    pki(ca, "server", "localhost", check=True)
    before = (ca / "servers/localhost.key").read_bytes()
    proc = pki(ca, "server", "localhost")
    assert proc.returncode == 1
    assert "refusing to overwrite" in one_line_error(proc)
    assert (ca / "servers/localhost.key").read_bytes() == before


# --- user ------------------------------------------------------------------

def test_user_identity_is_in_san_and_eku_is_client_only(ca):
    pki(ca, "user", "alice", "--dept", "soumu", "--terminal", "T001", check=True)
    key, crt = ca / "users/alice@T001.key", ca / "users/alice@T001.crt"
    assert mode(key) == 0o600
    assert san(crt) == ["URI:urn:sekisho:dept:soumu",
                        "URI:urn:sekisho:terminal:T001",
                        "URI:urn:sekisho:user:alice"]
    subject = openssl("x509", "-noout", "-subject", "-in", crt).stdout
    assert re.search(r"CN ?= ?alice$", subject.strip())
    eku = ext(crt, "extendedKeyUsage")
    assert "TLS Web Client Authentication" in eku
    assert "Server" not in eku
    assert "critical" in ext(crt, "keyUsage")
    assert verify(ca, crt, "sslclient").returncode == 0
    assert verify(ca, crt, "sslserver").returncode != 0


def test_user_without_terminal(ca):
    pki(ca, "user", "bob", "--dept", "kikaku", check=True)
    assert san(ca / "users/bob.crt") == ["URI:urn:sekisho:dept:kikaku",
                                         "URI:urn:sekisho:user:bob"]


@pytest.mark.parametrize("role", [["--role", "officer"], ["--role=auditor"]])
def test_user_role_option_refused_roles_come_from_the_register(ca, role):
    """The broker never read a role from a certificate (roles come from the
    register), so an option that wrote one only misled (issue 9, item 20)."""
    proc = pki(ca, "user", "bob", "--dept", "kikaku", *role)
    assert proc.returncode == 2
    one_line_error(proc)
    assert "register" in proc.stderr and "principals.users" in proc.stderr
    assert not (ca / "users").exists() or os.listdir(ca / "users") == []
    assert (ca / "index.txt").read_text() == ""


def test_user_help_says_where_roles_come_from(ca):
    proc = pki(ca, "user", "--help", check=True)
    assert "--role" not in proc.stdout
    assert "urn:sekisho:role" not in proc.stdout
    assert "principals.users[].roles" in proc.stdout


def test_user_may_have_one_certificate_per_terminal(ca):
    pki(ca, "user", "alice", "--dept", "soumu", "--terminal", "T001", check=True)
    pki(ca, "user", "alice", "--dept", "soumu", "--terminal", "T002", check=True)
    pki(ca, "user", "alice", "--dept", "soumu", check=True)
    assert sorted(os.listdir(ca / "users")) == [
        "alice.crt", "alice.key", "alice@T001.crt", "alice@T001.key",
        "alice@T002.crt", "alice@T002.key"]


@pytest.mark.parametrize("uid", [
    "a", "A.b_c-9", "x" * 64, "_x", "9",
])
def test_user_good_ids(ca, uid):
    pki(ca, "user", uid, "--dept", uid, "--terminal", uid, check=True)
    assert f"URI:urn:sekisho:user:{uid}" in san(ca / f"users/{uid}@{uid}.crt")


BAD_IDS = [".alice", "-alice", "x" * 65, "a/b", "../a", "a b", "a:b", "a@b",
           "a,b", "a\nb", "ä", "a*", "a\\b", "a=b", "a+b", "a\tb"]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("where", ["user", "dept", "terminal"])
def test_user_bad_ids_refused(ca, bad, where):
    ids = {"user": "alice", "dept": "soumu", "terminal": "T001"}
    ids[where] = bad
    proc = pki(ca, "user", ids["user"], "--dept", ids["dept"],
               "--terminal", ids["terminal"])
    assert proc.returncode == 2
    one_line_error(proc)
    assert os.listdir(ca / "users") == []
    assert (ca / "index.txt").read_text() == ""


@pytest.mark.parametrize("args", [
    ["alice"],                                    # no --dept
    ["--dept", "soumu"],                          # no USERID
    ["alice", "--dept", "soumu", "--role", "root"],
    ["alice", "--dept", "soumu", "--days", "0"],
    ["alice", "--dept", "soumu", "--not-after", "2020-01-01"],
    ["alice", "--dept", "soumu", "--eku", "clientAuth;x"],
    ["alice", "bob", "--dept", "soumu"],
])
def test_user_bad_arguments_refused(ca, args):
    proc = pki(ca, "user", *args)
    assert proc.returncode == 2
    one_line_error(proc)
    assert os.listdir(ca / "users") == []


def test_user_refuses_overwrite(ca):
    pki(ca, "user", "alice", "--dept", "soumu", check=True)
    before = (ca / "users/alice.crt").read_bytes()
    proc = pki(ca, "user", "alice", "--dept", "kikaku")
    assert proc.returncode == 1
    assert "refusing to overwrite" in one_line_error(proc)
    assert (ca / "users/alice.crt").read_bytes() == before
    assert len((ca / "index.txt").read_text().splitlines()) == 1


def test_user_key_encrypted_with_a_passphrase_file(ca, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("合言葉 one\n")
    os.chmod(pw, 0o644)
    proc = pki(ca, "user", "enc", "--dept", "soumu",
               "--key-passphrase-file", pw)
    assert proc.returncode == 2 and "chmod 600" in one_line_error(proc)
    assert not (ca / "users/enc.key").exists()
    assert (ca / "index.txt").read_text() == ""       # nothing was issued
    os.chmod(pw, 0o600)
    proc = pki(ca, "user", "enc", "--dept", "soumu",
               "--key-passphrase-file", pw, check=True)
    assert "encrypted" in proc.stdout
    key = ca / "users/enc.key"
    assert key.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY")
    assert mode(key) == 0o600
    assert openssl("pkey", "-in", key, "-passin", "pass:wrong", "-noout",
                   check=False).returncode != 0
    # The key decrypts with the passphrase and belongs to the certificate.
    pub_key = openssl("pkey", "-in", key, "-passin", f"file:{pw}",
                      "-pubout").stdout
    pub_crt = openssl("x509", "-in", ca / "users/enc.crt", "-noout",
                      "-pubkey").stdout
    assert pub_key == pub_crt


def test_user_without_ca_fails_with_one_line(tmp_path):
    proc = pki(tmp_path / "none", "user", "alice", "--dept", "soumu")
    assert proc.returncode == 1
    assert "no CA" in one_line_error(proc)


def test_concurrent_issuance_keeps_database_consistent(ca):
    results = []

    def issue(i):
        results.append(pki(ca, "user", f"u{i}", "--dept", "soumu"))

    threads = [threading.Thread(target=issue, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(p.returncode == 0 for p in results), [p.stderr for p in results]
    lines = (ca / "index.txt").read_text().splitlines()
    serials = {line.split("\t")[3] for line in lines}
    assert len(lines) == 6 and len(serials) == 6
    for i in range(6):
        assert serial_of(ca / f"users/u{i}.crt") in serials


# --- test-only certificates ------------------------------------------------

def test_expired_and_not_yet_valid_certificates(ca):
    pki(ca, "user", "old", "--dept", "soumu", "--not-before", "20200101000000Z",
        "--not-after", "20200201000000Z", check=True)
    pki(ca, "user", "future", "--dept", "soumu", "--not-before",
        "20990101000000Z", "--not-after", "20991231000000Z", check=True)
    old = verify(ca, ca / "users/old.crt", "sslclient")
    assert old.returncode != 0 and "expired" in old.stdout + old.stderr
    fut = verify(ca, ca / "users/future.crt", "sslclient")
    assert fut.returncode != 0 and "not yet valid" in fut.stdout + fut.stderr
    listing = pki(ca, "list", check=True).stdout
    assert re.search(r"\sexpired\s.*CN=old", listing)
    assert re.search(r"\snot-yet-valid\s.*CN=future", listing)


def test_certificates_without_client_auth(ca):
    pki(ca, "user", "noeku", "--dept", "soumu", "--no-eku", check=True)
    pki(ca, "user", "srv", "--dept", "soumu", "--eku", "serverAuth", check=True)
    assert ext(ca / "users/noeku.crt", "extendedKeyUsage").strip() == ""
    eku = ext(ca / "users/srv.crt", "extendedKeyUsage")
    assert "Server" in eku and "Client" not in eku
    assert verify(ca, ca / "users/srv.crt", "sslclient").returncode != 0
    # the identity is still there: only the EKU differs
    assert "URI:urn:sekisho:user:srv" in san(ca / "users/srv.crt")


def test_other_ca_with_same_subject_is_not_trusted(tmp_path, ca):
    other = tmp_path / "other"
    pki(other, "init", "--name", "Test CA", check=True)
    pki(ca, "user", "alice", "--dept", "soumu", check=True)
    pki(other, "user", "alice", "--dept", "soumu", check=True)
    assert san(other / "users/alice.crt") == san(ca / "users/alice.crt")
    assert verify(ca, other / "users/alice.crt", "sslclient").returncode != 0
    assert verify(ca, ca / "users/alice.crt", "sslclient").returncode == 0


# --- revoke / crl / list ---------------------------------------------------

def test_revoke_by_file_publishes_crl(ca):
    pki(ca, "user", "bob", "--dept", "kikaku", check=True)
    pki(ca, "user", "alice", "--dept", "soumu", check=True)
    bob = ca / "users/bob.crt"
    assert verify(ca, bob, "sslclient", crl=True).returncode == 0
    proc = pki(ca, "revoke", bob, "--reason", "keyCompromise")
    assert proc.returncode == 0, proc.stderr
    crl = openssl("crl", "-noout", "-text", "-in", ca / "crl.pem").stdout
    assert serial_of(bob) in crl.replace(":", "").upper()
    assert "Key Compromise" in crl
    bad = verify(ca, bob, "sslclient", crl=True)
    assert bad.returncode != 0 and "revoked" in bad.stdout + bad.stderr
    assert verify(ca, ca / "users/alice.crt", "sslclient",
                  crl=True).returncode == 0
    assert mode(ca / "crl.pem") == 0o644
    listing = pki(ca, "list", check=True).stdout
    assert re.search(r"revoked:keyCompromise\s.*CN=bob", listing)
    assert re.search(r"\svalid\s.*CN=alice\s+user=alice dept=soumu", listing)
    again = pki(ca, "revoke", bob)
    assert again.returncode == 1
    assert "already revoked" in one_line_error(again)


def test_revoke_by_serial_and_relative_path(ca, monkeypatch):
    pki(ca, "user", "carol", "--dept", "soumu", check=True)
    pki(ca, "user", "dave", "--dept", "soumu", check=True)
    serial = serial_of(ca / "users/carol.crt")
    assert pki(ca, "revoke", serial.lower()).returncode == 0
    monkeypatch.chdir(ca)
    assert pki(ca, "revoke", "users/dave.crt").returncode == 0
    crl = openssl("crl", "-noout", "-text", "-in", ca / "crl.pem").stdout
    crl = crl.replace(":", "").upper()
    assert serial in crl
    assert serial_of(ca / "users/dave.crt") in crl


def test_revoke_refuses_unknown_serial_and_foreign_cert(tmp_path, ca):
    proc = pki(ca, "revoke", "DEADBEEF")
    assert proc.returncode == 1
    one_line_error(proc)
    other = tmp_path / "other"
    pki(other, "init", check=True)
    pki(other, "user", "eve", "--dept", "soumu", check=True)
    proc = pki(ca, "revoke", other / "users/eve.crt")
    assert proc.returncode == 1
    one_line_error(proc)
    assert pki(ca, "revoke", "xyz").returncode == 2
    assert pki(ca, "revoke", "1", "--reason", "because").returncode == 2


def test_crl_days_sets_next_update_and_bumps_number(ca):
    def number():
        out = openssl("crl", "-noout", "-crlnumber", "-in", ca / "crl.pem").stdout
        return int(out.strip().split("=", 1)[1], 16)

    first = number()
    assert pki(ca, "crl", "--days", "2").returncode == 0
    assert number() == first + 1
    text = openssl("crl", "-noout", "-lastupdate", "-nextupdate",
                   "-in", ca / "crl.pem").stdout
    assert "nextUpdate" in text
    last = openssl("crl", "-noout", "-in", ca / "crl.pem", "-lastupdate").stdout
    nxt = openssl("crl", "-noout", "-in", ca / "crl.pem", "-nextupdate").stdout
    assert last != nxt
    assert pki(ca, "crl", "--days", "0").returncode == 2


# --- help and usage --------------------------------------------------------

@pytest.mark.parametrize("cmd", ["init", "server", "user", "revoke", "crl", "list"])
def test_each_command_has_help(tmp_path, cmd):
    proc = pki(tmp_path / "none", cmd, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: sekisho-pki")
    assert cmd in proc.stdout.splitlines()[0]
    assert not (tmp_path / "none").exists()


def test_test_only_options_stay_out_of_help(tmp_path):
    text = pki(tmp_path, "user", "--help").stdout
    assert "--not-after" not in text and "--no-eku" not in text


def test_usage_errors(tmp_path):
    assert subprocess.run([str(PKI_TOOL)], capture_output=True,
                          timeout=60).returncode == 2
    proc = pki(tmp_path, "frobnicate")
    assert proc.returncode == 2
    one_line_error(proc)
    top = subprocess.run([str(PKI_TOOL), "--help"], capture_output=True,
                         text=True, timeout=60)
    assert top.returncode == 0 and "revoke" in top.stdout


def test_openssl_failure_leaves_no_files(ca):
    (ca / "ca.key").write_text("not a key\n")
    proc = pki(ca, "user", "alice", "--dept", "soumu")
    assert proc.returncode == 1
    assert "openssl" in one_line_error(proc)
    assert os.listdir(ca / "users") == []
    assert [n for n in os.listdir(ca) if n.startswith(".tmp")] == []
    assert (ca / "index.txt").read_text() == ""
