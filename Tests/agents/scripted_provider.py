"""The project's fake provider in a scripted tool-loop mode, for real agent CLIs (Claude Code, Codex).

A real agent offers the model dozens of tools, so the fake provider's default "call the first tool" would
pick one at random. Here the model follows a script instead:

1. a request that offers the agent's shell tool and has no result of our call yet gets exactly one call
   of that tool, running `SHELL_COMMAND`;
2. the request that carries that call's output gets a final text, `FINAL_TEXT_PREFIX` + the output;
3. anything else (title generation, quota probes, side requests) gets the fake provider's ordinary answer.

Claude Code's shell is its `Bash` tool. Codex 0.16x lists its tools in an `additional_tools` input item and
offers the shell only inside code mode's `exec` custom tool (JavaScript calling `tools.exec_command`), so
the script answers with a `custom_tool_call` of `exec` holding that JavaScript; plain `shell` /
`exec_command` function tools of older versions are scripted too. Codex's WebSocket sends a prewarm
(`generate: false`, answered with an empty response) and then only the new input items with
`previous_response_id`, so the provider keeps each response's conversation to answer in context.

Everything else (the HTTP/TLS layer, the wire formats, the WebSocket with permessage-deflate, the request
log) is the fake provider of `Tests/e2e`, reused unchanged. Side endpoints the real CLIs hit at start
(plugin lists, feature flags, telemetry) get small plausible answers so they fail harmlessly or not at all.

    python scripted_provider.py --cert leaf.pem --key leaf.key --port-file port.txt --log requests.jsonl
    port, handle = start_in_thread(cert, key)     # from a test; handle.stop() at the end
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

E2E = Path(__file__).resolve().parents[1] / "e2e"
if str(E2E) not in sys.path:
    sys.path.insert(0, str(E2E))

import fake_llm_apis as apis  # noqa: E402
import fake_provider as base  # noqa: E402
import fake_test_endpoints as testing  # noqa: E402
from fake_http import HTTPExchange  # noqa: E402
from fake_websocket import WebSocketClosed  # noqa: E402

#: The one command the scripted model asks every agent to run; its output proves the tool really ran.
SHELL_COMMAND = "echo flightlog-probe-$((6*7))"
SHELL_OUTPUT = "flightlog-probe-42"
FINAL_TEXT_PREFIX = "FLIGHTLOG-FINAL:"

#: Claude Code's shell tool, and the names Codex has used for its shell over its versions.
CLAUDE_SHELL_TOOLS = ("Bash",)
CODEX_SHELL_TOOLS = ("shell", "exec_command", "shell_command", "container.exec", "local_shell")


# -- the script ------------------------------------------------------------------------------------------------------


def _final(output: str) -> apis.Turn:
    return apis.Turn(f"{FINAL_TEXT_PREFIX} the command printed {' '.join(output.split())[:200]}")


def anthropic_turn(request: dict[str, Any]) -> apis.Turn | None:
    """The scripted answer to a Messages request, or None for the fake provider's ordinary one."""
    tools = {t.get("name"): t for t in request.get("tools") or [] if isinstance(t, dict)}
    shell = next((name for name in CLAUDE_SHELL_TOOLS if name in tools), None)
    messages = request.get("messages") or []
    ours = {b.get("id") for m in messages if m.get("role") == "assistant" and isinstance(m.get("content"), list)
            for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use"
            and b.get("name") in CLAUDE_SHELL_TOOLS}
    last = messages[-1] if messages else {}
    content = last.get("content") if isinstance(last, dict) else None
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"
               and b.get("tool_use_id") in ours] if isinstance(content, list) else []
    if results:
        return _final(apis._result_text(results[-1].get("content", "")))
    if shell is None or ours:
        return None
    return apis.Turn("I will run the command.", shell,
                     {"command": SHELL_COMMAND, "description": "Print the Flightlog probe"})


def _responses_items(request: dict[str, Any]) -> list[dict[str, Any]]:
    items = request.get("input")
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    return [i for i in items or [] if isinstance(i, dict)]


