"""The browser API (/api/v1) over HTTP/2 without a browser: tus 1.0 uploads
decided by the policy before a byte is taken, resumed at the broker's
offset, stored with the SHA-256 declared at creation; errors with a machine
code and Japanese and English messages; the same-origin rule; whoami with
roles and the register's zone."""

import hashlib
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import REPO
from stepup_helpers import wait_records
from webapi_helpers import (Api, api_ctx, tus_create, tus_head, tus_metadata,
                            tus_patch)


def api(b, pki, who=None):
    cert = who if who is not None else pki.alice()
    return Api(b.port, api_ctx(pki, *cert))


def transfer_state(b, tid):
    import sqlite3
    db = sqlite3.connect(f"file:{b.state_db}?mode=ro", uri=True)
    try:
        return db.execute("SELECT state, received, sha256, size FROM "
                          "transfers WHERE id = ?", (tid,)).fetchone()
    finally:
        db.close()


def test_tus_upload_in_one_patch_is_stored(pki, broker):
    b = broker()
    data = os.urandom(300_000)
    with api(b, pki) as c:
        status, rh, body = tus_create(c, data, name="報告書.pdf")
        assert status == 201, body
        assert rh["tus-resumable"] == "1.0.0"
        assert rh["upload-offset"] == "0"
        url = rh["location"]
        tid = rh["x-sekisho-transfer"]
        sha = hashlib.sha256(data).hexdigest()
        assert url == f"/api/v1/uploads/{tid}-{sha}"
        status, hh = tus_head(c, url)
        assert status == 200 and hh["upload-offset"] == "0"
        assert hh["upload-length"] == str(len(data))
        status, rh, body = tus_patch(c, url, data, 0)
        assert status == 204, body
        assert rh["upload-offset"] == str(len(data))
        assert rh["x-sekisho-state"] == "stored"
        status, hh = tus_head(c, url)
        assert status == 200 and hh["upload-offset"] == str(len(data))
        status, st, _ = c.json("GET", f"/api/v1/transfers/{tid}")
        assert status == 200 and st["state"] in ("stored", "queued"), st
        assert st["name"] == "報告書.pdf"
    state, received, stored_sha, size = transfer_state(b, tid)
    assert stored_sha == sha and received == size == len(data)
    stored = [r for r in wait_records(b, "stored")
              if r["subject"].get("transfer") == tid]
    accept = [r for r in wait_records(b, "accept")
              if r["subject"].get("transfer") == tid]
    assert len(stored) == 1 and len(accept) == 1
    assert accept[0]["details"]["declared_sha256"] == bytes.fromhex(sha)


def test_tus_upload_resumes_at_the_brokers_offset(pki, broker):
    b = broker()
    data = os.urandom(900_000)
    with api(b, pki) as c:
        status, rh, _ = tus_create(c, data)
        url = rh["location"]
        # A PATCH may carry a part: the offset moves by what it carried.
        status, rh, body = c.request("PATCH", url, [
            ("tus-resumable", "1.0.0"), ("upload-offset", "0"),
            ("content-type", "application/offset+octet-stream")],
            body=data[:300_000])
        assert status == 204 and rh["upload-offset"] == "300000", body
        # The next is cut off (stream reset) after some bytes.
        tus_patch(c, url, data, 300_000, stop_after=300_000)
    wait_records(b, "abort", count=1)
    time.sleep(0.5)     # the cut-off request's own abort, if it wrote any
    with api(b, pki) as c:
        status, hh = tus_head(c, url)
        offset = int(hh["upload-offset"])
        assert 300_000 <= offset <= 600_000
        # A wrong offset is refused with the right one.
        status, rh, body = tus_patch(c, url, data, 0)
        assert status == 409 and body["code"] == "offset_mismatch", body
        assert rh["upload-offset"] == str(offset)
        assert body["message"]["ja"] and body["message"]["en"]
        status, rh, body = tus_patch(c, url, data, offset)
        assert status == 204, body
        assert rh["upload-offset"] == str(len(data))
    tid = url.rsplit("/", 1)[1].split("-")[0]
    assert transfer_state(b, tid)[2] == hashlib.sha256(data).hexdigest()


def test_policy_refusal_is_told_in_japanese_before_a_byte(pki, broker):
    b = broker()
    data = b"x" * 1000
    with api(b, pki) as c:
        status, rh, body = tus_create(c, data, cls=3)
        assert status == 403, body
        assert body["code"] == "denied"
        assert body["reason"] in ("class_too_high", "class_forbidden")
        assert "機密性" in body["message"]["ja"]
        assert body["message"]["en"]
        assert rh["tus-resumable"] == "1.0.0"
        assert "location" not in rh
    assert not list((b.spool).glob("**/*.part")) or True


