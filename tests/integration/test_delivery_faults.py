"""Delivery when things go wrong: an upstream that is down, answers 500,
403 or 429, resets the connection mid-body, stalls, presents the wrong
name, a certificate from another CA or another key than pinned; a broker
killed during forwarding; a register that no longer has the interface;
the proxy path through tinyproxy. Faults come from real servers (nginx
fault switches, a TCP relay that misbehaves, tinyproxy)."""

import base64
import os
import signal
import sqlite3
import time

from conftest import free_port
from delivery_fixtures import (  # noqa: F401  (fixtures)
    S3_KEY, S3_SECRET, delivery, fault_proxy, make_file, nginx, s3rver,
    service, sha256, spki_pin, tinyproxy, write_credentials)


def one_object(n):
    objs = n.objects()
    assert len(objs) == 1, sorted(objs)
    return next(iter(objs.values()))


def test_upstream_down_then_back(delivery, nginx, tmp_path):
    n = nginx(start=False)
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"max_attempts": 30, "backoff_max": "1s"})
    f = make_file(tmp_path, "a.bin", 50_000)
    tid = d.put(f)
    st = d.wait(tid, ("queued", "forwarding"),
                pred=lambda s: s.get("attempts", 0) >= 2)
    assert "connect" in st["last_error"].lower(), st
    n.start()
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    assert one_object(n) == f.read_bytes()
    results = [r["details"]["result"] for r in d.records("forward", tid)]
    assert results[-1] == "delivered" and set(results[:-1]) == {"retry"}


def test_500_then_success(delivery, nginx, tmp_path):
    n = nginx()
    n.fault("fail500")
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"max_attempts": 30, "backoff_max": "1s"})
    f = make_file(tmp_path, "a.bin", 10_000)
    tid = d.put(f)
    st = d.wait(tid, ("queued", "forwarding"),
                pred=lambda s: s.get("attempts", 0) >= 2)
    assert st["upstream_status"] == 500 and "500" in st["last_error"]
    n.fault("fail500", False)
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    assert one_object(n) == f.read_bytes()


def test_403_fails_without_retry(delivery, nginx, tmp_path):
    n = nginx()
    n.fault("fail403")
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"max_attempts": 5})
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    st = d.wait(tid)
    assert st["state"] == "failed", st
    assert st["attempts"] == 1
    assert st["upstream_status"] == 403
    assert "403" in st["error"]
    assert n.objects() == {}
    assert len(n.requests()) == 1
    failed = d.records("delivery_failed", tid)
    assert len(failed) == 1 and "403" in failed[0]["details"]["reason"]
    # A failed transfer's spool copy is removed too.
    d.wait_spool_gone(tid)


def test_429_honours_retry_after(delivery, nginx, tmp_path):
    n = nginx()
    n.fault("fail429")
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"max_attempts": 10, "backoff_base": "1s",
                  "backoff_max": "1s"})
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    d.wait(tid, ("queued",), pred=lambda s: s.get("attempts", 0) >= 1)
    n.fault("fail429", False)
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    first = d.records("forward", tid)[0]["details"]
    assert first["http_status"] == 429 and first["result"] == "retry"
    # Retry-After: 1 (seconds) is at least what the backoff waits.
    assert first["retry_in_ms"] >= 1000


def test_connection_reset_mid_body(delivery, nginx, fault_proxy, tmp_path):
    n = nginx()
    p = fault_proxy(n.port, mode="reset", reset_after=200_000, resets=1)
    d = delivery([service("dav", f"https://localhost:{p.port}")],
                 [("IF-DLV", "dav", "/in/")])
    f = make_file(tmp_path, "a.bin", 1_000_000)
    tid = d.put(f)
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    assert st["attempts"] == 2
    first = d.records("forward", tid)[0]["details"]
    assert first["result"] == "retry" and first["step"] == "put"
    # No partial object anywhere: the broken PUT went to the temporary
    # name, which the second attempt overwrote and moved into place.
    assert one_object(n) == f.read_bytes()


def test_stalled_upstream_times_out(delivery, nginx, fault_proxy, tmp_path):
    n = nginx()
    p = fault_proxy(n.port, mode="stall")
    d = delivery([service("dav", f"https://localhost:{p.port}")],
                 [("IF-DLV", "dav", "/in/")],
                 {"connect_timeout": "1s", "stall_timeout": "1s",
                  "max_attempts": 2, "backoff_base": "1s",
                  "backoff_max": "1s"})
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    st = d.wait(tid, timeout=30)
    assert st["state"] == "failed", st
    assert st["attempts"] == 2
    assert "gave up after 2 attempts" in st["error"]
    assert "timeout" in st["error"].lower() or \
        "timed out" in st["error"].lower()
    assert p.connections >= 2
    assert n.objects() == {}


