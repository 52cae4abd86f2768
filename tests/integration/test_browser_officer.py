"""The officer page in a real browser: a transfer held for approval is
seen by its sender (staff profile) as waiting, opened and approved by an
officer in another browser profile after a one-time code from oathtool,
then delivered to the WebDAV upstream; exceptions are listed and granted
the same way."""

import datetime
import hashlib
import os
import secrets
import time
import zoneinfo

import pytest

from approvals_fixtures import officer_pki, register  # noqa: F401
from browser_fixtures import (answer_otp, browser, downloaded,  # noqa: F401
                              screenshot, text_of, wait_for)
from delivery_fixtures import FAST, make_file, nginx  # noqa: F401
from stepup_helpers import enroll, need_oathtool, totp
from test_browser import console_problems, url, wait_text, web_root



@pytest.fixture
def held_broker(broker, client, officer_pki, nginx, tmp_path):  # noqa: F811
    need_oathtool()
    up = nginx()
    service = {"id": "dav", "connector": "webdav", "endpoint": up.endpoint,
               "ca": str(officer_pki.ca)}
    b = broker(register=register(service), extra={
        "web": {"root": str(web_root(tmp_path))},
        "stepup": {"key_file": "totp.key"},
        "delivery": dict(FAST), "approvals": {}}, start=False)
    key = b.dir / "totp.key"
    key.write_text(secrets.token_hex(32) + "\n")
    os.chmod(key, 0o600)
    secret = enroll(b, "u-off1")[0]
    b.start()
    return b, up, secret, client(b, user="u-staff@T100")


def fresh_code(secret, used):
    """A code of the current step that was not used yet (the broker
    refuses a code twice): waits for the next step when needed."""
    for _ in range(40):
        code = totp(secret)
        if code not in used:
            used.add(code)
            return code
        time.sleep(1)
    raise AssertionError("no fresh one-time code within 40 s")


def maybe_otp(d, secret, used, timeout=3):
    """Answers the prompt if the page asks again (a step-up lasts a while,
    so usually it does not)."""
    if wait_for(d, lambda x: x.find_elements("css selector",
                                              "#otp-dialog[open]") or "none",
                "prompt or not", timeout) != "none":
        answer_otp(d, fresh_code(secret, used))


def staff_sends_held(b, browser, tmp_path, name="住民票の写し.pdf"):
    """u-staff sends a file to IF-HOLD from the staff page; returns
    (driver, file, transfer) once the page lists it as held."""
    from test_browser_staff import choose, drop_files, file_rows
    f = make_file(tmp_path, name, 70000, seed=11)
    staff = browser("u-staff@T100")
    staff.get(url(b))
    assert wait_text(staff, "#who-user") == "u-staff"
    wait_for(staff, lambda x: x.find_elements("id", "drop"), "the page")
    choose(staff, "IF-HOLD", 1, "県への照会回答")
    drop_files(staff, "#drop", [f])
    wait_for(staff, lambda x: file_rows(x)[0].get_attribute("data-sha256"),
             "hashed", 20)
    staff.find_element("id", "send-button").click()
    wait_for(staff, lambda x: file_rows(x)[0].get_attribute("data-state")
             == "sent", "sent", 30)
    t = file_rows(staff)[0].get_attribute("data-transfer")
    sel = f"#transfers-table tr[data-transfer='{t}']"
    wait_for(staff, lambda x: x.find_elements(
        "css selector", sel + "[data-state='held']"), "held in the list", 20)
    assert "承認待ち" in text_of(staff, sel)
    return staff, f, t


def officer_page(b, browser, secret, used, downloads=None):
    officer = browser("u-off1", downloads=downloads)
    officer.get(url(b, "officer.html"))
    assert wait_text(officer, "#who-user") == "u-off1"
    answer_otp(officer, fresh_code(secret, used))
    return officer


def test_officer_approves_a_held_transfer_then_it_is_delivered(
        held_broker, browser, tmp_path):
    b, up, secret, _ = held_broker
    staff, f, t = staff_sends_held(b, browser, tmp_path)
    screenshot(staff, "staff-held-ja")
    used = set()
    officer = officer_page(b, browser, secret, used)
    row_sel = f"#held-table tr[data-transfer='{t}']"
    row = wait_for(officer, lambda x: x.find_elements("css selector", row_sel),
                   "the held transfer listed", 20)[0]
    text = row.text
    for want in ("u-staff", "T100", "住民票の写し.pdf", "IF-HOLD",
                 "県への照会回答", "機密性1", "0/1",
                 hashlib.sha256(f.read_bytes()).hexdigest()):
        assert want in text, (want, text)
    screenshot(officer, "officer-held-ja")
    row.find_element("css selector", "input.comment").send_keys("確認済み")
    row.find_element("css selector", "button.approve").click()
    maybe_otp(officer, secret, used)
    wait_for(officer, lambda x: x.find_elements(
        "css selector", "#held-result .ok"), "approved", 20)
    wait_for(officer, lambda x: x.find_elements("css selector", "#held-empty"),
             "the list emptied", 20)
    # The sender sees it delivered; the upstream has the bytes.
    sel = f"#transfers-table tr[data-transfer='{t}']"
    wait_for(staff, lambda x: x.find_elements(
        "css selector", sel + "[data-state='delivered']"), "delivered", 60)
    assert list(up.objects().values()) == [f.read_bytes()]
    screenshot(staff, "staff-after-approval-ja")
    assert console_problems(officer) == []


