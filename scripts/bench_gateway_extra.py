#!/usr/bin/env python3
"""The gateway's streaming, first-connection and memory targets (issue 3), called from scripts/bench.py.

Each figure is printed beside a baseline from the same run (a direct connection to the origin, and mitmdump)
where one makes sense:

  SSE          an origin (this file, `--origin`, an asyncio TLS server in its own process) streams events at a
               fixed cadence, each stamped with its CLOCK_MONOTONIC send time; the client stamps each arrival.
               Added delay = percentile(arrival - send) through the proxy minus the same percentile direct.
               "First event held" counts streams whose first event arrived after the second was sent.
  first conn   CONNECT -> TLS handshake complete through the proxy, for a host never seen (a leaf is minted)
               vs a host whose leaf is cached, interleaved; h<i>.bench.test mapped by gateway.upstream_override.
  memory       the gateway's VmRSS idle after start, with 1,000 idle SSE streams open through it, and sampled
               while a 1 GiB response (nginx) streams through it to a client reading at full speed (curl).

mitmdump buffers whole responses (SSE included) unless streaming is on, and by default connects upstream
before answering the client's TLS handshake, so its baseline here is a second instance with
`stream_large_bodies=1` and `connection_strategy=lazy`, which is the behaviour the gateway has.

The capture sink is bench.py's AckSink (acks every read). Nothing here is a pass/fail threshold.
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

SSE_STREAMS = int(os.environ.get("BENCH_SSE_STREAMS", "20"))
SSE_EVENTS = int(os.environ.get("BENCH_SSE_EVENTS", "50"))
SSE_INTERVAL_MS = float(os.environ.get("BENCH_SSE_INTERVAL_MS", "5"))
NEW_HOSTS = int(os.environ.get("BENCH_NEW_HOSTS", "500"))
IDLE_STREAMS = int(os.environ.get("BENCH_IDLE_STREAMS", "1000"))
BIG_BYTES = int(os.environ.get("BENCH_BIG_BYTES", str(1 << 30)))
HOST_SUFFIX = ".bench.test"


# ---------------------------------------------------------------------------------------------------------
# The origin: `python3 bench_gateway_extra.py --origin PORT CERT KEY`
#   GET /sse?n=N&ms=M   text/event-stream, chunked: N events M ms apart, the first right after the head
#   GET /idle           text/event-stream: one event, then nothing until the client goes
#   anything else       a small JSON body (keep-alive)

EVENT = ('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
         '"delta":{"type":"text_delta","text":"The quick brown fox jumps over the lazy dog. "},'
         '"seq":%d,"sent":%d}\n\n')


def _chunk(text: str) -> bytes:
    data = text.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _serve_origin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode()
            path = line.split(" ")[1]
            if path.startswith("/sse") or path.startswith("/idle"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                             b"transfer-encoding: chunked\r\n\r\n")
                if path.startswith("/idle"):
                    writer.write(_chunk(EVENT % (0, time.monotonic_ns())))
                    await reader.read()  # until the client closes
                    return
                q = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
                n, ms = int(q["n"]), float(q["ms"])
                start = time.monotonic()
                for i in range(n):
                    delay = start + i * ms / 1000 - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    writer.write(_chunk(EVENT % (i, time.monotonic_ns())))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            else:
                body = b'{"ok":true}'
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                             % (len(body), body))
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


def origin_main(port: int, cert: str, key: str) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def main() -> None:
        server = await asyncio.start_server(_serve_origin, "127.0.0.1", port, ssl=ctx, backlog=2048)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------------------
# Clients

_CLIENT_TLS = ssl.create_default_context()
_CLIENT_TLS.check_hostname = False
_CLIENT_TLS.verify_mode = ssl.CERT_NONE
_CLIENT_TLS.set_alpn_protocols(["http/1.1"])


def _recv_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed before {marker!r}: {data[:200]!r}")
        data += chunk
    return data


def open_tls(origin: tuple[str, int], proxy: int | None, sni: str | None, timed: bool = False):
    """A TLS socket to `origin`, through the proxy listening on `proxy` if given. With `timed`, also the
    seconds from sending CONNECT (or from TCP connected, direct) to the TLS handshake's completion."""
    raw = socket.create_connection(("127.0.0.1", proxy) if proxy else origin, timeout=30)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    if proxy:
        authority = f"{origin[0]}:{origin[1]}"
        raw.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        answer = _recv_until(raw, b"\r\n\r\n")
        if b" 200" not in answer.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"CONNECT refused: {answer[:200]!r}")
    tls = _CLIENT_TLS.wrap_socket(raw, server_hostname=sni)
    elapsed = time.perf_counter() - t0
    return (tls, elapsed) if timed else tls