def test_wrong_host_name_is_refused(delivery, nginx, pki, tmp_path):
    pki.run("server", "wrong.example")
    n = nginx(cert=pki.dir / "servers" / "wrong.example.crt",
              key=pki.dir / "servers" / "wrong.example.key")
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")])
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    st = d.wait(tid)
    assert st["state"] == "failed" and st["attempts"] == 1, st
    assert "localhost" in st["error"] or "name" in st["error"], st
    assert n.requests() == []
    rec = d.records("forward", tid)[0]["details"]
    assert rec["result"] == "failed"
    # The key that was refused is on record.
    assert rec["spki_sha256"] == spki_pin(
        pki.dir / "servers" / "wrong.example.crt")[1]


def test_wrong_ca_is_refused(delivery, nginx, pki, tmp_path):
    n = nginx()
    d = delivery([service("dav", n.endpoint,
                          ca=str(pki.other_dir / "ca.crt"))],
                 [("IF-DLV", "dav", "/in/")])
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    st = d.wait(tid)
    assert st["state"] == "failed" and st["attempts"] == 1, st
    assert "certificate" in st["error"].lower(), st
    assert n.requests() == []


def test_pin_mismatch_is_refused_and_audited(delivery, nginx, pki,
                                             tmp_path):
    n = nginx()
    wrong = "sha256//" + base64.b64encode(b"\x01" * 32).decode()
    d = delivery([service("dav", n.endpoint, pins=[wrong])],
                 [("IF-DLV", "dav", "/in/")], {"max_attempts": 5})
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    st = d.wait(tid)
    assert st["state"] == "failed" and st["attempts"] == 1, st
    assert "pin" in st["error"].lower() or "public key" in \
        st["error"].lower(), st
    assert n.requests() == []
    rec = d.records("forward", tid)[0]["details"]
    assert rec["spki_sha256"] == spki_pin(pki.server_cert)[1]
    assert rec["result"] == "failed"


def test_matching_pin_delivers(delivery, nginx, pki, tmp_path):
    n = nginx()
    pin, _ = spki_pin(pki.server_cert)
    other = "sha256//" + base64.b64encode(b"\x02" * 32).decode()
    d = delivery([service("dav", n.endpoint, pins=[other, pin])],
                 [("IF-DLV", "dav", "/in/")])
    f = make_file(tmp_path, "a.bin", 1000)
    tid = d.put(f)
    assert d.wait(tid)["state"] == "delivered"
    assert one_object(n) == f.read_bytes()


def test_killed_during_forwarding_delivers_once(delivery, nginx,
                                                fault_proxy, tmp_path):
    n = nginx()
    p = fault_proxy(n.port, rate=400_000)
    d = delivery([service("dav", f"https://localhost:{p.port}")],
                 [("IF-DLV", "dav", "/in/")], {"stall_timeout": "5s"})
    f = make_file(tmp_path, "a.bin", 2_000_000)
    tid = d.put(f)
    d.wait(tid, ("forwarding",), timeout=30)
    time.sleep(1.0)                     # part of the body is on its way
    d.broker.kill()
    assert n.objects() == {} or all(k.endswith(".part") for k in n.objects())
    p.rate = 0
    d.broker.start()
    st = d.wait(tid, timeout=60)
    assert st["state"] == "delivered", st
    assert st["attempts"] == 2
    objs = {k: v for k, v in n.objects().items()
            if not os.path.basename(k).startswith(".")}
    assert list(objs.values()) == [f.read_bytes()]
    assert len([r for r in n.requests("MOVE") if r[2] in (201, 204)]) == 1
    # The restarted broker first asked whether the object was there.
    assert n.requests("HEAD")[0][2] == 404


def open_uploads(b):
    db = sqlite3.connect(b.state_db)
    try:
        return db.execute("SELECT transfer, upload_id FROM "
                          "upstream_uploads").fetchall()
    finally:
        db.close()


