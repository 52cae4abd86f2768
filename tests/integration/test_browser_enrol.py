"""The one-time code enrolment page in a real browser: the administrator's
one-time enrolment code typed in, the QR code shown (rebuilt from a
validated copy of the broker's SVG, never parsed into the page as
markup), the secret, and the first code from oathtool confirmed."""

import os
import re
import secrets
import shutil
import subprocess

import pytest

from browser_fixtures import browser, screenshot, wait_for  # noqa: F401
from conftest import SEKISHOD
from stepup_helpers import need_oathtool, totp
from test_browser import console_problems, url, wait_text, web_root


REGISTER = {
    "principals": {"users": [
        {"id": "alice", "department": "soumu", "roles": ["staff"]}]},
    "interfaces": [{"id": "IF-STEP", "max_class": 2,
                    "step_up": {"when": "always", "max_age": "15m"}}],
}


CODE_RE = re.compile(r"^    ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})$", re.M)


def enrol_code(b, user):
    """The one-time enrolment code an administrator hands to USER
    (sekishod --totp-enrol-code)."""
    proc = subprocess.run([str(SEKISHOD), "-c", str(b.config),
                           "--totp-enrol-code", user], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = CODE_RE.findall(proc.stdout)
    assert len(found) == 1, proc.stdout
    return found[0]


def test_enrolment_end_to_end(pki, broker, browser, tmp_path):
    need_oathtool()
    b = broker(register=REGISTER, extra={
        "web": {"root": str(web_root(tmp_path))},
        "stepup": {"key_file": "totp.key"}}, start=False)
    (b.dir / "totp.key").write_text(secrets.token_hex(32) + "\n")
    os.chmod(b.dir / "totp.key", 0o600)
    b.start()
    code = enrol_code(b, "alice")
    d = browser("alice@T001")
    d.get(url(b, "enrol.html"))
    assert wait_text(d, "#who-user") == "alice"
    wait_for(d, lambda x: x.find_elements("id", "enrol-code"), "the form")
    d.find_element("id", "enrol-code").send_keys(code)
    d.find_element("id", "enrol").click()
    secret_el = wait_for(d, lambda x: x.find_elements("id", "secret"),
                         "the secret", 20)[0]
    secret = secret_el.text.replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{16,}=*", secret), secret
    # The QR code is there, made of SVG shapes only.
    assert d.execute_script(
        "return document.querySelectorAll('#qr svg rect, #qr svg path')"
        ".length") > 0
    assert d.execute_script(
        "return document.querySelectorAll('#qr script, #qr foreignObject, "
        "#qr image, #qr [onload]').length") == 0
    uri = d.find_element("id", "otpauth").get_attribute("textContent")
    assert "secret=" + secret in uri
    screenshot(d, "enrol-qr-ja")
    # The QR code as the browser drew it (from the page's own copy of the
    # SVG) reads back as the enrolment URI.
    if shutil.which("zbarimg") is None:
        pytest.fail("zbarimg is missing (Debian: zbar-tools; "
                    "deploy/install-deps.sh --test installs it)",
                    pytrace=False)
    png = tmp_path / "qr.png"
    d.find_element("css selector", "#qr svg").screenshot(str(png))
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(png)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == uri
    d.find_element("id", "enrol-otp").send_keys(totp(secret))
    d.find_element("id", "confirm").click()
    wait_for(d, lambda x: x.find_elements("css selector",
                                          "#confirm-result .ok"),
             "enrolment confirmed", 20)
    screenshot(d, "enrol-done-ja")
    # The code cannot be used twice.
    d.get(url(b, "enrol.html"))
    wait_for(d, lambda x: x.find_elements("id", "enrol-code"), "the form")
    d.find_element("id", "enrol-code").send_keys(code)
    d.find_element("id", "enrol").click()
    err = wait_for(d, lambda x: x.find_elements(
        "css selector", "#enrol-result .error"), "the refusal", 20)[0]
    assert err.get_attribute("data-code") not in ("", "page")
    assert console_problems(d) == []


def test_qr_svg_is_rebuilt_from_allowed_shapes_only(pki, broker, browser,
                                                    tmp_path):
    """safeSvg() keeps svg/g/rect/path with numeric geometry and plain
    colours, and drops scripts, event handlers, styles, links, foreign
    content and odd colour values; text that is not SVG gives nothing."""
    b = broker(register=REGISTER,
               extra={"web": {"root": str(web_root(tmp_path))}})
    d = browser("alice@T001")
    d.get(url(b, "enrol.html"))
    assert wait_text(d, "#who-user") == "alice"
    wait_for(d, lambda x: x.find_elements("id", "enrol-code"), "the form")
    screenshot(d, "enrol-ja")
    got = d.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('/js/enrol.js').then((m) => {
          const svg = m.safeSvg(`<svg xmlns="http://www.w3.org/2000/svg"
            viewBox="0 0 29 29" width="290" height="290" onload="alert(1)"
            style="x">
            <script>alert(2)</script>
            <rect x="0" y="0" width="29" height="29" fill="#fff"
              onclick="alert(3)" style="fill:red"/>
            <path d="M0 0h7v7h-7z M2 2h3v3h-3z" fill="#000"/>
            <path d="M1 1" fill="url(javascript:alert(4))"/>
            <rect x="javascript:1" y="1" width="1" height="1"/>
            <foreignObject><img xmlns="http://www.w3.org/1999/xhtml"
              src="x" onerror="alert(5)"/></foreignObject>
            <image href="https://evil.example/x.png"/>
            <a href="javascript:alert(6)"><rect x="1" y="1" width="1"
              height="1"/></a>
            <g fill="black"><rect x="2" y="2" width="1" height="1"/></g>
          </svg>`);
          const notSvg = m.safeSvg('<html><body>x</body></html>');
          const broken = m.safeSvg('<svg xmlns="http://www.w3.org/2000/svg"');
          done({svg: new XMLSerializer().serializeToString(svg),
                rects: svg.querySelectorAll('rect').length,
                paths: svg.querySelectorAll('path').length,
                notSvg: notSvg === null, broken: broken === null});
        }, (e) => done({error: String(e)}));""")
    assert got.get("error") is None, got
    s = got["svg"]
    assert got["rects"] == 3 and got["paths"] == 2, s
    for bad in ("script", "onload", "onclick", "style", "foreignObject",
                "image", "javascript", "evil", "<a", "alert", "url("):
        assert bad not in s, (bad, s)
    assert 'viewBox="0 0 29 29"' in s and 'd="M0 0h7v7h-7z M2 2h3v3h-3z"' in s
    assert got["notSvg"] and got["broken"]
    # Chromium checks the CSP as the parser meets the handlers and styles
    # of the hostile text (the parsed document takes the page's policy) and
    # reports them blocked; nothing ran.
    problems = [e["message"] for e in console_problems(d)]
    assert all("has been blocked" in m or "violates" in m
               for m in problems), problems
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    with pytest.raises(TimeoutException):
        WebDriverWait(d, 1).until(EC.alert_is_present())
