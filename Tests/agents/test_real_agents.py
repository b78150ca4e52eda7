"""Real agents through `flightlog run`: the real Claude Code CLI (bundled in the `claude-agent-sdk` wheel) and
the real Codex CLI (`openai-codex-cli-bin`), each run non-interactively with a fake key, against the scripted
fake provider (one shell tool call, then a final answer). Claude Code runs `claude -p`; Codex runs `codex exec`
twice over: over its default transport (the Responses API on a WebSocket, permessage-deflate, with a
prewarm and `previous_response_id` chaining) and over plain HTTPS with SSE. Each variant runs twice with
the same prompt. Each run must complete its task, and the recorder must show one session per agent run
with its model turns, its tool call and the tool's result. The tests at the end of the file pin defects of
Flightlog this suite found (each test's docstring names it).

    make agents        # installs the CLIs in .build/agents-venv, builds, runs this file

The agents reach the provider only through the gateway: their API hosts do not resolve here, and
`flightlog run` sets HTTPS_PROXY; the gateway maps those hosts to the fake provider
(`gateway.upstream_override`) and trusts its test CA (`gateway.upstream_ca`). Claude Code trusts the
Flightlog CA through NODE_EXTRA_CA_CERTS, Codex through CODEX_CA_CERTIFICATE / SSL_CERT_FILE, all set by
`flightlog run`. FLIGHTLOG_AGENTS_KEEP=1 keeps the recorder's home and the provider's request log.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import scripted_provider as scripted
from certs import make_test_ca
from gateway_harness import gateway_binary
from recorder_harness import Recorder as BaseRecorder
from recorder_harness import RecorderError, start_recorder

#: The same prompt for every run: two runs of one agent must still be two sessions.
PROMPT = "Run the Flightlog probe command in the shell, then tell me what it printed."
RUNS_PER_AGENT = 2
AGENT_TIMEOUT = 240


def claude_binary() -> Path:
    import claude_agent_sdk

    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if not path.is_file():
        pytest.fail(f"claude-agent-sdk has no bundled CLI at {path}: has the wheel's layout changed?")
    return path


def codex_binary() -> Path:
    import codex_cli_bin

    return codex_cli_bin.bundled_codex_path()


# -- the recorder and the provider ------------------------------------------------------------------------------------


class Recorder(BaseRecorder):
    """The recorder, with the scripted provider behind it and the agent runs made through it."""

    provider: Any
    request_log: Path
    runs: list[AgentRun]

    def provider_requests(self) -> list[dict[str, Any]]:
        if not self.request_log.exists():
            return []
        return [json.loads(line) for line in self.request_log.read_text().splitlines() if line.strip()]


@dataclass
class AgentRun:
    variant: str  # claude-code, codex-websocket (Codex's default transport) or codex-http (SSE)
    agent: str  # the `sessions.agent` value sessiond should give it
    argv: list[str]
    result: subprocess.CompletedProcess[str]
    client_session_id: str | None = None
    seconds: float = 0.0
    #: Codex only: whether its JSON event stream reported the shell command as completed (with its output).
    command_completed: bool = False


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory):
    bindir = gateway_binary().parent
    ca = make_test_ca(tmp_path_factory.mktemp("agents-ca"))
    request_log = Path(tempfile.mkdtemp(prefix="fl-agents-log-", dir="/tmp")) / "provider-requests.jsonl"
    _, provider = scripted.start_in_thread(ca.leaf_cert, ca.leaf_key, log=request_log)
    try:
        r = start_recorder(bindir, provider_port=provider.port, upstream_ca=ca.ca_cert, prefix="fl-agents-",
                           recorder_class=Recorder, capture={"on_failure": "block"})
    except RecorderError as error:
        provider.stop()
        pytest.fail(str(error))
    r.provider, r.request_log, r.runs = provider, request_log, []
    try:
        yield r
    finally:
        keep = os.environ.get("FLIGHTLOG_AGENTS_KEEP") == "1"
        r.stop(remove=not keep)
        provider.stop()
        if keep:
            print(f"\nkept recorder home {r.home} (provider requests: {request_log})")
        else:
            shutil.rmtree(request_log.parent, ignore_errors=True)
    assert not provider.errors, "scripted provider handler errors:\n" + "\n".join(provider.errors)


def agent_env(recorder: Recorder, name: str) -> tuple[dict[str, str], Path]:
    """A clean environment for one agent run: its own HOME (no user config, no login, no cache), a fake
    key, telemetry and auto-update off. The proxy and CA variables are left to `flightlog run`."""
    root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=recorder.home))
    home, work = root / "home", root / "work"
    home.mkdir()
    work.mkdir()
    env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb", "USER": os.environ.get("USER", "root"),
        "TMPDIR": str(root),
    }
    return env, work


def run_agent(recorder: Recorder, variant: str, agent: str, argv: list[str], env: dict[str, str],
              cwd: Path) -> AgentRun:
    command = [str(recorder.bindir / "flightlog"), "run", "--config", str(recorder.config), "--", *argv]
    started = time.monotonic()
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=AGENT_TIMEOUT,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{variant} did not finish within {AGENT_TIMEOUT}s:\nstdout: {error.stdout}\nstderr: {error.stderr}")
    run = AgentRun(variant, agent, argv, result, seconds=time.monotonic() - started)
    recorder.runs.append(run)
    return run


def explain(run: AgentRun) -> str:
    return (f"{run.variant} exited {run.result.returncode} after {run.seconds:.1f}s\n"
            f"stdout:\n{run.result.stdout[-4000:]}\nstderr:\n{run.result.stderr[-4000:]}")


def header(request: dict[str, Any], name: str) -> str | None:
    return next((v for k, v in request["headers"] if k.lower() == name.lower()), None)


# -- the runs -------------------------------------------------------------------------------------------------------


def run_claude(recorder: Recorder) -> AgentRun:
    env, work = agent_env(recorder, "claude")
    env.update({
        "ANTHROPIC_API_KEY": "sk-ant-fake-flightlog-agents",
        "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1", "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    })
    # -p: one non-interactive task. --allowedTools Bash: the shell runs without a prompt (the root check
    # forbids --dangerously-skip-permissions here). JSON output carries the session id it used.
    argv = [str(claude_binary()), "-p", PROMPT, "--allowedTools", "Bash", "--output-format", "json"]
    run = run_agent(recorder, "claude-code", "claude-code", argv, env, work)
    assert run.result.returncode == 0, explain(run)
    try:
        answer = json.loads(run.result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        pytest.fail("claude printed no JSON result:\n" + explain(run))
    run.client_session_id = answer.get("session_id")
    assert answer.get("is_error") is False and answer.get("subtype") == "success", explain(run)
    assert answer.get("result", "").startswith(scripted.FINAL_TEXT_PREFIX), explain(run)
    assert scripted.SHELL_OUTPUT in answer["result"], "the Bash tool did not really run:\n" + explain(run)
    assert answer.get("num_turns") == 2, explain(run)
    return run


#: Codex over plain HTTPS (SSE) instead of its default WebSocket: the built-in provider's settings with
#: WebSockets off.
CODEX_HTTP_PROVIDER = """
model_provider = "openai-http"

