"""The sekisho/1 decoder under hostile input, through a real TLS connection
with a valid client certificate.

Every bad input must get an error message ({"op": "error", "code", "message"})
or the connection closed, and must leave the broker serving: a normal upload
works afterwards on a new connection."""

import hashlib
import os
import ssl
import struct
import time

import cbor2
import pytest

from conftest import raw_client

MiB = 1 << 20


def send_quietly(c, data):
    """Sends; a broker that already closed the connection is fine here."""
    try:
        c.send_raw(data)
    except (ssl.SSLError, ConnectionError, OSError):
        pass


def expect_error_or_close(c, timeout=10.0):
    """Returns the error message, or None when the connection was closed."""
    try:
        answer = c.recv(timeout)
    except (ssl.SSLError, ConnectionError, OSError):
        return None
    if answer is None:
        return None
    assert isinstance(answer, dict) and answer.get("op") == "error", \
        f"expected an error, got {answer!r}"
    assert isinstance(answer.get("code"), str) and answer["code"], answer
    assert isinstance(answer.get("message"), str) and answer["message"], answer
    return answer


def put_msg(size, name="test.bin", interface="IF-2026-001", cls=1):
    return dict(interface=interface, name=name, size=size,
                **{"class": cls}, purpose="protocol test")


def start_upload(c, size, **kw):
    """hello + put; returns the ready message."""
    c.hello()
    rid = c.request("put", **put_msg(size, **kw))
    ready = c.recv()
    assert isinstance(ready, dict) and ready.get("op") == "ready", ready
    assert ready.get("id") == rid
    assert ready.get("offset") == 0
    return ready


def raw_upload(pki, b, data):
    """A complete, correct upload; returns the transfer id."""
    with raw_client(pki, b) as c:
        ready = start_upload(c, len(data))
        for i in range(0, len(data), MiB):
            c.send(data[i:i + MiB])
        c.request("end", sha256=hashlib.sha256(data).digest())
        stored = c.recv(60)
        assert isinstance(stored, dict) and stored.get("op") == "stored", stored
        assert stored["transfer"] == ready["transfer"]
        assert stored["size"] == len(data)
        assert stored["sha256"] == hashlib.sha256(data).digest()
    spooled = b.spool / ready["transfer"]
    assert spooled.read_bytes() == data
    return ready["transfer"]


def assert_still_serving(pki, b):
    assert b.running(), "broker died:\n" + b.log_text()[-3000:]
    raw_upload(pki, b, os.urandom(1000))


def enc_head(major, n):
    """A CBOR head with an explicit 8-byte argument."""
    return bytes([(major << 5) | 27]) + struct.pack(">Q", n)


def text(s):
    b = s.encode() if isinstance(s, str) else s
    return bytes([0x60 | len(b)]) + b if len(b) < 24 else \
        bytes([0x78, len(b)]) + b


HELLO_BODY = text("op") + text("hello") + text("id") + b"\x01" + \
    text("version") + b"\x01" + text("software") + text("t")

