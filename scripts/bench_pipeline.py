#!/usr/bin/env python3
"""make bench, second part: sessiond (issue 5), measured in the same run against its baselines.

1. Write throughput: `sessiond --benchmark N` against a throwaway PostgreSQL 15 cluster
   (scripts/pg-test-cluster.sh) and against a SQLite file. It builds N turns from capture records (Anthropic
   requests of ~10 KB, zstd objects) and prints turns/s for: `parse` (the processor without a database),
   `copy` (the very same turn and tool-call rows through one raw COPY, PostgreSQL only), `store` (those rows
   through the store in batches, as the daemon writes them) and `pipeline` (the records through the whole
   processor: decode, read bodies, parse, sessions, price, anomalies, write). Printed as ratios against COPY;
   the SQLite run has no COPY of its own, so its ratios are against the PostgreSQL run's COPY.
2. Visibility latency: the whole recorder (`flightlog up`, embedded SQLite) in a temporary home, the project's
   fake provider behind it (gateway.upstream_override/upstream_ca), clients sending Anthropic /v1/messages
   requests (half streamed) through the proxy. For each request: the time from the client having read the
   last byte of the response until its turn (turns.response_id = the message id the client got) is visible
   to a separate SQLite reader, which polls every ~1 ms in a process of its own. Reported as p50/p90/p99/max,
   at paced offered loads (BENCH_LATENCY_RATES, requests/s) and closed loop (one client, then several), and
   split at the capture metadata file ingestd writes (gateway+ingestd before it, delivery+sessiond after).

Nothing here is a pass/fail threshold. Environment: FLIGHTLOG_BIN (release binaries), BENCH_SESSIOND_TURNS
(20000), BENCH_LATENCY_RATES (20,100,300), BENCH_LATENCY_C1 (300 requests per phase), BENCH_LATENCY_REQUESTS (1000), BENCH_LATENCY_CLIENTS (4),
BENCH_PIPELINE_PG=0 skips PostgreSQL, BENCH_LATENCY=0 / BENCH_WRITE=0 skip a part.
"""
from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from certs import make_test_ca  # noqa: E402  (the e2e suite's throwaway CA)