[model_providers.openai-http]
name = "OpenAI (HTTP)"
base_url = "https://api.openai.com/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
supports_websockets = false
"""


def run_codex(recorder: Recorder, transport: str = "websocket") -> AgentRun:
    env, work = agent_env(recorder, "codex")
    codex_home = Path(env["HOME"]) / ".codex"
    codex_home.mkdir()
    # No telemetry (OTel metrics to ab.chatgpt.com) and no plugin catalogue (chatgpt.com, api.github.com).
    config = "[analytics]\nenabled = false\n\n[features]\nplugins = false\n"
    if transport == "http":
        config = CODEX_HTTP_PROVIDER.lstrip() + "\n" + config
    (codex_home / "config.toml").write_text(config)
    env.update({
        "CODEX_HOME": str(codex_home),
        # `codex exec` takes its API key from CODEX_API_KEY (OPENAI_API_KEY alone needs `codex login`);
        # the HTTP provider above reads OPENAI_API_KEY (env_key).
        "CODEX_API_KEY": "sk-fake-flightlog-agents", "OPENAI_API_KEY": "sk-fake-flightlog-agents",
    })
    # --sandbox danger-full-access: no bubblewrap sandbox inside the test container; approvals are `never`
    # in exec mode. --json: the JSONL event stream, which names the thread (session) id.
    argv = [str(codex_binary()), "exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", "--json",
            PROMPT]
    run = run_agent(recorder, f"codex-{transport}", "codex", argv, env, work)
    assert run.result.returncode == 0, explain(run)
    events = []
    for line in run.result.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    run.client_session_id = next((e.get("thread_id") for e in events if e.get("type") == "thread.started"), None)
    items = [e.get("item") or {} for e in events if e.get("type") == "item.completed"]
    messages = [i.get("text", "") for i in items if i.get("type") == "agent_message"]
    commands = [i for i in items if i.get("type") == "command_execution"]
    assert messages and messages[-1].startswith(scripted.FINAL_TEXT_PREFIX), explain(run)
    assert scripted.SHELL_OUTPUT in messages[-1], "the shell did not really run:\n" + explain(run)
    assert any(i.get("type") == "command_execution" for e in events for i in [e.get("item") or {}]), explain(run)
    run.command_completed = bool(commands) and scripted.SHELL_OUTPUT in commands[0].get("aggregated_output", "")
    return run


VARIANTS = ("claude-code", "codex-websocket", "codex-http")


@pytest.fixture(scope="module")
def agent_runs(recorder: Recorder) -> list[AgentRun]:
    """Every agent run of this module, in order: Claude Code, Codex over WebSocket, Codex over HTTP, each
    RUNS_PER_AGENT times with the same prompt."""
    if not recorder.runs:
        for _ in range(RUNS_PER_AGENT):
            run_claude(recorder)
        for transport in ("websocket", "http"):
            for _ in range(RUNS_PER_AGENT):
                run_codex(recorder, transport)
    return list(recorder.runs)


def model_requests(recorder: Recorder, run: AgentRun) -> list[dict[str, Any]]:
    """The provider's record of this run's model requests (not side requests, not Codex's prewarm)."""
    found = []
    for request in recorder.provider_requests():
        if run.agent == "claude-code":
            if request["target"].startswith("/v1/messages") and not request["target"].startswith(
                    "/v1/messages/count_tokens") and header(request, "X-Claude-Code-Session-Id") == run.client_session_id:
                found.append(request)
        elif request["note"].startswith("ws ") or request["target"].startswith("/v1/responses"):
            if not request["body"] or header(request, "session-id") != run.client_session_id:
                continue
            if json.loads(request["body"]).get("generate") is False:
                continue
            found.append(request)
    return found


def query(recorder: Recorder, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{recorder.home}/flightlog.db?mode=ro", uri=True, timeout=5) as db:
        return db.execute(sql, args).fetchall()


def recorded_sessions(recorder: Recorder, want: int, timeout: float = 60) -> list[dict[str, Any]]:
    """`flightlog sessions --json`, once the pipeline (asynchronous) has delivered every model turn."""
    expected = sum(len(model_requests(recorder, run)) for run in recorder.runs)
    want = max(want, len(recorder.runs))
    deadline = time.time() + timeout
    sessions: list[dict[str, Any]] = []
    while time.time() < deadline:
        sessions = recorder.json("sessions")
        if len(sessions) >= want and sum(int(s["turn_count"]) for s in sessions) >= expected:
            return sessions
        time.sleep(0.5)
    return sessions


# -- the tests ------------------------------------------------------------------------------------------------------


def runs_of(agent_runs: list[AgentRun], variant: str) -> list[AgentRun]:
    runs = [r for r in agent_runs if r.variant == variant]
    assert len(runs) == RUNS_PER_AGENT, [r.variant for r in agent_runs]
    return runs


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_agent_completes_a_shell_tool_loop_through_flightlog_run(recorder, agent_runs, variant):
    """Each run exited 0 with the final answer quoting the shell's output (checked as it ran), and the
    provider saw exactly the two scripted model requests, under the real API host: the hosts do not resolve
    here, so they came through the gateway."""
    host = "api.anthropic.com" if variant == "claude-code" else "api.openai.com"
    for run in runs_of(agent_runs, variant):
        assert run.client_session_id, explain(run)
        requests = model_requests(recorder, run)
        assert len(requests) == 2, [(r["target"], r["note"]) for r in recorder.provider_requests()]
        assert all(header(r, "Host") == host for r in requests)
        if variant == "codex-websocket":
            assert all(r["note"].startswith("ws ") for r in requests)
        if variant == "codex-http":
            assert all(r["method"] == "POST" for r in requests)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sessions_show_one_session_per_agent_run(recorder, agent_runs, variant):
    sessions = recorded_sessions(recorder, len(agent_runs))
    shown = [recorder.json("show", s["id"])["session"] for s in sessions]
    problems = []
    for run in runs_of(agent_runs, variant):
        mine = [s for s in shown if s.get("external_id") == run.client_session_id]
        turned = {r[0] for r in query(recorder, "SELECT DISTINCT session_id FROM turns WHERE client_session_id = ? "
                                                "AND is_model_turn = 1", run.client_session_id)}
        if len(mine) != 1 or turned != {mine[0]["id"]}:
            problems.append(f"{variant} run {run.client_session_id}: sessions with that external_id "
                            f"{[s['id'] for s in mine]}, sessions holding its model turns {sorted(turned)}")
            continue
        session = mine[0]
        if session.get("agent") != run.agent:
            problems.append(f"{variant} run: session {session['id']} has agent {session.get('agent')!r}")
        expected = len(model_requests(recorder, run))
        if int(session["turn_count"]) != expected:
            problems.append(f"{variant} run: session {session['id']} has turn_count {session['turn_count']}, "
                            f"the provider answered {expected} model requests")
    assert not problems, "\n".join(problems) + "\n" + recorder.flightlog("sessions").stdout


def test_there_are_exactly_as_many_sessions_as_agent_runs(recorder, agent_runs):
    sessions = recorded_sessions(recorder, len(agent_runs))
    listing = recorder.flightlog("sessions")
    print("\n$ flightlog sessions\n" + listing.stdout)
    assert len(sessions) == len(agent_runs), listing.stdout
    assert sorted(s["agent"] for s in sessions) == sorted(r.agent for r in agent_runs), listing.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_session_lists_its_turns_and_its_shell_tool_call(recorder, agent_runs, variant):
    recorded_sessions(recorder, len(agent_runs))
    by_external = {s["session"].get("external_id"): s for s in
                   (recorder.json("show", s["id"]) for s in recorder.json("sessions"))}
    for run in runs_of(agent_runs, variant):
        shown = by_external.get(run.client_session_id)
        assert shown is not None, f"no session for {variant} run {run.client_session_id}"
        session_id = shown["session"]["id"]
        if run is runs_of(agent_runs, variant)[0]:
            print(f"\n$ flightlog show {session_id}    # {variant}\n{recorder.flightlog('show', session_id).stdout}")
        flags = {str(r[0]): r[1] for r in query(recorder, "SELECT id, is_model_turn FROM turns WHERE session_id = ?",
                                                 session_id)}
        model_turns = [t for t in shown["turns"] if flags[str(t["id"])] == 1]
        assert len(model_turns) == len(model_requests(recorder, run)) == 2, shown["turns"]
        # Over WebSocket every turn carries the upgrade's 101 and ends when the socket closes.
        status, outcomes = ("101", {"websocket_closed", "complete"}) if variant == "codex-websocket" else ("200", {"complete"})
        assert all(str(t["status"]) == status and t["outcome"] in outcomes for t in model_turns), shown["turns"]
        calls = shown["tool_calls"]
        assert len(calls) == 1, calls
        if variant == "claude-code":
            assert calls[0]["name"] == "Bash", calls
            assert json.loads(calls[0]["arguments"])["command"] == scripted.SHELL_COMMAND
        else:
            # Codex 0.16x runs shell commands from its code-mode `exec` tool (JavaScript calling
            # tools.exec_command); older ones call `shell` / `exec_command` directly.
            assert calls[0]["name"] in ("exec", *scripted.CODEX_SHELL_TOOLS), calls
            assert scripted.SHELL_COMMAND in calls[0]["arguments"], calls
        # The call came in the first model turn; the second one ended the task.
        assert str(calls[0]["turn_id"]) == str(model_turns[0]["id"]), (calls, model_turns)
        first, last = model_turns[0]["stop_reason"], model_turns[-1]["stop_reason"]
        assert (first, last) == (("tool_use", "end_turn") if variant == "claude-code" else ("completed", "completed"))
        results = query(recorder, "SELECT call_id, content FROM tool_results WHERE session_id = ?", session_id)
        assert [r[0] for r in results] == [calls[0]["call_id"]], results
        assert scripted.SHELL_OUTPUT in results[0][1], results


def test_claude_code_sessions_have_the_prompt_as_intent(recorder, agent_runs):
    sessions = recorded_sessions(recorder, len(agent_runs))
    claude = [s for s in sessions if s.get("agent") == "claude-code"]
    assert claude and all((s.get("intent") or "").startswith(PROMPT[:40]) for s in claude), \
        [(s["id"], s.get("intent")) for s in claude]


def test_the_recorded_bytes_verify(recorder, agent_runs):
    recorded_sessions(recorder, len(agent_runs))
    verify = recorder.flightlog("verify", "--all", timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    hosts = query(recorder, "SELECT host, method, path, status, count(*) FROM turns GROUP BY host, method, path, status")
    print("\nexchanges recorded (host, method, path, status, count):\n" + "\n".join(map(str, hosts)))
    for run in agent_runs:
        print(f"{run.variant} run took {run.seconds:.1f}s (client session {run.client_session_id})")


# -- defects this suite found, fixed; each test keeps it fixed ----------------------------------------------------

def test_flightlog_run_gives_the_agent_an_empty_signal_mask(recorder):
    """Was: flightlog run execs the agent with a blocked signal mask (SigBlk fffffffe3bfbea27: SIGHUP, SIGINT,
    SIGQUIT, SIGTERM, SIGCHLD, SIGALRM, ... blocked), inherited from the Swift concurrency thread that calls execvp
    in RunCommand.run (Sources/flightlog/Commands/EnvCommand.swift); the agent ignores Ctrl-C and SIGTERM, and
    Codex never sees its shell command exit (exec_command waits out its 10 s yield)"""
    probe = subprocess.run(
        [str(recorder.bindir / "flightlog"), "run", "--config", str(recorder.config), "--", "grep", "^SigBlk",
         "/proc/self/status"], capture_output=True, text=True, timeout=30, env=recorder.env)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["SigBlk:", "0000000000000000"], probe.stdout


def test_codex_sees_its_shell_command_exit(agent_runs):
    runs = [r for r in agent_runs if r.agent == "codex"]
    assert runs and all(r.command_completed for r in runs), [explain(r) for r in runs if not r.command_completed]


def test_codex_websocket_sessions_have_the_prompt_as_intent(recorder, agent_runs):
    """Was: a Codex session over WebSocket has no intent and no prompt_hash: the session starts with Codex's
    prewarm (`generate: false`, developer messages only) and the user's prompt, which arrives in the next
    response.create (chained by previous_response_id), never fills them in (sessiond: intent/prompt_hash are set
    only when the session is created)"""
    sessions = {s["id"]: s for s in recorded_sessions(recorder, len(agent_runs))}
    ids = {q[0] for r in runs_of(agent_runs, "codex-websocket") for q in query(
        recorder, "SELECT session_id FROM turns WHERE client_session_id = ? AND is_model_turn = 1", r.client_session_id)}
    assert ids and all((sessions[i].get("intent") or "").startswith(PROMPT[:40]) for i in ids), \
        [(i, sessions[i].get("intent")) for i in ids]


def test_codex_http_sessions_have_the_prompt_as_intent(recorder, agent_runs):
    sessions = {s["id"]: s for s in recorded_sessions(recorder, len(agent_runs))}
    ids = {q[0] for r in runs_of(agent_runs, "codex-http") for q in query(
        recorder, "SELECT session_id FROM turns WHERE client_session_id = ? AND is_model_turn = 1", r.client_session_id)}
    assert ids and all((sessions[i].get("intent") or "").startswith(PROMPT[:40]) for i in ids), \
        [(i, sessions[i].get("intent")) for i in ids]


# Was: after a sessiond restart, a new Codex run is merged into an old Codex session by the `continuity` cue,
# although it sends its own new session id: SessionTracker.restore registers the conversation_hash of every
# stored turn, prewarms included (SQLiteTurnStore/PostgresTurnStore restore query has no is_model_turn filter),
# while live assignment registers model turns only; the prewarm's conversation ([developer: Codex base
# instructions]) is a prefix of every later Codex HTTP request, and assign() tries continuity before giving a new
# client session id its own session (Sources/sessiond/Sessions/SessionTracker.swift assign)
def test_a_run_after_a_sessiond_restart_is_still_its_own_session(recorder, agent_runs):
    """Last in the file: it restarts sessiond under the recorder the other tests share."""
    recorded_sessions(recorder, len(agent_runs))
    before = {c["name"]: c["pid"] for c in recorder.json("status")["components"]}
    assert recorder.flightlog("restart", "sessiond").returncode == 0
    deadline = time.time() + 30
    while time.time() < deadline:
        now = {c["name"]: c for c in recorder.json("status")["components"]}
        if now["sessiond"]["state"] == "running" and now["sessiond"]["pid"] not in (None, before["sessiond"]):
            break
        time.sleep(0.3)
    else:
        pytest.fail("sessiond was not restarted: " + recorder.log_tail())
    run = run_codex(recorder, "http")
    recorded_sessions(recorder, len(recorder.runs))
    placed = query(recorder, "SELECT session_id, session_cue FROM turns WHERE client_session_id = ? "
                             "AND is_model_turn = 1 ORDER BY id", run.client_session_id)
    assert len(placed) == 2, placed
    assert placed[0][1] == "new" and placed[0][0] == placed[1][0], placed
    session = recorder.json("show", placed[0][0])["session"]
    assert session["external_id"] == run.client_session_id and int(session["turn_count"]) == 2, session
