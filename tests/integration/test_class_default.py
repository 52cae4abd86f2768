"""A put that names no classification (機密性) is refused with a clear
message, unless the interface gives an explicit default_class in the
register: the class is never silently taken as 1, neither by the client
nor by the broker."""

import hashlib
import time

from conftest import EXIT_OK, EXIT_USAGE, raw_client

REGISTER = {
    "interfaces": [
        {"id": "IF-NODEF", "max_class": 2},
        {"id": "IF-DEF2", "max_class": 2, "default_class": 2},
    ],
}


def accepts(b, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        recs = [r for r in b.audit_records() if r.get("type") == "accept"]
        if recs or time.monotonic() > deadline:
            return recs
        time.sleep(0.05)


def put_without_class(c, interface, size=10):
    c.hello()
    c.request("put", interface=interface, name="a.txt", size=size,
              purpose="class default test")
    return c.recv()


def test_broker_refuses_put_without_class(pki, broker):
    b = broker(register=REGISTER)
    with raw_client(pki, b) as c:
        answer = put_without_class(c, "IF-NODEF")
    assert answer["op"] == "error", answer
    assert answer["code"] == "class_required", answer
    assert answer.get("field") == "class", answer
    assert "--class" in answer["message"], answer
    assert b.spool_entries() == []
    assert [r for r in b.audit_records() if r.get("type") == "accept"] == []


def test_broker_applies_the_interface_default(pki, broker):
    b = broker(register=REGISTER)
    data = b"0123456789"
    with raw_client(pki, b) as c:
        answer = put_without_class(c, "IF-DEF2", len(data))
        assert answer["op"] == "ready", answer
        c.send(data)
        c.request("end", sha256=hashlib.sha256(data).digest())
        stored = c.recv()
        assert stored["op"] == "stored", stored
        c.request("status", transfer=stored["transfer"])
        st = c.recv()
    assert st["class"] == 2, st
    recs = accepts(b)
    assert [r["details"]["class"] for r in recs] == [2], recs


def test_client_sends_no_class_when_none_given(pki, broker, client,
                                               tmp_path):
    b = broker(register=REGISTER)
    f = tmp_path / "a.txt"
    f.write_bytes(b"hello")
    c = client(b)
    rc, out, err = c.run("put", f, "--to", "IF-NODEF", "--purpose", "t")
    assert rc == EXIT_USAGE, (rc, out, err)
    assert "--class" in err, err
    assert b.spool_entries() == []
    rc, obj, err = c.json("put", f, "--to", "IF-DEF2", "--purpose", "t")
    assert rc == EXIT_OK, (obj, err)
    rc, st, err = c.json("status", obj["transfer"])
    assert rc == EXIT_OK, (st, err)
    assert st["class"] == 2, st


def test_policy_explain_does_as_the_broker(broker, tmp_path):
    """policy explain without --class decides as the broker would: with
    the interface's default_class, or says the put would be refused."""
    import subprocess
    from conftest import SEKISHO, need_binary
    need_binary(SEKISHO, "sekisho client")
    b = broker(register=REGISTER, start=False)

    def explain(to):
        p = subprocess.run([str(SEKISHO), "policy", "explain", "--register",
                            str(b.register), "--user", "alice", "--to", to],
                           capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    rc, out, err = explain("IF-DEF2")
    assert rc == EXIT_OK and " class=2 " in out, (out, err)
    rc, out, err = explain("IF-NODEF")
    assert rc == EXIT_USAGE, (rc, out, err)
    assert "class_required" in err and "--class" in err, err
