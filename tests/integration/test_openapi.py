"""The OpenAPI 3.1 document of the browser API: valid (swagger-parser),
served at /api/v1/openapi.json as it is in docs/, and true to the broker:
every route of broker/webapi.c is documented, and nothing else is."""

import json
import re
import shutil
import subprocess

import pytest

from conftest import REPO
from webapi_helpers import Api, api_ctx

DOC = REPO / "docs" / "openapi.json"
NODE_DIR = REPO / "tests" / "integration"


def routes_of_the_broker():
    """("METHOD", "/path/{param}/suffix") of webapi.c's table."""
    src = (REPO / "broker" / "webapi.c").read_text()
    table = src[src.index("static const struct route routes[]"):]
    table = table[:table.index("};")]
    out = set()
    for m in re.finditer(r'\{ "([A-Z]+)", "([^"]+)", (NULL|"([^"]*)"),\s*'
                         r'WIRE_OP_\w+,\s*(NULL|"(\w+)")', table):
        method, prefix, suffix, param = m.group(1), m.group(2), \
            m.group(4), m.group(6)
        if suffix is None:
            out.add((method, prefix))
        else:
            name = "upload" if prefix == "/api/v1/uploads/" else param
            out.add((method, f"{prefix}{{{name}}}{suffix}"))
    return out


def documented():
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    out = subprocess.run(["node", "fixtures/openapi-validate.js", str(DOC)],
                         cwd=NODE_DIR, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return {tuple(line.split(" ", 1)) for line in out.stdout.splitlines()}


def test_the_document_is_valid_and_true_to_the_routes():
    doc = json.loads(DOC.read_text())
    assert doc["openapi"].startswith("3.1")
    routes = routes_of_the_broker()
    assert len(routes) >= 25
    assert documented() == routes


def test_served_as_in_docs(pki, broker):
    b = broker(extra={"web": {"root": str(REPO / "web")}})
    with Api(b.port, api_ctx(pki, *pki.alice())) as c:
        status, rh, body = c.request("GET", "/api/v1/openapi.json")
    assert status == 200 and rh["content-type"] == "application/json"
    assert body == DOC.read_bytes()
