"""What the store holds, checked against what real clients sent and received (issue 4).

sessiond, ingestd and the gateway run as plain child processes in a temporary home (no operatord, so nothing
restarts a daemon behind the test's back), with the project's fake provider upstream. Each client request
carries an `x-e2e-id` header, which the gateway keeps in the exchange's begin, so every capture metadata file
can be tied to the request that made it. The checks read the store the way an auditor would: the metadata
files in `captures/`, the objects under `objects/{req,resp}/<2 hex>/<sha256>` (decompressed with the zstd CLI),
and the `turns` table of `flightlog.db`.

    test_killing_ingestd_repeatedly_loses_and_doubles_nothing
        a steady stream of mixed exchanges (small and multi-MB bodies both ways, JSON and SSE) while ingestd is
        SIGKILLed five times and restarted; every request is answered correctly, and every exchange has its
        metadata file and its objects exactly once, hashing to the client's bytes, and one row in `turns`.
    test_real_clients_bytes_are_the_stored_objects
        curl, the anthropic SDK and the openai SDK (plain and streamed): each stored object is the bytes the
        client sent or received, and every exchange has a metadata file.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import os
import random
import shutil
import signal
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from fake_test_endpoints import deterministic_sha256
from gateway_harness import API_HOSTS, free_port, gateway_binary

ID_HEADER = "x-e2e-id"
#: Polls give up after this long; only a stuck pipeline gets near it.
DEADLINE = 60.0


# -- the three daemons ------------------------------------------------------------------------------------------------


class Daemons:
    """sessiond, ingestd and gateway in one temporary home, each a child process with its own log."""

    def __init__(self, provider_port: int, upstream_ca: Path, extra: dict[str, dict[str, Any]] | None = None) -> None:
        self.bindir = gateway_binary().parent
        # Short, under /tmp: the sockets in run/ must fit sockaddr_un.
        self.home = Path(tempfile.mkdtemp(prefix="fl-dur-", dir="/tmp"))
        self.port = free_port()
        config: dict[str, dict[str, Any] | str] = {
            "home": str(self.home),
            "gateway": {"listen": f"127.0.0.1:{self.port}", "upstream_ca": str(upstream_ca),
                        "upstream_override": [f"{h}=127.0.0.1:{provider_port}" for h in API_HOSTS]},
            "capture": {"on_failure": "block"},
        }
        for section, values in (extra or {}).items():
            config.setdefault(section, {}).update(values)  # type: ignore[union-attr]
        self.config = self.home / "config.yaml"
        self.config.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("FLIGHTLOG_") and "proxy" not in k.lower()}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: Counter[str] = Counter()

    @property
    def ca_path(self) -> Path:
        return self.home / "ca" / "ca.pem"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.home / "run" / f"{name}.status.json").read_text())
        except (OSError, ValueError):
            return None

    def log(self, name: str, lines: int = 60) -> str:
        try:
            text = (self.home / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log (tail)\n{self.log(name)}" for name in ("sessiond", "ingestd", "gateway"))

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """Starts `name` and returns once it reports itself ready (its status file names its pid)."""
        (self.home / "run" / f"{name}.status.json").unlink(missing_ok=True)  # a SIGKILLed daemon leaves it behind
        self.starts[name] += 1
        with open(self.home / f"{name}.log", "ab") as log:
            log.write(f"--- start #{self.starts[name]}\n".encode())
            log.flush()
            process = subprocess.Popen([str(self.bindir / name), "--config", str(self.config)], stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.processes[name] = process
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            if (self.status(name) or {}).get("pid") == process.pid:
                return process
            time.sleep(0.05)
        raise AssertionError(f"{name} not ready within {DEADLINE:g}s:\n{self.log(name)}")

    def start_all(self) -> Daemons:
        for name in ("sessiond", "ingestd", "gateway"):
            self.start(name)
        # The first exchange should not race the gateway's capture connection.
        wait_for(lambda: (self.status("gateway") or {}).get("counters", {}).get("ingest_connected") == 1,
                 "the gateway to connect to ingestd", self)
        return self

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def close(self) -> None:
        """SIGTERM to every daemon still running (all at once: each drains on its own), SIGKILL to any that
        does not exit in time; then the home goes, unless FLIGHTLOG_E2E_KEEP=1."""
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if os.environ.get("FLIGHTLOG_E2E_KEEP") != "1":
            shutil.rmtree(self.home, ignore_errors=True)

    # -- reading the store ------------------------------------------------------------------------------------------

    def metadata_files(self) -> list[Path]:
        directory = self.home / "captures"
        return sorted(p for p in directory.glob("*.json") if not p.name.startswith(".")) if directory.is_dir() else []

    def object_files(self) -> dict[tuple[str, str], Path]:
        """Every stored object by (kind, name); temporary files (`.tmp-…`) are not objects."""
        found: dict[tuple[str, str], Path] = {}
        for kind in ("req", "resp"):
            for path in (self.home / "objects" / kind).glob("??/*"):
                if path.is_file() and not path.name.startswith("."):
                    found[(kind, path.name)] = path
        return found

    def leftover_temporaries(self) -> list[Path]:
        return [p for p in (self.home / "objects").rglob(".*") if p.is_file()] + \
               [p for p in (self.home / "captures").glob(".*") if p.is_file()]

    def db(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(f"file:{self.home}/flightlog.db?mode=ro", uri=True, timeout=10)) as connection:
            return connection.execute(sql, args).fetchall()


def wait_for(condition, what: str, daemons: Daemons, timeout: float = DEADLINE, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (sqlite3.Error, OSError, ValueError, KeyError):
            pass
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{daemons.logs()}")


@pytest.fixture
def start_daemons(provider, test_ca):
    started: list[Daemons] = []

    def start(**extra: dict[str, Any]) -> Daemons:
        daemons = Daemons(provider.port, test_ca.ca_cert, extra)
        started.append(daemons)
        return daemons.start_all()

    try:
        yield start
    finally:
        for daemons in started:
            daemons.close()


# -- what the clients did, and what the store says ---------------------------------------------------------------------


@dataclass
class ClientExchange:
    """One request as the client made it: the body bytes it sent and the body bytes it received."""

    tag: str
    kind: str
    method: str
    url: str
    sent: bytes = b""
    received: bytes = b""
    status: int | None = None
    error: str | None = None
    check: Any = None  # (exchange) -> problem text or None: is the answer the right one?


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StoreReader:
    """Decompresses objects (a few at a time: one zstd process each) and checks their names."""

    def __init__(self, daemons: Daemons) -> None:
        self.daemons = daemons
        self.hashes: dict[Path, str] = {}

    @staticmethod
    def decompressed_sha256(path: Path, compression: str) -> str:
        if compression == "zstd":
            result = subprocess.run(["zstd", "-d", "-c", "-q", str(path)], capture_output=True, timeout=60)
            assert result.returncode == 0, f"zstd cannot decompress {path}: {result.stderr.decode()}"
            return sha(result.stdout)
        if compression == "gzip":
            return sha(gzip.decompress(path.read_bytes()))
        raise AssertionError(f"unknown compression {compression!r} for {path}")

    def load(self, references: list[dict[str, Any]]) -> None:
        """Decompresses every object the references name (once each) and keeps their hashes."""
        paths = {}
        for reference in references:
            path = self.path(reference)
            if path.is_file():
                paths[path] = reference["compression"]
        with ThreadPoolExecutor(max_workers=4) as pool:
            for path, digest in zip(paths, pool.map(lambda p: self.decompressed_sha256(p, paths[p]), paths)):
                self.hashes[path] = digest

    def path(self, reference: dict[str, Any]) -> Path:
        name = reference["sha256"]
        return self.daemons.home / "objects" / reference["kind"] / name[:2] / name

    def check_body(self, reference: dict[str, Any] | None, kind: str, client_bytes: bytes, label: str) -> list[str]:
        """The object a record names: present, named by the SHA-256 of its decompressed bytes, equal to the
        client's bytes. An absent body is right only for an empty one."""
        if reference is None:
            return [] if not client_bytes else [f"{label}: no {kind} object, but the client's body has "
                                                f"{len(client_bytes)} bytes"]
        problems = []
        name = reference["sha256"]
        path = self.path(reference)
        if reference["kind"] != kind:
            problems.append(f"{label}: {kind} body recorded as kind {reference['kind']}")
        if not path.is_file():
            return problems + [f"{label}: object {path} missing"]
        if path not in self.hashes:
            self.hashes[path] = self.decompressed_sha256(path, reference["compression"])
        stored = self.hashes[path]
        if stored != name:
            problems.append(f"{label}: object {path.name} decompresses to bytes with SHA-256 {stored}")
        if name != sha(client_bytes):
            problems.append(f"{label}: {kind} object {name} is not the client's {len(client_bytes)} bytes "
                            f"({sha(client_bytes)})")
        if reference["size"] != len(client_bytes) or reference["truncated"] or reference["full_sha256"] != name:
            problems.append(f"{label}: {kind} reference {reference} disagrees with the client's {len(client_bytes)} bytes")
        return problems


