"""Issue 5 end to end for the other providers: the official OpenAI SDK (Chat Completions and Responses) and
Gemini over plain HTTP requests (curl; Google's SDK is not used), through gateway -> ingestd -> sessiond ->
SQLite: a three-turn tool-use conversation is one session of three turns with the tokens the client saw, its
cost and its tool calls."""
from __future__ import annotations

import json
import subprocess

import openai

from test_pipeline import db, recorder  # noqa: F401  (the recorder fixture: `flightlog up` in a temp home)

TOOLS = [{"type": "function", "function": {"name": "run_shell", "description": "run a command", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]


def gpt(recorder):  # noqa: F811
    http = openai.DefaultHttpxClient(proxy=f"http://127.0.0.1:{recorder.port}", verify=str(recorder.home / "ca" / "ca.pem"))
    return openai.OpenAI(api_key="sk-proj-e2e", http_client=http, max_retries=2)


def session_of(recorder, provider: str, turns: int):  # noqa: F811
    rows = db(recorder, "SELECT session_id, input_tokens, output_tokens, cache_read_tokens, cost_usd, endpoint "
                        "FROM turns WHERE is_model_turn = 1 AND provider = ? ORDER BY id", provider,
              want=lambda r: len(r) >= turns)
    assert len(rows) == turns, rows
    assert len({r[0] for r in rows}) == 1, f"one session expected: {rows}"
    return rows


def test_an_openai_chat_tool_conversation_is_one_session_of_three_turns(recorder):  # noqa: F811
    client = gpt(recorder)
    messages = [{"role": "user", "content": "list the files"}]
    replies = []
    for follow_up in ("now count them", None):
        reply = client.chat.completions.create(model="gpt-4.1", messages=messages, tools=TOOLS)
        replies.append(reply)
        call = reply.choices[0].message.tool_calls[0]
        messages += [reply.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": "a.txt b.txt"}]
        final = client.chat.completions.create(model="gpt-4.1", messages=messages, tools=TOOLS)
        replies.append(final)
        messages.append({"role": "assistant", "content": final.choices[0].message.content})
        if follow_up is None:
            break
        messages.append({"role": "user", "content": follow_up})
    # Four requests: ask (tool call), result (answer), follow-up (tool call), result (answer).
    rows = session_of(recorder, "openai", len(replies))
    cached = [r.usage.prompt_tokens_details.cached_tokens or 0 for r in replies]
    # input_tokens is uncached input (DESIGN.md), so prompt_tokens = input + cache read.
    assert [r[1] + r[3] for r in rows] == [r.usage.prompt_tokens for r in replies]
    assert [r[3] for r in rows] == cached
    assert [r[2] for r in rows] == [r.usage.completion_tokens for r in replies]
    assert all(r[4] is not None and r[4] > 0 for r in rows), "gpt-4.1 is in the price table"
    calls = db(recorder, "SELECT name, call_id FROM tool_calls ORDER BY id", want=lambda r: len(r) == 2)
    assert [c[0] for c in calls] == ["run_shell", "run_shell"]
    results = db(recorder, "SELECT call_id FROM tool_results ORDER BY id", want=lambda r: len(r) == 2)
    assert [r[0] for r in results] == [c[1] for c in calls], "each tool result is linked to its call"


def test_an_openai_responses_conversation_chains_by_previous_response_id(recorder):  # noqa: F811
    client = gpt(recorder)
    first = client.responses.create(model="gpt-4.1", input="list the files", tools=[
        {"type": "function", "name": "run_shell", "parameters": TOOLS[0]["function"]["parameters"]}])
    call = next(o for o in first.output if o.type == "function_call")
    second = client.responses.create(model="gpt-4.1", previous_response_id=first.id, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": "a.txt"}])
    third = client.responses.create(model="gpt-4.1", previous_response_id=second.id, input="thanks, and now?")
    rows = session_of(recorder, "openai", 3)
    assert [r[2] for r in rows] == [x.usage.output_tokens for x in (first, second, third)]
    cues = db(recorder, "SELECT session_cue FROM turns WHERE provider = 'openai' ORDER BY id", want=lambda r: len(r) == 3)
    assert [c[0] for c in cues][1:] == ["previous_response", "previous_response"]


def test_gemini_over_plain_http_requests_is_one_session(recorder):  # noqa: F811
    url = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    tools = [{"functionDeclarations": [{"name": "run_shell", "parameters": {
        "type": "object", "properties": {"command": {"type": "string"}}}}]}]
    contents = [{"role": "user", "parts": [{"text": "list the files"}]}]
    outputs = []
    for step in range(3):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--proxy", f"http://127.0.0.1:{recorder.port}",
                            "--cacert", str(recorder.home / "ca" / "ca.pem"), "-H", "x-goog-api-key: AIza-e2e",
                            "-H", "content-type: application/json",
                            "--data", json.dumps({"contents": contents, "tools": tools}), url],
                           capture_output=True, timeout=30, check=True)
        reply = json.loads(r.stdout)
        usage = reply["usageMetadata"]
        # output_tokens includes reasoning (DESIGN.md); input is what was not cached.
        outputs.append((usage.get("candidatesTokenCount", 0) + usage.get("thoughtsTokenCount", 0),
                        usage.get("promptTokenCount", 0) - usage.get("cachedContentTokenCount", 0)))
        parts = reply["candidates"][0]["content"]["parts"]
        contents.append({"role": "model", "parts": parts})
        call = next((p["functionCall"] for p in parts if "functionCall" in p), None)
        if call:
            contents.append({"role": "user", "parts": [{"functionResponse": {"name": call["name"],
                                                                           "response": {"output": "a.txt"}}}]})
        else:
            contents.append({"role": "user", "parts": [{"text": "and the hidden ones?"}]})
    rows = session_of(recorder, "gemini", 3)
    assert [(r[2], r[1]) for r in rows] == outputs
    assert db(recorder, "SELECT count(*) FROM tool_calls WHERE name = 'run_shell'", want=lambda r: r[0][0] >= 1)
