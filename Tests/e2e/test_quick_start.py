"""The README's quick start (`make demo`) ends with a captured session: run its script as the README does."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from gateway_harness import gateway_binary

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_start_ends_with_a_captured_session_shown_by_flightlog_sessions():
    env = {**os.environ, "FLIGHTLOG_BIN": str(gateway_binary().parent)}
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py")], capture_output=True, text=True, env=env,
                       timeout=180)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    listed = r.stdout.split("$ flightlog sessions", 1)[1].split("$ flightlog show", 1)[0]
    rows = [line for line in listed.splitlines() if line.startswith("s_")]
    assert len(rows) == 1, listed
    assert re.search(r"\bclaude-haiku-4-5\s+\S+\s+2\s", rows[0]), rows[0]  # two turns
    assert "bash(" in r.stdout, "the tool call is shown"
    assert "all good" in r.stdout, "verify passes"
    kept = re.search(r"state is kept in (\S+) ", r.stdout)
    if kept:
        shutil.rmtree(kept.group(1), ignore_errors=True)