def tag_of(record: dict[str, Any]) -> str | None:
    return next((v for k, v in record["begin"]["headers"] if k.lower() == ID_HEADER), None)


def check_store(daemons: Daemons, exchanges: list[ClientExchange]) -> dict[str, dict[str, Any]]:
    """Every client exchange has exactly one metadata file, whose objects are the client's bytes, and nothing
    else is in the store. Returns the records by tag."""
    by_tag = {e.tag: e for e in exchanges}
    assert len(by_tag) == len(exchanges)
    files = daemons.metadata_files()
    records: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    capture_ids: Counter[str] = Counter()
    tags: Counter[str | None] = Counter()
    for path in files:
        record = json.loads(path.read_text())
        capture_id = record["capture_id"].lower()
        capture_ids[capture_id] += 1
        tag = tag_of(record)
        tags[tag] += 1
        if not path.name.endswith(f"_{capture_id}.json") or record["metadata_path"] != f"captures/{path.name}":
            problems.append(f"{path.name}: names capture {capture_id} / {record['metadata_path']}")
        if tag not in by_tag:
            problems.append(f"{path.name}: no client exchange has {ID_HEADER} {tag!r} ({record['begin']['path']})")
            continue
        records[tag] = record
    problems += [f"capture {c} has {n} metadata files" for c, n in capture_ids.items() if n > 1]
    problems += [f"exchange {t} has {n} metadata files" for t, n in tags.items() if n > 1]
    problems += [f"exchange {t} ({by_tag[t].kind} {by_tag[t].url}) has no metadata file"
                 for t in by_tag if t not in records]
    reader = StoreReader(daemons)
    reader.load([r[k] for r in records.values() for k in ("request_body", "response_body") if r.get(k)])
    referenced: set[tuple[str, str]] = set()
    for tag, record in records.items():
        exchange = by_tag[tag]
        label = f"exchange {tag} ({exchange.kind}, capture {record['capture_id']})"
        end = record["end"]
        if end["outcome"] != "complete" or end.get("status") != exchange.status:
            problems.append(f"{label}: outcome {end['outcome']} status {end.get('status')}, client got {exchange.status}")
        if end["redactions"]:
            problems.append(f"{label}: redactions {end['redactions']} on test bytes")
        if end["request_wire_sha256"] not in ("", sha(exchange.sent)) or \
                end["response_wire_sha256"] not in ("", sha(exchange.received)):
            problems.append(f"{label}: wire hashes in the record are not the client's bytes")
        problems += reader.check_body(record.get("request_body"), "req", exchange.sent, label)
        problems += reader.check_body(record.get("response_body"), "resp", exchange.received, label)
        for reference in (record.get("request_body"), record.get("response_body")):
            if reference:
                referenced.add((reference["kind"], reference["sha256"]))
    stray = sorted(set(daemons.object_files()) - referenced)
    problems += [f"object {kind}/{name} is referenced by no capture" for kind, name in stray]
    assert not problems, f"{len(problems)} problems in the store:\n" + "\n".join(problems[:40])
    return records


