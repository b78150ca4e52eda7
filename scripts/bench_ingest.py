#!/usr/bin/env python3
"""make bench, ingestd part: bodies hashed, compressed and stored, against `zstd -1` and `openssl dgst -sha256`
on the same corpus in the same run (all three are run by `ingestd --benchmark-corpus DIR`).

The corpus is generated here, deterministically: agents' request bodies, i.e. Anthropic Messages JSON carrying
whole conversations (system prompt, user turns, tool calls and tool results with code-like text), 24 bodies of
about 4 MB. Nothing here is a pass/fail threshold.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODIES = int(os.environ.get("BENCH_INGEST_BODIES", "24"))
BODY_BYTES = int(os.environ.get("BENCH_INGEST_BODY_BYTES", str(4 * 1000 * 1000)))

WORDS = ("the a function return value error file path test build swift package import struct class let var if "
         "else for in while guard throw try await async actor self init deinit public private internal static "
         "request response token model session capture gateway ingest store object hash compress stream event "
         "message content tool result input output cache usage cost turn agent user assistant system prompt").split()


def text(rng: random.Random, words: int) -> str:
    out = []
    for i in range(words):
        w = rng.choice(WORDS)
        if rng.random() < 0.08:
            w = f"{w}{rng.randrange(10_000)}"
        if rng.random() < 0.05:
            w = f"{w}(\"{rng.choice(WORDS)}\")"
        out.append(w)
        if i % rng.randrange(8, 20) == 0:
            out.append("\n" if rng.random() < 0.5 else ".")
    return " ".join(out)


def body(rng: random.Random, size: int) -> bytes:
    messages: list[dict] = []
    n = 0
    while True:
        messages.append({"role": "user", "content": text(rng, rng.randrange(20, 200))})
        call = f"toolu_{rng.getrandbits(64):016x}"
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": text(rng, rng.randrange(10, 80))},
            {"type": "tool_use", "id": call, "name": rng.choice(["Bash", "Read", "Edit", "Grep"]),
             "input": {"command": text(rng, 8)}}]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call, "content": text(rng, rng.randrange(100, 1500))}]})
        n += 1
        if n % 8 == 0:
            raw = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8192, "stream": True,
                              "system": text(rng, 400), "messages": messages}).encode()
            if len(raw) >= size:
                return raw


def main() -> int:
    bindir = Path(os.environ.get("FLIGHTLOG_BIN", ROOT / ".build" / "release"))
    tmp = Path(tempfile.mkdtemp(prefix="flightlog-bench-ingest-"))
    try:
        corpus = tmp / "corpus"
        corpus.mkdir()
        rng = random.Random(20261130)
        total = 0
        for i in range(BODIES):
            raw = body(rng, BODY_BYTES)
            (corpus / f"body-{i:02}.json").write_bytes(raw)
            total += len(raw)
        print(f"\ningestd: {BODIES} request bodies, {total / 1e6:.0f} MB of Messages JSON (tool loops); "
              f"one core; files read into memory first")
        (tmp / "home").mkdir()
        out = subprocess.run([str(bindir / "ingestd"), "--home", str(tmp / "home"), "--benchmark-corpus", str(corpus)],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "TMPDIR": str(tmp)}).stdout
        print(out.rstrip())
        rates = {line.split("  ")[0].strip(): float(m.group(1)) for line in out.splitlines()
                 if (m := re.search(r"([\d.]+) MB/s", line))}
        store = next((v for k, v in rates.items() if k.startswith("ingestd store")), None)
        zstd = next((v for k, v in rates.items() if k.startswith("zstd -1")), None)
        sha = next((v for k, v in rates.items() if k.startswith("openssl")), None)
        ratio = subprocess.run(["sh", "-c", f"cat {corpus}/* | wc -c; cat {corpus}/* | zstd -1 -q -c | wc -c"],
                               capture_output=True, text=True).stdout.split()
        if store and zstd and sha:
            print(f"  store path                {store:.0f} MB/s = {store / zstd:.2f}x zstd -1 alone, "
                  f"{store / sha:.2f}x openssl sha256 alone (compression ratio {int(ratio[0]) / int(ratio[1]):.1f}:1)")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
