"""The broker's pages in a real browser (headless Chromium, selenium): the
identity from the client certificate shown in Japanese by default and in
English after the switch, separate users in separate profiles, no page
without a certificate, user text never parsed as markup, cross-origin
requests refused, and no CSP violation on our pages. Screenshots of each
page go to build-results/screenshots (SEKISHO_SCREENSHOTS)."""

import datetime
import http.server
import json
import re
import shutil
import subprocess
import threading
import zoneinfo

import pytest

from browser_fixtures import WAIT, browser, screenshot  # noqa: F401
from conftest import BUILD, REPO

WEB = REPO / "web"
WEBTEST = REPO / "tests" / "integration" / "webtest"


def web_root(tmp_path):
    """The tree's web/ plus the test pages of tests/integration/webtest."""
    root = tmp_path / "webroot"
    shutil.copytree(WEB, root)
    for f in WEBTEST.iterdir():
        shutil.copyfile(f, root / f.name)
    return root


# bob is an approval officer here, alice staff: what the pages will show
# once whoami carries the roles.
REGISTER = {
    "principals": {"users": [
        {"id": "alice", "department": "soumu", "roles": ["staff"]},
        {"id": "bob", "department": "kikaku", "roles": ["staff", "officer"]},
    ]},
    "interfaces": [{"id": "IF-2026-001", "max_class": 2}],
}


@pytest.fixture
def web_broker(broker, tmp_path):
    return broker(register=REGISTER,
                  extra={"web": {"root": str(web_root(tmp_path))}})


def url(b, page=""):
    return f"https://localhost:{b.port}/{page}"


