"""The staff page in a real browser: files dropped on the page (two at
once), hashed in the browser with web/js/sha256.js, sent with tus to the
broker and delivered to a WebDAV upstream (nginx); a class 3 refusal
shown in Japanese; a step-up answered with an oathtool code; an upload
cut by a broker restart going on from the broker's offset; hostile file
names shown as text. Screenshots go to build-results/screenshots."""

import hashlib
import os
import secrets
import time

import pytest

from browser_fixtures import (answer_otp, browser, drop_files,  # noqa
                              screenshot, text_of, wait_for)
from delivery_fixtures import FAST, make_file, nginx  # noqa: F401
from stepup_helpers import enroll, need_oathtool, totp, wrong_code
from test_browser import console_problems, url, wait_text, web_root

HOSTILE = "<img src=x onerror=alert(1)>.pdf"


def staff_register(service=None, **iface):
    reg = {
        "principals": {"users": [
            {"id": "alice", "department": "soumu", "roles": ["staff"]},
        ]},
        "interfaces": [
            dict({"id": "IF-WEB", "max_class": 2},
                 **iface),
        ],
    }
    if service is not None:
        reg["services"] = [service]
        reg["interfaces"][0].update(service=service["id"],
                                    path="/in/{interface}/")
    return reg


@pytest.fixture
def staff_broker(broker, nginx, pki, tmp_path):  # noqa: F811
    """Factory: a broker with the pages and IF-WEB delivering to nginx."""
    def make(stepup=False, **iface):
        up = nginx()
        service = {"id": "dav", "connector": "webdav",
                   "endpoint": up.endpoint, "ca": str(pki.ca)}
        extra = {"web": {"root": str(web_root(tmp_path))},
                 "delivery": dict(FAST)}
        if stepup:
            extra["stepup"] = {"key_file": "totp.key"}
        b = broker(register=staff_register(service, **iface), extra=extra,
                   start=False)
        if stepup:
            key = b.dir / "totp.key"
            key.write_text(secrets.token_hex(32) + "\n")
            os.chmod(key, 0o600)
        b.start()
        return b, up
    return make


def open_staff(d, b):
    d.get(url(b))
    assert wait_text(d, "#who-user") == "alice"
    wait_for(d, lambda x: x.find_elements("css selector", "#drop"),
             "the drop zone")


def choose(d, interface, cls, purpose):
    """Chooses the interface from the list, the class and the purpose."""
    from selenium.webdriver.support.ui import Select
    wait_for(d, lambda x: x.find_elements(
        "css selector", f"#interface option[value='{interface}']"),
        f"interface {interface} offered")
    Select(d.find_element("id", "interface")).select_by_value(interface)
    Select(d.find_element("id", "class")).select_by_value(str(cls))
    p = d.find_element("id", "purpose")
    p.clear()
    p.send_keys(purpose)


def file_rows(d):
    return d.find_elements("css selector", "#files li.file")


def row_for(d, name):
    for r in file_rows(d):
        if r.find_element("css selector", ".fname").text == name:
            return r
    raise AssertionError(f"no row for {name!r}")


def wait_hashed(d, count):
    return wait_for(d, lambda x: len([r for r in file_rows(x)
                                      if r.get_attribute("data-sha256")])
                    == count, f"{count} file(s) hashed", timeout=30)


