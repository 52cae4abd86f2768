"""The S3 connector's requests carry valid AWS Signature Version 4
signatures and payload hashes. s3rver does not check signatures, so this
test puts a small S3 endpoint of its own on 127.0.0.1 that recomputes every
signature from the AWS specification (canonical request, string to sign,
signing key) and checks x-amz-content-sha256 against the body received;
single PUT and multipart both."""

import hashlib
import hmac
import http.server
import socket
import ssl
import threading
import urllib.parse

import pytest

from delivery_fixtures import (  # noqa: F401  (fixtures)
    delivery, make_file, service, write_credentials)

KEY, SECRET, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", \
    "ap-northeast-1"


def uri_encode(s, slash=True):
    safe = "-_.~" + ("/" if slash else "")
    return urllib.parse.quote(s, safe=safe)


def expected_signature(method, raw_path, headers, signed, payload_hash,
                       amzdate, scope):
    path, _, query = raw_path.partition("?")
    # The canonical URI of S3 is the path encoded once.
    canon_uri = uri_encode(urllib.parse.unquote(path))
    pairs = []
    for item in query.split("&") if query else []:
        k, _, v = item.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(k), False),
                      uri_encode(urllib.parse.unquote(v), False)))
    canon_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    canon_headers = "".join(
        f"{h}:{' '.join(headers[h].split())}\n" for h in signed)
    creq = "\n".join([method, canon_uri, canon_query, canon_headers,
                      ";".join(signed), payload_hash])
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    date, region, svc, _ = scope.split("/")
    k = ("AWS4" + SECRET).encode()
    for part in (date, region, svc, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


class SigV4S3(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store = None                # set per server

    def log_message(self, *args):
        pass

    def _check(self, body):
        st = self.server.state
        auth = self.headers.get("Authorization", "")
        problems = []
        try:
            algo, rest = auth.split(" ", 1)
            fields = dict(f.strip().split("=", 1) for f in rest.split(","))
            cred = fields["Credential"].split("/", 1)
            signed = fields["SignedHeaders"].split(";")
            assert algo == "AWS4-HMAC-SHA256"
            assert cred[0] == KEY
            scope = cred[1]
            assert scope.split("/")[1:] == [REGION, "s3", "aws4_request"]
            headers = {h.lower(): v for h, v in self.headers.items()}
            for h in ("host", "x-amz-date", "x-amz-content-sha256"):
                if h not in signed:
                    problems.append(f"{h} not signed")
            unsigned = [h for h in headers if h.startswith("x-amz-")
                        and h not in signed]
            if unsigned:
                problems.append(f"x-amz headers not signed: {unsigned}")
            payload = headers["x-amz-content-sha256"]
            if payload != hashlib.sha256(body).hexdigest():
                problems.append("x-amz-content-sha256 is not the body's")
            want = expected_signature(self.command, self.path, headers,
                                      signed, payload, headers["x-amz-date"],
                                      scope)
            if want != fields["Signature"]:
                problems.append("signature mismatch")
        except (KeyError, ValueError, AssertionError, IndexError) as e:
            problems.append(f"bad Authorization: {e!r} {auth!r}")
        st["requests"].append((self.command, self.path, problems))
        return not problems

    def _reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_HEAD(self):
        self._check(b"")
        self._reply(404)

    def do_PUT(self):
        body = self._body()
        if not self._check(body):
            return self._reply(403, b"<Error><Code>SignatureDoesNotMatch"
                               b"</Code></Error>")
        path, _, query = self.path.partition("?")
        q = urllib.parse.parse_qs(query)
        st = self.server.state
        if "partNumber" in q:
            st["parts"][int(q["partNumber"][0])] = body
        else:
            st["objects"][path] = body
        etag = '"' + hashlib.md5(body).hexdigest() + '"'
        self._reply(200, headers=[("ETag", etag)])

    def do_POST(self):
        body = self._body()
        if not self._check(body):
            return self._reply(403, b"<Error><Code>SignatureDoesNotMatch"
                               b"</Code></Error>")
        path, _, query = self.path.partition("?")
        st = self.server.state
        if query == "uploads=":
            return self._reply(200, b"<InitiateMultipartUploadResult>"
                               b"<UploadId>up/1+x=</UploadId>"
                               b"</InitiateMultipartUploadResult>")
        data = b"".join(st["parts"][n] for n in sorted(st["parts"]))
        st["objects"][path] = data
        return self._reply(200, b"<CompleteMultipartUploadResult><ETag>"
                           b"\"multi-2\"</ETag></CompleteMultipartUploadResult>")


@pytest.fixture
def sigv4_s3(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.server_cert), str(pki.server_key))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SigV4S3)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.state = {"requests": [], "objects": {}, "parts": {}}
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("size,multipart", [(100_000, False),
                                            (11 * 1024 * 1024, True)])
def test_requests_are_signed_correctly(delivery, sigv4_s3, tmp_path, size,
                                       multipart):
    port = sigv4_s3.server_address[1]
    creds = write_credentials(tmp_path / "creds", "s3", type="aws",
                              access_key_id=KEY, secret_access_key=SECRET)
    d = delivery([service("s3", f"https://localhost:{port}", connector="s3",
                          credentials=str(creds), region=REGION,
                          bucket="bucket-1")],
                 [("IF-DLV", "s3", "/受付/{name}")],
                 {"multipart_threshold": "6MiB", "part_size": "5MiB"})
    f = make_file(tmp_path, "a b+c.bin", size)
    tid = d.put(f)
    st = d.wait(tid)
    reqs = sigv4_s3.state["requests"]
    assert st["state"] == "delivered", (st, reqs)
    assert all(not p for _, _, p in reqs), reqs
    key = "/bucket-1/" + uri_encode("受付/a_b_c.bin")
    assert sigv4_s3.state["objects"][key] == f.read_bytes()
    methods = [m for m, _, _ in reqs]
    # Every attempt first asks whether an object is at the key (HEAD, also
    # signed): S3 would replace it without asking.
    if multipart:
        assert methods == ["HEAD", "POST", "PUT", "PUT", "PUT", "POST"]
        # The upload id came back with '/', '+' and '=' in it: they are
        # encoded in the query, and the signatures still match.
        assert "uploadId=up%2F1%2Bx%3D" in reqs[2][1]
    else:
        assert methods == ["HEAD", "PUT"]
