"""The CRL's own validity: an expired CRL refuses every client, so it must
not pass unnoticed. --check-config and the start refuse it; a CRL that
expires while the broker runs turns /health to failing (503); one that
expires within tls.crl_margin (default 7 days) makes /health degraded and
is logged as a warning (again every day)."""

import os
import subprocess
import time

from conftest import free_port
from test_monitor import health, metrics
from test_tls import refused, tls_context


def make_crl(pki, path, seconds=None, days=None):
    """A CRL of the test CA valid for the seconds or days given, made with
    the openssl command line as sekisho-pki does."""
    args = ["-crlsec", str(seconds)] if seconds is not None else \
        ["-crldays", str(days)]
    subprocess.run(["openssl", "ca", "-config", str(pki.dir / "openssl.cnf"),
                    "-gencrl", *args, "-out", str(path), "-batch"],
                   check=True, capture_output=True, timeout=30,
                   env=dict(os.environ, SEKISHO_PKI_CA=str(pki.dir)))
    return path


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_expired_crl_fails_check_config_and_start(pki, broker, tmp_path):
    b = broker(start=False)
    b.install_crl(make_crl(pki, tmp_path / "old.pem", seconds=1))
    time.sleep(1.5)
    chk = b.check_config()
    assert chk.returncode == 1, chk
    assert "tls.crl" in chk.stderr and "expired" in chk.stderr, chk.stderr
    assert "sekisho-pki crl" in chk.stderr, chk.stderr
    try:
        b.start()
        raise AssertionError("the broker started with an expired CRL")
    except RuntimeError as e:
        assert "expired" in str(e), str(e)
    b.install_crl()
    assert b.check_config().returncode == 0
    b.start()


def test_crl_within_the_margin_is_a_warning(pki, broker, tmp_path):
    port = free_port()
    b = broker(start=False, extra={
        "monitor": {"listen": f"127.0.0.1:{port}"}})
    b.install_crl(make_crl(pki, tmp_path / "short.pem", days=2))
    chk = b.check_config()
    assert chk.returncode == 0, chk
    assert "crl_expiring" in chk.stderr and "is valid" in chk.stdout, chk
    b.start()
    status, h = health(port)
    assert status == 200 and h["status"] == "degraded", h
    assert any("CRL" in r for r in h["reasons"]), h
    assert h["tls"]["crl_next_update"].endswith("Z"), h
    assert "level=warn event=crl " in b.log_text(), b.log_text()[-2000:]
    left = metrics(port)["sekisho_crl_next_update_seconds"] - time.time()
    assert 1.9 * 86400 < left <= 2 * 86400, left


def test_crl_margin_is_configurable(pki, broker, tmp_path):
    port = free_port()
    b = broker(start=False, extra={
        "monitor": {"listen": f"127.0.0.1:{port}"}})
    b.config.write_text(b.config.read_text().replace(
        '  crl: "crl.pem"\n', '  crl: "crl.pem"\n  crl_margin: "1d"\n'))
    assert "crl_margin" in b.config.read_text()
    b.install_crl(make_crl(pki, tmp_path / "short.pem", days=2))
    chk = b.check_config()
    assert chk.returncode == 0 and "crl_expiring" not in chk.stderr, chk
    b.start()
    status, h = health(port)
    assert status == 200 and h["status"] == "ok", h


def test_crl_expiring_while_running_turns_health_failing(pki, broker,
                                                         tmp_path):
    port = free_port()
    b = broker(start=False, extra={
        "monitor": {"listen": f"127.0.0.1:{port}"}})
    b.install_crl(make_crl(pki, tmp_path / "brief.pem", seconds=4))
    b.start()
    wait_for(lambda: health(port)[0] == 503, timeout=15,
             what="/health failing after the CRL expired")
    status, h = health(port)
    assert h["status"] == "failing", h
    assert any("CRL" in r and "expired" in r for r in h["reasons"]), h
    # Every client is refused, and the refusal says why.
    assert refused(b.port, tls_context(pki, *pki.alice()))
    wait_for(lambda: "CRL has expired" in b.log_text(), what="the reason")
    wait_for(lambda: "level=error event=crl " in b.log_text(),
             what="the CRL error in the log")
    # A fresh CRL and a reload mend it.
    b.install_crl()
    b.reload_and_wait()
    status, h = health(port)
    assert status == 200 and h["status"] == "ok", h