def check_database(daemons: Daemons, records: dict[str, dict[str, Any]]) -> None:
    """sessiond has each exchange once, with the objects the metadata file names."""
    rows = daemons.db("SELECT capture_id, request_sha256, response_sha256 FROM turns")
    counted = Counter(r[0].lower() for r in rows)
    doubled = {c: n for c, n in counted.items() if n > 1}
    assert not doubled, f"captures with more than one turn: {doubled}"
    expected = {r["capture_id"].lower(): r for r in records.values()}
    assert set(counted) == set(expected), (f"turns without a capture: {sorted(set(counted) - set(expected))[:10]}, "
                                           f"captures without a turn: {sorted(set(expected) - set(counted))[:10]}")
    for capture_id, request_sha, response_sha in rows:
        record = expected[capture_id.lower()]
        assert (request_sha or None) == ((record.get("request_body") or {}).get("sha256")), capture_id
        assert (response_sha or None) == ((record.get("response_body") or {}).get("sha256")), capture_id
    assert daemons.db("SELECT count(*) FROM dead_letters")[0][0] == 0, daemons.db("SELECT error FROM dead_letters")


def wait_until_drained(daemons: Daemons, count: int) -> None:
    """Everything the gateway emitted is acknowledged, ingestd owes sessiond nothing, and sessiond has a turn for
    each of the `count` exchanges (more would be a failure the checks name)."""
    def drained() -> bool:
        gateway = (daemons.status("gateway") or {}).get("counters", {})
        ingestd = (daemons.status("ingestd") or {}).get("counters", {})
        return (gateway.get("frames_emitted", -1) == gateway.get("frames_acknowledged", -2)
                and gateway.get("buffered_bytes", 1) == 0 and gateway.get("spool_bytes", 1) == 0
                and ingestd.get("delivery_pending", 1) == 0
                and len(daemons.metadata_files()) >= count
                and daemons.db("SELECT count(*) FROM turns")[0][0] >= count)

    wait_for(drained, f"{count} exchanges to be acknowledged, stored and in the database", daemons)