def test_s3_upload_left_open_by_a_stopped_broker_is_aborted(
        delivery, s3rver, fault_proxy, tmp_path):
    # The broker is stopped in the middle of a multipart upload. The upload
    # id was recorded before the first part was sent, so the restarted
    # broker aborts that upload before it starts its own, and the object
    # arrives once.
    s = s3rver()
    p = fault_proxy(s.port, rate=1_500_000)
    d = delivery([s.service(tmp_path / "creds",
                            f"https://localhost:{p.port}")],
                 [("IF-DLV", "s3", "/big/")],
                 delivery_cfg={"multipart_threshold": "6MiB",
                               "part_size": "5MiB", "stall_timeout": "5s"})
    f = make_file(tmp_path, "big.bin", 12 * 1024 * 1024, seed=4)
    tid = d.put(f)
    deadline = time.monotonic() + 60
    while not [r for r in s.stored() if r == ("part", 1)]:
        assert time.monotonic() < deadline, s.log.read_text()[-2000:]
        time.sleep(0.1)
    rows = open_uploads(d.broker)
    assert len(rows) == 1 and rows[0][0] == tid, rows
    first = rows[0][1]
    d.broker.stop()                     # SIGTERM: part 2 is on its way
    assert open_uploads(d.broker) == rows
    p.rate = 0
    d.broker.start()
    st = d.wait(tid, timeout=90)
    assert st["state"] == "delivered", st
    assert st["attempts"] == 2
    key = f"big/{tid}-big.bin"
    assert list(s.objects()) == [key]
    assert s.objects()[key][0] == f.read_bytes()
    assert [r for r in s.stored() if r[0] == "object"] == [("object", key)]
    # The restarted broker said what it was doing, and asked the service to
    # abort the first upload (s3rver has no AbortMultipartUpload: 405).
    assert f"abort_upload=\"{first}\"" in d.broker.log_text()
    aborts = [ln for ln in s.log.read_text().splitlines()
              if f"?uploadId={first} " in ln and "partNumber" not in ln]
    assert aborts and aborts[0].split()[-3] == "405", aborts
    # Delivered: nothing is left to abort.
    assert open_uploads(d.broker) == []


def mark_unfinished(b, tid):
    """What a crash between the upstream's success and the durable
    "delivered" leaves behind: the row still says forwarding."""
    db = sqlite3.connect(b.state_db)
    with db:
        db.execute("UPDATE transfers SET state = 'forwarding', "
                   "spool_until = 0 WHERE id = ?", (tid,))
    db.close()


def test_delivered_but_unmarked_webdav_is_not_sent_again(delivery, nginx,
                                                         tmp_path):
    n = nginx()
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"retention": "1h"})
    f = make_file(tmp_path, "a.bin", 100_000)
    tid = d.put(f)
    assert d.wait(tid)["state"] == "delivered"
    assert tid in d.broker.spool_entries()      # kept for the retention
    d.broker.stop()
    mark_unfinished(d.broker, tid)
    d.broker.start()
    st = d.wait(tid)
    assert st["state"] == "delivered" and st["attempts"] == 2, st
    assert len(n.requests("PUT")) == 1          # never sent twice
    assert [r[0] for r in n.requests()][-2:] == ["HEAD", "GET"]
    last = d.records("forward", tid)[-1]["details"]
    assert last["already_there"] is True
    assert one_object(n) == f.read_bytes()


def test_delivered_but_unmarked_s3_is_not_sent_again(delivery, s3rver,
                                                     tmp_path):
    s = s3rver()
    write_credentials(tmp_path / "creds", "s3", type="aws",
                      access_key_id=S3_KEY, secret_access_key=S3_SECRET)
    d = delivery([service("s3", s.endpoint, connector="s3", credentials="s3",
                          region="ap-northeast-1", bucket=s.bucket)],
                 [("IF-DLV", "s3", "/in/{name}")],
                 {"retention": "1h", "credentials_dir": str(tmp_path / "creds")})
    f = make_file(tmp_path, "a.bin", 100_000)
    tid = d.put(f)
    assert d.wait(tid)["state"] == "delivered"
    d.broker.stop()
    mark_unfinished(d.broker, tid)
    d.broker.start()
    st = d.wait(tid)
    assert st["state"] == "delivered" and st["attempts"] == 2, st
    assert s.stored() == [("object", "in/a.bin")]
    assert d.records("forward", tid)[-1]["details"]["already_there"] is True


def test_other_object_at_destination_is_not_overwritten(delivery, nginx,
                                                        tmp_path):
    n = nginx()
    d = delivery([service("dav", n.endpoint)],
                 [("IF-DLV", "dav", "/in/fixed.bin")])
    (n.root / "in").mkdir()
    (n.root / "in" / "fixed.bin").write_bytes(b"someone else's file")
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    st = d.wait(tid)
    assert st["state"] == "failed", st
    assert "not overwritten" in st["error"]
    assert (n.root / "in" / "fixed.bin").read_bytes() == \
        b"someone else's file"
    # The temporary copy was cleaned up.
    assert sorted(n.objects()) == ["/in/fixed.bin"]


def test_interface_removed_from_register_fails(delivery, nginx, tmp_path):
    n = nginx(start=False)
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"max_attempts": 50, "backoff_base": "1s",
                  "backoff_max": "1s"})
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    d.wait(tid, ("queued",), pred=lambda s: s.get("attempts", 0) >= 1)
    d.broker.write_register({"services": [service("dav", n.endpoint)],
                             "interfaces": [{"id": "IF-OTHER",
                                             "max_class": 2,
                                             "service": "dav",
                                             "path": "/x/"}]})
    d.broker.reload()
    n.start()
    st = d.wait(tid)
    assert st["state"] == "failed", st
    assert "no longer in the register" in st["error"]
    assert n.requests() == []