def wait_text(driver, css, timeout=WAIT):
    """The text of the first element matching CSS once it has some."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def text(d):
        els = d.find_elements(By.CSS_SELECTOR, css)
        return els[0].text if els and els[0].text.strip() else False
    return WebDriverWait(driver, timeout).until(
        text, message=f"nothing in {css} within {timeout}s")


def console_problems(driver):
    """Console entries that are errors or mention the CSP. An API answer
    with an error status is logged by Chromium itself ("Failed to load
    resource: the server responded with a status of 403") although the
    page handles it (a step-up asked for, a refusal shown): those are not
    problems of the page."""
    return [e for e in driver.get_log("browser")
            if (e["level"] == "SEVERE" and not (
                "/api/v1/" in e["message"] and
                "the server responded with a status of" in e["message"])) or
            "Content Security Policy" in e["message"] or
            "Content-Security-Policy" in e["message"]]


def test_staff_page_shows_the_certificate_in_japanese_then_english(
        pki, web_broker, browser):
    b = web_broker
    d = browser("alice@T001", lang="ja")
    d.get(url(b))
    assert wait_text(d, "#who-user") == "alice"
    assert d.find_element("css selector", "#who-dept").text == "soumu"
    assert d.find_element("css selector", "#who-terminal").text == "T001"
    assert d.execute_script("return document.documentElement.lang") == "ja"
    assert d.find_element("css selector", "h1").text == "職員の画面"
    assert "利用者" in d.find_element("css selector", "#identity").text
    # The time is the register's (Tokyo), not the machine's (UTC here).
    shown = d.find_element("css selector", "#shown-at").text
    assert "Asia/Tokyo" in shown, shown
    now = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert any(f"{t.year}年{t.month}月{t.day}日 {t.hour}:{t.minute:02d}"
               in shown for t in (now - datetime.timedelta(minutes=1), now)),\
        (shown, now)
    assert d.find_element("css selector", "#lang-ja") \
        .get_attribute("aria-pressed") == "true"
    screenshot(d, "staff-ja")
    assert console_problems(d) == []

    d.find_element("css selector", "#lang-en").click()
    assert wait_text(d, "h1") == "Staff"
    assert d.execute_script("return document.documentElement.lang") == "en"
    assert "User" in d.find_element("css selector", "#identity").text
    assert d.find_element("css selector", "#who-user").text == "alice"
    screenshot(d, "staff-en")
    # Remembered: the next page opens in English although the browser
    # prefers Japanese.
    d.get(url(b, "auditor.html"))
    assert wait_text(d, "#who-user") == "alice"
    assert d.find_element("css selector", "h1").text == "Auditor"
    screenshot(d, "auditor-en")
    d.find_element("css selector", "#lang-ja").click()
    assert wait_text(d, "h1") == "監査担当者の画面"
    screenshot(d, "auditor-ja")
    assert console_problems(d) == []


def test_english_browser_gets_english(pki, web_broker, browser):
    d = browser("bob", lang="en")
    d.get(url(web_broker))
    assert wait_text(d, "#who-user") == "bob"
    assert d.find_element("css selector", "h1").text == "Staff"
    assert d.execute_script("return document.documentElement.lang") == "en"


def test_officer_in_another_profile_sees_the_officer_page(
        pki, web_broker, browser):
    b = web_broker
    staff = browser("alice@T001")
    officer = browser("bob")
    staff.get(url(b))
    officer.get(url(b, "officer.html"))
    assert wait_text(officer, "#who-user") == "bob"
    assert officer.find_element("css selector", "#who-dept").text == "kikaku"
    assert officer.find_element("css selector", "h1").text == "承認担当者の画面"
    assert officer.find_element("css selector", "#nav-officer") \
        .get_attribute("aria-current") == "page"
    assert officer.find_elements("css selector", "#role-notice") == []
    assert wait_text(staff, "#who-user") == "alice"
    screenshot(officer, "officer-ja")
    assert console_problems(officer) == []


def test_without_a_certificate_the_page_is_refused(pki, web_broker, browser):
    from selenium.common.exceptions import WebDriverException

    d = browser(None)
    # chromedriver reports the network error of the navigation itself, or
    # Chromium shows its error page with the code.
    try:
        d.get(url(web_broker))
        error = d.find_element("tag name", "body").text
    except WebDriverException as e:
        error = e.msg
    # Which of these depends on when Chromium reads the broker's alert in
    # TLS 1.3 (after its own Finished): the handshake failed either way.
    assert any(code in error for code in (
        "ERR_BAD_SSL_CLIENT_AUTH_CERT", "ERR_SSL_CLIENT_AUTH_CERT_NEEDED",
        "ERR_SOCKET_NOT_CONNECTED", "ERR_CONNECTION_CLOSED",
        "ERR_CONNECTION_RESET", "ERR_SSL_PROTOCOL_ERROR")), error
    src = d.page_source
    assert "data-page" not in src and "who-user" not in src, src[:2000]
    screenshot(d, "no-certificate")
    # The broker saw a handshake without a certificate and served nothing.
    log = web_broker.log_text()
    assert "no client certificate" in log, log[-2000:]
    assert "event=connect" not in log, log[-2000:]


def test_escaping_helper_renders_hostile_names_as_text(
        pki, web_broker, browser):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    d = browser("alice@T001")
    d.get(url(web_broker, "escape-test.html"))
    WebDriverWait(d, WAIT).until(
        lambda x: x.execute_script("return document.body.dataset.done"))
    hostile = d.execute_script(
        "return JSON.parse(document.body.dataset.hostile)")
    assert hostile[0] == "<img src=x onerror=alert(1)>.pdf"
    for i, s in enumerate(hostile):
        for kind in ("el", "text"):
            e = d.find_element("css selector", f"#{kind}-{i}")
            assert e.text == s
            assert e.get_property("childElementCount") == 0
        assert d.find_element("css selector", f"#el-{i}") \
            .get_attribute("title") == s
    # Nothing became markup: no image, script or svg element appeared.
    assert d.execute_script(
        "return document.querySelectorAll('#out img, #out script, "
        "#out svg').length") == 0
    # on* attributes, javascript: URLs and style are refused by el().
    assert d.execute_script("return document.body.dataset.refused") == "3"
    with pytest.raises(TimeoutException):
        WebDriverWait(d, 1).until(EC.alert_is_present())
    screenshot(d, "escape-test")
    assert console_problems(d) == []


class _Pages(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("target", [
    "/api/v1/whoami", "/api/v1/uploads",
    "/api/v1/transfers/0123456789abcdef0123456789abcdef/withdraw",
    "/api/v1/approvals/0123456789abcdef0123456789abcdef/approve"])
def test_cross_origin_post_is_refused(pki, web_broker, browser, tmp_path,
                                      target):
    """A page on another origin (http://127.0.0.1:P) posts to the broker
    with the user's credentials: the broker refuses it (403 cross_origin)
    and logs it; the page learns nothing. Also for the routes that change
    something (a new upload, a withdrawal, an approval)."""
    b = web_broker
    site = tmp_path / "evil"
    site.mkdir()
    (site / "index.html").write_text(
        '<!doctype html><html><head><meta charset="utf-8">'
        '<script src="evil.js"></script></head><body>evil</body></html>')
    (site / "evil.js").write_text(f"""
const target = "https://localhost:{b.port}{target}";
// A "simple" request: no preflight, so it reaches the broker as a POST.
const simple = fetch(target, {{method: "POST", mode: "no-cors",
  credentials: "include", body: "x"}})
  .then(r => "opaque:" + r.type).catch(e => "failed:" + e);
// With the custom header: the browser asks first (OPTIONS preflight).
const custom = fetch(target, {{method: "POST", credentials: "include",
  headers: {{"X-Sekisho-Request": "1", "Content-Type": "application/json"}},
  body: "{{}}"}}).then(r => "status:" + r.status)
  .catch(e => "failed:" + e);
Promise.all([simple, custom]).then(r => {{ window.results = r; }});
""")
    handler = lambda *a, **kw: _Pages(*a, directory=str(site), **kw)  # noqa
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        d = browser("alice@T001")
        # The certificate works: the user's own page shows who she is.
        d.get(url(b))
        assert wait_text(d, "#who-user") == "alice"
        origin = f"http://127.0.0.1:{srv.server_address[1]}"
        d.get(origin + "/index.html")
        from selenium.webdriver.support.ui import WebDriverWait
        results = WebDriverWait(d, WAIT).until(
            lambda x: x.execute_script("return window.results"))
    finally:
        srv.shutdown()
        srv.server_close()
    # The no-cors answer is opaque; the preflighted one fails outright.
    assert results[0] in ("opaque:opaque",) or \
        results[0].startswith("failed:"), results
    assert results[1].startswith("failed:"), results
    log = b.log_text()
    refusals = [ln for ln in log.splitlines() if "event=web_refuse" in ln
                and f'origin="{origin}"' in ln]
    assert any('method="POST"' in ln and "code=cross_origin" in ln
               and "user=alice" in ln for ln in refusals), log[-3000:]
    assert any('method="OPTIONS"' in ln for ln in refusals), log[-3000:]


def test_install_ships_the_pages(tmp_path):
    """meson install puts web/ where web.root defaults to
    (<prefix>/share/sekisho/web), every file of it."""
    proc = subprocess.run(["meson", "install", "-C", str(BUILD), "--no-rebuild",
                           "--quiet", "--destdir", str(tmp_path / "dest")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    opts = {o["name"]: o["value"] for o in json.loads(subprocess.run(
        ["meson", "introspect", "--buildoptions", str(BUILD)],
        capture_output=True, text=True, timeout=60, check=True).stdout)}
    prefix = opts["prefix"].lstrip("/")
    installed = tmp_path / "dest" / prefix / opts["datadir"] / "sekisho" / "web"
    want = sorted(str(p.relative_to(WEB)) for p in WEB.rglob("*")
                  if p.is_file())
    got = sorted(str(p.relative_to(installed)) for p in installed.rglob("*")
                 if p.is_file())
    assert "index.html" in want and got == want, (got, want)


def test_pages_have_no_markup_sinks_and_no_inline_script():
    """What the CSP test above can only see on the pages it opens, for
    every file of web/: no HTML parsing of strings in the scripts, and no
    inline script, style or event handler in the pages."""
    sinks = re.compile(r"\.innerHTML\s*[+]?=|outerHTML|insertAdjacentHTML|"
                       r"document\.write|\beval\s*\(|new\s+Function\b|"
                       r"setTimeout\s*\(\s*[\"'`]")
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle\s*=|"
                        r"\son[a-z]+\s*=|<style\b|javascript:", re.I)
    found = []
    for f in sorted(WEB.rglob("*")):
        if f.suffix == ".js":
            found += [f"{f}: {m.group(0)}"
                      for m in sinks.finditer(f.read_text())]
        elif f.suffix == ".html":
            found += [f"{f}: {m.group(0)}"
                      for m in inline.finditer(f.read_text())]
    assert found == []
    assert len(list(WEB.rglob("*.html"))) == 4


def test_catalogues_have_the_same_messages():
    """Every message exists in Japanese and English, every key the scripts
    name is in the catalogues, and the pages' own keys are there for each
    page."""
    ja = json.loads((WEB / "i18n" / "ja.json").read_text())
    en = json.loads((WEB / "i18n" / "en.json").read_text())
    assert sorted(ja) == sorted(en)
    assert all(v.strip() for v in [*ja.values(), *en.values()])
    named = set()
    for f in (WEB / "js").glob("*.js"):
        named |= set(re.findall(r"""\bt[na]?\(\s*(?:\w+,\s*)?["']"""
                                r"""([a-z_]+\.[a-z_.]+)["']""", f.read_text()))
        # keys built from a prefix: state.*, word(prefix, value)
        named |= set(re.findall(r"""["']((?:staff|officer|auditor|enrol|"""
                                r"""otp|ex)\.[a-z_]+(?:\.[a-z_]+)*)["']""",
                                f.read_text()))
    named = {n for n in named if not n.endswith((".html", ".js"))}
    for page in ("staff", "officer", "auditor", "enrol"):
        named |= {f"{page}.title", f"{page}.lead", f"nav.{page}"}
    for state in ("receiving", "held", "queued", "forwarding", "delivered",
                  "failed", "expired", "rejected", "withdrawn"):
        named.add(f"state.{state}")
    for verb in ("grant", "refuse", "revoke", "confirm"):
        named |= {f"officer.ex.{verb}", f"officer.ex.done.{verb}"}
    assert len(named) > 30 and sorted(named - set(ja)) == []
