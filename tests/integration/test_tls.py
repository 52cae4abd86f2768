"""Who may connect: TLS 1.3 with a client certificate from the broker's CA,
valid now, not revoked, with the clientAuth EKU, and ALPN sekisho/1.

Each refusal is checked with a raw Python TLS client (so the test controls
exactly what is offered) and, where the client can express it, with the real
client, which must exit 3. After every refusal the broker must still serve a
good client."""

import socket
import time
import ssl
import uuid

import pytest

from conftest import (ALPN, EXIT_CONN, EXIT_OK, Pki, RawClient, tls_context)


def refused(port, ctx):
    """True when the broker refuses the connection: the handshake fails, or
    the connection closes before a welcome."""
    try:
        c = RawClient(port, ctx)
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    try:
        c.request("hello", version=1, software="sekisho-tests")
        answer = c.recv()
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    finally:
        c.close()
    if answer is None:
        return True
    if isinstance(answer, dict) and answer.get("op") == "error":
        return True
    raise AssertionError(f"broker answered a client it should refuse: {answer}")


def assert_serves_good_client(pki, b):
    assert b.running(), "broker died:\n" + b.log_text()[-3000:]
    alice_cert, alice_key = pki.alice()
    with RawClient(b.port, tls_context(pki, alice_cert, alice_key)) as c:
        w = c.hello()
        assert w["user"] == "alice"


@pytest.fixture
def evil_ca(tmp_path):
    """A CA with another name, issuing 'mallory' and an 'alice' lookalike."""
    p = Pki(tmp_path / "evil")
    p.run("init", "--name", "evil CA")
    p.issue_user("mallory", "soumu")
    p.issue_user("alice", "soumu", "T001")
    return p


USER_CASES = {
    # name: (user files, which CA)
    "expired": ("expired", None),
    "not_yet_valid": ("future", None),
    "revoked": ("revoked", None),
    "no_eku": ("noeku", None),
    "server_auth_only": ("serveronly", None),
    "other_ca_same_subject_and_san": ("alice@T001", "other"),
}


@pytest.mark.parametrize("case", sorted(USER_CASES))
def test_bad_client_certificate_refused_raw(pki, broker, case):
    b = broker()
    user, which = USER_CASES[case]
    cert, key = pki.user_files(user, ca_dir=pki.other_dir if which else None)
    assert refused(b.port, tls_context(pki, cert, key))
    assert_serves_good_client(pki, b)


@pytest.mark.parametrize("case", sorted(USER_CASES))
def test_bad_client_certificate_refused_by_client_exit_code(pki, broker,
                                                            client, case):
    b = broker()
    user, which = USER_CASES[case]
    c = client(b, user=user, ca_dir=pki.other_dir if which else None)
    rc, out, err = c.run("whoami")
    assert rc == EXIT_CONN, (rc, out, err)
    assert err.strip(), "no reason on stderr"
    assert_serves_good_client(pki, b)


def test_certificate_from_another_ca_refused(pki, broker, client, evil_ca):
    b = broker()
    for user in ("mallory", "alice@T001"):
        cert, key = evil_ca.user_files(user)
        assert refused(b.port, tls_context(pki, cert, key))
        c = client(b, user=user, ca_dir=evil_ca.dir)
        rc, out, err = c.run("whoami")
        assert rc == EXIT_CONN, (rc, out, err)
    assert_serves_good_client(pki, b)


def test_no_client_certificate_refused(pki, broker):
    b = broker()
    assert refused(b.port, tls_context(pki))
    assert_serves_good_client(pki, b)


def test_tls12_refused(pki, broker):
    b = broker()
    cert, key = pki.alice()
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        RawClient(b.port, tls_context(pki, cert, key,
                                      version=ssl.TLSVersion.TLSv1_2)).close()
    assert_serves_good_client(pki, b)


@pytest.mark.parametrize("alpn", [None, ("http/1.1",), ("sekisho/2",)])
def test_missing_or_wrong_alpn_refused(pki, broker, alpn):
    b = broker()
    cert, key = pki.alice()
    assert refused(b.port, tls_context(pki, cert, key, alpn=alpn))
    assert_serves_good_client(pki, b)


def test_alpn_negotiated_and_tls13(pki, broker):
    b = broker()
    cert, key = pki.alice()
    with RawClient(b.port, tls_context(pki, cert, key,
                                       alpn=("http/1.1", ALPN))) as c:
        assert c.sock.selected_alpn_protocol() == ALPN
        assert c.sock.version() == "TLSv1.3"
        c.hello()


