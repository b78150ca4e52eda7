#!/usr/bin/env python3
"""make demo: the whole recorder, offline, in one command, ending with `flightlog sessions`.

A fresh machine here cannot reach api.anthropic.com, so the demo brings the project's fake provider (the one
the end-to-end tests use, which answers in Anthropic's and OpenAI's real wire formats) and maps the API hosts
to it with `gateway.upstream_override`. Everything else is what you would run for real:

    flightlog up --config C                     # operatord, sessiond, ingestd, gateway
    flightlog run --config C -- python agent    # HTTPS_PROXY and the CA set for the agent
    flightlog sessions --config C               # what was recorded
    flightlog show SESSION --config C           # its turns, tokens, cost and tool calls

The state directory is kept (its path is printed) so you can look around: `flightlog verify --all`,
`flightlog export SESSION --format har`, the objects and capture files.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from certs import make_test_ca  # noqa: E402
from recorder_harness import RecorderError, start_recorder  # noqa: E402

AGENT = '''
import anthropic
client = anthropic.Anthropic(api_key="sk-ant-demo-not-a-real-key")
tools = [{"name": "bash", "description": "run a shell command",
          "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}]
messages = [{"role": "user", "content": "List the files in this folder, then tell me what you found."}]
for turn in range(3):
    reply = client.messages.create(model="claude-haiku-4-5", max_tokens=256, tools=tools, messages=messages)
    print(f"turn {turn + 1}: stop_reason={reply.stop_reason} tokens in/out={reply.usage.input_tokens}/{reply.usage.output_tokens}")
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]})
    uses = [b for b in reply.content if b.type == "tool_use"]
    if not uses:
        break
    messages.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": u.id, "content": "README.md Makefile Sources"} for u in uses]})
'''


def main() -> int:
    bindir = Path(os.environ.get("FLIGHTLOG_BIN", ROOT / ".build" / "debug"))
    work = Path(tempfile.mkdtemp(prefix="flightlog-demo-"))
    certs = make_test_ca(work / "provider-ca")
    port_file = work / "provider.port"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_") and "proxy" not in k.lower()}
    provider = subprocess.Popen([sys.executable, str(ROOT / "Tests" / "e2e" / "fake_provider.py"), "--cert",
                                 str(certs.leaf_cert), "--key", str(certs.leaf_key), "--port-file", str(port_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    recorder = None
    try:
        deadline = time.time() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.time() > deadline or provider.poll() is not None:
                raise SystemExit("demo: the fake provider did not start")
            time.sleep(0.1)
        home = work / "home"
        print(f"$ flightlog up --config {home / 'config.yaml'}")
        try:
            recorder = start_recorder(bindir, provider_port=int(port_file.read_text()), upstream_ca=certs.ca_cert,
                                      home=home)
        except RecorderError as error:
            raise SystemExit(f"demo: {error}")
        show = lambda *args: subprocess.run(  # noqa: E731
            [str(bindir / "flightlog"), *args, "--config", str(recorder.config)], env=recorder.env)
        show("status")

        print("\n$ flightlog run -- python agent.py   # an SDK agent with one tool, through the gateway")
        (work / "agent.py").write_text(AGENT)
        agent = subprocess.run([str(bindir / "flightlog"), "run", "--config", str(recorder.config), "--", sys.executable,
                                str(work / "agent.py")], env=recorder.env)
        if agent.returncode != 0:
            raise SystemExit("demo: the agent failed")

        sessions: list = []
        deadline = time.time() + 30
        while time.time() < deadline:
            sessions = recorder.json("sessions")
            if sessions and sessions[0].get("turn_count", 0) >= 2:
                break
            time.sleep(0.3)
        print("\n$ flightlog sessions")
        show("sessions")
        if not sessions:
            raise SystemExit("demo: no session was recorded")
        print(f"\n$ flightlog show {sessions[0]['id']}")
        show("show", sessions[0]["id"])
        print("\n$ flightlog verify --all")
        show("verify", "--all")
        print(f"\nThe demo's state is kept in {work} (config: {recorder.config}).")
        return 0
    finally:
        if recorder:
            recorder.stop(remove=False)
        provider.terminate()


if __name__ == "__main__":
    sys.exit(main())
