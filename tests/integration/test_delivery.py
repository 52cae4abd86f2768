"""Delivery to specified cloud services, against real servers on 127.0.0.1:
nginx (WebDAV over HTTPS) and s3rver (S3 over HTTPS). Objects that arrive
are compared byte for byte with what was uploaded."""

from delivery_fixtures import (  # noqa: F401  (fixtures)
    BASIC_PASSWORD, BASIC_USER, BEARER_TOKEN, davserver, delivery,
    fault_proxy, make_file, nginx, s3rver, service, sha256, tinyproxy,
    write_credentials)


def webdav(n, **kw):
    return service("dav", n.endpoint, **kw)


def test_webdav_delivery_arrives_byte_for_byte(delivery, nginx, tmp_path):
    n = nginx()
    d = delivery([webdav(n)], [("IF-DLV", "dav", "/in/{interface}/")])
    f = make_file(tmp_path, "報告書 2026.pdf", 300_000)
    data = f.read_bytes()
    tid = d.put(f)
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    assert st["attempts"] == 1
    assert st["upstream_status"] in (201, 204)
    assert st["upstream_bytes"] >= len(data)
    assert st.get("etag")
    objs = n.objects()
    want = f"/in/IF-DLV/{tid}-報告書_2026.pdf"
    assert list(objs) == [want], objs.keys()
    assert objs[want] == data
    # One PUT (to the temporary name), one MOVE into place.
    assert len(n.requests("PUT")) == 1
    assert len(n.requests("MOVE")) == 1
    # The spool copy is gone once delivered is durable.
    d.wait_spool_gone(tid)
    # Audited: the attempt (URL, peer key, status, bytes) and the outcome.
    att = d.records("forward", tid)
    assert len(att) == 1
    det = att[0]["details"]
    assert det["url"].endswith("/in/IF-DLV/" + tid +
                               "-%E5%A0%B1%E5%91%8A%E6%9B%B8_2026.pdf")
    assert det["result"] == "delivered"
    assert det["http_status"] in (201, 204)
    assert det["bytes_sent"] >= len(data)
    assert len(det["spki_sha256"]) == 64
    done = d.records("delivered", tid)
    assert len(done) == 1 and done[0]["details"]["sha256"] == sha256(data)


def test_webdav_credentials_basic_and_bearer(delivery, nginx, tmp_path):
    n = nginx()
    creds = tmp_path / "creds"
    write_credentials(creds, "basic", type="basic", username=BASIC_USER,
                      password=BASIC_PASSWORD)
    write_credentials(creds, "bearer", type="bearer", token=BEARER_TOKEN)
    write_credentials(creds, "wrong", type="basic", username=BASIC_USER,
                      password="not it")
    d = delivery([service("basic", n.endpoint + "/basic/",
                          credentials="basic"),
                  service("bearer", n.endpoint + "/bearer/",
                          credentials="bearer"),
                  service("wrong", n.endpoint + "/basic/",
                          credentials="wrong"),
                  service("none", n.endpoint + "/bearer/")],
                 [("IF-B", "basic", "/in/"), ("IF-T", "bearer", "/in/"),
                  ("IF-W", "wrong", "/w/"), ("IF-N", "none", "/n/")],
                 {"credentials_dir": str(creds)})
    f = make_file(tmp_path, "a.txt", 5000)
    ok = {iface: d.put(f, iface) for iface in ("IF-B", "IF-T")}
    bad = {iface: d.put(f, iface) for iface in ("IF-W", "IF-N")}
    for iface, tid in ok.items():
        st = d.wait(tid)
        assert st["state"] == "delivered", (iface, st)
    objs = n.objects()
    assert objs[f"/basic/in/{ok['IF-B']}-a.txt"] == f.read_bytes()
    assert objs[f"/bearer/in/{ok['IF-T']}-a.txt"] == f.read_bytes()
    # Refused credentials are a 401: failed at once, not retried.
    for iface, tid in bad.items():
        st = d.wait(tid)
        assert st["state"] == "failed", (iface, st)
        assert st["attempts"] == 1 and "401" in st["error"], (iface, st)
    assert not any(k.startswith(("/basic/w", "/bearer/n")) for k in objs)
    # The secrets never reach the log or the audit trail (its files
    # byte for byte, whatever their encoding).
    trail = b"".join(
        p.read_bytes() for p in d.broker.dir.rglob("*")
        if p.is_file() and "audit" in str(p.relative_to(d.broker.dir)))
    assert ok["IF-B"].encode() in trail   # the trail was read
    raw = d.broker.log_text().encode() + trail
    for secret in (BASIC_PASSWORD, BEARER_TOKEN, "not it"):
        assert secret.encode() not in raw


