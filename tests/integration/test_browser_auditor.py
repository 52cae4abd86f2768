"""The auditor page in a real browser: the signed bundle of a period,
downloaded by the browser, is accepted by `sekisho audit verify`; the CSV
export downloads with Japanese headers; the search finds a transfer's
records and its timeline opens."""

import copy
import datetime
import zoneinfo

from audit_fixtures import (AUDITOR, REGISTER, audit_config, ensure_auditor,
                            verifier_key)
from browser_fixtures import (browser, downloaded, screenshot,  # noqa: F401
                              wait_for)
from delivery_fixtures import make_file
from test_browser import console_problems, url, wait_text, web_root



def test_auditor_downloads_a_verifiable_bundle_and_a_csv(
        pki, broker, client, browser, tmp_path):
    ensure_auditor(pki)
    reg = copy.deepcopy(REGISTER)
    reg["principals"]["users"].append(
        {"id": "alice", "department": "soumu", "roles": ["staff"]})
    b = broker(register=reg, extra={
        "audit": audit_config(),
        "web": {"root": str(web_root(tmp_path))}})
    alice = client(b)
    f = make_file(tmp_path, "audit-me.pdf", 3000, seed=21)
    rc, put, err = alice.json("put", f, "--to", "IF-2026-001", "--class", 1,
                              "--purpose", "監査テスト")
    assert rc == 0, (rc, put, err)
    t = put["transfer"]

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    d = browser(AUDITOR, downloads=downloads)
    d.get(url(b, "auditor.html"))
    assert wait_text(d, "#who-user") == AUDITOR
    wait_for(d, lambda x: x.find_elements("id", "bundle-link"), "the links")
    href = d.find_element("id", "bundle-link").get_attribute("href")
    assert "/api/v1/audit/bundle?since=" in href and "until=" in href, href
    d.find_element("id", "bundle-link").click()
    bundle = downloaded(d, downloads, set(), "the bundle")
    auditor = client(b, user=AUDITOR)
    rc, out, err = auditor.run("audit", "verify", bundle, "--key",
                               verifier_key(b))
    assert rc == 0, (rc, out, err)
    # A changed byte is caught: the test can fail.
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "tampered.bin"
    bad.write_bytes(bytes(data))
    rc, out, err = auditor.run("audit", "verify", bad, "--key",
                               verifier_key(b))
    assert rc != 0, (out, err)

    before = {p.name for p in downloads.iterdir()}
    d.find_element("id", "csv-ja").click()
    csv = downloaded(d, downloads, before, "the CSV").read_text(
        encoding="utf-8-sig")
    header = csv.splitlines()[0]
    assert any("\u3040" <= ch <= "\u9fff" for ch in header), header
    assert t in csv, csv[:3000]

    d.find_element("id", "q-transfer").send_keys(t)
    d.find_element("id", "search").click()
    wait_for(d, lambda x: x.find_elements("css selector",
                                          "#records-table tbody tr"),
             "records found", 20)
    d.find_element("css selector", f"a.timeline-link[data-transfer='{t}']") \
        .click()
    items = wait_for(d, lambda x: x.find_elements(
        "css selector", "#timeline-list li"), "the timeline", 20)
    assert len(items) >= 1
    screenshot(d, "auditor-search-ja")
    assert console_problems(d) == []


def test_auditor_page_links_follow_the_period(pki, broker, browser, tmp_path):
    """The period starts as the last seven days of the register's zone
    (Asia/Tokyo, ahead of UTC: the test runs at any hour); the bundle and
    CSV links carry the chosen days, which the broker takes as whole days
    of the register's zone."""
    ensure_auditor(pki)
    b = broker(register=REGISTER, extra={
        "web": {"root": str(web_root(tmp_path))}})
    d = browser(AUDITOR)
    d.get(url(b, "auditor.html"))
    assert wait_text(d, "#who-user") == AUDITOR
    wait_for(d, lambda x: x.find_elements("id", "since"), "the period")
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo")).date()
    assert d.find_element("id", "until").get_attribute("value") == \
        today.isoformat()
    assert d.find_element("id", "since").get_attribute("value") == \
        (today - datetime.timedelta(days=6)).isoformat()
    for field, day in (("since", "2026-04-01"), ("until", "2026-04-30")):
        d.execute_script("""arguments[0].value = arguments[1];
            arguments[0].dispatchEvent(new Event('change'));""",
                         d.find_element("id", field), day)
    href = d.find_element("id", "bundle-link").get_attribute("href")
    assert href.endswith("/api/v1/audit/bundle?since=2026-04-01"
                         "&until=2026-04-30"), href
    assert d.find_element("id", "csv-en").get_attribute("href").endswith(
        "&header=en")
    screenshot(d, "auditor-period-ja")
    assert console_problems(d) == []


def test_search_pages_with_more(pki, broker, client, browser, tmp_path):
    """More records than one page (50): 「さらに表示」 appends the next
    ones (the answer's next), none twice, in order, until there are no
    more."""
    ensure_auditor(pki)
    reg = copy.deepcopy(REGISTER)
    reg["principals"]["users"].append(
        {"id": "alice", "department": "soumu", "roles": ["staff"]})
    b = broker(register=reg, extra={
        "audit": audit_config(),
        "web": {"root": str(web_root(tmp_path))}})
    alice = client(b)
    for i in range(20):
        f = make_file(tmp_path, f"p{i}.txt", 100, seed=40 + i)
        rc, _, err = alice.json("put", f, "--to", "IF-2026-001", "--class",
                                1, "--purpose", "paging")
        assert rc == 0, err
    d = browser(AUDITOR)
    d.get(url(b, "auditor.html"))
    assert wait_text(d, "#who-user") == AUDITOR
    wait_for(d, lambda x: x.find_elements("id", "search"), "the form")
    d.find_element("id", "search").click()

    def seqs(x):
        # Read in one go: the table is rebuilt as pages arrive.
        return x.execute_script(
            "return [...document.querySelectorAll('#records-table tbody tr')]"
            ".map(r => r.dataset.seq)")
    wait_for(d, lambda x: len(seqs(x)) == 50, "the first 50 records", 20)
    first = seqs(d)
    more = d.find_element("id", "more")
    assert more.is_displayed()
    pages = 1
    while more.is_displayed():
        before = len(seqs(d))
        more.click()
        wait_for(d, lambda x: len(seqs(x)) > before, "the next page", 20)
        pages += 1
        assert pages < 10
    got = seqs(d)
    assert got[:50] == first
    assert len(got) == len(set(got)) and len(got) > 50, got
    ordered = [int(s) for s in got]
    assert ordered == sorted(ordered) or ordered == sorted(ordered,
                                                           reverse=True)
    # Every put left its accept and stored records.
    types = d.execute_script(
        "return [...document.querySelectorAll("
        "'#records-table td[data-col=\"type\"]')].map(c => c.textContent)")
    assert types.count("accept") == 20 and types.count("stored") == 20
