"""A real browser for the page tests: Debian's headless Chromium driven by
selenium (chromedriver), with a user's client certificate.

- `browser` (factory): browser(user, lang="ja") -> a selenium
  driver whose profile holds USER's certificate (None: no certificate at
  all) in its own NSS database, with the test CA trusted there, and a
  managed policy (AutoSelectCertificateForUrls) that presents it to the
  broker without a prompt. Each call is a separate profile and HOME, so
  two users never share a certificate store. At teardown the drivers
  quit, chromedriver and every Chromium process of the profile are killed
  (by pid), and the policy file is removed, whatever the test's outcome.
- `screenshot(driver, name)`: saves a PNG under SCREENSHOTS (tests/run.sh
  sets SEKISHO_SCREENSHOTS; default build-results/screenshots).
- `drop_files(driver, css, paths)`: drops local files on an element as a
  user dragging them from the desktop would (see its docstring).
- `answer_otp(driver, code)`: types a one-time code into the page's prompt.
- `wait_for(driver, fn, what)`: bounded wait for fn(driver) to be truthy.
- browser(user, downloads=DIR): files the page downloads land in DIR.

A missing browser, driver, selenium or NSS tool fails the test with what
to install: the suite installs them (deploy/install-deps.sh --test), so
their absence is a broken machine, not a reason to skip.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest

from conftest import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
POLICY_DIR = pathlib.Path("/etc/chromium/policies/managed")
SCREENSHOTS = pathlib.Path(os.environ.get(
    "SEKISHO_SCREENSHOTS", REPO / "build-results" / "screenshots"))
PAGE_LOAD_TIMEOUT = 20     # seconds for driver.get
WAIT = 10                  # seconds for anything on a page to appear
QUIT_TIMEOUT = 10          # seconds for driver.quit before the kill
P12_PASSWORD = "sekisho-test"
STALE_POLICY = 86400       # seconds after which a left-over policy file goes

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,900"]


def need_browser():
    """Fails (not skips) when something the browser tests need is absent."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER)
               if not os.access(p, os.X_OK)]
    missing += [t for t in ("certutil", "pk12util", "openssl")
                if shutil.which(t) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3 module selenium")
    if missing:
        pytest.fail("browser tests cannot run, missing: " + ", ".join(missing)
                    + " (Debian: chromium chromium-driver python3-selenium "
                    "libnss3-tools; deploy/install-deps.sh --test installs "
                    "them)", pytrace=False)


def run(*cmd, timeout=30):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def make_nssdb(home, ca, cert=None, key=None):
    """HOME/.pki/nssdb, where Chromium on Linux keeps certificates: the CA
    trusted for TLS servers and, if given, the user's certificate and key
    (imported from a PKCS#12 made with openssl, as a user would)."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    run("certutil", "-N", "-d", f"sql:{db}", "--empty-password")
    run("certutil", "-A", "-d", f"sql:{db}", "-n", "sekisho test CA",
        "-t", "C,,", "-i", ca)
    if cert is not None:
        p12 = home / "user.p12"
        run("openssl", "pkcs12", "-export", "-in", cert, "-inkey", key,
            "-certfile", ca, "-name", pathlib.Path(cert).stem,
            "-out", p12, "-passout", f"pass:{P12_PASSWORD}")
        run("pk12util", "-i", p12, "-d", f"sql:{db}", "-W", P12_PASSWORD)
        listed = run("certutil", "-L", "-d", f"sql:{db}")
        assert pathlib.Path(cert).stem in listed, listed
    return db


def processes_with_home(home):
    """Pids of the processes whose environment has HOME=home: chromedriver,
    Chromium and every one of its children inherit it, and no other
    process on the machine has this test's directory as HOME."""
    want = f"HOME={home}".encode()
    pids = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if want in env:
            pids.append(int(d.name))
    return pids


def kill_home(home):
    for _ in range(3):
        pids = processes_with_home(home)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


def screenshot(driver, name):
    """The whole page (beyond the window, through the DevTools protocol)
    as NAME.png; the window only if that is refused."""
    import base64
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    try:
        w, h = driver.execute_script(
            "return [document.documentElement.scrollWidth, "
            "document.documentElement.scrollHeight]")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": w, "height": min(h, 6000),
                     "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))
    except Exception:  # noqa: BLE001 (an error page, a closed window)
        driver.save_screenshot(str(path))
    return path


def write_policy():
    """A managed policy file of our own (unique name) that makes Chromium
    present the profile's certificate to the broker without asking. The
    rule is the same in every test (any port of localhost): where two runs
    share the machine, Chromium takes a policy from one file only, and the
    files must not disagree. Each profile holds one certificate, so there
    is no choice to make."""
    try:
        POLICY_DIR.mkdir(parents=True, exist_ok=True)
        # A run killed before its teardown left its file: gone after a day.
        for old in POLICY_DIR.glob("sekisho-test-*.json"):
            if time.time() - old.stat().st_mtime > STALE_POLICY:
                old.unlink(missing_ok=True)
        path = POLICY_DIR / f"sekisho-test-{uuid.uuid4().hex}.json"
        rule = json.dumps({"pattern": "https://localhost:*",
                           "filter": {}})
        path.write_text(json.dumps({"AutoSelectCertificateForUrls": [rule]}))
    except OSError as e:
        pytest.fail(f"cannot write the Chromium policy in {POLICY_DIR}: {e} "
                    "(the browser tests run as root)", pytrace=False)
    return path


@pytest.fixture
def browser(pki, tmp_path):
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profiles = []     # (driver or None, service, home)
    policies = []

    def make(user, lang="ja", downloads=None):
        home = tmp_path / f"browser-{len(profiles)}-{user or 'nocert'}"
        home.mkdir()
        if user is None:
            make_nssdb(home, pki.ca)
        else:
            cert, key = pki.user_files(user)
            make_nssdb(home, pki.ca, cert, key)
            if not policies:
                # Chromium reads the policy at start.
                policies.append(write_policy())
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for f in FLAGS:
            opts.add_argument(f)
        opts.add_argument(f"--user-data-dir={home / 'profile'}")
        opts.add_argument(f"--lang={lang}")
        prefs = {"intl.accept_languages": "ja,en" if lang == "ja" else "en"}
        if downloads is not None:
            prefs.update({"download.default_directory": str(downloads),
                          "download.prompt_for_download": False,
                          "safebrowsing.enabled": False})
        opts.add_experimental_option("prefs", prefs)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        env = dict(os.environ, HOME=str(home), LANGUAGE=lang)
        service = Service(CHROMEDRIVER, env=env,
                          log_path=str(home / "chromedriver.log"))
        entry = [None, service, home]
        profiles.append(entry)
        driver = webdriver.Chrome(service=service, options=opts)
        entry[0] = driver
        driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
        driver.set_script_timeout(WAIT)
        return driver

    try:
        yield make
    finally:
        for driver, service, home in profiles:
            if driver is not None:
                t = threading.Thread(target=driver.quit, daemon=True)
                t.start()
                t.join(QUIT_TIMEOUT)
            proc = getattr(service, "process", None)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(5)
            kill_home(home)
        for p in policies:
            p.unlink(missing_ok=True)


def wait_for(driver, fn, what, timeout=WAIT):
    """fn(driver)'s first truthy value within timeout seconds; else fails
    with what the page's main part says (and a screenshot, failed-*.png)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(fn)
    except TimeoutException:
        try:
            shown = driver.find_element("tag name", "body").text
            screenshot(driver, "failed-" + "".join(
                c if c.isalnum() else "-" for c in what)[:60])
        except Exception as e:  # noqa: BLE001 (the page may be gone)
            shown = f"(page unreadable: {e})"
        raise AssertionError(f"not seen within {timeout}s: {what}\n"
                             f"--- the page shows:\n{shown[-3000:]}")


def drop_files(driver, css, paths):
    """Drops the local files PATHS on the element CSS.

    WebDriver cannot drag from the desktop, and a page cannot build a File
    from a path. The technique: the test adds a hidden <input type=file
    multiple> to the page (through WebDriver, not the page's code),
    send_keys() sets the files on it as for a file picker (the files are
    real, read by the browser from disk), then a DataTransfer is built from
    input.files and dragenter, dragover and drop events carrying it are
    dispatched on the target. The page's drop handler sees exactly what a
    real drop gives it (event.dataTransfer.files); the helper input is
    removed afterwards."""
    from selenium.webdriver.common.by import By
    driver.execute_script("""
        const i = document.createElement('input');
        i.type = 'file'; i.multiple = true; i.id = 'test-drop-source';
        i.hidden = true;
        document.body.appendChild(i);""")
    source = driver.find_element(By.ID, "test-drop-source")
    source.send_keys("\n".join(str(p) for p in paths))
    n = driver.execute_script("""
        const src = document.getElementById('test-drop-source');
        const target = document.querySelector(arguments[0]);
        const dt = new DataTransfer();
        for (const f of src.files) dt.items.add(f);
        for (const type of ['dragenter', 'dragover', 'drop']) {
          target.dispatchEvent(new DragEvent(type, {bubbles: true,
            cancelable: true, dataTransfer: dt}));
        }
        src.remove();
        return dt.files.length;""", css)
    assert n == len(paths), (n, paths)


def answer_otp(driver, code, timeout=WAIT):
    """Waits for the page's one-time code prompt and answers it."""
    from selenium.webdriver.common.by import By
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR,
                                               "#otp-dialog[open]"),
             "the one-time code prompt", timeout)
    box = driver.find_element(By.ID, "otp-input")
    box.clear()
    box.send_keys(code)
    driver.find_element(By.ID, "otp-ok").click()


def downloaded(d, directory, before, what):
    """The one new complete file in directory: Chromium may show the final
    name before the bytes are all there, so the size must be non-zero and
    the same on two looks."""
    sizes = {}

    def new(_):
        files = [p for p in directory.iterdir()
                 if p.name not in before and
                 not p.name.endswith((".crdownload", ".tmp"))]
        if len(files) != 1:
            return None
        size = files[0].stat().st_size
        last, sizes[files[0]] = sizes.get(files[0]), size
        return files[0] if size > 0 and size == last else None
    return wait_for(d, new, what, 30)


def text_of(driver, css, timeout=WAIT):
    """The text of the first element matching CSS, read again if the page
    replaced the element meanwhile (the lists refresh themselves)."""
    from selenium.common.exceptions import StaleElementReferenceException

    def get(d):
        try:
            found = d.find_elements("css selector", css)
            return found[0].text if found else False
        except StaleElementReferenceException:
            return False
    return wait_for(driver, get, f"the text of {css}", timeout)