def test_webdav_missing_folders_are_made_with_mkcol(delivery, davserver,
                                                    tmp_path):
    # A server that answers 409 to a PUT into a missing folder (RFC 4918),
    # unlike nginx with create_full_put_path.
    w = davserver()
    d = delivery([service("dav", w.endpoint + "/base/")],
                 [("IF-DLV", "dav", "/{interface}/{date}/")])
    (w.root / "base").mkdir()
    f = make_file(tmp_path, "報告 a.txt", 1000)
    tid = d.put(f)
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    assert st["attempts"] == 1
    mk = w.requests("MKCOL")
    assert len(mk) == 2, w.requests()
    day = mk[1][1].split("/")[3]
    # 409, then both folders top down, then the PUT again and the MOVE.
    assert mk == [("MKCOL", "/base/IF-DLV/", 201),
                  ("MKCOL", f"/base/IF-DLV/{day}/", 201)]
    assert [st for _, _, st in w.requests("PUT")] == [409, 201]
    assert [st for _, _, st in w.requests("MOVE")] == [201]
    want = f"/base/IF-DLV/{day}/{tid}-報告_a.txt"
    assert w.objects() == {want: f.read_bytes()}
    # The next file finds the folders there: no MKCOL at all.
    g = make_file(tmp_path, "b.txt", 2000, seed=3)
    tid2 = d.put(g)
    assert d.wait(tid2)["state"] == "delivered"
    assert len(w.requests("MKCOL")) == 2
    assert [st for _, _, st in w.requests("PUT")] == [409, 201, 201]
    assert w.objects()[f"/base/IF-DLV/{day}/{tid2}-b.txt"] == g.read_bytes()


def test_webdav_base_folder_is_not_made(delivery, davserver, tmp_path):
    # Folders inside the endpoint are the template's; the endpoint's own
    # base path is the operator's. Without it, MKCOL is refused and the
    # transfer fails with a reason that names the folder.
    w = davserver()
    d = delivery([service("dav", w.endpoint + "/nobase/")],
                 [("IF-DLV", "dav", "/{interface}/")])
    tid = d.put(make_file(tmp_path, "c.txt", 10))
    st = d.wait(tid)
    assert st["state"] == "failed", st
    assert "mkcol" in st["error"] and "/IF-DLV" in st["error"], st
    assert not (w.root / "nobase").exists()


def test_s3_single_put_arrives_with_checksum(delivery, s3rver, tmp_path):
    s = s3rver()
    d = delivery([s.service(tmp_path / "creds")],
                 [("IF-DLV", "s3", "/{dept}/{name}")])
    f = make_file(tmp_path, "data.csv", 200_000, seed=1)
    data = f.read_bytes()
    tid = d.put(f)
    st = d.wait(tid)
    assert st["state"] == "delivered", st
    objs = s.objects()
    assert list(objs) == ["soumu/data.csv"], objs.keys()
    body, meta = objs["soumu/data.csv"]
    assert body == data
    assert meta.get("x-amz-meta-sekisho-sha256") == sha256(data)
    assert meta.get("x-amz-meta-sekisho-transfer") == tid
    assert st.get("etag")
    assert s.stored() == [("object", "soumu/data.csv")]


def test_s3_multipart(delivery, s3rver, tmp_path):
    s = s3rver()
    d = delivery([s.service(tmp_path / "creds")],
                 [("IF-DLV", "s3", "/big/")],
                 delivery_cfg={"multipart_threshold": "6MiB",
                               "part_size": "5MiB"})
    size = 12 * 1024 * 1024 + 12345
    f = make_file(tmp_path, "big.bin", size, seed=2)
    data = f.read_bytes()
    tid = d.put(f)
    st = d.wait(tid, timeout=120)
    assert st["state"] == "delivered", st
    objs = s.objects()
    key = f"big/{tid}-big.bin"
    assert list(objs) == [key]
    assert objs[key][0] == data
    assert s.stored() == [("part", 1), ("part", 2), ("part", 3),
                          ("object", key)]
    assert s.uploads_in_progress() == []