MALFORMED = {
    "reserved_additional_info": b"\x1c",
    "lone_break": b"\xff",
    "truncated_then_garbage": b"\xa2\x62op\x65hel\xff\xff\xff\xff",
    "indefinite_map": b"\xbf" + HELLO_BODY + b"\xff",
    "indefinite_text": b"\xa4" + text("op") + b"\x7f\x63hel\x62lo\xff"
                       + HELLO_BODY[len(text("op") + text("hello")):],
    "duplicate_key": b"\xa5" + HELLO_BODY + text("id") + b"\x02",
    "integer_key": b"\xa5" + HELLO_BODY + b"\x01\x01",
    "tagged_map": b"\xc1" + b"\xa4" + HELLO_BODY,
    "float_id": cbor2.dumps({"op": "hello", "id": 1.0, "version": 1,
                             "software": "t"}),
    "negative_id": cbor2.dumps({"op": "hello", "id": -1, "version": 1,
                                "software": "t"}),
    "invalid_utf8": b"\xa4" + text("op") + b"\x65hel\xff\xfe" + HELLO_BODY[
        len(text("op") + text("hello")):],
    "top_level_integer": b"\x05",
    "top_level_array": cbor2.dumps(["hello", 1]),
    "top_level_text": cbor2.dumps("hello"),
    "missing_op": cbor2.dumps({"id": 1, "version": 1, "software": "t"}),
    "op_not_text": cbor2.dumps({"op": 1, "id": 1}),
    "huge_map_count": enc_head(5, 1 << 32),
    "huge_text_length": b"\xa1" + enc_head(3, 1 << 62),
    "huge_array_length": b"\xa3" + text("op") + text("hello") + text("id")
                         + b"\x01" + text("x") + enc_head(4, 1 << 40),
    "huge_data_item": enc_head(2, 1 << 62),
    "null_value": cbor2.dumps({"op": "hello", "id": 1, "version": 1,
                               "software": None}),
    "bytes_for_text": cbor2.dumps({"op": "hello", "id": 1, "version": 1,
                                   "software": b"t"}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_refused(pki, broker, case):
    b = broker()
    with raw_client(pki, b) as c:
        send_quietly(c, MALFORMED[case])
        expect_error_or_close(c)
    assert_still_serving(pki, b)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_after_hello_is_refused(pki, broker, case):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        send_quietly(c, MALFORMED[case])
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_oversized_control_message(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        msg = {"op": "put", "id": 2, **put_msg(10)}
        msg["purpose"] = "p" * 20000
        send_quietly(c, cbor2.dumps(msg))
        err = expect_error_or_close(c)
        if err is not None:
            assert err["code"] in ("too_large", "too_long", "invalid",
                                   "malformed"), err
    assert_still_serving(pki, b)


def test_control_message_that_never_ends(pki, broker):
    """A map head followed by an endless text: refused once past the bound,
    without the broker buffering it all."""
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        head = b"\xa2" + text("op") + enc_head(3, 64 * MiB)
        send_quietly(c, head)
        for _ in range(64):
            send_quietly(c, b"x" * 65536)
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_deeply_nested_message(pki, broker):
    b = broker()
    nested = "leaf"
    for _ in range(200):
        nested = [nested]
    with raw_client(pki, b) as c:
        c.hello()
        send_quietly(c, cbor2.dumps({"op": "put", "id": 2, "purpose": nested}))
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_deep_nesting_without_end(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        send_quietly(c, b"\x81" * 10000)
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_unknown_op(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        c.request("frobnicate")
        err = expect_error_or_close(c)
        if err is not None:
            assert "op" in (err["code"] + err["message"] +
                            str(err.get("field", ""))).lower(), err
    assert_still_serving(pki, b)


def test_broker_only_op_from_client(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        c.request("stored", transfer="0" * 32, size=1, sha256=b"\0" * 32)
        expect_error_or_close(c)
    assert_still_serving(pki, b)


@pytest.mark.parametrize("op,fields", [
    ("hello", {"version": 1, "software": "t", "extra": 1}),
    ("status", {"transfer": "0" * 32, "admin": True}),
])
def test_unknown_field(pki, broker, op, fields):
    b = broker()
    with raw_client(pki, b) as c:
        if op != "hello":
            c.hello()
        c.request(op, **fields)
        err = expect_error_or_close(c)
        if err is not None and err.get("field"):
            assert err["field"] in ("extra", "admin"), err
    assert_still_serving(pki, b)


def test_put_with_unknown_field(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        c.request("put", **put_msg(10), path="/etc/passwd")
        expect_error_or_close(c)
    assert b.spool_entries() == []
    assert_still_serving(pki, b)


@pytest.mark.parametrize("missing", ["interface", "name", "size", "class"])
def test_put_missing_field(pki, broker, missing):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        msg = put_msg(10)
        del msg[missing]
        c.request("put", **msg)
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_request_before_hello(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.request("put", **put_msg(10))
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_wrong_protocol_version(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.request("hello", version=2, software="t")
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_data_before_ready(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        send_quietly(c, cbor2.dumps(b"data before any put"))
        expect_error_or_close(c)
    assert b.spool_entries() == []
    assert_still_serving(pki, b)


def test_data_before_hello(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        send_quietly(c, cbor2.dumps(b"\0" * 100))
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_chunk_over_limit(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        start_upload(c, 2 * MiB)
        send_quietly(c, cbor2.dumps(b"\0" * (MiB + 1)))
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_more_data_than_declared(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        ready = start_upload(c, 10)
        send_quietly(c, cbor2.dumps(b"\0" * 11))
        send_quietly(c, cbor2.dumps({"op": "end", "id": 9,
                                     "sha256": hashlib.sha256(b"\0" * 11).digest()}))
        expect_error_or_close(c)
    assert_no_spool_file(b, ready["transfer"], final_only=True)
    assert_still_serving(pki, b)


def test_end_before_all_data(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        ready = start_upload(c, 100)
        c.send(b"\0" * 50)
        c.request("end", sha256=hashlib.sha256(b"\0" * 50).digest())
        expect_error_or_close(c)
    assert_no_spool_file(b, ready["transfer"], final_only=True)
    assert_still_serving(pki, b)


def assert_no_spool_file(b, transfer, final_only=False, wait=5.0):
    """The spool holds nothing for transfer (bounded wait for cleanup)."""
    names = {transfer} if final_only else {transfer, transfer + ".part"}
    deadline = time.monotonic() + wait
    while names & set(b.spool_entries()) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = names & set(b.spool_entries())
    assert not left, f"spool still holds {left}"


def test_wrong_sha256_refused_and_nothing_kept(pki, broker):
    b = broker()
    data = os.urandom(3 * MiB + 5)
    with raw_client(pki, b) as c:
        ready = start_upload(c, len(data))
        for i in range(0, len(data), MiB):
            c.send(data[i:i + MiB])
        wrong = bytearray(hashlib.sha256(data).digest())
        wrong[0] ^= 1
        c.request("end", sha256=bytes(wrong))
        err = expect_error_or_close(c, timeout=60)
        assert err is not None, "no error message for a hash mismatch"
        assert err.get("transfer") in (None, ready["transfer"])
    assert_no_spool_file(b, ready["transfer"])
    assert_still_serving(pki, b)


@pytest.mark.parametrize("digest", [b"\0" * 31, b"\0" * 33, "00" * 32])
def test_malformed_sha256_refused(pki, broker, digest):
    b = broker()
    with raw_client(pki, b) as c:
        ready = start_upload(c, 3)
        c.send(b"abc")
        c.request("end", sha256=digest)
        expect_error_or_close(c)
    assert_no_spool_file(b, ready["transfer"], final_only=True)
    assert_still_serving(pki, b)


def test_status_of_unknown_transfer(pki, broker):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        rid = c.request("status", transfer="f" * 32)
        err = expect_error_or_close(c)
        assert err is not None
        assert err["id"] == rid


@pytest.mark.parametrize("transfer", ["../../etc/passwd", "F" * 32, "0" * 31,
                                      "0" * 33, "x" * 1000])
def test_status_with_malformed_transfer_id(pki, broker, transfer):
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        c.request("status", transfer=transfer)
        expect_error_or_close(c)
    assert_still_serving(pki, b)


def test_many_requests_on_one_connection(pki, broker):
    """One connection carries several requests, answered by request id."""
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        for n in range(3):
            data = os.urandom(100 + n)
            rid = c.request("put", **put_msg(len(data)))
            ready = c.recv()
            assert ready["op"] == "ready" and ready["id"] == rid, ready
            c.send(data)
            rid = c.request("end", sha256=hashlib.sha256(data).digest())
            stored = c.recv()
            assert stored["op"] == "stored", stored
            rid = c.request("status", transfer=ready["transfer"])
            state = c.recv()
            assert state["op"] == "state" and state["id"] == rid, state
            assert state["state"] == "stored"
            assert state["received"] == len(data)


@pytest.mark.parametrize("name", ["n" * 1025, "n" * 4096, "a\x00b", ""])
def test_put_with_bad_name_refused(pki, broker, name):
    """The client refuses these itself; the broker must too."""
    b = broker()
    with raw_client(pki, b) as c:
        c.hello()
        c.request("put", **put_msg(10, name=name))
        err = expect_error_or_close(c)
        if err is not None and err.get("field"):
            assert err["field"] == "name", err
    assert b.spool_entries() == []
    assert_still_serving(pki, b)