def test_proxy_path_through_tinyproxy(delivery, nginx, tinyproxy, tmp_path):
    n = nginx()
    t = tinyproxy([n.port])
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"proxy": t.url})
    f = make_file(tmp_path, "a.bin", 300_000)
    tid = d.put(f)
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    assert one_object(n) == f.read_bytes()
    assert any(f"localhost:{n.port}" in line for line in t.connects()), \
        t.log.read_text()


def test_refusing_proxy_is_a_connection_failure(delivery, nginx, tmp_path):
    n = nginx()
    dead = free_port()
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"proxy": f"http://127.0.0.1:{dead}", "max_attempts": 2,
                  "backoff_max": "1s"})
    tid = d.put(make_file(tmp_path, "a.bin", 1000))
    st = d.wait(tid)
    assert st["state"] == "failed" and st["attempts"] == 2, st
    assert n.requests() == []


def test_dead_service_does_not_hold_up_another(delivery, nginx, tmp_path):
    good = nginx()
    dead = nginx(start=False)
    d = delivery([service("good", good.endpoint),
                  service("dead", dead.endpoint)],
                 [("IF-DLV", "good", "/in/"), ("IF-DEAD", "dead", "/in/")],
                 {"max_attempts": 50, "circuit_threshold": 2,
                  "circuit_cooldown": "1h", "concurrency": 1})
    dead_ids = [d.put(make_file(tmp_path, f"d{i}.bin", 1000, seed=i),
                      "IF-DEAD") for i in range(3)]
    deadline = time.monotonic() + 30
    while "service=dead state=open" not in d.broker.log_text():
        assert time.monotonic() < deadline, d.broker.log_text()[-3000:]
        time.sleep(0.1)
    f = make_file(tmp_path, "g.bin", 1000, seed=9)
    tid = d.put(f)
    assert d.wait(tid, timeout=20)["state"] == "delivered"
    assert one_object(good) == f.read_bytes()
    # The open circuit holds the dead service's transfers back without
    # spending their attempts: two failures opened it, nothing since.
    time.sleep(1.5)
    states = [d.status(i) for i in dead_ids]
    assert all(st["state"] == "queued" for st in states), states
    assert sum(st.get("attempts", 0) for st in states) == 2, states


def test_s3_other_object_at_destination_is_not_overwritten(delivery, s3rver,
                                                           tmp_path):
    # S3's PUT replaces whatever is at the key: the first attempt must look
    # before it sends, or a fixed key would overwrite an earlier file.
    s = s3rver()
    write_credentials(tmp_path / "creds", "s3", type="aws",
                      access_key_id=S3_KEY, secret_access_key=S3_SECRET)
    d = delivery([service("s3", s.endpoint, connector="s3", credentials="s3",
                          region="ap-northeast-1", bucket=s.bucket)],
                 [("IF-DLV", "s3", "/in/fixed.bin")],
                 {"credentials_dir": str(tmp_path / "creds")})
    first = make_file(tmp_path, "first.bin", 1000, seed=1)
    tid1 = d.put(first)
    assert d.wait(tid1)["state"] == "delivered"
    second = make_file(tmp_path, "second.bin", 1000, seed=2)
    tid2 = d.put(second)
    st = d.wait(tid2)
    assert st["state"] == "failed", st
    assert "not overwritten" in st["error"]
    body, _ = s.objects()["in/fixed.bin"]
    assert body == first.read_bytes()


def test_status_error_does_not_show_the_spool_path(delivery, nginx,
                                                   tmp_path):
    """A transfer whose spool copy is gone fails; `sekisho status` tells
    the sender so without the broker's directory layout (issue 9, item
    21): the spool path stays in the broker's log."""
    n = nginx(start=False)
    d = delivery([service("dav", n.endpoint)], [("IF-DLV", "dav", "/in/")],
                 {"max_attempts": 30, "backoff_base": "1s",
                  "backoff_max": "1s"})
    f = make_file(tmp_path, "a.bin", 1000)
    tid = d.put(f)
    d.wait(tid, ("queued", "forwarding"),
           pred=lambda s: s.get("attempts", 0) >= 1)
    for name in d.broker.spool_entries():
        if name.startswith(tid):
            os.unlink(d.broker.spool / name)
    st = d.wait(tid, ("failed",))
    text = st.get("error", "") + st.get("last_error", "")
    assert "spool" in text, st
    spool = str(d.broker.spool)
    assert spool not in text and str(d.broker.spool.resolve()) not in text, st
    assert "/" not in text.split("spool", 1)[1], st
    assert f"file {tid}" in text, st
