"""sekishod --check-config for delivery: services, credentials, pins, path
templates and the delivery section; a broker with delivery problems does
not start."""

import hashlib
import os

import pytest

from delivery_fixtures import (  # noqa: F401  (fixtures)
    delivery, register, service, write_credentials)
from stepup_helpers import wait_records


def check(delivery, services, interfaces, cfg=None):
    d = delivery(services, interfaces, cfg, start=False)
    return d, d.broker.check_config()


def test_valid_services_pass(delivery, tmp_path):
    creds = tmp_path / "creds"
    write_credentials(creds, "dav", type="bearer", token="t0k3n")
    write_credentials(creds, "s3", type="aws", access_key_id="AK",
                      secret_access_key="SK")
    _, r = check(delivery,
                 [service("dav", "https://dav.example.jp/base/",
                          credentials="dav"),
                  service("s3", "https://s3.example.jp", connector="s3",
                          credentials=str(creds / "s3.yaml"),
                          region="ap-northeast-1", bucket="b-1")],
                 [("IF-A", "dav", "/{interface}/{date}/"),
                  ("IF-B", "s3", "/{dept}/{transfer}-{name}")],
                 {"credentials_dir": str(creds),
                  "services": {"s3": {"concurrency": 2,
                                      "proxy": "http://127.0.0.1:3128"}}})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("services,interfaces,cfg,message", [
    ([service("s3", "https://s3.example.jp", connector="s3",
              credentials="s3", bucket="b")],
     [("IF-A", "s3", "/")], None, "needs a region"),
    ([service("dav", "https://dav.example.jp")],
     [("IF-A", "dav", "/{nmae}")], None, "unknown placeholder '{nmae}'"),
    ([service("dav", "https://dav.example.jp", pins=["sha256//abc"])],
     [("IF-A", "dav", "/")], None, "pins[0] of service dav"),
    ([service("dav", "https://dav.example.jp", credentials="missing")],
     [("IF-A", "dav", "/")], None, "missing.yaml"),
    ([service("dav", "https://dav.example.jp")], [("IF-A", "dav", "/")],
     {"services": {"nosuch": {"concurrency": 1}}},
     "delivery.services.nosuch: no such service"),
    ([service("dav", "https://dav.example.jp", ca="/nonexistent/ca.pem")],
     [("IF-A", "dav", "/")], None, "/nonexistent/ca.pem"),
    ([service("dav", "https://dav.example.jp?x=1")],
     [("IF-A", "dav", "/")], None, "without query"),
])
def test_problems_are_reported(delivery, services, interfaces, cfg,
                               message):
    _, r = check(delivery, services, interfaces, cfg)
    assert r.returncode == 1, r.stdout
    assert message in r.stderr, r.stderr


def test_credentials_others_can_read_are_refused(delivery, tmp_path):
    creds = tmp_path / "creds"
    path = write_credentials(creds, "dav", type="basic", username="u",
                             password="secret-pw")
    os.chmod(path, 0o644)
    d, r = check(delivery, [service("dav", "https://dav.example.jp",
                                    credentials="dav")],
                 [("IF-A", "dav", "/")], {"credentials_dir": str(creds)})
    assert r.returncode == 1
    assert "chmod 600" in r.stderr
    assert "secret-pw" not in r.stderr + r.stdout
    # The broker refuses to start with the same problem.
    with pytest.raises(RuntimeError) as e:
        d.broker.start()
    d.broker.ended_on_purpose = True
    assert "chmod 600" in str(e.value)


def test_credentials_of_the_wrong_kind(delivery, tmp_path):
    creds = tmp_path / "creds"
    write_credentials(creds, "dav", type="aws", access_key_id="AK",
                      secret_access_key="SK")
    _, r = check(delivery, [service("dav", "https://dav.example.jp",
                                    credentials="dav")],
                 [("IF-A", "dav", "/")], {"credentials_dir": str(creds)})
    assert r.returncode == 1
    assert "do not fit a webdav service" in r.stderr


@pytest.mark.parametrize("cfg,message", [
    ({"proxy": "http://user:pw@proxy:3128"}, "credentials in the URL"),
    ({"proxy": "socks5://proxy:1080"}, "is not"),
    ({"part_size": "1MiB"}, "part_size must be 5MiB to 5GiB"),
    ({"backoff_base": "10s", "backoff_max": "5s"}, "backoff_max"),
    ({"services": {"dav": {"bogus": 1}}}, "bogus"),
])
def test_bad_delivery_section(delivery, cfg, message):
    _, r = check(delivery, [service("dav", "https://dav.example.jp")],
                 [("IF-A", "dav", "/")], cfg)
    assert r.returncode == 1
    assert message in r.stderr, r.stderr


def test_reload_refuses_a_register_check_config_would_refuse(delivery,
                                                             tmp_path):
    # A reload must never swap in a register the broker would not start
    # with: here a service whose credentials file does not exist.
    d = delivery([service("dav", "https://dav.example.jp")],
                 [("IF-A", "dav", "/")])
    b = d.broker
    before = b.register.read_bytes()
    b.write_register(register(
        [service("dav", "https://dav.example.jp", credentials="missing")],
        [("IF-A", "dav", "/"), ("IF-NEW", "dav", "/")]))
    line = b.reload_and_wait()
    assert "register=kept" in line, line
    rec = wait_records(b, "reload", 1)[-1]["details"]
    assert rec["register_reloaded"] is False
    assert "missing.yaml" in rec["error"], rec
    # The old register is still the one in force.
    assert rec["register"] == hashlib.sha256(before).hexdigest()
    assert b.running()