def test_plain_tcp_garbage_does_not_hurt(pki, broker):
    b = broker()
    with socket.create_connection(("127.0.0.1", b.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except (ConnectionError, socket.timeout):
            pass
    assert_serves_good_client(pki, b)


def test_revoked_after_reload(pki, broker, client):
    b = broker()
    uid = "dan" + uuid.uuid4().hex[:8]
    cert, _ = pki.issue_user(uid, "soumu")
    c = client(b, user=uid)
    rc, out, err = c.run("whoami")
    assert rc == EXIT_OK, (out, err)
    pki.revoke(cert)
    b.install_crl()
    b.reload_and_wait()
    rc, out, err = c.run("whoami")
    assert rc == EXIT_CONN, ("revoked certificate still accepted after "
                             "SIGHUP", out, err)
    cert_, key_ = pki.user_files(uid)
    assert refused(b.port, tls_context(pki, cert_, key_))
    assert_serves_good_client(pki, b)


def test_whoami_prints_principal_from_san(pki, broker, client):
    b = broker()
    rc, obj, err = client(b).json("whoami")
    assert rc == EXIT_OK, (obj, err)
    assert obj["user"] == "alice"
    assert obj["dept"] == "soumu"
    assert obj["terminal"] == "T001"
    rc, obj, err = client(b, user="bob").json("whoami")
    assert rc == EXIT_OK, (obj, err)
    assert obj["user"] == "bob" and obj["dept"] == "kikaku"
    assert obj.get("terminal") in (None, "")
    rc, out, err = client(b).run("whoami")
    assert rc == EXIT_OK, err
    assert "alice" in out and "soumu" in out and "T001" in out


def test_welcome_carries_principal(pki, broker):
    b = broker()
    cert, key = pki.user_files("bob")
    with RawClient(b.port, tls_context(pki, cert, key)) as c:
        w = c.hello()
        assert w["user"] == "bob" and w["dept"] == "kikaku"
        assert w.get("terminal") in (None, "")
        assert w["version"] == 1
        assert w["max_chunk"] == 1 << 20


def test_client_checks_the_broker_certificate(pki, broker, client, tmp_path):
    b = broker()
    c = client(b)
    # a broker certificate from a CA the client does not trust
    c.write_config(ca=str(pki.other_dir / "ca.crt"))
    rc, out, err = c.run("whoami")
    assert rc == EXIT_CONN, (rc, out, err)
    # the right CA but another name than the certificate's
    c.write_config(server_name="broker.example.lg.jp")
    rc, out, err = c.run("whoami")
    assert rc == EXIT_CONN, (rc, out, err)
    c.write_config()
    assert c.run("whoami")[0] == EXIT_OK



def test_broken_crl_on_reload_keeps_the_old_one(pki, broker, tmp_path):
    b = broker()
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n")
    b.install_crl(bad)
    b.reload_and_wait()
    assert b.running()
    cert, key = pki.user_files("revoked")
    assert refused(b.port, tls_context(pki, cert, key))
    assert_serves_good_client(pki, b)


# --- why a handshake failed -------------------------------------------------

def refusal_with(b, words, before_log, before_audit, timeout=10.0):
    """The refuse log line and refuse audit record, written after the
    counts given, whose reason (or, for a counted record, reasons) contains
    words (bounded in time). Other
    refusals may come in between: the start-up probe of the fixture is a
    plain TCP connect and close."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [ln for ln in b.log_text().splitlines()
                 if "event=refuse " in ln][before_log:]
        recs = [r for r in b.audit_records()
                if r.get("type") == "refuse"][before_audit:]
        line = next((ln for ln in lines if words in ln), None)
        rec = next((r for r in recs
                    if words in r.get("details", {}).get("reason", "")
                    or words in r.get("details", {}).get("reasons", "")),
                   None)
        if line and rec:
            return line, rec
        assert time.monotonic() < deadline, \
            f"no refusal naming {words!r} logged and audited:\n" \
            + "\n".join(lines) + f"\n{recs}"
        time.sleep(0.05)


def refusal_counts(b):
    return (sum("event=refuse " in ln for ln in b.log_text().splitlines()),
            sum(r.get("type") == "refuse" for r in b.audit_records()))


HANDSHAKE_REASONS = {
    # case: (how the client connects, words the reason must contain)
    "no_certificate": (lambda pki: tls_context(pki), "no client certificate"),
    "tls12": (lambda pki: tls_context(pki, *pki.alice(),
                                      version=ssl.TLSVersion.TLSv1_2),
              "TLS 1.3"),
    "unknown_ca": (lambda pki: tls_context(
        pki, *pki.user_files("alice@T001", ca_dir=pki.other_dir)),
        "unknown CA"),
    "expired": (lambda pki: tls_context(pki, *pki.user_files("expired")),
                "expired"),
    "revoked": (lambda pki: tls_context(pki, *pki.user_files("revoked")),
                "revoked"),
}


@pytest.mark.parametrize("case", sorted(HANDSHAKE_REASONS))
def test_handshake_refusal_names_the_reason(pki, broker, case):
    """Each refused handshake says why, in the log and in the refuse
    record, instead of 'connection closed during the TLS handshake'. The
    fixture's start-up probe was this source's first refusal, so the test's
    is counted into the next per-interval record: a short interval here."""
    b = broker(limits={"refusal_interval": "1s"})
    make_ctx, words = HANDSHAKE_REASONS[case]
    before = refusal_counts(b)
    assert refused(b.port, make_ctx(pki))
    refusal_with(b, words, *before)
    assert_serves_good_client(pki, b)
