"""The whole recorder as a user runs it: `flightlog up` (operatord with gateway, ingestd and sessiond) in a
temporary home, real SDK clients through it, the database, status, restarts, verify, and the control socket."""
from __future__ import annotations

import json
import os
import pwd
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import anthropic
import pytest

from gateway_harness import gateway_binary
from recorder_harness import RecorderError, start_recorder


@pytest.fixture
def recorder(provider, test_ca):
    """`flightlog up` in a temporary home, the API hosts mapped to the fake provider."""
    try:
        r = start_recorder(gateway_binary().parent, provider_port=provider.port, upstream_ca=test_ca.ca_cert,
                           capture={"on_failure": "block"})
    except RecorderError as error:
        pytest.fail(str(error))
    yield r
    r.stop()


def sdk(recorder):
    http = anthropic.DefaultHttpxClient(proxy=f"http://127.0.0.1:{recorder.port}",
                                        verify=str(recorder.home / "ca" / "ca.pem"))
    return anthropic.Anthropic(api_key="sk-ant-e2e", http_client=http, max_retries=2)


def db(recorder, sql, *args, want=None, timeout=30):
    """Polls the database until the query's first column satisfies `want` (the pipeline is asynchronous)."""
    deadline = time.time() + timeout
    rows = []
    while time.time() < deadline:
        try:
            with sqlite3.connect(f"file:{recorder.home}/flightlog.db?mode=ro", uri=True, timeout=5) as c:
                rows = c.execute(sql, args).fetchall()
            if want is None or want(rows):
                return rows
        except sqlite3.Error:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{sql} -> {rows}")


TOOLS = [{"name": "bash", "description": "run a command", "input_schema": {"type": "object", "properties": {
    "command": {"type": "string"}}}}]


def tool_conversation(client, prompt: str) -> list:
    """A three-turn tool loop: ask, answer the tool call, get the final answer."""
    messages = [{"role": "user", "content": prompt}]
    replies = []
    for _ in range(3):
        reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=256, tools=TOOLS, messages=messages)
        replies.append(reply)
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]})
        uses = [b for b in reply.content if b.type == "tool_use"]
        if not uses:
            break
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": "a.txt"} for u in uses]})
    return replies


def test_a_tool_conversation_is_one_session_with_its_turns_tokens_and_tool_calls(recorder):
    with sdk(recorder) as client:
        replies = tool_conversation(client, "list the files please")
    turns = len(replies)
    rows = db(recorder, "SELECT session_id, input_tokens, output_tokens, cost_usd FROM turns WHERE is_model_turn = 1",
              want=lambda r: len(r) == turns)
    assert len({r[0] for r in rows}) == 1, rows
    assert sum(r[1] for r in rows) == sum(x.usage.input_tokens for x in replies)
    assert sum(r[2] for r in rows) == sum(x.usage.output_tokens for x in replies)
    calls = db(recorder, "SELECT name FROM tool_calls", want=lambda r: len(r) >= 1)
    assert calls
    listed = json.loads(recorder.flightlog("sessions", "--json").stdout)
    assert len(listed) == 1 and int(listed[0]["turn_count"]) == turns
    shown = recorder.flightlog("show", listed[0]["id"])
    assert shown.returncode == 0 and "messages" in shown.stdout


def test_four_interleaved_conversations_are_four_sessions(recorder):
    with sdk(recorder) as client:
        histories = {p: [{"role": "user", "content": p}] for p in ("task one", "task two", "task three", "task four")}
        for _ in range(2):
            for prompt, messages in histories.items():
                reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=messages)
                messages.append({"role": "assistant", "content": reply.content[0].text})
                messages.append({"role": "user", "content": f"continue {prompt}"})
    rows = db(recorder, "SELECT session_id FROM turns WHERE is_model_turn = 1", want=lambda r: len(r) == 8)
    assert len({r[0] for r in rows}) == 4


def curl_once(recorder, text: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", f"http://127.0.0.1:{recorder.port}", "--cacert",
                           str(recorder.home / "ca" / "ca.pem"), "-H", "x-api-key: k", "-H", "content-type: application/json",
                           "--data", json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8,
                                                 "messages": [{"role": "user", "content": text}]}),
                           "https://api.anthropic.com/v1/messages"], capture_output=True, timeout=30)


def test_each_child_killed_is_restarted_and_capture_resumes(recorder):
    for name in ("sessiond", "ingestd", "gateway"):
        before = recorder.pids()
        os.kill(before[name], signal.SIGKILL)
        deadline = time.time() + 30
        while time.time() < deadline:
            now = recorder.status()["components"]
            c = next(c for c in now if c["name"] == name)
            if c["state"] == "running" and c["pid"] not in (None, before[name]):
                break
            time.sleep(0.3)
        else:
            pytest.fail(f"{name} was not restarted")
        others = {k: v for k, v in recorder.pids().items() if k != name}
        assert others == {k: v for k, v in before.items() if k != name}
        deadline = time.time() + 20
        while curl_once(recorder, f"after {name}").returncode != 0 and time.time() < deadline:
            time.sleep(0.5)
    db(recorder, "SELECT count(*) FROM turns", want=lambda r: r[0][0] >= 3)
    # Nothing recorded twice.
    assert db(recorder, "SELECT count(*) - count(DISTINCT capture_id) FROM turns")[0][0] == 0