# -- the kill test ----------------------------------------------------------------------------------------------------


ANTHROPIC = "https://api.anthropic.com"
OPENAI = "https://api.openai.com"
KB, MB = 1024, 1024 * 1024


def plan_exchange(rng: random.Random, tag: str) -> tuple[ClientExchange, dict[str, str]]:
    """One request of the mix: mostly small, some SSE, about one in twenty moving a few MB one way or both."""
    roll = rng.random()
    json_headers = {"content-type": "application/json"}
    prompt = f"request {tag}: " + rng.randbytes(rng.randint(8, 2000)).hex()
    if roll < 0.30:
        body = rng.randbytes(rng.randint(0, 64 * KB)).hex().encode()
        exchange = ClientExchange(tag, "echo", "POST", f"{ANTHROPIC}/test/echo", sent=body)
        exchange.check = lambda e: None if e.received == e.sent else "echo differs"
        return exchange, {"content-type": "text/plain"}
    if roll < 0.50:
        stream = roll >= 0.40
        body = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 64, "stream": stream,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        exchange = ClientExchange(tag, "anthropic-sse" if stream else "anthropic", "POST", f"{ANTHROPIC}/v1/messages",
                                  sent=body)
        marker = b"event: message_stop" if stream else b'"stop_reason"'
        exchange.check = lambda e: None if marker in e.received else "not a complete message"
        return exchange, {**json_headers, "x-api-key": "sk-ant-e2e", "anthropic-version": "2023-06-01"}
    if roll < 0.70:
        stream = roll >= 0.58
        body = json.dumps({"model": "gpt-4o", "stream": stream,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        exchange = ClientExchange(tag, "openai-sse" if stream else "openai", "POST",
                                  f"{OPENAI}/v1/chat/completions", sent=body)
        marker = b"data: [DONE]" if stream else b'"finish_reason"'
        exchange.check = lambda e: None if marker in e.received else "not a complete completion"
        return exchange, {**json_headers, "authorization": "Bearer sk-e2e"}
    if roll < 0.78:
        chunks, size = rng.randint(1, 40), rng.randint(1, 16 * KB)
        seed = rng.randint(1, 1 << 30)
        exchange = ClientExchange(tag, "chunked", "GET", f"{ANTHROPIC}/test/chunked?chunks={chunks}&size={size}&seed={seed}")
        exchange.check = lambda e: None if sha(e.received) == deterministic_sha256(chunks * size, seed, size) else "wrong bytes"
        return exchange, {}
    if roll < 0.955:
        body = rng.randbytes(rng.randint(1, 48 * KB))
        exchange = ClientExchange(tag, "sink", "POST", f"{ANTHROPIC}/test/sink?tag=s{tag}", sent=body)
        exchange.check = lambda e: None if json.loads(e.received) == {"bytes": len(e.sent), "sha256": sha(e.sent)} \
            else "sink saw other bytes"
        return exchange, {"content-type": "application/octet-stream"}
    # The large ones: a download, an upload, or both ways.
    size = rng.randint(1 * MB, 3 * MB)
    if roll < 0.97:
        seed = rng.randint(1, 1 << 30)
        exchange = ClientExchange(tag, "large-down", "GET", f"{ANTHROPIC}/test/large?bytes={size}&seed={seed}&tag=l{tag}")
        exchange.check = lambda e: None if sha(e.received) == deterministic_sha256(size, seed) else "wrong bytes"
        return exchange, {}
    if roll < 0.985:
        exchange = ClientExchange(tag, "large-up", "PUT", f"{ANTHROPIC}/test/sink?tag=u{tag}", sent=rng.randbytes(size))
        exchange.check = lambda e: None if json.loads(e.received) == {"bytes": len(e.sent), "sha256": sha(e.sent)} \
            else "sink saw other bytes"
        return exchange, {"content-type": "application/octet-stream"}
    exchange = ClientExchange(tag, "large-echo", "POST", f"{ANTHROPIC}/test/echo", sent=rng.randbytes(size // 2))
    exchange.check = lambda e: None if e.received == e.sent else "echo differs"
    return exchange, {"content-type": "application/octet-stream"}


class Budget:
    """How many exchanges the clients may start in all: the test raises it round by round, so the clients run
    steadily through each kill and outage but do not pile up exchanges while the test waits for a reconnect."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._allowed = 0
        self._issued = 0
        self._stopped = False

    def allow(self, total: int) -> None:
        with self._condition:
            self._allowed = max(self._allowed, total)
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def take(self) -> bool:
        """Waits for a permit; False once stopped."""
        with self._condition:
            self._condition.wait_for(lambda: self._stopped or self._issued < self._allowed)
            if self._stopped:
                return False
            self._issued += 1
            return True


@dataclass
class ClientRun:
    """A client thread's requests, made one after another on one keep-alive connection, as the budget allows."""

    daemons: Daemons
    name: str
    seed: int
    budget: Budget
    done: list[ClientExchange] = field(default_factory=list)
    crashed: str | None = None

    def run(self) -> None:
        rng = random.Random(self.seed)
        context = ssl.create_default_context(cafile=str(self.daemons.ca_path))
        try:
            with httpx.Client(proxy=self.daemons.proxy_url, verify=context, timeout=120, trust_env=False) as client:
                while self.budget.take():
                    exchange, headers = plan_exchange(rng, f"{self.name}-{len(self.done)}")
                    headers[ID_HEADER] = exchange.tag
                    try:
                        with client.stream(exchange.method, exchange.url, headers=headers,
                                           content=exchange.sent if exchange.method != "GET" else None) as response:
                            exchange.status = response.status_code
                            exchange.received = b"".join(response.iter_raw())
                        if exchange.status != 200:
                            exchange.error = f"status {exchange.status}: {exchange.received[:300]!r}"
                        else:
                            exchange.error = exchange.check(exchange)
                    except httpx.HTTPError as error:
                        exchange.error = f"{type(error).__name__}: {error}"
                    self.done.append(exchange)
        except BaseException as error:  # reported by the test, not lost in the thread
            self.crashed = f"{type(error).__name__}: {error}"


#: How often ingestd is killed, and how many exchanges the clients make in all.
KILLS = 5
EXCHANGES = 300


def test_killing_ingestd_repeatedly_loses_and_doubles_nothing(start_daemons):
    daemons = start_daemons(
        # Small segments, so segments roll and are deleted (and the delivery log compacted) between the kills.
        ingest={"segment_bytes": 4 * MB},
        # Bounds far above what an outage here can buffer: no request may be refused (503).
        capture={"memory_buffer_bytes": 256 * MB, "spool_max_bytes": 1024 * MB},
    )
    gateway_pid = daemons.processes["gateway"].pid
    budget = Budget()
    clients = [ClientRun(daemons, "a", seed=4101, budget=budget), ClientRun(daemons, "b", seed=4102, budget=budget)]
    threads = [threading.Thread(target=c.run, name=f"client-{c.name}", daemon=True) for c in clients]
    for thread in threads:
        thread.start()

    def completed() -> int:
        return sum(len(c.done) for c in clients)

    def ingestd_serving_the_gateway() -> bool:
        status = daemons.status("ingestd") or {}
        return status.get("pid") == daemons.processes["ingestd"].pid and \
            status["counters"]["gateways_connected"] >= 1

    # Each round: the gateway is connected to a live ingestd; after a random number (2 to 30) of further
    # exchanges, SIGKILL (mid-batch, mid-body, mid-delivery: wherever it lands, with exchanges in flight);
    # ingestd stays down until the gateway has served a few more exchanges without it (0 to 6), then starts
    # again and replays its WAL. The budget keeps a few exchanges beyond that in hand, so the clients are busy
    # at the kill, at the restart and while the gateway resends.
    rng = random.Random(77)
    served_while_down = 0
    try:
        for _ in range(KILLS):
            wait_for(ingestd_serving_the_gateway, "the gateway to reconnect to ingestd", daemons)
            base, gap, outage = completed(), rng.randint(2, 30), rng.randint(0, 6)
            budget.allow(base + gap + 8)
            wait_for(lambda: completed() >= base + gap, f"{gap} more exchanges", daemons, poll=0.005)
            daemons.kill("ingestd")
            at_kill = completed()
            budget.allow(at_kill + outage + 8)
            wait_for(lambda: completed() >= at_kill + outage, "the gateway to serve while ingestd is down", daemons)
            served_while_down += completed() - at_kill
            daemons.start("ingestd")
        wait_for(ingestd_serving_the_gateway, "the gateway to reconnect to ingestd", daemons)
        budget.allow(EXCHANGES)
        wait_for(lambda: completed() >= EXCHANGES, f"{EXCHANGES} exchanges", daemons)
    finally:
        budget.stop()
        for thread in threads:
            thread.join(DEADLINE)
    assert not any(t.is_alive() for t in threads), "the clients did not finish"
    assert daemons.starts["ingestd"] == KILLS + 1

    exchanges = [e for c in clients for e in c.done]
    crashes = [f"{c.name}: {c.crashed}" for c in clients if c.crashed]
    assert not crashes, crashes
    failed = [f"{e.tag} {e.kind} {e.url}: {e.error}" for e in exchanges if e.error]
    assert not failed, f"{len(failed)} of {len(exchanges)} requests failed:\n" + "\n".join(failed[:20]) + daemons.logs()
    assert served_while_down > 0 and len(exchanges) == EXCHANGES
    assert daemons.processes["gateway"].poll() is None and daemons.processes["gateway"].pid == gateway_pid

    wait_until_drained(daemons, len(exchanges))
    gateway = daemons.status("gateway")["counters"]
    assert gateway["frames_dropped"] == 0 and gateway["exchanges_lost"] == 0 and gateway["spool_failures"] == 0, gateway
    records = check_store(daemons, exchanges)
    assert len(records) == len(exchanges)
    check_database(daemons, records)
    # A SIGKILLed ingestd leaves half-written temporaries (objects/*/.tmp-<uuid>, captures/.<name>.tmp); the
    # next start sweeps them, so once the last run has drained none is left.
    leftovers = daemons.leftover_temporaries()
    assert not leftovers, f"temporary files left in the store: {[p.name for p in leftovers[:5]]}"
    assert sum(1 for e in exchanges if len(e.sent) + len(e.received) > MB) >= 5, "the mix lacked large bodies"
    assert sum(1 for e in exchanges if e.kind.endswith("-sse")) >= 20, "the mix lacked SSE streams"


# -- real clients -----------------------------------------------------------------------------------------------------


#: The httpx the SDKs are built on: recent anthropic and openai releases use the `httpx2` fork and refuse
#: `httpx` objects, older ones use `httpx`. Both SDKs use the same one.
sdk_httpx = importlib.import_module(next(
    c.__module__.partition(".")[0] for c in anthropic.DefaultHttpxClient.__mro__[1:] if c.__name__ == "Client"))


class RecordingTransport(sdk_httpx.BaseTransport):
    """An SDK's transport that tags each request and keeps the body bytes it sent and received (the raw
    response body, before any decoding by the client)."""

    def __init__(self, daemons: Daemons, prefix: str, log: list[ClientExchange]) -> None:
        self.inner = sdk_httpx.HTTPTransport(proxy=daemons.proxy_url,
                                             verify=ssl.create_default_context(cafile=str(daemons.ca_path)))
        self.prefix = prefix
        self.log = log

    def handle_request(self, request: Any) -> Any:
        exchange = ClientExchange(f"{self.prefix}-{len(self.log)}", self.prefix, request.method, str(request.url),
                                  sent=request.read())
        request.headers[ID_HEADER] = exchange.tag
        self.log.append(exchange)
        response = self.inner.handle_request(request)
        exchange.status = response.status_code
        response.stream = _Tee(response.stream, exchange)
        return response

    def close(self) -> None:
        self.inner.close()


class _Tee(sdk_httpx.SyncByteStream):
    def __init__(self, stream: Any, exchange: ClientExchange) -> None:
        self.stream = stream
        self.exchange = exchange

    def __iter__(self):
        for chunk in self.stream:
            self.exchange.received += chunk
            yield chunk

    def close(self) -> None:
        self.stream.close()


def curl_exchange(daemons: Daemons, tag: str, url: str, body: bytes, *headers: str) -> ClientExchange:
    request = daemons.home / f"curl-{tag}.in"
    request.write_bytes(body)
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "60", "--proxy", daemons.proxy_url, "--cacert", str(daemons.ca_path),
         "-H", f"{ID_HEADER}: {tag}", *[a for h in headers for a in ("-H", h)], "--data-binary", f"@{request}",
         "-w", "%{stderr}%{http_code}", url], capture_output=True, timeout=90)
    assert result.returncode == 0, result.stderr
    return ClientExchange(tag, "curl", "POST", url, sent=body, received=result.stdout, status=int(result.stderr[-3:]))


def test_real_clients_bytes_are_the_stored_objects(start_daemons):
    daemons = start_daemons()
    exchanges: list[ClientExchange] = []
    messages = [{"role": "user", "content": "hello from the durability suite"}]

    anthropic_log: list[ClientExchange] = []
    with anthropic.Anthropic(api_key="sk-ant-e2e", max_retries=0, http_client=anthropic.DefaultHttpxClient(
            transport=RecordingTransport(daemons, "anthropic", anthropic_log), trust_env=False)) as client:
        reply = client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=messages)
        assert reply.content
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=messages) as stream:
            assert "".join(stream.text_stream)
        client.messages.count_tokens(model="claude-haiku-4-5", messages=messages)
    exchanges += anthropic_log

    openai_log: list[ClientExchange] = []
    with openai.OpenAI(api_key="sk-e2e", base_url=f"{OPENAI}/v1", max_retries=0, http_client=openai.DefaultHttpxClient(
            transport=RecordingTransport(daemons, "openai", openai_log), trust_env=False)) as client:
        chat = client.chat.completions.create(model="gpt-4o", messages=messages)
        assert chat.choices[0].message.content
        assert list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
        assert client.responses.create(model="gpt-5", input="hello").output
        assert list(client.responses.create(model="gpt-5", input="stream it", stream=True))[-1].type == "response.completed"
    exchanges += openai_log

    plain = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 32, "messages": messages}).encode()
    streamed = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 32, "stream": True, "messages": messages}).encode()
    big = random.Random(5).randbytes(3 * MB)
    gemini = json.dumps({"contents": [{"role": "user", "parts": [{"text": "2+2"}]}]}).encode()
    exchanges += [
        curl_exchange(daemons, "curl-0", f"{ANTHROPIC}/v1/messages", plain, "x-api-key: sk-ant-e2e",
                      "content-type: application/json"),
        curl_exchange(daemons, "curl-1", f"{ANTHROPIC}/v1/messages", streamed, "x-api-key: sk-ant-e2e",
                      "content-type: application/json"),
        curl_exchange(daemons, "curl-2", f"{ANTHROPIC}/test/echo", big, "content-type: application/octet-stream"),
        curl_exchange(daemons, "curl-3", "https://generativelanguage.googleapis.com/v1beta/models/"
                      "gemini-2.5-flash:streamGenerateContent?alt=sse", gemini, "x-goog-api-key: g-e2e",
                      "content-type: application/json"),
    ]
    assert all(e.status == 200 for e in exchanges), [(e.tag, e.status) for e in exchanges]
    assert len(anthropic_log) == 3 and len(openai_log) == 4
    assert exchanges[-2].received == big
    assert b"event: message_stop" in exchanges[-3].received

    wait_until_drained(daemons, len(exchanges))
    records = check_store(daemons, exchanges)
    assert len(records) == len(exchanges) == len(daemons.metadata_files())
    check_database(daemons, records)
