#!/usr/bin/python3
"""The browser API's upload against sekisho/1's, side by side in one run
(a benchmark, not a test: nothing here passes or fails).

  /usr/bin/python3 bench/web_upload_bench.py [--build DIR] [--size-mib 1024]
                                             [--rounds 3]

One broker, one file of random bytes. Each round uploads it twice, in
alternating order (A B, then B A, ...):

  sekisho/1  `sekisho put FILE` (the command-line client: TLS, hello, put,
             1 MiB data items, end, durable commit, "stored");
  tus/h2     tus 1.0 as a browser's page does: POST /api/v1/uploads
             (creation, decided by the policy) then one PATCH with the whole
             body, answered once the file is durable; by bench/tus_put (a
             small client on libnghttp2, reading 1 MiB blocks) and by
             `curl --http2` (a general-purpose client, which spends about
             twice the CPU of either other client on the same bytes).

Both are client-perceived wall times from process start to exit; the SHA-256
that tus declares at creation is computed beforehand (a page computes it
before it uploads; the time `sha256sum` takes for the file is printed beside
the results, so the reader can add it). Every spooled copy's SHA-256 is
checked. The ratio printed is sekisho/1 time / tus time per round (1.0: as
fast; the issue's goal is at least 0.8), and its median.

Runs on 127.0.0.1 in a temporary directory that is removed at the end; the
spool lives on the temporary directory's file system (TMPDIR)."""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from broker_bench import REPO, free_port, setup, start_broker  # noqa: E402


def make_file(path, size_mib):
    chunk = os.urandom(1 << 20)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(size_mib):
            block = i.to_bytes(8, "little") + chunk[8:]
            f.write(block)
            h.update(block)
    return h.hexdigest()


def spooled_sha(work, tid):
    h = hashlib.sha256()
    with open(work / "spool" / tid, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def put_cli(build, work, src):
    cmd = [str(build / "client" / "sekisho"), "--config",
           str(work / "client.yaml"), "put", str(src), "--to", "IF-BENCH",
           "--class", "1", "--purpose", "bench", "--json"]
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"sekisho put failed: {out.stderr}")
    return dt, json.loads(out.stdout)["transfer"]


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def put_tus(work, port, src, sha):
    pki = work / "pki"
    base = ["curl", "-sS", "--http2", "--cacert", str(pki / "ca.crt"),
            "--cert", str(pki / "users" / "bench@B001.crt"), "--key",
            str(pki / "users" / "bench@B001.key"), "--resolve",
            f"localhost:{port}:127.0.0.1", "-H", "Tus-Resumable: 1.0.0",
            "-H", f"Origin: https://localhost:{port}", "-H",
            "X-Sekisho-Request: 1", "-D", "-", "-o", "/dev/null"]
    meta = ",".join(f"{k} {b64(v)}" for k, v in (
        ("interface", "IF-BENCH"), ("filename", src.name), ("class", "1"),
        ("purpose", "bench"), ("sha256", sha)))
    size = src.stat().st_size
    t0 = time.monotonic()
    out = subprocess.run(base + [
        "-X", "POST", "-H", f"Upload-Length: {size}", "-H",
        f"Upload-Metadata: {meta}",
        f"https://localhost:{port}/api/v1/uploads"],
        capture_output=True, text=True, check=True).stdout
    loc = [ln.split(":", 1)[1].strip() for ln in out.splitlines()
           if ln.lower().startswith("location:")]
    if not out.startswith("HTTP/2 201") or not loc:
        raise RuntimeError(f"tus creation failed: {out}")
    out = subprocess.run(base + [
        "-X", "PATCH", "-H", "Upload-Offset: 0", "-H",
        "Content-Type: application/offset+octet-stream", "-T", str(src),
        f"https://localhost:{port}{loc[0]}"],
        capture_output=True, text=True, check=True).stdout
    dt = time.monotonic() - t0
    if not out.startswith("HTTP/2 204"):
        raise RuntimeError(f"tus PATCH failed: {out}")
    return dt, loc[0].rsplit("/", 1)[1].split("-")[0]


def put_tus_small(build, work, port, src, sha):
    pki = work / "pki"
    cmd = [str(build / "bench" / "tus_put"), "--port", str(port), "--ca",
           str(pki / "ca.crt"), "--cert", str(pki / "users" / "bench@B001.crt"),
           "--key", str(pki / "users" / "bench@B001.key"), "--file", str(src),
           "--sha256", sha]
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"tus_put failed: {out.stderr}")
    return dt, out.stdout.split()[0].rsplit("/", 1)[1].split("-")[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    build = pathlib.Path(args.build)
    if shutil.which("curl") is None:
        sys.exit("curl is needed")
    work = pathlib.Path(tempfile.mkdtemp(prefix="sekisho-webbench-"))
    broker = None
    try:
        port = free_port()
        setup(work, port, 64)
        broker = start_broker(build, work, port)
        src = work / "big.bin"
        sha = make_file(src, args.size_mib)
        os.sync()
        t0 = time.monotonic()
        subprocess.run(["sha256sum", str(src)], check=True,
                       stdout=subprocess.DEVNULL)
        hash_time = time.monotonic() - t0
        size = args.size_mib << 20
        cli, tus, small, ratios, sratios = [], [], [], [], []
        for r in range(args.rounds):
            order = ("cli", "small", "tus") if r % 2 == 0 else \
                ("tus", "small", "cli")
            got = {}
            for which in order:
                if which == "cli":
                    dt, tid = put_cli(build, work, src)
                elif which == "small":
                    dt, tid = put_tus_small(build, work, port, src, sha)
                else:
                    dt, tid = put_tus(work, port, src, sha)
                if spooled_sha(work, tid) != sha:
                    raise RuntimeError(f"{which}: spooled copy differs")
                (work / "spool" / tid).unlink()
                got[which] = dt
            cli.append(got["cli"])
            tus.append(got["tus"])
            small.append(got["small"])
            ratios.append(got["cli"] / got["tus"])
            sratios.append(got["cli"] / got["small"])
            mbs = {k: size / v / 1e6 for k, v in got.items()}
            print(f"round {r + 1} ({order[0]} first): sekisho/1 "
                  f"{got['cli']:.2f} s ({mbs['cli']:.0f} MB/s)  tus_put "
                  f"{got['small']:.2f} s ({mbs['small']:.0f} MB/s)  curl "
                  f"{got['tus']:.2f} s ({mbs['tus']:.0f} MB/s)  ratios "
                  f"{sratios[-1]:.2f} / {ratios[-1]:.2f}", flush=True)
        print(f"size {size} bytes, {args.rounds} rounds")
        print(f"medians: sekisho/1 {statistics.median(cli):.2f} s, tus_put "
              f"{statistics.median(small):.2f} s, curl tus "
              f"{statistics.median(tus):.2f} s")
        print(f"ratio sekisho/1 time / tus_put time: median "
              f"{statistics.median(sratios):.2f} (min {min(sratios):.2f}, "
              f"max {max(sratios):.2f})")
        print(f"ratio sekisho/1 time / curl tus time: median "
              f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
              f"max {max(ratios):.2f})")
        print(f"sha256sum of the file (the page's hash before a tus "
              f"upload): {hash_time:.2f} s")
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