_EVENT_RE = re.compile(rb'"seq":(\d+),"sent":(\d+)\}\n\n')


def sse_stream(origin: tuple[str, int], proxy: int | None) -> list[tuple[int, int, int]]:
    """(seq, sent ns, arrived ns) for each event of one stream."""
    sock = open_tls(origin, proxy, None)
    sock.sendall(f"GET /sse?n={SSE_EVENTS}&ms={SSE_INTERVAL_MS} HTTP/1.1\r\nHost: {origin[0]}:{origin[1]}\r\n"
                 f"Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode())
    out: list[tuple[int, int, int]] = []
    buf = b""
    while len(out) < SSE_EVENTS:
        chunk = sock.recv(65536)
        now = time.monotonic_ns()
        if not chunk:
            break
        buf += chunk
        pos = 0
        for m in _EVENT_RE.finditer(buf):
            out.append((int(m.group(1)), int(m.group(2)), now))
            pos = m.end()
        buf = buf[pos:]
    sock.close()
    return out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def measure_sse(origin: tuple[str, int], proxy: int | None) -> dict:
    sse_stream(origin, proxy)  # warm-up: leaf, upstream pool
    delays, first_held, events, first = [], 0, 0, []
    for _ in range(SSE_STREAMS):
        ev = sse_stream(origin, proxy)
        events += len(ev)
        delays += [(a - s) / 1e6 for _, s, a in ev]
        if ev:
            first.append((ev[0][2] - ev[0][1]) / 1e6)
        # Held: the first event reached the client only after the origin had sent the second.
        if len(ev) > 1 and ev[0][2] >= ev[1][1]:
            first_held += 1
    return {"p50": pct(delays, 50), "p99": pct(delays, 99), "max": max(delays), "first_p50": pct(first, 50),
            "first_max": max(first), "first_held": first_held, "events": events,
            "expected": SSE_STREAMS * SSE_EVENTS}


def in_client_process(*args: str) -> dict:
    """Runs a timing client in a process of its own: in this one, the AckSink's threads hold the GIL whenever
    frames arrive (5 ms switch interval), which would be counted as proxy delay."""
    import json
    out = subprocess.run([sys.executable, __file__, "--client", *args], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout)


def measure_first_connection(proxy: int, port: int, hosts: int) -> dict:
    """Interleaved: a never-seen host, then the warm host h0, each a fresh CONNECT + TLS handshake."""
    warm = f"h0{HOST_SUFFIX}"
    for _ in range(20):  # warm-up: h0's leaf, client-side caches
        open_tls((warm, port), proxy, warm).close()
    new, cached = [], []
    for i in range(1, hosts + 1):
        host = f"h{i}{HOST_SUFFIX}"
        sock, t = open_tls((host, port), proxy, host, timed=True)
        sock.close()
        new.append(t * 1000)
        sock, t = open_tls((warm, port), proxy, warm, timed=True)
        sock.close()
        cached.append(t * 1000)
    return {"new_p50": pct(new, 50), "new_p99": pct(new, 99), "cached_p50": pct(cached, 50),
            "cached_p99": pct(cached, 99)}


def check_relay(proxy: int, port: int, host: str) -> str:
    """One request through a minted host, so the override path is known to work (returns the status line)."""
    sock = open_tls((host, port), proxy, host)
    sock.sendall(f"GET /ok HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    line = _recv_until(sock, b"\r\n").split(b"\r\n", 1)[0].decode()
    sock.close()
    return line


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
            out[key] = int(value.split()[0])
    return out


def mb(kib: int) -> float:
    return kib / 1024


def open_idle_streams(origin: tuple[str, int], proxy: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = open_tls(origin, proxy, None)
        s.sendall(f"GET /idle HTTP/1.1\r\nHost: {origin[0]}:{origin[1]}\r\nAccept: text/event-stream\r\n\r\n".encode())
        _recv_until(s, b'"sent":')
        socks.append(s)
    return socks


def measure_idle_streams(origin: tuple[str, int], proxy: int, pid: int) -> dict:
    before = proc_status(pid)
    t0 = time.time()
    socks = open_idle_streams(origin, proxy, IDLE_STREAMS)
    opened = time.time() - t0
    time.sleep(1.0)
    during = proc_status(pid)
    for s in socks:
        s.close()
    time.sleep(1.0)
    after = proc_status(pid)
    return {"before": before, "during": during, "after": after, "open_s": opened}


def measure_big(url: str, proxy: int | None, pid: int | None) -> dict:
    args = ["curl", "-sk", "--http1.1", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{speed_download}"]
    if proxy:
        args += ["-x", f"http://127.0.0.1:{proxy}"]
    before = proc_status(pid) if pid else None
    samples: list[dict] = []
    p = subprocess.Popen(args + [url], stdout=subprocess.PIPE, text=True)
    while p.poll() is None:
        if pid:
            samples.append(proc_status(pid))
        time.sleep(0.05)
    code, size, speed = p.stdout.read().split()
    r = {"code": code, "size": int(size), "mb_s": float(speed) / 1e6}
    if pid:
        after = proc_status(pid)
        rss = [s["VmRSS"] for s in samples] or [after["VmRSS"]]
        r.update(before=before, after=after, rss_min=min(rss), rss_max=max(rss), rss_median=statistics.median(rss))
    return r


# ---------------------------------------------------------------------------------------------------------


def start_origin(h, tmp: Path, crt: Path, key: Path) -> tuple[subprocess.Popen, int]:
    port = h.free_port()
    p = subprocess.Popen([sys.executable, __file__, "--origin", str(port), str(crt), str(key)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h.wait_port(port)
    return p, port


def start_gateway(h, tmp: Path, ca: Path, name: str, overrides: list[str], env: dict | None = None):
    home = tmp / name
    (home / "run").mkdir(parents=True)
    sink = h.AckSink(str(home / "run" / "ingest.sock"))
    port = h.free_port()
    lines = [f'home: "{home}"', "gateway:", f'  listen: "127.0.0.1:{port}"', f'  upstream_ca: "{ca}"']
    if overrides:
        lines.append("  upstream_override:")
        lines += [f'    - "{o}"' for o in overrides]
    lines += ["capture:", "  on_failure: pass", "log:", "  level: warning", ""]
    cfg = tmp / f"{name}.yaml"
    cfg.write_text("\n".join(lines))
    g = subprocess.Popen([str(h.bindir / "gateway"), "--config", str(cfg)], stderr=subprocess.DEVNULL,
                         env={**os.environ, **(env or {})})
    h.wait_port(port)
    # The listener is up before the status file: give the capture connection a moment.
    time.sleep(0.5)
    return g, port, sink


def start_mitmdump(h, tmp: Path) -> tuple[subprocess.Popen, int]:
    port = h.free_port()
    m = subprocess.Popen([h.mitmdump, "--listen-host", "127.0.0.1", "--listen-port", str(port),
                          "--set", "ssl_insecure=true", "--set", "stream_large_bodies=1",
                          "--set", "connection_strategy=lazy", "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(tmp)})
    h.wait_port(port, 60)
    return m, port


def run(h) -> dict:
    """`h` carries bench.py's helpers and shared state: free_port, wait_port, AckSink, bindir, mitmdump,
    tmp, ca, crt, key, nginx_port, big_path (the nginx path of the big body)."""
    tmp, procs = h.tmp, []
    results: dict = {}
    try:
        origin_p, origin_port = start_origin(h, tmp, h.crt, h.key)
        procs.append(origin_p)
        sse_origin = ("127.0.0.1", origin_port)
        overrides = [f"h{i}{HOST_SUFFIX}=127.0.0.1:{origin_port}" for i in range(NEW_HOSTS + 1)]

        # A fresh gateway: its memory figures are not those of the throughput run before.
        g, gw, sink = start_gateway(h, tmp, h.ca, "gw-extra", overrides)
        procs.append(g)
        m, mp = start_mitmdump(h, tmp)
        procs.append(m)
        time.sleep(1.0)
        idle = proc_status(g.pid)
        mitm_idle = proc_status(m.pid)

        print(f"\nmemory (fresh gateway, {os.cpu_count()} cores, {idle['Threads']} threads)", flush=True)
        print(f"  idle after start          gateway RSS {mb(idle['VmRSS']):.1f} MB (anon {mb(idle['RssAnon']):.1f}, "
              f"file-backed code {mb(idle['RssFile']):.1f}), "
              f"mitmdump {mb(mitm_idle['VmRSS']):.1f} MB", flush=True)

        # 1,000 idle SSE streams
        gi = measure_idle_streams(sse_origin, gw, g.pid)
        mi = measure_idle_streams(sse_origin, mp, m.pid)
        per_stream = (gi["during"]["VmRSS"] - gi["before"]["VmRSS"]) / IDLE_STREAMS
        print(f"  {IDLE_STREAMS} idle SSE streams     gateway RSS {mb(gi['during']['VmRSS']):.1f} MB "
              f"(anon {mb(gi['during']['RssAnon']):.1f}; {per_stream:.1f} KB/stream, opened in {gi['open_s']:.1f} s; {mb(gi['after']['VmRSS']):.1f} MB "
              f"after closing), mitmdump {mb(mi['during']['VmRSS']):.1f} MB", flush=True)
        results["idle"], results["idle_streams"] = idle, gi

        # SSE per-event delay
        print(f"\nSSE: {SSE_STREAMS} streams x {SSE_EVENTS} events, {SSE_INTERVAL_MS:g} ms apart, one at a time; "
              "delay = arrival - origin send", flush=True)
        sse = {name: in_client_process("sse", str(origin_port), str(proxy or 0))
               for name, proxy in (("direct", None), ("gateway", gw), ("mitmdump", mp))}
        for name, r in sse.items():
            print(f"  {name:9} p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  max {r['max']:.3f} ms  "
                  f"first event p50 {r['first_p50']:.3f} max {r['first_max']:.3f} ms  held {r['first_held']}/{SSE_STREAMS}"
                  f"  events {r['events']}/{r['expected']}", flush=True)
        d = sse["direct"]
        for name in ("gateway", "mitmdump"):
            r = sse[name]
            print(f"  added by {name:9} p50 {r['p50'] - d['p50']:+.3f} ms  p99 {r['p99'] - d['p99']:+.3f} ms", flush=True)
        results["sse"] = sse

        # First connection to a new host
        print(f"\nfirst connection: CONNECT -> TLS handshake done, {NEW_HOSTS} new hosts interleaved with a cached one",
              flush=True)
        before_leaves = proc_status(g.pid)
        fg = in_client_process("first", str(gw), str(NEW_HOSTS))
        after_leaves = proc_status(g.pid)
        relay = check_relay(gw, 443, f"h1{HOST_SUFFIX}")
        fm = in_client_process("first", str(mp), str(NEW_HOSTS))
        for name, r in (("gateway", fg), ("mitmdump", fm)):
            print(f"  {name:9} new host p50 {r['new_p50']:.3f} ms  p99 {r['new_p99']:.3f} ms;  cached p50 "
                  f"{r['cached_p50']:.3f} ms  p99 {r['cached_p99']:.3f} ms;  added by minting p50 "
                  f"{r['new_p50'] - r['cached_p50']:+.3f} ms  p99 {r['new_p99'] - r['cached_p99']:+.3f} ms", flush=True)
        print(f"  gateway RSS {mb(before_leaves['VmRSS']):.1f} -> {mb(after_leaves['VmRSS']):.1f} MB for {NEW_HOSTS} "
              f"leaves ({(after_leaves['VmRSS'] - before_leaves['VmRSS']) / NEW_HOSTS:.1f} KB/leaf); "
              f"a request via h1{HOST_SUFFIX}: {relay}", flush=True)
        results["first"] = {"gateway": fg, "mitmdump": fm}

        # 1 GiB response (last: it leaves mitmdump busy collecting garbage)
        print("\nlarge response", flush=True)
        big_url = f"https://127.0.0.1:{h.nginx_port}{h.big_path}"
        bd = measure_big(big_url, None, None)
        bg = measure_big(big_url, gw, g.pid)
        print(f"  {BIG_BYTES / 2**30:.0f} GiB response          gateway RSS before {mb(bg['before']['VmRSS']):.1f} MB, "
              f"during min/median/max {mb(bg['rss_min']):.1f}/{mb(bg['rss_median']):.1f}/{mb(bg['rss_max']):.1f} MB, "
              f"peak (VmHWM) {mb(bg['after']['VmHWM']):.1f} MB; status {bg['code']}, {bg['size']} B at "
              f"{bg['mb_s']:.0f} MB/s (direct {bd['mb_s']:.0f} MB/s)", flush=True)
        results["big"] = bg
        if os.environ.get("BENCH_BIG_MITM", "1") == "1":
            bm = measure_big(big_url, mp, m.pid)
            print(f"  {BIG_BYTES / 2**30:.0f} GiB via mitmdump      RSS during max {mb(bm['rss_max']):.1f} MB, "
                  f"{bm['mb_s']:.0f} MB/s (stream_large_bodies=1)", flush=True)
        st = proc_status(g.pid)
        print(f"  capture frames acked      {sink.frames} (gateway VmHWM so far {mb(st['VmHWM']):.1f} MB)", flush=True)

        return results
    finally:
        for p in reversed(procs):
            h.stop(p)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--origin":
        origin_main(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "--client":
        import json
        if sys.argv[2] == "sse":
            print(json.dumps(measure_sse(("127.0.0.1", int(sys.argv[3])), int(sys.argv[4]) or None)))
        else:
            print(json.dumps(measure_first_connection(int(sys.argv[3]), 443, int(sys.argv[4]))))
    else:
        sys.exit("usage: bench_gateway_extra.py --origin PORT CERT KEY (run `make bench` for the benchmark)")
