"""Daily limits of an interface (daily_count, daily_bytes): the broker counts
what the user already sent through it today and the policy refuses what
would go past the limit, naming the limit and not other interfaces."""

from conftest import EXIT_OK, EXIT_POLICY

REGISTER = {
    "interfaces": [
        {"id": "IF-COUNT", "max_class": 2, "daily_count": 2},
        {"id": "IF-BYTES", "max_class": 2, "daily_bytes": 1000},
        {"id": "IF-FREE", "max_class": 2},
    ],
}


def put(c, path, interface):
    return c.json("put", path, "--to", interface, "--class", "1", "--retries", "0")


def test_daily_count_refuses_the_file_past_the_limit(broker, client,
                                                     tmp_path):
    b = broker(register=REGISTER)
    alice = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"x" * 10)
    for _ in range(2):
        rc, obj, err = put(alice, f, "IF-COUNT")
        assert rc == EXIT_OK, (obj, err)
    rc, obj, err = put(alice, f, "IF-COUNT")
    assert rc == EXIT_POLICY, (obj, err)
    assert obj["error"]["reason"] == "daily_count_exceeded"
    assert "IF-BYTES" not in obj["error"]["message"]
    # The limit is per user and per interface.
    rc, obj, err = put(alice, f, "IF-FREE")
    assert rc == EXIT_OK, (obj, err)
    bob = client(b, user="bob")
    rc, obj, err = put(bob, f, "IF-COUNT")
    assert rc == EXIT_OK, (obj, err)
    # The refusal is audited with the rule that made it.
    denials = [r for r in b.audit_records() if r.get("type") == "decide"
               and r["details"].get("reason") == "daily_count_exceeded"]
    assert len(denials) == 1


def test_daily_bytes_counts_declared_sizes(broker, client, tmp_path):
    b = broker(register=REGISTER)
    alice = client(b)
    f600 = tmp_path / "six.bin"
    f600.write_bytes(b"y" * 600)
    f300 = tmp_path / "three.bin"
    f300.write_bytes(b"z" * 300)
    rc, obj, err = put(alice, f600, "IF-BYTES")
    assert rc == EXIT_OK, (obj, err)
    rc, obj, err = put(alice, f600, "IF-BYTES")
    assert rc == EXIT_POLICY, (obj, err)
    assert obj["error"]["reason"] == "daily_bytes_exceeded"
    rc, obj, err = put(alice, f300, "IF-BYTES")
    assert rc == EXIT_OK, (obj, err)