def test_restart_command_touches_only_that_daemon(recorder):
    before = recorder.pids()
    r = recorder.flightlog("restart", "ingestd")
    assert r.returncode == 0, r.stderr
    deadline = time.time() + 30
    while time.time() < deadline:
        after = recorder.pids()
        if after["ingestd"] not in (None, before["ingestd"]) and recorder.status()["components"][1]["state"] == "running":
            break
        time.sleep(0.3)
    assert after["ingestd"] != before["ingestd"]
    assert after["gateway"] == before["gateway"] and after["sessiond"] == before["sessiond"]


def test_the_control_socket_refuses_a_stranger(recorder):
    nobody = pwd.getpwnam("nobody")
    # Let nobody reach the socket at all, so the refusal shown is operatord's own (SO_PEERCRED).
    os.chmod(recorder.home, 0o755)
    os.chmod(recorder.home / "run", 0o755)
    os.chmod(recorder.home / "run" / "operator.sock", 0o777)
    script = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
              "s.sendall(b'{\"command\":\"status\"}\\n'); print(s.recv(4096).decode())")
    r = subprocess.run(["runuser", "-u", "nobody", "--", "python3", "-c", script, str(recorder.home / "run" / "operator.sock")],
                       capture_output=True, text=True, timeout=20)
    reply = json.loads(r.stdout)
    assert reply["ok"] is False and "permission denied" in reply["error"], reply
    assert f"uid {nobody.pw_uid}" in reply["error"]
    assert "control command refused" in (recorder.home / "up.log").read_text()


def test_verify_passes_then_names_a_flipped_object(recorder):
    assert curl_once(recorder, "verify me").returncode == 0
    db(recorder, "SELECT count(*) FROM turns", want=lambda r: r[0][0] >= 1)
    ok = recorder.flightlog("verify", "--all")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    victim = sorted((recorder.home / "objects" / "req").rglob("*"))[-1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    bad = recorder.flightlog("verify", "--all")
    assert bad.returncode == 1
    assert victim.name in bad.stdout


def test_metrics_and_health(recorder):
    import urllib.request
    sdk(recorder).messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    deadline, metrics = time.time() + 30, ""
    while time.time() < deadline:
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{recorder.metrics}/metrics", timeout=10).read().decode()
        count = re.search(r'flightlog_db_write_seconds_count\{component="sessiond"\} (\d+)', metrics)
        if count and int(count.group(1)) > 0:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("no database write latency histogram in:\n" + metrics)
    assert "# TYPE flightlog_db_write_seconds histogram" in metrics
    assert 'flightlog_component_up{component="gateway"} 1' in metrics
    health = urllib.request.urlopen(f"http://127.0.0.1:{recorder.metrics}/healthz", timeout=10)
    assert health.status == 200


def test_systemd_units_verify(tmp_path):
    bindir = gateway_binary().parent
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    for unit in deploy.glob("*.service"):
        (tmp_path / unit.name).write_text(unit.read_text().replace("/usr/local/bin/", f"{bindir}/"))
    (tmp_path / "flightlog.target").write_text((deploy / "flightlog.target").read_text())
    r = subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "flightlog" not in r.stderr, r.stderr


def _signal_masks(status_text: str) -> tuple[int, int]:
    fields = dict(line.split(":\t", 1) for line in status_text.splitlines() if ":\t" in line)
    return int(fields["SigBlk"], 16), int(fields["SigIgn"], 16)


def test_an_agent_and_the_daemons_start_with_signals_as_a_fresh_process_would(recorder):
    # `flightlog run` and `flightlog up` exec from an async command; the program they become must not inherit
    # that thread's blocked signals or NIO's ignored SIGPIPE (an agent would ignore Ctrl-C and never see its
    # tools exit).
    sigpipe = 1 << (signal.SIGPIPE - 1)
    r = subprocess.run([str(recorder.bindir / "flightlog"), "run", "--config", str(recorder.config), "--", "cat",
                        "/proc/self/status"], capture_output=True, text=True, env=recorder.env, timeout=60)
    assert r.returncode == 0, r.stderr
    blocked, ignored = _signal_masks(r.stdout)
    assert blocked == 0, f"the agent starts with signals blocked: {blocked:#x}"
    assert not ignored & sigpipe, "the agent starts with SIGPIPE ignored"
    for name, pid in recorder.pids().items():
        blocked, _ = _signal_masks(Path(f"/proc/{pid}/status").read_text())
        term = 1 << (signal.SIGTERM - 1)
        assert not blocked & term, f"{name} (pid {pid}) has SIGTERM blocked: {blocked:#x}"