def test_officer_rejection_needs_a_comment_and_reaches_the_sender(
        held_broker, browser, tmp_path):
    b, up, secret, _ = held_broker
    staff, f, t = staff_sends_held(b, browser, tmp_path, "<b onclick=alert(1)>x.pdf")
    used = set()
    officer = officer_page(b, browser, secret, used)
    row_sel = f"#held-table tr[data-transfer='{t}']"
    row = wait_for(officer, lambda x: x.find_elements("css selector", row_sel),
                   "listed", 20)[0]
    assert "<b onclick=alert(1)>x.pdf" in row.text
    row.find_element("css selector", "button.reject").click()
    err = wait_for(officer, lambda x: x.find_elements(
        "css selector", "#held-result .error"), "the missing comment", 5)[0]
    assert "コメント" in err.text
    officer.find_element("css selector", row_sel + " input.comment") \
        .send_keys("宛先誤り")
    # The list refreshes every 10 s: what was typed stays.
    time.sleep(11)
    officer.find_element("css selector", row_sel + " button.reject").click()
    maybe_otp(officer, secret, used)
    wait_for(officer, lambda x: x.find_elements(
        "css selector", "#held-result .ok"), "rejected", 20)
    sel = f"#transfers-table tr[data-transfer='{t}']"
    wait_for(staff, lambda x: x.find_elements(
        "css selector", sel + "[data-state='rejected']"), "rejected", 30)
    assert "却下" in text_of(staff, sel)
    assert up.objects() == {}


def test_officer_opens_the_held_file(held_broker, browser, tmp_path):
    b, up, secret, _ = held_broker
    staff, f, t = staff_sends_held(b, browser, tmp_path)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    used = set()
    officer = officer_page(b, browser, secret, used, downloads)
    row = wait_for(officer, lambda x: x.find_elements(
        "css selector", f"#held-table tr[data-transfer='{t}']"),
        "listed", 20)[0]
    row.find_element("css selector", "a.download").click()
    got = downloaded(officer, downloads, set(), "the held file")
    assert got.read_bytes() == f.read_bytes()
    assert got.name == f.name


def test_exception_requested_by_staff_is_granted_by_the_officer(
        held_broker, browser, tmp_path):
    b, up, secret, _ = held_broker
    staff = browser("u-staff@T100")
    staff.get(url(b))
    assert wait_text(staff, "#who-user") == "u-staff"
    from selenium.webdriver.support.ui import Select
    wait_for(staff, lambda x: x.find_elements(
        "css selector", "#ex-interface option[value='IF-EX']"), "IF-EX", 20)
    Select(staff.find_element("id", "ex-interface")).select_by_value("IF-EX")
    Select(staff.find_element("id", "ex-class")).select_by_value("2")
    until = staff.find_element("id", "ex-until")
    # Today in the register's zone: valid until the end of it, less than
    # the day IF-EX allows.
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    staff.execute_script("arguments[0].value = arguments[1]", until,
                         today.strftime("%Y-%m-%d"))
    staff.find_element("id", "ex-reason").send_keys(
        "<b>災害対応</b> の臨時送付")
    staff.find_element("id", "ex-submit").click()
    wait_for(staff, lambda x: x.find_elements("css selector", "#ex-result .ok"),
             "the request sent", 20)

    officer = browser("u-off1")
    officer.get(url(b, "officer.html"))
    used = set()
    answer_otp(officer, fresh_code(secret, used))
    row = wait_for(officer, lambda x: x.find_elements(
        "css selector", "#ex-table tr[data-status='requested']"),
        "the request listed", 20)[0]
    assert "<b>災害対応</b> の臨時送付" in row.text
    row.find_element("css selector", "button.ex-grant").click()
    maybe_otp(officer, secret, used)
    wait_for(officer, lambda x: x.find_elements(
        "css selector", "#ex-table tr[data-status='active']"), "granted", 20)
    assert officer.find_element("id", "ex-inventory").get_attribute(
        "href").endswith("/api/v1/exceptions/inventory.csv")
    screenshot(officer, "officer-exceptions-ja")