def _offered_tools(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tool a Responses request offers: `tools`, plus Codex's `additional_tools` input items, with
    namespaces flattened."""
    found: list[dict[str, Any]] = []

    def walk(tools: Any) -> None:
        for tool in tools or []:
            if isinstance(tool, dict):
                if tool.get("type") == "namespace":
                    walk(tool.get("tools"))
                else:
                    found.append(tool)

    walk(request.get("tools"))
    for item in _responses_items(request):
        if item.get("type") == "additional_tools":
            walk(item.get("tools"))
    return found


def codex_shell_tool(request: dict[str, Any]) -> dict[str, Any] | None:
    """The tool through which a Responses request lets the model run a shell command: a function tool
    (`shell`, `exec_command`, `shell_command`), `local_shell`, or Codex's code-mode `exec` custom tool
    (JavaScript that calls `tools.exec_command`)."""
    tools = _offered_tools(request)
    for name in CODEX_SHELL_TOOLS:
        for tool in tools:
            if (tool.get("name") or tool.get("type")) == name:
                return tool
    return next((t for t in tools if t.get("type") == "custom" and t.get("name") == "exec"
                 and "exec_command" in (t.get("description") or "")), None)


def codex_input(tool: dict[str, Any]) -> str:
    """The free-form input of a custom shell tool: for code mode's `exec`, JavaScript running the command."""
    if tool.get("name") == "exec":
        return (f"const r = await tools.exec_command({{cmd: {json.dumps(SHELL_COMMAND)}}});\n"
                "text(r.output);\n")
    return SHELL_COMMAND


def _codex_arguments(tool: dict[str, Any]) -> dict[str, Any]:
    """Arguments for Codex's shell tool in whichever shape its schema asks for."""
    properties = ((tool.get("parameters") or {}).get("properties")) or {}
    if "cmd" in properties:  # exec_command (unified exec): one shell string
        return {"cmd": SHELL_COMMAND}
    if "command" in properties and (properties["command"].get("type") == "string"):  # shell_command
        return {"command": SHELL_COMMAND}
    return {"command": ["bash", "-lc", SHELL_COMMAND]}  # shell: an argv array


def responses_turn(request: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The scripted answer to a Responses request: ("call", output item) or ("text", item), or None."""
    items = _responses_items(request)
    calls = {i.get("call_id") for i in items if i.get("type") in ("function_call", "custom_tool_call",
                                                                    "local_shell_call")}
    outputs = [i for i in items if i.get("type") in ("function_call_output", "custom_tool_call_output",
                                                     "local_shell_call_output") and i.get("call_id") in calls]
    if outputs:
        output = outputs[-1].get("output", "")
        if isinstance(output, dict):
            output = output.get("content") or apis.compact(output)
        return "text", {"text": _final(apis._result_text(output)).text}
    tool = codex_shell_tool(request)
    if tool is None or calls:
        return None
    return "call", {"tool": tool, "arguments": _codex_arguments(tool)}


# -- wire formats for the scripted turns -----------------------------------------------------------------------------


def anthropic_events(request: dict[str, Any], body: bytes, key: str, turn: apis.Turn) -> tuple[dict[str, Any],
                                                                                               list[apis.Event]]:
    usage = apis.plan_usage(body, turn.visible_output, cache_write=True, reasoning=0)
    message = {
        "id": apis.stable_id("msg_", key), "type": "message", "role": "assistant",
        "model": request.get("model", "claude-fake"), "content": apis._anthropic_blocks(turn, key),
        "stop_reason": "tool_use" if turn.is_tool_call else "end_turn", "stop_sequence": None,
        "usage": apis._anthropic_usage(usage),
    }
    return message, apis._anthropic_events(message, usage)


def response_events(request: dict[str, Any], body: bytes, key: str) -> list[dict[str, Any]]:
    """Streamed Responses events: the scripted turn when there is one, else the fake provider's own."""
    if request.get("generate") is False:
        # Codex's prewarm: the API only sets up the response; nothing is generated.
        return [{**event, "sequence_number": n} for n, event in enumerate([
            {"type": "response.created", "response": apis._response_object(request, key, "in_progress", [], None)},
            {"type": "response.completed", "response": apis._response_object(
                request, key, "completed", [], apis._responses_usage(apis.plan_usage(body, "", False, 0)))}])]
    scripted = responses_turn(request)
    if scripted is None:
        return apis.response_events(request, body, key)
    kind, detail = scripted
    if kind == "text":
        turn = apis.Turn(detail["text"])
        visible = turn.text
    else:
        visible = apis.compact(detail["arguments"])
    usage = apis.plan_usage(body, visible, cache_write=False, reasoning=apis.REASONING_TOKENS)
    item_id = apis.stable_id("fc_" if kind == "call" else "msg_", key, length=48)
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": apis._response_object(request, key, "in_progress", [], None)},
        {"type": "response.in_progress", "response": apis._response_object(request, key, "in_progress", [], None)},
    ]
    if kind == "call":
        tool = detail["tool"]
        call_id = apis.stable_id("call_", key)
        arguments = apis.compact(detail["arguments"])
        if tool.get("type") == "local_shell":
            done = {"id": item_id, "type": "local_shell_call", "status": "completed", "call_id": call_id,
                    "action": {"type": "exec", "command": detail["arguments"]["command"], "env": {}}}
            events += [{"type": "response.output_item.added", "output_index": 0, "item": {**done,
                                                                                        "status": "in_progress"}}]
        elif tool.get("type") == "custom":
            source = codex_input(tool)
            done = {"id": item_id, "type": "custom_tool_call", "status": "completed", "call_id": call_id,
                    "name": tool["name"], "input": source}
            events += [{"type": "response.output_item.added", "output_index": 0,
                        "item": {**done, "status": "in_progress", "input": ""}}]
            events += [{"type": "response.custom_tool_call_input.delta", "item_id": item_id, "output_index": 0,
                        "delta": p} for p in apis.pieces(source, 16)]
            events.append({"type": "response.custom_tool_call_input.done", "item_id": item_id,
                           "output_index": 0, "input": source})
        else:
            done = {"id": item_id, "type": "function_call", "status": "completed", "arguments": arguments,
                    "call_id": call_id, "name": tool["name"]}
            events += [{"type": "response.output_item.added", "output_index": 0,
                        "item": {**done, "status": "in_progress", "arguments": ""}}]
            events += [{"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": 0,
                        "delta": p} for p in apis.pieces(arguments)]
            events.append({"type": "response.function_call_arguments.done", "item_id": item_id,
                           "output_index": 0, "arguments": arguments})
    else:
        text = detail["text"]
        done = {"id": item_id, "type": "message", "status": "completed", "role": "assistant",
                "content": [apis._output_text(text)]}
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        events.append({"type": "response.output_item.added", "output_index": 0,
                       "item": {**done, "status": "in_progress", "content": []}})
        events.append({"type": "response.content_part.added", **where, "part": apis._output_text("")})
        events += [{"type": "response.output_text.delta", **where, "delta": w, "logprobs": []}
                   for w in apis.words(text)]
        events.append({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
        events.append({"type": "response.content_part.done", **where, "part": apis._output_text(text)})
    events.append({"type": "response.output_item.done", "output_index": 0, "item": done})
    events.append({"type": "response.completed", "response": apis._response_object(
        request, key, "completed", [done], apis._responses_usage(usage))})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


# -- the provider ----------------------------------------------------------------------------------------------------


class ScriptedProvider(base.FakeProvider):
    """The fake provider with the scripted model on the Messages and Responses routes and plausible answers
    on the side endpoints the real CLIs call. `log` (optional) gets one JSON line per request."""

    def __init__(self, log: Path | None = None) -> None:
        super().__init__()
        self.log = log
        self._log_lock = threading.Lock()
        #: Responses API state: response id -> its whole conversation (input, then output items), so a
        #: request that continues one with `previous_response_id` (Codex over WebSocket) is answered in context.
        self._conversations: dict[str, list[dict[str, Any]]] = {}
        self._routes.update({
            ("POST", "/v1/messages"): self._scripted_messages,
            ("POST", "/v1/responses"): self._scripted_responses,
            ("POST", "/backend-api/codex/responses"): self._scripted_responses,
            ("GET", "/v1/responses"): self._scripted_responses_websocket,
            ("GET", "/backend-api/codex/responses"): self._scripted_responses_websocket,
            ("GET", "/api/claude_code/policy_limits"): self._claude_code_policy_limits,
            ("GET", "/v1/models"): self._models,
            ("GET", "/backend-api/codex/models"): self._models,
        })

    def _record(self, ex: HTTPExchange, body: bytes | None, note: str = "") -> None:
        if self.log is None:
            return
        entry = {"method": ex.request.method, "target": ex.request.target,
                 "host": ex.request.header("Host"), "headers": ex.request.headers, "note": note,
                 "body": (body or b"").decode("utf-8", "replace")}
        with self._log_lock, self.log.open("a") as out:
            out.write(json.dumps(entry) + "\n")

    async def _dispatch(self, ex: HTTPExchange) -> None:
        path, method = ex.request.path, ex.request.method
        if (method, path) not in self._routes and not path.startswith("/v1beta/"):
            # A side endpoint (plugins, feature flags, telemetry): an empty success, so nothing retries.
            body = await self.state.read_body(ex)
            self._record(ex, body, "side")
            await ex.send_json(200, {})
            return
        await super()._dispatch(ex)

    async def _scripted_messages(self, ex: HTTPExchange) -> None:
        parsed = await self._anthropic_request(ex)
        if parsed is None:
            return
        request, body, key = parsed
        turn = anthropic_turn(request)
        self._record(ex, body, "scripted" if turn else "default")
        if turn is None:
            turn = apis._anthropic_turn(request)
            if turn.is_tool_call:  # never let the default model call some other tool of a real agent
                turn = apis.Turn(apis.reply_text("anthropic", apis._text_of(
                    (request.get("messages") or [{}])[-1].get("content"))))
        message, events = anthropic_events(request, body, key, turn)
        headers = [("request-id", apis.stable_id("req_", key))]
        if not request.get("stream"):
            await ex.send_json(200, message, headers)
            return
        stream = await ex.start_stream(
            200, [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"), *headers])
        for name, data in events:
            await stream.write(apis.sse(data, name))
        await stream.finish()

    async def _scripted_responses(self, ex: HTTPExchange) -> None:
        parsed = await self._openai_request(ex)
        if parsed is None:
            return
        request, body, key = parsed
        events = self._answer_responses(ex, request, body, key)
        if not request.get("stream"):
            await ex.send_json(200, events[-1]["response"], self._openai_headers(key), indent=2)
            return
        stream = await ex.start_stream(200, [("Content-Type", "text/event-stream; charset=utf-8"),
                                             *self._openai_headers(key)])
        for event in events:
            await stream.write(apis.sse(event, event["type"]))
        await stream.finish()

    async def _scripted_responses_websocket(self, ex: HTTPExchange) -> None:
        self._record(ex, None, "websocket")
        if not (ex.request.header("Authorization") or "").startswith("Bearer "):
            ex.close_connection = True
            await ex.send_json(401, apis.openai_error("You didn't provide an API key.", "missing_api_key"))
            return
        ws = await testing._handshake(ex, self.state)
        if ws is None:
            return
        path = ex.request.path
        try:
            for index in range(1 << 30):
                message = await ws.receive()
                self.state.ws_messages.append(testing.WebSocketRecord(path, 0, message.opcode, message.data))
                for event in self._ws_answer(ex, message.data, index):
                    await testing._send(ws, self.state, path, apis.compact(event))
        except WebSocketClosed:
            return

    def _ws_answer(self, ex: HTTPExchange, data: bytes, index: int) -> list[dict[str, Any]]:
        try:
            request = json.loads(data)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("type") != "response.create":
            return testing._responses_over_ws(data, index)
        body = request["response"] if isinstance(request.get("response"), dict) else request
        body = {k: v for k, v in body.items() if k != "type"}
        return self._answer_responses(ex, body, data, apis.stable_id("", data, str(index)), "ws ")

    def _answer_responses(self, ex: HTTPExchange, request: dict[str, Any], body: bytes, key: str,
                          note: str = "") -> list[dict[str, Any]]:
        """The events answering one Responses request, in the context of the response it continues."""
        earlier = self._conversations.get(request.get("previous_response_id") or "", [])
        whole = {**request, "input": [*earlier, *_responses_items(request)]}
        self._record(ex, body, note + ("scripted" if responses_turn(whole) else "default")
                     + (" (continues)" if earlier else ""))
        events = response_events(whole, body, key)
        final = events[-1].get("response") or {}
        if final.get("id"):
            self._conversations[final["id"]] = [*whole["input"], *(final.get("output") or [])]
        return events

    async def _claude_code_policy_limits(self, ex: HTTPExchange) -> None:
        """Claude Code asks for its organisation's policy limits at start (and retries an answer it cannot
        read): an organisation that restricts nothing."""
        self._record(ex, None, "policy_limits")
        await ex.send_json(200, {"restrictions": {}, "compliance_taints": []})

    async def _models(self, ex: HTTPExchange) -> None:
        self._record(ex, None, "models")
        await ex.send_json(200, {"object": "list", "data": [], "models": []})


# -- running it ------------------------------------------------------------------------------------------------------


def start_in_thread(cert: str | Path, key: str | Path, log: Path | None = None, host: str = "127.0.0.1",
                    port: int = 0) -> tuple[int, base.ProviderHandle]:
    """As `fake_provider.start_in_thread`, with the scripted provider: its own thread and event loop."""
    return base.start_in_thread(cert, key, host=host, port=port, provider=ScriptedProvider(log))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", help="append one JSON line per request here")
    base.main(argv, parser, lambda args: ScriptedProvider(Path(args.log) if args.log else None))


if __name__ == "__main__":
    main()
