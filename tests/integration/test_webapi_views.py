"""The browser API's views over HTTP/2 (no browser): the interfaces and
transfers of the caller, withdrawal (also as tus termination), an officer's
download of a held file after a step-up, the auditor's search, timeline,
CSV and bundle (which `sekisho audit verify` accepts)."""

import csv
import hashlib
import io
import json
import os
import subprocess

import pytest

from approvals_fixtures import officer_pki, officers  # noqa: F401
from delivery_fixtures import nginx  # noqa: F401
from audit_fixtures import AUDITOR, start_broker, verifier_key
from conftest import SEKISHO as CLIENT
from webapi_helpers import Api, api_ctx, tus_create, tus_patch


def api(b, pki, name):
    cert, key = pki.user_files(name)
    return Api(b.port, api_ctx(pki, cert, key))


def upload(c, data, interface, name="a.pdf", cls=1):
    status, rh, body = tus_create(c, data, interface=interface, name=name,
                                  cls=cls)
    assert status == 201, body
    status, rh2, body = tus_patch(c, rh["location"], data, 0)
    assert status == 204, body
    return rh["x-sekisho-transfer"], rh2["x-sekisho-state"], rh["location"]


def test_staff_views_and_withdrawal(officers, officer_pki):  # noqa: F811
    o = officers()
    b = o.broker
    with api(b, officer_pki, "u-staff@T100") as c:
        status, lst, _ = c.json("GET", "/api/v1/interfaces")
        assert status == 200, lst
        ids = {i["interface"]: i for i in lst["items"]}
        assert "IF-HOLD" in ids and ids["IF-HOLD"]["approval"] is True
        assert ids["IF-HOLD"]["classes"] == ["1", "2"]
        data = os.urandom(3000)
        tid, state, _ = upload(c, data, "IF-HOLD", name="<img src=x>.pdf")
        assert state == "held"
        status, mine, _ = c.json("GET", "/api/v1/transfers?limit=5")
        assert status == 200
        assert mine["items"][0]["transfer"] == tid
        assert mine["items"][0]["name"] == "<img src=x>.pdf"
        status, body, _ = c.json("GET", "/api/v1/transfers?limit=5000")
        assert status == 400 and body["field"] == "limit", body
        status, st, _ = c.json("POST", f"/api/v1/transfers/{tid}/withdraw",
                               {"reason": "wrong file"})
        assert status == 200 and st["state"] == "withdrawn", st
        status, body, _ = c.json("POST", f"/api/v1/transfers/{tid}/withdraw",
                                 {})
        assert status == 409 and body["code"] == "wrong_state", body
        assert body["message"]["ja"]
        # tus termination of a partial upload
        data2 = os.urandom(5000)
        status, rh, _ = tus_create(c, data2, interface="IF-HOLD")
        status, rh2, _ = c.request("DELETE", rh["location"],
                                   [("tus-resumable", "1.0.0")])
        assert status == 204, rh2
        status, rh3, body = tus_patch(c, rh["location"], data2, 0)
        assert status in (409, 410), body
    assert o.wait_records("withdrawn", 2)


def test_officer_downloads_a_held_file_after_a_step_up(
        officers, officer_pki):  # noqa: F811
    o = officers()
    b = o.broker
    data = os.urandom(200_000)
    with api(b, officer_pki, "u-staff@T100") as c:
        tid, state, _ = upload(c, data, "IF-HOLD", name="申請書 (1).xlsx")
    with api(b, officer_pki, "u-off1") as c:
        status, body, _ = c.json("GET", "/api/v1/approvals")
        assert status == 403 and body["code"] == "step_up_required", body
        status, lst, _ = c.json("GET", "/api/v1/approvals", headers=[
            ("x-sekisho-otp", o.code("u-off1"))])
        assert status == 200, lst
        assert [i["transfer"] for i in lst["items"]] == [tid]
        # the grant holds for the connection's certificate: no code now
        status, rh, got = c.request("GET", f"/api/v1/approvals/{tid}/file")
        assert status == 200, got
        assert got == data
        assert rh["content-disposition"].startswith("attachment;")
        assert "filename*=UTF-8''%E7%94%B3%E8%AB%8B%E6%9B%B8%20%281%29.xlsx" \
            in rh["content-disposition"]
        assert rh["content-length"] == str(len(data))
        status, dec, _ = c.json("POST", f"/api/v1/approvals/{tid}/approve",
                                {"comment": "ok"})
        assert status == 200 and dec["state"] in ("queued", "approved",
                                                  "delivered"), dec
    with api(b, officer_pki, "u-off3") as c:
        status, rh, got = c.request("GET", f"/api/v1/approvals/{tid}/file",
                                    [("x-sekisho-otp", o.code("u-off3"))])
        assert status in (403, 404), got
    opened = o.wait_records("held_open")
    assert opened and opened[0]["subject"]["transfer"] == tid


def test_auditor_search_csv_and_bundle(broker, pki, client, tmp_path):
    b = start_broker(broker, pki)
    with Api(b.port, api_ctx(pki, *pki.alice())) as c:
        tid, _, _ = upload(c, os.urandom(1000), "IF-2026-001",
                           name="=cmd|' /C calc'!A0.csv")
        status, body, _ = c.json("GET", "/api/v1/audit/records")
        assert status == 403 and body["code"] == "forbidden", body
    with api(b, pki, AUDITOR) as c:
        status, found, _ = c.json("GET", f"/api/v1/audit/records?"
                                  f"transfer={tid}")
        assert status == 200, found
        types = [r["type"] for r in found["items"]]
        assert types[0] == "accept" and "stored" in types, types
        status, tl, _ = c.json("GET", f"/api/v1/audit/transfers/{tid}")
        assert [r["seq"] for r in tl["items"]] == \
            [r["seq"] for r in found["items"]]
        status, rh, body = c.request("GET", "/api/v1/audit/export.csv?"
                                     "header=ja")
        assert status == 200, body
        assert rh["content-type"].startswith("text/csv")
        assert rh["content-disposition"].startswith("attachment;")
        text = body.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert "種別" in rows[0]
        assert any("'=cmd" in cell for row in rows for cell in row)
        status, rh, bundle = c.request("GET", "/api/v1/audit/bundle")
        assert status == 200 and len(bundle) > 100
    path = tmp_path / "audit.bundle"
    path.write_bytes(bundle)
    out = subprocess.run([str(CLIENT), "audit", "verify", str(path),
                          "--key", str(verifier_key(b))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    bad = bytearray(bundle)
    bad[len(bad) // 2] ^= 1
    path.write_bytes(bytes(bad))
    out = subprocess.run([str(CLIENT), "audit", "verify", str(path),
                          "--key", str(verifier_key(b))],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