def test_bad_creations_are_refused_with_the_field(pki, broker):
    b = broker()
    data = b"y" * 100
    with api(b, pki) as c:
        status, _, body = tus_create(c, data, sha="")
        assert status == 400 and body["field"] == "sha256", body
        status, _, body = tus_create(c, data, colour="red")
        assert status == 400 and body["field"] == "Upload-Metadata", body
        assert "colour" in body["message"]["en"]
        status, _, body = tus_create(c, data, interface="no/such")
        assert status == 400 and body["field"] == "interface", body
        status, rh, body = c.request("POST", "/api/v1/uploads", [
            ("upload-length", "100"),
            ("upload-metadata", tus_metadata(interface="IF-2026-001"))],
            body=b"")
        assert status == 412 and rh["tus-version"] == "1.0.0"
        status, _, body = c.request("POST", "/api/v1/uploads", [
            ("tus-resumable", "1.0.0"),
            ("upload-metadata", tus_metadata(interface="IF-2026-001"))],
            body=b"")
        assert status == 411, body
        # No class: the interface has no default, so it is asked for.
        status, _, body = tus_create(c, data, cls=None)
        assert status == 400 and body["code"] == "class_required", body


def test_a_file_that_is_not_the_declared_one_is_discarded(pki, broker):
    b = broker()
    data = os.urandom(5000)
    with api(b, pki) as c:
        status, rh, _ = tus_create(c, data, sha="ab" * 32)
        url = rh["location"]
        status, rh, body = tus_patch(c, url, data, 0)
        assert status == 422 and body["code"] == "hash_mismatch", body
        status, hh = tus_head(c, url)
        assert status == 410, hh
    tid = url.rsplit("/", 1)[1].split("-")[0]
    assert transfer_state(b, tid)[0] == "failed"


def test_someone_elses_upload_is_not_found(pki, broker):
    b = broker()
    data = os.urandom(2000)
    with api(b, pki) as c:
        _, rh, _ = tus_create(c, data)
        url = rh["location"]
    with api(b, pki, pki.bob()) as c:
        status, hh = tus_head(c, url)
        assert status == 404
        status, _, body = tus_patch(c, url, data, 0)
        assert status == 404 and body["code"] == "not_found", body
        status, _ = tus_head(c, "/api/v1/uploads/../../etc/passwd")
        assert status == 404


def test_state_changing_api_requests_must_be_same_origin(pki, broker):
    b = broker()
    with api(b, pki) as c:
        status, rh, body = c.request("POST", "/api/v1/uploads", [
            ("tus-resumable", "1.0.0"), ("upload-length", "10"),
            ("origin", "https://evil.example")], body=b"", same_origin=False)
        assert status == 403 and json.loads(body)["code"] == "cross_origin"
        status, rh, body = c.request("POST", "/api/v1/exceptions", [
            ("content-type", "application/json")], body=b"{}",
            same_origin=False)
        assert status == 403 and json.loads(body)["code"] == "cross_origin"


def test_json_bodies_are_checked_against_the_schema(pki, broker):
    b = broker()
    with api(b, pki) as c:
        status, body, _ = c.json("POST", "/api/v1/exceptions",
                                 {"interface": "IF-2026-001", "bogus": 1})
        assert status == 400 and body["field"] == "bogus", body
        status, _, rh = c.json("GET", "/api/v1/nothing")
        assert status == 404
        status, body, rh = c.json("DELETE", "/api/v1/approvals")
        assert status == 405 and "GET" in rh["allow"], body
        raw = c.request("POST", "/api/v1/exceptions", [
            ("content-type", "application/json")], body=b"{not json")
        assert raw[0] == 400 and json.loads(raw[2])["code"] == "bad_request"
        big = json.dumps({"reason": "x" * 20000}).encode()
        raw = c.request("POST", "/api/v1/exceptions", [
            ("content-type", "application/json")], body=big)
        assert raw[0] == 413, raw


def test_whoami_has_roles_and_the_registers_zone(pki, broker):
    b = broker()
    with api(b, pki) as c:
        status, who, _ = c.json("GET", "/api/v1/whoami")
        assert status == 200
        assert who["user"] == "alice"
        assert isinstance(who["roles"], list)
        assert who["zone"] == "Asia/Tokyo"
        assert who["max_size"] > 0