TURNS = int(os.environ.get("BENCH_SESSIOND_TURNS", "20000"))
C1_REQUESTS = int(os.environ.get("BENCH_LATENCY_C1", "300"))
LOAD_REQUESTS = int(os.environ.get("BENCH_LATENCY_REQUESTS", "1000"))
CLIENTS = int(os.environ.get("BENCH_LATENCY_CLIENTS", "4"))
#: Offered loads (requests/s over CLIENTS connections) for the paced phases; the closed-loop phases follow.
PACED = [float(r) for r in os.environ.get("BENCH_LATENCY_RATES", "20,100,300").split(",") if r]
API_HOSTS = ("api.anthropic.com", "api.openai.com", "generativelanguage.googleapis.com")
MESSAGE_ID = re.compile(rb'"id"\s*:\s*"(msg_[A-Za-z0-9_]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# -- 1. sessiond --benchmark ---------------------------------------------------------------------------------------

def run_sessiond_benchmark(bindir: Path, url: str, home: Path) -> dict[str, float]:
    out = subprocess.run([str(bindir / "sessiond"), "--home", str(home), "--set", f"database.url={url}",
                          "--set", "log.level=error", "--benchmark", str(TURNS)],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"sessiond --benchmark failed: {out.stderr[-2000:]}")
    rates: dict[str, float] = {}
    for line in out.stdout.splitlines():
        m = re.match(r"^(\w+)\s+(\d+) turns/s", line)
        if m:
            rates[m.group(1)] = float(m.group(2))
    print("  " + "\n  ".join(l for l in out.stdout.splitlines() if not l.startswith(("store/", "sessiond benchmark"))),
          flush=True)
    return rates


def write_throughput(bindir: Path, tmp: Path) -> None:
    print(f"\nsessiond write throughput: {TURNS} turns from capture records, batches of 500 "
          f"(sessiond --benchmark {TURNS})", flush=True)
    pg: dict[str, float] = {}
    if os.environ.get("BENCH_PIPELINE_PG", "1") == "1":
        cluster = tmp / "pg"
        started = subprocess.run([str(ROOT / "scripts" / "pg-test-cluster.sh"), "start", str(cluster)],
                                 capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            print(f"  PostgreSQL skipped: {started.stderr.strip()[-300:]}")
        else:
            url = started.stdout.strip().splitlines()[-1]
            try:
                print(f"PostgreSQL ({url}):")
                pg = run_sessiond_benchmark(bindir, url, tmp / "home-pg")
            finally:
                subprocess.run([str(ROOT / "scripts" / "pg-test-cluster.sh"), "stop", str(cluster)], timeout=120)
    print("SQLite:")
    lite = run_sessiond_benchmark(bindir, f"sqlite://{tmp}/bench.db", tmp / "home-sqlite")
    copy = pg.get("copy")
    print("\nratios against the raw COPY of the same rows (PostgreSQL, same run):")
    if not copy:
        print("  no COPY baseline (PostgreSQL not available)")
        return
    for name, rates in (("PostgreSQL", pg), ("SQLite", lite)):
        for path in ("store", "pipeline"):
            if path in rates:
                print(f"  {name:10} {path:8} {rates[path]:8.0f} turns/s = {rates[path] / copy:5.0%} of COPY "
                      f"({copy:.0f} rows/s)")
    print(f"  parse only (no database) {pg.get('parse', 0):8.0f} turns/s on PostgreSQL's run, "
          f"{lite.get('parse', 0):.0f} on SQLite's", flush=True)


# -- 2. visibility latency -------------------------------------------------------------------------------------------

def poll_turns(db: str, captures: str, stop, results) -> None:  # a process of its own: no GIL shared with clients
    """Records when each turn (by response id) becomes visible, and when each capture metadata file (ingestd's
    last step before delivery) appears, so the latency splits into gateway+ingestd and delivery+sessiond."""
    seen: dict[str, float] = {}
    capture_of: dict[str, str] = {}
    files: dict[str, float] = {}
    last = 0
    conn = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1, isolation_level=None)
            rows = conn.execute("SELECT id, response_id, capture_id FROM turns WHERE id > ? ORDER BY id",
                                (last,)).fetchall()
            now = time.monotonic()
            for rowid, response_id, capture_id in rows:
                last = max(last, rowid)
                if response_id and response_id not in seen:
                    seen[response_id] = now
                    capture_of[response_id] = capture_id
        except sqlite3.Error:
            conn = None
        try:
            with os.scandir(captures) as entries:
                now = time.monotonic()
                for entry in entries:
                    if entry.name.endswith(".json"):
                        files.setdefault(entry.name[-41:-5], now)
        except OSError:
            pass
        time.sleep(0.001)
    results.send((seen, {r: files[c] for r, c in capture_of.items() if c in files}))


class Recorder:
    def __init__(self, bindir: Path, tmp: Path) -> None:
        self.bindir = bindir
        self.home = Path(tempfile.mkdtemp(prefix="fl-bp-", dir="/tmp"))  # short: unix socket paths
        ca = make_test_ca(tmp / "test-ca")
        port_file = tmp / "provider.port"
        self.provider = subprocess.Popen(
            [sys.executable, str(ROOT / "Tests" / "e2e" / "fake_provider.py"), "--cert", str(ca.leaf_cert), "--key",
             str(ca.leaf_key), "--port-file", str(port_file)], stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 30
        while not port_file.exists():
            if time.time() > deadline:
                raise RuntimeError("the fake provider did not start")
            time.sleep(0.05)
        provider_port = int(port_file.read_text())
        self.port = free_port()
        config = self.home / "config.yaml"
        config.write_text(json.dumps({
            "home": str(self.home),
            "gateway": {"listen": f"127.0.0.1:{self.port}", "upstream_ca": str(ca.ca_cert),
                        "upstream_override": [f"{h}=127.0.0.1:{provider_port}" for h in API_HOSTS]},
            "operator": {"metrics_listen": f"127.0.0.1:{free_port()}"},
            "log": {"level": "warning"},
        }))
        self.config = config
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_") and "proxy" not in k.lower()}
        self.env = env
        self.log = (self.home / "up.log").open("wb")
        self.proc = subprocess.Popen([str(bindir / "flightlog"), "up", "--config", str(config)], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            status = subprocess.run([str(bindir / "flightlog"), "status", "--json", "--config", str(config)],
                                    capture_output=True, text=True, env=env, timeout=30)
            try:
                if all(c["state"] == "running" for c in json.loads(status.stdout)["components"]):
                    break
            except (ValueError, KeyError):
                pass
            time.sleep(0.3)
        else:
            self.close()
            raise RuntimeError("recorder did not come up: " + (self.home / "up.log").read_text()[-2000:])
        self.db = str(self.home / "flightlog.db")
        self.ssl = ssl.create_default_context(cafile=str(self.home / "ca" / "ca.pem"))

    def close(self) -> None:
        for proc in (self.proc, self.provider):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(self.home, ignore_errors=True)


def client(recorder: Recorder, prefix: str, count: int, done: dict[str, float], errors: list[str],
           interval: float) -> None:
    conn = None
    next_at = time.monotonic()
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"step {i}: " + "lorem ipsum " * 30}
               for i in range(8)]
    for i in range(count):
        if interval:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": i % 2 == 1,
                           "messages": history + [{"role": "user", "content": f"bench {prefix}-{i}: list the files"}]})
        try:
            if conn is None:
                conn = http.client.HTTPSConnection("127.0.0.1", recorder.port, context=recorder.ssl, timeout=30)
                conn.set_tunnel("api.anthropic.com", 443)
            conn.request("POST", "/v1/messages", body=body, headers={
                "content-type": "application/json", "x-api-key": "sk-ant-bench", "anthropic-version": "2023-06-01",
                "user-agent": "flightlog-bench/1"})
            response = conn.getresponse()
            data = response.read()
            finished = time.monotonic()
            m = MESSAGE_ID.search(data)
            if response.status != 200 or not m:
                errors.append(f"status {response.status}: {data[:200]!r}")
                continue
            done[m.group(1).decode()] = finished
        except (OSError, http.client.HTTPException) as error:
            errors.append(repr(error))
            conn = None


