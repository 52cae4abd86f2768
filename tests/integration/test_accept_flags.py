"""The accept record says when a transfer went through an interface that a
review should look at: one with no allow list (legacy_open) or one past its
review date under review_overdue: warn."""

from conftest import EXIT_OK


def accept_records(b):
    return [r for r in b.audit_records() if r.get("type") == "accept"]


def test_legacy_open_and_review_overdue_are_recorded(broker, client,
                                                     tmp_path):
    register = (
        "review_overdue: warn\n"
        "interfaces:\n"
        "  - id: IF-OPEN\n"
        "    max_class: 2\n"
        "  - id: IF-LATE\n"
        "    max_class: 2\n"
        "    next_review: 2020-01-01\n"
        "    allow:\n"
        "      roles: [staff]\n")
    b = broker(register=register)
    c = client(b)
    f = tmp_path / "a.txt"
    f.write_bytes(b"hello\n")
    rc, obj, err = c.json("put", f, "--to", "IF-OPEN", "--class", "1")
    assert rc == EXIT_OK, (obj, err)
    rc, obj, err = c.json("put", f, "--to", "IF-LATE", "--class", "1")
    assert rc == EXIT_OK, (obj, err)
    recs = {r["subject"]["interface"]: r["details"] for r in accept_records(b)}
    assert recs["IF-OPEN"].get("legacy_open") is True
    assert "review_overdue" not in recs["IF-OPEN"]
    assert recs["IF-LATE"].get("review_overdue") is True
    assert "legacy_open" not in recs["IF-LATE"]
