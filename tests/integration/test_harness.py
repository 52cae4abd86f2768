"""The test harness itself: what its helpers promise the other tests."""

import conftest


def test_free_port_never_hands_out_a_port_twice(monkeypatch):
    """An upstream made with start=False binds its port only later; the
    broker started in between must not get the same number from the kernel
    (seen once: a broker delivered to its own listener). The kernel is made
    to answer the same port twice here."""
    answers = iter([40001, 40001, 40002])

    class FakeSocket:
        def __init__(self, *args):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def bind(self, addr):
            pass

        def getsockname(self):
            return ("127.0.0.1", next(answers))

    monkeypatch.setattr(conftest, "_PORTS_GIVEN", set(), raising=False)
    monkeypatch.setattr(conftest.socket, "socket", FakeSocket)
    assert conftest.free_port() == 40001
    assert conftest.free_port() == 40002