def test_dropped_files_are_hashed_and_hostile_names_are_text(
        pki, broker, browser, tmp_path):
    """Two files dropped at once, one named like markup: both are listed
    with the SHA-256 the page computed (as hashlib computes it), the name
    is shown as those characters, no element or alert comes of it."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    b = broker(register=staff_register(),
               extra={"web": {"root": str(web_root(tmp_path))}})
    files = tmp_path / "files"
    files.mkdir()
    a = make_file(files, "報告書 2026.pdf", 5 * 1024 * 1024 + 17, seed=1)
    h = make_file(files, HOSTILE, 1000, seed=2)
    d = browser("alice@T001")
    open_staff(d, b)
    drop_files(d, "#drop", [a, h])
    wait_hashed(d, 2)
    for p in (a, h):
        row = row_for(d, p.name)
        want = hashlib.sha256(p.read_bytes()).hexdigest()
        assert row.get_attribute("data-sha256") == want
        assert row.find_element("css selector", ".hash").text == want
    assert row_for(d, HOSTILE).find_element(
        "css selector", ".fname").get_property("childElementCount") == 0
    assert d.execute_script(
        "return document.querySelectorAll('main img, main script').length") \
        == 0
    with pytest.raises(TimeoutException):
        WebDriverWait(d, 1).until(EC.alert_is_present())
    # Dropping the same file again does not list it twice.
    drop_files(d, "#drop", [a])
    assert len(file_rows(d)) == 2
    screenshot(d, "staff-files-ja")
    assert console_problems(d) == []


def test_sha256_js_known_vectors(pki, broker, browser, tmp_path):
    """web/js/sha256.js against the FIPS 180-4 examples, the million
    'a', every length around the block edges (against WebCrypto), and a
    Blob hashed slice by slice. (Files above 32 MiB take that path on the
    page: the resume tests check them against the broker's hash.)"""
    b = broker(register=staff_register(),
               extra={"web": {"root": str(web_root(tmp_path))}})
    d = browser("alice@T001")
    d.get(url(b))
    wait_text(d, "#who-user")
    got = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const m = await import('/js/sha256.js');
          const enc = (s) => new TextEncoder().encode(s);
          const out = {};
          out.empty = new m.Sha256().hex();
          out.abc = new m.Sha256().update(enc('abc')).hex();
          out.two = new m.Sha256().update(enc(
            'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).hex();
          const h = new m.Sha256();
          const a = enc('a'.repeat(1000));
          for (let i = 0; i < 1000; i++) h.update(a);
          out.million = h.hex();
          const hexOf = (buf) => Array.from(new Uint8Array(buf),
            (x) => x.toString(16).padStart(2, '0')).join('');
          const bad = [];
          for (let n = 0; n <= 300; n++) {
            const data = new Uint8Array(n).map((_, i) => (i * 7 + n) & 255);
            const mine = new m.Sha256().update(data.subarray(0, n >> 1))
              .update(data.subarray(n >> 1)).hex();
            const ref = hexOf(await crypto.subtle.digest('SHA-256', data));
            if (mine !== ref) bad.push(n);
          }
          out.bad = bad;
          const big = new Uint8Array(m.SLICE * 2 + 12345)
            .map((_, i) => (i * 31) & 255);
          const seen = [];
          out.blob = await m.sha256File(new Blob([big]),
            (done, total) => seen.push(done), null, {incremental: true});
          out.slices = seen;
          out.blobRef = hexOf(await crypto.subtle.digest('SHA-256', big));
          return out;
        })().then(done, (e) => done({error: String(e)}));""")
    assert got.get("error") is None, got
    assert got["empty"] == hashlib.sha256(b"").hexdigest()
    assert got["abc"] == ("ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad")
    assert got["two"] == ("248d6a61d20638b8e5c026930c3e6039"
                          "a33ce45964ff2167f6ecedd419db06c1")
    assert got["million"] == ("cdc76e5c9914fb9281a1c7e284d73e67"
                              "f1809a48a497200e046d39ccc7112cd0")
    assert got["bad"] == []
    assert got["blob"] == got["blobRef"]
    # It was read a slice (4 MiB) at a time.
    assert got["slices"] == [4 << 20, 8 << 20, (8 << 20) + 12345]


def test_staff_drops_two_files_and_sees_them_delivered(
        pki, staff_broker, browser, tmp_path):
    b, up = staff_broker()
    files = tmp_path / "files"
    files.mkdir()
    paths = [make_file(files, "月次報告.pdf", 300 * 1024, seed=3),
             make_file(files, HOSTILE, 4096, seed=4)]
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 2, "月次報告の提出")
    drop_files(d, "#drop", paths)
    wait_hashed(d, 2)
    d.find_element("id", "send-button").click()
    wait_for(d, lambda x: all(r.get_attribute("data-state") == "sent"
                              for r in file_rows(x)), "both files sent", 60)
    transfers = [r.get_attribute("data-transfer") for r in file_rows(d)]
    assert all(transfers) and len(set(transfers)) == 2
    # The list of the user's own transfers shows them delivered, with the
    # destination, in Japanese.
    for t in transfers:
        wait_for(d, lambda x: x.find_elements(
            "css selector",
            f"#transfers-table tr[data-transfer='{t}'][data-state='delivered']"),
            f"{t} delivered", 60)
        text = text_of(d, f"#transfers-table tr[data-transfer='{t}']")
        assert "配送済み" in text, text
    assert HOSTILE in text_of(
        d, f"#transfers-table tr[data-transfer='{transfers[1]}']")
    assert d.execute_script(
        "return document.querySelectorAll('main img').length") == 0
    # The bytes arrived upstream as they were on disk.
    stored = sorted(up.objects().values())
    assert stored == sorted(p.read_bytes() for p in paths)
    screenshot(d, "staff-delivered-ja")
    d.find_element("css selector", "#lang-en").click()
    assert "delivered" in text_of(
        d, f"#transfers-table tr[data-transfer='{transfers[0]}']")
    assert d.find_element("id", "purpose").get_attribute("value") == \
        "月次報告の提出"
    screenshot(d, "staff-delivered-en")
    assert console_problems(d) == []


def test_class3_refusal_is_shown_in_japanese(pki, staff_broker, browser,
                                              tmp_path):
    b, up = staff_broker()
    f = make_file(tmp_path, "secret.xlsx", 2048, seed=5)
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 3, "テスト")
    drop_files(d, "#drop", [f])
    wait_hashed(d, 1)
    d.find_element("id", "send-button").click()
    row = wait_for(d, lambda x: [r for r in file_rows(x)
                                 if r.get_attribute("data-state") == "error"],
                   "the refusal", 30)[0]
    err = row.find_element("css selector", ".error")
    code = err.get_attribute("data-code")
    assert code not in (None, "", "page"), code
    text = err.text
    # The broker's Japanese message, with its code.
    assert any("\u3040" <= ch <= "\u9fff" for ch in text), text
    assert f"[{code}]" in text, text
    screenshot(d, "staff-class3-refused-ja")
    assert up.objects() == {}


def test_step_up_code_typed_into_the_page(pki, staff_broker, browser,
                                          tmp_path):
    need_oathtool()
    b, up = staff_broker(stepup=True,
                         step_up={"when": "always", "max_age": "15m"})
    b.stop()
    secret, _ = enroll(b, "alice")
    b.start()
    f = make_file(tmp_path, "step.pdf", 10000, seed=6)
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 1, "step-up")
    drop_files(d, "#drop", [f])
    wait_hashed(d, 1)
    d.find_element("id", "send-button").click()
    # A wrong code first: the page says so and asks again.
    answer_otp(d, wrong_code(secret))
    wait_for(d, lambda x: "受け付けられませんでした" in x.find_element(
        "id", "otp-why").text if x.find_elements(
        "css selector", "#otp-dialog[open]") else False,
        "the prompt again after a wrong code", 20)
    screenshot(d, "staff-stepup-ja")
    answer_otp(d, totp(secret))
    wait_for(d, lambda x: file_rows(x)[0].get_attribute("data-state")
             == "sent", "the file sent after the code", 30)
    t = file_rows(d)[0].get_attribute("data-transfer")
    wait_for(d, lambda x: x.find_elements(
        "css selector",
        f"#transfers-table tr[data-transfer='{t}'][data-state='delivered']"),
        "delivered", 60)
    assert list(up.objects().values()) == [f.read_bytes()]


def test_upload_cut_by_a_broker_restart_goes_on_from_its_offset(
        pki, staff_broker, browser, tmp_path):
    """The upload is slowed down (Chromium's network emulation) so that
    the broker is restarted in the middle of it; the page asks the new
    broker for the offset (HEAD) and sends the rest from there."""
    b, up = staff_broker()
    size = 40 * 1024 * 1024
    f = make_file(tmp_path, "big.bin", size, seed=7)
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 1, "resume")
    drop_files(d, "#drop", [f])
    wait_hashed(d, 1)
    d.set_network_conditions(offline=False, latency=1,
                             download_throughput=50 * 1024 * 1024,
                             upload_throughput=3 * 1024 * 1024)
    d.find_element("id", "send-button").click()
    row = file_rows(d)[0]
    # Past the first PATCH (16 MiB), so the broker holds part of the file.
    wait_for(d, lambda x: int(row.get_attribute("data-offset") or 0)
             > 18 * 1024 * 1024, "18 MiB sent", 60)
    b.restart()
    d.set_network_conditions(offline=False, latency=1,
                             download_throughput=50 * 1024 * 1024,
                             upload_throughput=100 * 1024 * 1024)
    wait_for(d, lambda x: row.get_attribute("data-state") == "sent",
             "the upload finished after the restart", 90)
    resumed = int(row.get_attribute("data-resumed-from"))
    assert 16 * 1024 * 1024 <= resumed < size, resumed
    t = row.get_attribute("data-transfer")
    wait_for(d, lambda x: x.find_elements(
        "css selector",
        f"#transfers-table tr[data-transfer='{t}'][data-state='delivered']"),
        "delivered", 90)
    assert list(up.objects().values()) == [f.read_bytes()]
    # The upload's address was forgotten once it finished.
    assert d.execute_script(
        "return Object.keys(localStorage).filter(k => "
        "k.startsWith('sekisho.tus.')).length") == 0
    screenshot(d, "staff-resumed-ja")


def test_withdraw_a_held_transfer(pki, broker, nginx, browser,  # noqa: F811
                                  tmp_path):
    reg = staff_register(approval={"when": "always",
                                   "approvers": "approvers", "count": 1})
    reg["principals"]["users"].append(
        {"id": "bob", "department": "kikaku", "roles": ["officer"]})
    reg["principals"]["groups"] = [{"id": "approvers", "users": ["bob"]}]
    b = broker(register=reg, extra={
        "web": {"root": str(web_root(tmp_path))},
        "stepup": {"key_file": "totp.key"}}, start=False)
    (b.dir / "totp.key").write_text(secrets.token_hex(32) + "\n")
    os.chmod(b.dir / "totp.key", 0o600)
    b.start()
    f = make_file(tmp_path, "hold.pdf", 1000, seed=8)
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 1, "取り下げ")
    drop_files(d, "#drop", [f])
    wait_hashed(d, 1)
    d.find_element("id", "send-button").click()
    wait_for(d, lambda x: file_rows(x)[0].get_attribute("data-state")
             == "sent", "sent", 30)
    t = file_rows(d)[0].get_attribute("data-transfer")
    sel = f"#transfers-table tr[data-transfer='{t}']"
    wait_for(d, lambda x: x.find_elements(
        "css selector", sel + "[data-state='held']"), "held", 30)
    assert "承認待ち" in text_of(d, sel)
    btn = d.find_element("css selector", sel + " button.withdraw")
    btn.click()
    d.find_element("css selector", sel + " button.withdraw").click()
    wait_for(d, lambda x: x.find_elements(
        "css selector", sel + "[data-state='withdrawn']"), "withdrawn", 30)
    assert "取り下げ済み" in text_of(d, sel)
    screenshot(d, "staff-withdrawn-ja")


def test_interface_rules_and_destination_are_shown(pki, staff_broker, browser,
                                                   tmp_path):
    """The interfaces come from the broker with their rules; the list of
    the user's transfers (not only those sent from this browser) names
    where each was delivered."""
    b, up = staff_broker()
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 1, "規則の確認")
    rules = d.find_element("id", "rules").text
    assert "機密性1" in rules and "機密性2" in rules, rules
    assert "dav" in rules, rules   # the delivery service
    assert d.find_element("css selector",
                          "#rules dd[data-rule='stepup']").text == "なし"
    # Sent with the command, not from this page: the list still has it.
    f = make_file(tmp_path, "cli.pdf", 1000, seed=9)
    from conftest import Client
    cert, key = pki.user_files("alice@T001")
    rc, put, err = Client(tmp_path / "cli", b, cert, key, pki.ca).json(
        "put", f, "--to", "IF-WEB", "--class", 1, "--purpose", "cli")
    assert rc == 0, (rc, put, err)
    sel = f"#transfers-table tr[data-transfer='{put['transfer']}']"
    wait_for(d, lambda x: x.find_elements("css selector",
                                          sel + "[data-state='delivered']"),
             "the command's transfer delivered in the list", 60)
    # The destination is where the object was written.
    assert f"配送先：{up.endpoint}/in/IF-WEB/" in text_of(d, sel)
    screenshot(d, "staff-rules-ja")


def test_reloaded_page_resumes_the_upload_it_remembered(
        pki, staff_broker, browser, tmp_path):
    """The page is reloaded in the middle of an upload: it names the
    unfinished file, and when the user chooses the same file again with
    the same interface and class, it asks the broker for the offset and
    sends only the rest (the upload's address was kept in localStorage)."""
    b, up = staff_broker()
    size = 40 * 1024 * 1024
    f = make_file(tmp_path, "再開.bin", size, seed=12)
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 1, "reload")
    drop_files(d, "#drop", [f])
    wait_hashed(d, 1)
    d.set_network_conditions(offline=False, latency=1,
                             download_throughput=50 * 1024 * 1024,
                             upload_throughput=3 * 1024 * 1024)
    d.find_element("id", "send-button").click()
    row = file_rows(d)[0]
    wait_for(d, lambda x: int(row.get_attribute("data-offset") or 0)
             > 18 * 1024 * 1024, "18 MiB sent", 60)
    d.refresh()
    d.set_network_conditions(offline=False, latency=1,
                             download_throughput=50 * 1024 * 1024,
                             upload_throughput=100 * 1024 * 1024)
    open_staff(d, b)
    assert f.name in d.find_element("id", "unfinished").text
    choose(d, "IF-WEB", 1, "reload")
    drop_files(d, "#drop", [f])
    wait_hashed(d, 1)
    d.find_element("id", "send-button").click()
    row = file_rows(d)[0]
    wait_for(d, lambda x: row.get_attribute("data-state") == "sent",
             "the upload finished after the reload", 90)
    resumed = int(row.get_attribute("data-resumed-from"))
    assert 16 * 1024 * 1024 <= resumed < size, resumed
    t = row.get_attribute("data-transfer")
    wait_for(d, lambda x: x.find_elements(
        "css selector",
        f"#transfers-table tr[data-transfer='{t}'][data-state='delivered']"),
        "delivered", 90)
    assert list(up.objects().values()) == [f.read_bytes()]
    # One transfer, not two: the first one went on.
    assert len(d.find_elements("css selector", "#transfers-table tbody tr")) \
        == 1


def test_class_is_chosen_only_by_the_interfaces_default(pki, broker, browser,
                                                        tmp_path):
    """No class is chosen for the user, except the interface's
    default_class; sending without one says what is missing."""
    reg = staff_register()
    reg["interfaces"].append({"id": "IF-DEF", "max_class": 2,
                              "default_class": 2})
    b = broker(register=reg, extra={"web": {"root": str(web_root(tmp_path))}})
    from selenium.webdriver.support.ui import Select
    d = browser("alice@T001")
    open_staff(d, b)
    wait_for(d, lambda x: x.find_elements(
        "css selector", "#interface option[value='IF-DEF']"), "IF-DEF")
    Select(d.find_element("id", "interface")).select_by_value("IF-WEB")
    assert d.find_element("id", "class").get_attribute("value") == ""
    f = make_file(tmp_path, "a.pdf", 100, seed=13)
    drop_files(d, "#drop", [f])
    wait_hashed(d, 1)
    d.find_element("id", "purpose").send_keys("x")
    d.find_element("id", "send-button").click()
    err = wait_for(d, lambda x: x.find_elements(
        "css selector", "#send-result .error"), "the missing class")[0]
    assert err.text == "機密性の区分を選んでください。"
    assert file_rows(d)[0].get_attribute("data-state") == "ready"
    Select(d.find_element("id", "interface")).select_by_value("IF-DEF")
    assert d.find_element("id", "class").get_attribute("value") == "2"
    opts = [o.text for o in Select(d.find_element("id", "class")).options]
    assert opts[3] == "機密性3（外部への送信は禁止）", opts


def test_pause_stops_the_upload_and_resume_goes_on(pki, staff_broker, browser,
                                                   tmp_path):
    b, up = staff_broker()
    size = 24 * 1024 * 1024
    f = make_file(tmp_path, "pause.bin", size, seed=14)
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 1, "pause")
    drop_files(d, "#drop", [f])
    wait_hashed(d, 1)
    d.set_network_conditions(offline=False, latency=1,
                             download_throughput=50 * 1024 * 1024,
                             upload_throughput=2 * 1024 * 1024)
    d.find_element("id", "send-button").click()
    row = file_rows(d)[0]
    wait_for(d, lambda x: int(row.get_attribute("data-offset") or 0)
             > 2 * 1024 * 1024, "2 MiB sent", 30)
    pause = row.find_element("css selector", "button.pause")
    assert pause.text == "一時停止"
    pause.click()
    wait_for(d, lambda x: row.get_attribute("data-state") == "paused",
             "paused")
    assert pause.text == "再開"
    screenshot(d, "staff-paused-ja")
    # Nothing moves while paused.
    at = row.get_attribute("data-offset")
    time.sleep(2)
    assert row.get_attribute("data-offset") == at
    assert row.get_attribute("data-state") == "paused"
    d.set_network_conditions(offline=False, latency=1,
                             download_throughput=50 * 1024 * 1024,
                             upload_throughput=100 * 1024 * 1024)
    pause.click()
    wait_for(d, lambda x: row.get_attribute("data-state") == "sent",
             "sent after the resume", 60)
    t = row.get_attribute("data-transfer")
    wait_for(d, lambda x: x.find_elements(
        "css selector",
        f"#transfers-table tr[data-transfer='{t}'][data-state='delivered']"),
        "delivered", 60)
    assert list(up.objects().values()) == [f.read_bytes()]


def test_files_added_while_sending_are_sent_once_each(
        pki, staff_broker, browser, tmp_path):
    """A file dropped while others are being sent, then 送信する again:
    every file goes once, none twice."""
    b, up = staff_broker()
    files = [make_file(tmp_path, f"f{i}.bin", 3 * 1024 * 1024, seed=30 + i)
             for i in range(3)]
    d = browser("alice@T001")
    open_staff(d, b)
    choose(d, "IF-WEB", 1, "twice")
    drop_files(d, "#drop", files[:2])
    wait_hashed(d, 2)
    d.set_network_conditions(offline=False, latency=1,
                             download_throughput=50 * 1024 * 1024,
                             upload_throughput=2 * 1024 * 1024)
    d.find_element("id", "send-button").click()
    wait_for(d, lambda x: int(file_rows(x)[0].get_attribute("data-offset")
                              or 0) > 0, "the first file under way", 20)
    drop_files(d, "#drop", files[2:])
    wait_hashed(d, 3)
    d.find_element("id", "send-button").click()
    d.set_network_conditions(offline=False, latency=1,
                             download_throughput=50 * 1024 * 1024,
                             upload_throughput=100 * 1024 * 1024)
    wait_for(d, lambda x: all(r.get_attribute("data-state") == "sent"
                              for r in file_rows(x)), "all sent", 60)
    transfers = {r.get_attribute("data-transfer") for r in file_rows(d)}
    assert len(transfers) == 3, transfers
    for t in transfers:
        wait_for(d, lambda x: x.find_elements(
            "css selector",
            f"#transfers-table tr[data-transfer='{t}'][data-state='delivered']"),
            f"{t} delivered", 60)
    assert len(d.find_elements("css selector",
                               "#transfers-table tbody tr")) == 3
    assert sorted(up.objects().values()) == sorted(
        p.read_bytes() for p in files)
