#!/usr/bin/env python3
"""make bench: the gateway measured against baselines taken in the same run.

Origin: nginx on loopback with TLS, answering a 2 KB JSON body. Load: `hey` (it does not verify TLS, so
the three paths are comparable). Paths:
  direct    hey -> nginx
  gateway   hey -> flightlog gateway (CONNECT, TLS interception, capture frames to a sink that acks) -> nginx
  mitmdump  hey -> mitmproxy's mitmdump -> nginx
Figures: requests/s, latency p50/p99, CPU time per request of the proxy process, peak RSS; printed as
ratios against the baselines. Then scripts/bench_gateway_extra.py: SSE per-event delay, first connection to a
new host (leaf minting), RSS idle / with 1,000 idle SSE streams / during a 1 GiB response. Nothing here is a
pass/fail threshold.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import struct
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from frame_sink import HEADER, KIND_ACK, LENGTH, encode_frame  # noqa: E402  (the project's frame format)

ACK_SEQ = struct.Struct("!Q")
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "4000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
# Added latency is measured unloaded (one request at a time): under saturation it is only queueing.
LATENCY_REQUESTS = int(os.environ.get("BENCH_LATENCY_REQUESTS", "2000"))
# The streaming, first-connection and memory figures (scripts/bench_gateway_extra.py); BENCH_EXTRA=0 skips them.
EXTRA = os.environ.get("BENCH_EXTRA", "1") == "1"
BIG_BYTES = int(os.environ.get("BENCH_BIG_BYTES", str(1 << 30)))
BODY = ('{"id":"msg_bench","type":"message","role":"assistant","model":"claude-bench","content":[{"type":"text","text":"'
        + "x" * 1850 + '"}],"usage":{"input_tokens":10,"output_tokens":400}}')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, secs: float = 30) -> None:
    end = time.time() + secs
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def certs(tmp: Path) -> tuple[Path, Path, Path]:
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    ca_key, ca, key, csr, crt = (tmp / n for n in ("ca.key", "ca.pem", "o.key", "o.csr", "o.pem"))
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
        "-out", ca, "-days", "2", "-subj", "/CN=bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.bench.test\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", crt, "-days", "2",
        "-extfile", tmp / "ext.cnf")
    return ca, crt, key


def start_nginx(tmp: Path, crt: Path, key: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    (tmp / "body.json").write_text(BODY)
    with open(tmp / "big.bin", "wb") as f:  # sparse: served from the page cache, no disk I/O
        f.truncate(BIG_BYTES)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;
events {{ worker_connections 4096; }}
http {{
  access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp}; keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port} ssl; ssl_certificate {crt}; ssl_certificate_key {key};
    location = /big {{ default_type application/octet-stream; root {tmp}; try_files /big.bin =404; }}
    location / {{ default_type application/json; root {tmp}; try_files /body.json =404; }}
  }}
}}""")
    p = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


class AckSink:
    """Plays ingestd for the gateway as cheaply as possible: walks frame lengths and acknowledges the highest
    sequence once per read, keeping nothing. (The test suite's FrameSink decodes and keeps every frame, and
    in Python that would compete with the gateway for these two cores.)"""

    def __init__(self, path: str) -> None:
        self.path = path
        self.frames = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(8)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        pending = bytearray()
        while True:
            try:
                data = conn.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            pending += data
            offset, highest = 0, 0
            while len(pending) - offset >= LENGTH.size + HEADER.size:
                (length,) = LENGTH.unpack_from(pending, offset)
                if len(pending) - offset < LENGTH.size + length:
                    break
                _, kind, seq, _, _ = HEADER.unpack_from(pending, offset + LENGTH.size)
                if kind != 1:  # the hello carries no sequence to acknowledge
                    highest = max(highest, seq)
                    self.frames += 1
                offset += LENGTH.size + length
            del pending[:offset]
            if highest:
                # The acknowledged sequence goes in the payload (u64); the header's sequence of an ack is 0.
                conn.sendall(encode_frame(KIND_ACK, 0, None, ACK_SEQ.pack(highest)))