def latency_phase(recorder: Recorder, name: str, requests: int, clients: int, rate: float = 0) -> None:
    """`requests` over `clients` connections, closed loop, or paced at `rate` requests/s in all."""
    stop = mp.Event()
    receive, send = mp.Pipe(duplex=False)
    poller = mp.Process(target=poll_turns, args=(recorder.db, str(recorder.home / "captures"), stop, send), daemon=True)
    poller.start()
    time.sleep(0.3)
    done: dict[str, float] = {}
    errors: list[str] = []
    per = requests // clients
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(recorder, f"{name}-{c}-{time.time_ns()}", per, done, errors,
                                                        clients / rate if rate else 0))
               for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    # Wait for the stragglers to land (or 60 s), so that no backlog spills into the next phase; then stop the reader.
    deadline = time.time() + 60
    while time.time() < deadline:
        with sqlite3.connect(f"file:{recorder.db}?mode=ro", uri=True, timeout=5) as c:
            ids = {r[0] for r in c.execute("SELECT response_id FROM turns WHERE response_id IS NOT NULL")}
        if set(done) <= ids:
            break
        time.sleep(0.05)
    time.sleep(0.05)
    stop.set()
    seen, filed = receive.recv()
    poller.join(10)
    lat = [max(0.0, seen[k] - t) * 1000 for k, t in done.items() if k in seen]
    early = sum(1 for k, t in done.items() if k in seen and seen[k] < t)
    missing = [k for k in done if k not in seen]
    if not lat:
        print(f"  {name}: no turn seen ({len(errors)} client errors: {errors[:3]})")
        return
    print(f"  {name:24} {len(done):5d} requests {len(done) / elapsed:7.0f} req/s   visible after last byte: "
          f"p50 {percentile(lat, 50):6.1f} ms  p90 {percentile(lat, 90):6.1f} ms  p99 {percentile(lat, 99):6.1f} ms  "
          f"max {max(lat):6.1f} ms" + (f"  ({early} before the client finished)" if early else "")
          + (f"  MISSING {len(missing)}" if missing else "") + (f"  client errors {len(errors)}: {errors[:2]}" if errors else ""),
          flush=True)
    # Where the time goes: until ingestd wrote the capture's metadata file, then until the turn is visible.
    to_file = [max(0.0, filed[k] - t) * 1000 for k, t in done.items() if k in filed]
    to_row = [max(0.0, seen[k] - filed[k]) * 1000 for k in done if k in filed and k in seen]
    if to_file and to_row:
        print(f"  {'':24} {'':33} of which last byte -> capture file: p50 {percentile(to_file, 50):6.1f} ms  "
              f"p99 {percentile(to_file, 99):6.1f} ms;  capture file -> row: p50 {percentile(to_row, 50):6.1f} ms  "
              f"p99 {percentile(to_row, 99):6.1f} ms", flush=True)


def visibility_latency(bindir: Path, tmp: Path) -> None:
    print("\nturn visible in the database after the client's last byte (flightlog up, SQLite, fake provider, "
          "Anthropic /v1/messages, half streamed; a separate reader polls every ~1 ms):", flush=True)
    recorder = Recorder(bindir, tmp)
    try:
        latency_phase(recorder, "warm-up", 50, 1, rate=50)
        for rate in PACED:
            latency_phase(recorder, f"paced {rate:g} req/s", max(C1_REQUESTS, int(rate * 5)), CLIENTS, rate=rate)
        latency_phase(recorder, "1 client, closed loop", C1_REQUESTS, 1)
        latency_phase(recorder, f"{CLIENTS} clients, closed loop", LOAD_REQUESTS, CLIENTS)
    finally:
        recorder.close()


def main() -> int:
    bindir = Path(os.environ.get("FLIGHTLOG_BIN", ROOT / ".build" / "release"))
    for name in ("flightlog", "sessiond", "gateway", "ingestd", "operatord"):
        if not (bindir / name).exists():
            print(f"bench_pipeline: {bindir / name} is missing (swift build -c release)", file=sys.stderr)
            return 1
    tmp = Path(tempfile.mkdtemp(prefix="fl-bench-pipeline-"))
    try:
        if os.environ.get("BENCH_WRITE", "1") == "1":
            write_throughput(bindir, tmp)
        if os.environ.get("BENCH_LATENCY", "1") == "1":
            visibility_latency(bindir, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
