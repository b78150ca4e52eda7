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

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "e2e"))
from certs import make_test_ca  # noqa: E402
from gateway_harness import API_HOSTS  # noqa: E402

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    bindir = Path(os.environ.get("FLIGHTLOG_BIN", ROOT / ".build" / "debug"))
    home = Path(tempfile.mkdtemp(prefix="flightlog-demo-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_") and "proxy" not in k.lower()}
    certs = make_test_ca(home / "provider-ca")
    port_file = home / "provider.port"
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
        provider_port = int(port_file.read_text())
        config = home / "config.yaml"
        config.write_text(json.dumps({
            "home": str(home),
            "gateway": {"listen": f"127.0.0.1:{free_port()}", "upstream_ca": str(certs.ca_cert),
                        "upstream_override": [f"{h}=127.0.0.1:{provider_port}" for h in API_HOSTS]},
            "operator": {"metrics_listen": f"127.0.0.1:{free_port()}"},
        }, indent=2))
        flightlog = lambda *args, **kw: subprocess.run(  # noqa: E731
            [str(bindir / "flightlog"), *args], env=env, text=True, **kw)

        print(f"$ flightlog up --config {config}")
        recorder = subprocess.Popen([str(bindir / "flightlog"), "up", "--config", str(config)], env=env,
                                    stdout=(home / "up.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while True:
            r = flightlog("status", "--json", "--config", str(config), capture_output=True)
            try:
                if all(c["state"] == "running" for c in json.loads(r.stdout)["components"]):
                    break
            except (ValueError, KeyError):
                pass
            if time.time() > deadline or recorder.poll() is not None:
                raise SystemExit("demo: the recorder did not come up:\n" + (home / "up.log").read_text()[-2000:])
            time.sleep(0.3)
        flightlog("status", "--config", str(config))

        print("\n$ flightlog run -- python agent.py   # an SDK agent with one tool, through the gateway")
        (home / "agent.py").write_text(AGENT)
        if flightlog("run", "--config", str(config), "--", sys.executable, str(home / "agent.py")).returncode != 0:
            raise SystemExit("demo: the agent failed")

        sessions = []
        deadline = time.time() + 30
        while time.time() < deadline:
            r = flightlog("sessions", "--json", "--config", str(config), capture_output=True)
            sessions = json.loads(r.stdout or "[]") if r.returncode == 0 else []
            if sessions and sessions[0].get("turn_count", 0) >= 2:
                break
            time.sleep(0.3)
        print("\n$ flightlog sessions")
        flightlog("sessions", "--config", str(config))
        if not sessions:
            raise SystemExit("demo: no session was recorded")
        print(f"\n$ flightlog show {sessions[0]['id']}")
        flightlog("show", sessions[0]["id"], "--config", str(config))
        print(f"\n$ flightlog verify --all")
        flightlog("verify", "--all", "--config", str(config))
        print(f"\nThe demo's state is kept in {home} (config: {config}).")
        return 0
    finally:
        if recorder and recorder.poll() is None:
            recorder.send_signal(signal.SIGTERM)
            try:
                recorder.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(recorder.pid, signal.SIGKILL)
        provider.terminate()


if __name__ == "__main__":
    sys.exit(main())