def stop(p: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hey(url: str, proxy: str | None, requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> dict:
    args = ["hey", "-n", str(requests), "-c", str(concurrency), "-disable-compression"]
    if proxy:
        args += ["-x", proxy]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1000
    p99 = float(re.search(r"99%+ in ([\d.]+) secs", out).group(1)) * 1000
    codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", out)
    return {"rps": rps, "p50": p50, "p99": p99, "codes": dict(codes)}


def measure(name: str, url: str, proxy: str | None, pid: int | None) -> dict:
    hey(url, proxy)  # warm-up: connections, leaves, pools
    before = cpu_seconds(pid) if pid else 0.0
    r = hey(url, proxy)
    if pid:
        r["cpu_ms_per_req"] = (cpu_seconds(pid) - before) * 1000 / REQUESTS
    quiet = hey(url, proxy, LATENCY_REQUESTS, 1)
    r["p50_1"], r["p99_1"] = quiet["p50"], quiet["p99"]
    if pid:
        r["rss_mb"] = peak_rss_mb(pid)
    print(f"{name:9} {r['rps']:9.0f} req/s (c={CONCURRENCY})  p50 {r['p50_1']:5.2f} ms  p99 {r['p99_1']:5.2f} ms (c=1)"
          + (f"  cpu {r['cpu_ms_per_req']:.3f} ms/req  peak RSS {r['rss_mb']:.1f} MB" if pid else "")
          + f"  status {r['codes']}", flush=True)
    return r


def main() -> int:
    bindir = Path(os.environ.get("FLIGHTLOG_BIN", ROOT / ".build" / "release"))
    tmp = Path(tempfile.mkdtemp(prefix="flightlog-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        ca, crt, key = certs(tmp)
        nginx, origin = start_nginx(tmp, crt, key)
        procs.append(nginx)
        url = f"https://127.0.0.1:{origin}/v1/messages"

        home = tmp / "home"
        (home / "run").mkdir(parents=True)
        sink = AckSink(str(home / "run" / "ingest.sock"))
        gw = free_port()
        (tmp / "gw.yaml").write_text(f'home: "{home}"\ngateway:\n  listen: "127.0.0.1:{gw}"\n  upstream_ca: "{ca}"\n'
                                     f'capture:\n  on_failure: pass\nlog:\n  level: warning\n')
        g = subprocess.Popen([str(bindir / "gateway"), "--config", str(tmp / "gw.yaml")], stderr=subprocess.DEVNULL)
        procs.append(g)
        wait_port(gw)

        mp = free_port()
        m = subprocess.Popen([os.environ.get("MITMDUMP", str(ROOT / ".venv-bench" / "bin" / "mitmdump")), "--listen-host", "127.0.0.1", "--listen-port",
                              str(mp), "--set", "ssl_insecure=true", "--quiet"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(tmp)})
        procs.append(m)
        wait_port(mp, 60)

        print(f"2 KB JSON response, {REQUESTS} requests, {CONCURRENCY} concurrent (hey), nginx TLS origin")
        direct = measure("direct", url, None, None)
        gateway = measure("gateway", url, f"http://127.0.0.1:{gw}", g.pid)
        mitm = measure("mitmdump", url, f"http://127.0.0.1:{mp}", m.pid)

        print("\nratios (same run):")
        print(f"  gateway throughput        {gateway['rps'] / direct['rps']:.2f}x direct, "
              f"{gateway['rps'] / mitm['rps']:.1f}x mitmdump")
        print(f"  added latency p50 (c=1)   {gateway['p50_1'] - direct['p50_1']:+.2f} ms "
              f"(mitmdump {mitm['p50_1'] - direct['p50_1']:+.2f} ms)")
        print(f"  added latency p99 (c=1)   {gateway['p99_1'] - direct['p99_1']:+.2f} ms "
              f"(mitmdump {mitm['p99_1'] - direct['p99_1']:+.2f} ms)")
        print(f"  latency p50 under load    gateway {gateway['p50']:.2f} ms, direct {direct['p50']:.2f} ms, "
              f"mitmdump {mitm['p50']:.2f} ms (c={CONCURRENCY})")
        print(f"  CPU per request           {mitm['cpu_ms_per_req'] / gateway['cpu_ms_per_req']:.1f}x less than mitmdump "
              f"({gateway['cpu_ms_per_req']:.3f} vs {mitm['cpu_ms_per_req']:.3f} ms)")
        print(f"  peak RSS                  gateway {gateway['rss_mb']:.1f} MB, mitmdump {mitm['rss_mb']:.1f} MB")
        print(f"  frames captured           {sink.frames}", flush=True)

        if EXTRA:
            import types
            import bench_gateway_extra
            for p in (g, m):  # the extra figures use fresh proxies of their own
                p.send_signal(signal.SIGTERM)
                p.wait(10)
            bench_gateway_extra.run(types.SimpleNamespace(
                free_port=free_port, wait_port=wait_port, AckSink=AckSink, stop=stop, bindir=bindir,
                mitmdump=os.environ.get("MITMDUMP", str(ROOT / ".venv-bench" / "bin" / "mitmdump")),
                tmp=tmp, ca=ca, crt=crt, key=key, nginx_port=origin, big_path="/big"))
        return 0
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