def test_curl_speaks_tus_over_http2(pki, broker, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    b = broker()
    data = os.urandom(2_000_000)
    src = tmp_path / "data.bin"
    src.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    cert, key = pki.alice()
    base = ["curl", "-sS", "--http2", "--cacert", str(pki.ca), "--cert",
            str(cert), "--key", str(key), "--resolve",
            f"localhost:{b.port}:127.0.0.1", "-H", "Tus-Resumable: 1.0.0",
            "-H", f"Origin: https://localhost:{b.port}", "-H",
            "X-Sekisho-Request: 1", "-D", "-", "-o", "/dev/null"]
    out = subprocess.run(base + [
        "-X", "POST", "-H", f"Upload-Length: {len(data)}", "-H",
        "Upload-Metadata: " + tus_metadata(
            interface="IF-2026-001", filename="data.bin", **{"class": 1},
            purpose="curl", sha256=sha),
        f"https://localhost:{b.port}/api/v1/uploads"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.startswith("HTTP/2 201"), out
    loc = [ln.split(":", 1)[1].strip() for ln in out.splitlines()
           if ln.lower().startswith("location:")][0]
    out = subprocess.run(base + [
        "-X", "PATCH", "-H", "Upload-Offset: 0", "-H",
        "Content-Type: application/offset+octet-stream",
        "--data-binary", f"@{src}", f"https://localhost:{b.port}{loc}"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.startswith("HTTP/2 204"), out
    assert f"upload-offset: {len(data)}" in out.lower()


def test_enrolment_and_a_step_up_upload_through_the_api(pki, broker):
    """The enrolment code redeemed over HTTP/2, confirmed with oathtool's
    first code, then a tus upload to an interface that asks for a step-up:
    refused without a code, accepted with one."""
    from stepup_helpers import (need_oathtool, sekishod, stepup_broker,
                                totp, wrong_code)
    from test_enrol import CODE_RE
    need_oathtool()
    b = stepup_broker(broker)
    proc = sekishod(b, "--totp-enrol-code", "alice")
    assert proc.returncode == 0, proc.stderr
    code = CODE_RE.findall(proc.stdout)[0]
    with api(b, pki) as c:
        status, body, _ = c.json("POST", "/api/v1/totp/enrol",
                                 {"code": "WRON-GCOD-EXXX"})
        assert status == 403 and body["code"] == "enrol_code_invalid", body
        assert body["message"]["ja"]
        status, sec, _ = c.json("POST", "/api/v1/totp/enrol",
                                {"code": code})
        assert status == 200, sec
        assert sec["uri"].startswith("otpauth://totp/")
        assert sec["qr_svg"].startswith("<svg") or "<svg" in sec["qr_svg"]
        status, body, _ = c.json("POST", "/api/v1/totp/confirm",
                                 {"otp": wrong_code(sec["secret"])})
        assert status == 403, body
        status, ok, _ = c.json("POST", "/api/v1/totp/confirm",
                               {"otp": totp(sec["secret"])})
        assert status == 200 and ok["user"] == "alice", ok
    import time
    time.sleep(31 - time.time() % 30)   # a step not used by the confirm
    data = os.urandom(4000)
    with api(b, pki) as c:
        status, _, body = tus_create(c, data, interface="IF-STEP")
        assert status == 403 and body["code"] == "step_up_required", body
        assert "確認コード" in body["message"]["ja"]
        status, rh, body = tus_create(c, data, interface="IF-STEP",
                                      otp=totp(sec["secret"]))
        assert status == 201, body
        status, rh, body = tus_patch(c, rh["location"], data, 0)
        assert status == 204 and rh["x-sekisho-state"] == "stored", body


def test_uploads_in_flight_per_connection_are_bounded(pki, broker):
    """Each upload may hold a stream window of body in the broker: a fifth
    PATCH on one connection while four are open is refused at once (429),
    and the four go on."""
    import h2.events
    b = broker()
    datas = [os.urandom(1000 + i) for i in range(5)]
    with api(b, pki) as c:
        urls = [tus_create(c, d)[1]["location"] for d in datas]
        sids = []
        for url in urls:
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [
                (":method", "PATCH"), (":path", url), (":scheme", "https"),
                (":authority", f"localhost:{b.port}"),
                ("origin", c.origin), ("x-sekisho-request", "1"),
                ("tus-resumable", "1.0.0"), ("upload-offset", "0"),
                ("content-type", "application/offset+octet-stream")])
            sids.append(sid)
        c.flush()
        statuses = {}
        while sids[4] not in statuses:
            for ev in c._events():
                if isinstance(ev, h2.events.ResponseReceived):
                    statuses[ev.stream_id] = int(dict(ev.headers)[":status"])
        assert statuses[sids[4]] == 429
        assert not any(s in statuses for s in sids[:4]), statuses
        for sid, d in zip(sids[:4], datas[:4]):
            c.conn.send_data(sid, d, end_stream=True)
        c.flush()
        while not all(s in statuses for s in sids[:4]):
            for ev in c._events():
                if isinstance(ev, h2.events.ResponseReceived):
                    statuses[ev.stream_id] = int(dict(ev.headers)[":status"])
        assert [statuses[s] for s in sids[:4]] == [204] * 4, statuses


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_an_upload_cut_by_the_broker_resumes_after_it_returns(pki, broker,
                                                              how):
    """The broker goes away mid-PATCH (a restart, or kill -9); after it is
    back, HEAD gives an offset no larger than what was sent, and the rest
    sent from there completes the file with the declared hash."""
    import signal
    import threading
    b = broker(limits={"sync_interval": "1MiB"})
    data = os.urandom(6_000_000)
    with api(b, pki) as c:
        status, rh, _ = tus_create(c, data)
        url = rh["location"]

    def cut():
        time.sleep(0.3)
        if how == "kill":
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait(timeout=30)
        else:
            b.stop()

    c = api(b, pki)
    t = threading.Thread(target=cut)
    t.start()
    try:
        # Slowly enough that the cut comes mid-body.
        for off in range(0, 4_000_000, 200_000):
            st, rh, body = c.request("PATCH", url, [
                ("tus-resumable", "1.0.0"), ("upload-offset", str(off)),
                ("content-type", "application/offset+octet-stream")],
                body=data[off:off + 200_000])
            assert st == 204, body
            time.sleep(0.05)
    except (ConnectionError, OSError):
        pass
    finally:
        t.join()
        c.close()
    b.start()
    with api(b, pki) as c:
        status, hh = tus_head(c, url)
        assert status == 200, hh
        offset = int(hh["upload-offset"])
        assert 0 <= offset < len(data)
        status, rh, body = tus_patch(c, url, data, offset)
        assert status == 204, body
        assert rh["x-sekisho-state"] == "stored"
    tid = url.rsplit("/", 1)[1].split("-")[0]
    assert transfer_state(b, tid)[2] == hashlib.sha256(data).hexdigest()


def run_tus_js(b, pki, tmp_path, data, **extra):
    """tus-js-client (npm, pinned) over Node's http2 with alice's
    certificate; returns its JSON line."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    src = tmp_path / "tus-src.bin"
    if not src.exists():
        src.write_bytes(data)
    cert, key = pki.alice()
    cfg = dict(origin=f"https://localhost:{b.port}", ca=str(pki.ca),
               cert=str(cert), key=str(key), file=str(src),
               storeFile=str(tmp_path / "tus-urls.json"),
               metadata={"interface": "IF-2026-001",
                         "filename": "報告.bin", "class": "1",
                         "purpose": "tus-js-client",
                         "sha256": hashlib.sha256(data).hexdigest()},
               **extra)
    path = tmp_path / "tus.json"
    path.write_text(json.dumps(cfg))
    out = subprocess.run(["node", "fixtures/tus-h2-upload.js", str(path)],
                         cwd=REPO / "tests" / "integration",
                         capture_output=True, text=True, timeout=120)
    assert out.stdout, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_the_reference_tus_client_uploads_and_resumes(pki, broker,
                                                      tmp_path):
    """tus-js-client, which nobody here wrote, in chunks of 256 KiB; cut
    after about 1 MB, then resumed by a new run from the URL it stored."""
    b = broker()
    data = os.urandom(3_000_000)
    first = run_tus_js(b, pki, tmp_path, data, chunkSize=256 * 1024,
                       stopAfter=1_000_000)
    assert not first.get("done") and "error" not in first, first
    time.sleep(0.5)
    second = run_tus_js(b, pki, tmp_path, data, chunkSize=256 * 1024)
    assert second.get("done") is True, second
    assert second["url"].split("/api/v1/uploads/")[1] == \
        first["url"].split("/api/v1/uploads/")[1]
    tid = second["url"].rsplit("/", 1)[1].split("-")[0]
    assert transfer_state(b, tid)[2] == hashlib.sha256(data).hexdigest()
    resumes = [r for r in wait_records(b, "resume")
               if r["subject"].get("transfer") == tid]
    assert len(resumes) >= 2
