"""Issue 6: `reload` (control socket) and SIGHUP re-read the configuration without restarting anything.
`flightlog up` in a temporary home; change keys in the file; every daemon applies what it can live and
keeps its pid; a file with an unknown key is refused with the key named, and every daemon keeps running."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from gateway_harness import gateway_binary
from recorder_harness import RecorderError, start_recorder


@pytest.fixture
def recorder():
    try:
        r = start_recorder(gateway_binary().parent, prefix="fl-rl-")
    except RecorderError as error:
        pytest.fail(str(error))
    yield r.settings, r.config, r.process, r.flightlog, r.running
    r.stop()


def test_reload_applies_live_keys_and_refuses_a_bad_file_without_restarting_anything(recorder):
    settings, config, operatord, flightlog, running = recorder
    pids = running()

    settings |= {"log": {"level": "debug"}, "sessions": {"idle_timeout": "10m"}, "capture": {"on_failure": "pass"}}
    settings["gateway"]["max_header_bytes"] = "32KiB"
    config.write_text(json.dumps(settings))
    r = flightlog("reload", "--json")
    reply = json.loads(r.stdout)
    assert r.returncode == 0 and reply["ok"], r.stdout + r.stderr
    by_name = {x["component"]: x for x in reply["reload"]}
    assert by_name["operatord"]["applied"] == ["log.level"]
    assert by_name["sessiond"]["applied"] == ["log.level", "sessions.idle_timeout"]
    assert by_name["ingestd"]["applied"] == ["log.level"]
    assert by_name["gateway"]["applied"] == ["capture.on_failure", "log.level"]
    assert by_name["gateway"]["needs_restart"] == ["gateway.max_header_bytes"]
    assert {by_name[c]["pid"] for c in pids} == set(pids.values())
    assert running() == pids

    # SIGHUP to operatord is the same reload; SIGHUP to a daemon reloads that one. Nobody stops: each one
    # writes its reload report (run/<name>.reload.json) and is still the same process afterwards.
    since = time.time()
    os.kill(operatord.pid, signal.SIGHUP)
    for pid in pids.values():
        os.kill(pid, signal.SIGHUP)
    reports = Path(settings["home"]) / "run"
    deadline = time.time() + 30
    while time.time() < deadline:
        done = [json.loads(p.read_text()) for p in reports.glob("*.reload.json")]
        if len([r for r in done if r["at"] >= since and r["ok"]]) == 4:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"not every daemon reported the SIGHUP reload: {done}")
    assert running() == pids and operatord.poll() is None

    settings["sessions"]["idle_timout"] = "1m"
    config.write_text(json.dumps(settings))
    r = flightlog("reload")
    assert r.returncode == 1
    assert "sessions.idle_timout" in r.stderr
    for pid in pids.values():
        assert Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    assert operatord.poll() is None
    # (`flightlog status` itself refuses the bad file: put it right to ask operatord.)
    del settings["sessions"]["idle_timout"]
    config.write_text(json.dumps(settings))
    assert running() == pids
