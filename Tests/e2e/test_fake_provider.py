"""The fake provider checked directly, with no gateway in between: the official SDKs, curl and a WebSocket
client must accept what it sends. If these fail, a gateway test failure means nothing."""
from __future__ import annotations

import hashlib
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect as ws_connect

import fake_llm_apis as apis
from certs import CertPaths
from fake_provider import ProviderHandle
from fake_test_endpoints import big_text, deterministic_chunks, deterministic_sha256

HERE = Path(__file__).resolve().parent
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a place",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"},
                                                      "unit": {"type": "string", "enum": ["c", "f"]}},
                     "required": ["location"]},
}
WEATHER_ARGS = {"location": "fake location", "unit": "c"}


# -- helpers ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def claude(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> Iterator[anthropic.Anthropic]:
    """The official Anthropic SDK pointed straight at the fake provider."""
    with anthropic.Anthropic(base_url=provider.base_url, api_key="sk-ant-test", max_retries=0,
                             http_client=anthropic.DefaultHttpxClient(verify=provider_ssl)) as client:
        yield client


@pytest.fixture
def gpt(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> Iterator[openai.OpenAI]:
    """The official OpenAI SDK pointed straight at the fake provider."""
    with openai.OpenAI(base_url=f"{provider.base_url}/v1", api_key="sk-test", max_retries=0,
                       http_client=openai.DefaultHttpxClient(verify=provider_ssl)) as client:
        yield client


def curl(test_ca: CertPaths, *args: str) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(["curl", "-sS", "--max-time", "30", "--cacert", str(test_ca.ca_cert), *args],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    return result


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """(event, data) pairs of an SSE body, accepting LF and CRLF line ends."""
    events = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        lines = block.decode().split("\n")
        event = next((line[7:] for line in lines if line.startswith("event: ")), None)
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        if data:
            events.append((event, data))
    return events


def tls_socket(provider: ProviderHandle, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", provider.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="api.anthropic.com")


def read_until(sock: ssl.SSLSocket, marker: bytes, buffer: bytes = b"") -> tuple[bytes, bytes]:
    """Reads until `marker`; returns (through marker, rest)."""
    while marker not in buffer:
        data = sock.recv(65536)
        assert data, f"connection closed before {marker!r}; got {buffer[-200:]!r}"
        buffer += data
    head, _, rest = buffer.partition(marker)
    return head + marker, rest


def read_response(sock: ssl.SSLSocket, buffer: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """One Content-Length response: (head, body, leftover bytes)."""
    head, rest = read_until(sock, b"\r\n\r\n", buffer)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        data = sock.recv(65536)
        assert data
        rest += data
    return head, rest[:length], rest[length:]


# -- Anthropic -------------------------------------------------------------------------------------------------------


def test_anthropic_sdk_message(provider: ProviderHandle, claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="claude-e2e-test", max_tokens=64,
                                      messages=[{"role": "user", "content": "hello there"}])
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from the fake anthropic provider. You said: hello there"
    assert message.stop_reason == "end_turn" and message.model == "claude-e2e-test"
    recorded = provider.requests[-1]
    # SDK versions differ in where they put the key (x-api-key, or Authorization: Bearer in 2.x).
    assert recorded.path == "/v1/messages"
    assert "sk-ant-test" in (recorded.header("x-api-key") or recorded.header("authorization") or "")
    usage = apis.plan_usage(recorded.body or b"", message.content[0].text, cache_write=True, reasoning=0)
    assert message.usage.input_tokens == usage.uncached_input
    assert message.usage.cache_read_input_tokens == usage.cache_read > 0
    assert message.usage.cache_creation_input_tokens == usage.cache_write > 0
    assert message.usage.output_tokens == usage.output


def test_anthropic_sdk_stream(provider: ProviderHandle, claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="claude-e2e-test", max_tokens=64,
                                 messages=[{"role": "user", "content": "stream please"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the fake anthropic provider. You said: stream please"
    assert final.content[0].text == text and final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 1 and final.usage.cache_read_input_tokens > 0


def test_anthropic_stream_wire_format(provider: ProviderHandle, test_ca: CertPaths) -> None:
    body = json.dumps({"model": "claude-x", "max_tokens": 10, "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]})
    result = curl(test_ca, "-i", "-H", "x-api-key: k", "-H", "content-type: application/json", "-d", body,
                  f"{provider.base_url}/v1/messages")
    head, _, raw = result.stdout.partition(b"\r\n\r\n")
    assert b"text/event-stream" in head
    names = [event for event, _ in sse_events(raw)]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-4:] == ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    for event, data in sse_events(raw):
        assert json.loads(data)["type"] == event


def test_anthropic_sdk_tool_use_round_trip(claude: anthropic.Anthropic) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris?"}]
    with claude.messages.stream(model="claude-e2e-test", max_tokens=64, tools=[WEATHER_TOOL],
                                 messages=messages) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    tool_use = next(block for block in first.content if block.type == "tool_use")
    assert tool_use.name == "get_weather" and tool_use.input == WEATHER_ARGS
    messages += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny, 21C"}]},
    ]
    second = claude.messages.create(model="claude-e2e-test", max_tokens=64, tools=[WEATHER_TOOL], messages=messages)
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "The tool get_weather returned: sunny, 21C"


def test_anthropic_count_tokens_and_settings(provider: ProviderHandle, test_ca: CertPaths,
                                             claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model="claude-e2e-test", messages=[{"role": "user", "content": "hi"}])
    assert counted.input_tokens > 0
    settings = curl(test_ca, "-H", "authorization: Bearer t", f"{provider.base_url}/api/claude_code/settings")
    assert isinstance(json.loads(settings.stdout), dict)


def test_anthropic_requires_a_key(provider: ProviderHandle, test_ca: CertPaths) -> None:
    result = curl(test_ca, "-w", "\n%{http_code}", "-d", "{}", f"{provider.base_url}/v1/messages")
    body, _, code = result.stdout.rpartition(b"\n")
    assert code == b"401"
    assert json.loads(body)["error"]["type"] == "authentication_error"


# -- OpenAI ----------------------------------------------------------------------------------------------------------


def test_openai_chat_completion(provider: ProviderHandle, gpt: openai.OpenAI) -> None:
    completion = gpt.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hey"}])
    assert completion.choices[0].message.content == "Hello from the fake openai provider. You said: hey"
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    assert 0 < usage.prompt_tokens_details.cached_tokens < usage.prompt_tokens
    assert usage.completion_tokens_details.reasoning_tokens == apis.REASONING_TOKENS
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert provider.requests[-1].header("authorization") == "Bearer sk-test"


def test_openai_chat_stream(provider: ProviderHandle, gpt: openai.OpenAI) -> None:
    stream = gpt.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hey"}],
                                         stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake openai provider. You said: hey"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens > 0


def test_openai_chat_stream_tool_calls(gpt: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": WEATHER_TOOL["name"],
                                               "parameters": WEATHER_TOOL["input_schema"]}}]
    stream = gpt.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "weather?"}],
                                         tools=tools, stream=True)
    arguments, name, finish, call_id = "", None, None, None
    for chunk in stream:
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or []:
            name = name or (call.function.name if call.function else None)
            call_id = call_id or call.id
            arguments += (call.function.arguments or "") if call.function else ""
        finish = choice.finish_reason or finish
    assert (name, finish) == ("get_weather", "tool_calls") and json.loads(arguments) == WEATHER_ARGS
    follow_up = gpt.chat.completions.create(model="gpt-4o", tools=tools, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "rainy"},
    ])
    assert follow_up.choices[0].message.content == "The tool get_weather returned: rainy"


def test_openai_responses(provider: ProviderHandle, gpt: openai.OpenAI) -> None:
    result = gpt.responses.create(model="gpt-5", input="say something", instructions="be brief")
    assert result.output_text == "Hello from the fake openai provider. You said: say something"
    assert result.instructions == "be brief" and result.status == "completed"
    assert result.usage and result.usage.input_tokens_details.cached_tokens > 0
    assert result.usage.output_tokens_details.reasoning_tokens == apis.REASONING_TOKENS


def test_openai_responses_stream(provider: ProviderHandle, gpt: openai.OpenAI) -> None:
    events = list(gpt.responses.create(model="gpt-5", input="stream it", stream=True))
    types = [event.type for event in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello from the fake openai provider. You said: stream it"
    assert events[-1].response.output_text == text


def test_openai_responses_function_call(gpt: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL["input_schema"], "strict": False}]
    events = list(gpt.responses.create(model="gpt-5", input="weather?", tools=tools, stream=True))
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(arguments) == WEATHER_ARGS
    call = events[-1].response.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    final = gpt.responses.create(model="gpt-5", tools=tools, input=[
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "snow"},
    ])
    assert final.output_text == "The tool get_weather returned: snow"


def test_codex_responses_path(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    with httpx.Client(verify=provider_ssl, timeout=10) as client:
        response = client.post(f"{provider.base_url}/backend-api/codex/responses",
                               headers={"Authorization": "Bearer codex-token"},
                               json={"model": "gpt-5-codex", "input": "hi codex", "stream": True})
    assert response.status_code == 200 and response.headers["transfer-encoding"] == "chunked"
    events = sse_events(response.content)
    assert [name for name, _ in events][-1] == "response.completed"
    assert all(json.loads(data)["type"] == name for name, data in events)


# -- Gemini ----------------------------------------------------------------------------------------------------------


def test_gemini_generate_content(provider: ProviderHandle, test_ca: CertPaths) -> None:
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi gemini"}]}]})
    result = curl(test_ca, "-H", "x-goog-api-key: g", "-H", "content-type: application/json", "-d", body,
                  f"{provider.base_url}/v1beta/models/gemini-2.5-flash:generateContent")
    answer = json.loads(result.stdout)
    assert answer["candidates"][0]["content"]["parts"][0]["text"].endswith("You said: hi gemini")
    usage = answer["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"] + \
        usage["thoughtsTokenCount"]
    assert usage["cachedContentTokenCount"] > 0 and usage["thoughtsTokenCount"] == apis.REASONING_TOKENS


def test_gemini_stream_sse(provider: ProviderHandle, test_ca: CertPaths) -> None:
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "stream gemini"}]}]})
    result = curl(test_ca, "-d", body,
                  f"{provider.base_url}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=g")
    assert b"\r\n\r\n" in result.stdout
    chunks = [json.loads(data) for _, data in sse_events(result.stdout)]
    assert len(chunks) > 1
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "Hello from the fake gemini provider. You said: stream gemini"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "cachedContentTokenCount" in chunks[-1]["usageMetadata"]


# -- test helpers: large, chunked, echo, status, framing -------------------------------------------------------------


def test_large_body_is_deterministic(provider: ProviderHandle, test_ca: CertPaths, tmp_path: Path) -> None:
    size = 5 * 1024 * 1024 + 17
    out = tmp_path / "large.bin"
    result = curl(test_ca, "-D", "-", "-o", str(out), f"{provider.base_url}/test/large?bytes={size}&seed=3")
    assert f"content-length: {size}".encode() in result.stdout.lower()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == deterministic_sha256(size, seed=3)
    assert provider.wait_until(lambda: "large" in provider.state.finished)
    assert provider.large_bytes_written > size - 512 * 1024


def test_chunked_response(provider: ProviderHandle, test_ca: CertPaths) -> None:
    result = curl(test_ca, "--raw", "-i", f"{provider.base_url}/test/chunked?chunks=3&size=1000")
    head, _, raw = result.stdout.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    expected = list(deterministic_chunks(3000, 0, 1000))
    assert raw == b"".join(b"3e8\r\n" + c + b"\r\n" for c in expected) + b"0\r\n\r\n"


def test_echo_and_status(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    with httpx.Client(verify=provider_ssl, timeout=10) as client:
        echoed = client.post(f"{provider.base_url}/test/echo", content=b"\x00abc\xff",
                             headers={"Content-Type": "application/x-test"})
        assert echoed.content == b"\x00abc\xff" and echoed.headers["content-type"] == "application/x-test"
        for code in (201, 404, 429, 503):
            answer = client.get(f"{provider.base_url}/test/status", params={"code": code})
            assert answer.status_code == code and answer.json() == {"status": code}
        assert client.get(f"{provider.base_url}/no/such/path").status_code == 404


def test_keep_alive_and_expect_continue(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    """Two requests on one connection; the second sends a chunked body only after `100 Continue`."""
    with tls_socket(provider, provider_ssl) as sock:
        sock.sendall(b"GET /test/status?code=200 HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body, rest = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and json.loads(body) == {"status": 200}
        sock.sendall(b"POST /test/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
        interim, rest = read_until(sock, b"\r\n\r\n", rest)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
        head, body, _ = read_response(sock, rest)
        assert head.startswith(b"HTTP/1.1 200") and body == b"hello world"


def test_smuggling_shapes_are_refused(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    with tls_socket(provider, provider_ssl) as sock:
        sock.sendall(b"POST /test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        head, _ = read_until(sock, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400")


def test_sink_reports_upload_progress(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    """The first half of a body is visible to the provider before the second half is sent."""
    half = b"x" * 100_000
    with tls_socket(provider, provider_ssl) as sock:
        sock.sendall(b"POST /test/sink?tag=up HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + half)
        assert provider.wait_until(lambda: provider.progress.get("up", 0) == len(half))
        sock.sendall(half)
        _, body, _ = read_response(sock)
    assert json.loads(body) == {"bytes": 200_000, "sha256": hashlib.sha256(half * 2).hexdigest()}


def test_responses_are_byte_identical_across_requests(provider: ProviderHandle,
                                                      provider_ssl: ssl.SSLContext) -> None:
    body = b'{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}'
    request = (b"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: k\r\nConnection: close\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    answers = []
    for _ in range(2):
        with tls_socket(provider, provider_ssl) as sock:
            sock.sendall(request)
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
            answers.append(b"".join(chunks))
    assert answers[0] == answers[1] and b"message_stop" in answers[0]
    assert b"date:" not in answers[0].lower()


# -- causal SSE ------------------------------------------------------------------------------------------------------


def test_causal_sse_advances_only_on_ack(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    seen: list[int] = []
    with httpx.Client(verify=provider_ssl, timeout=15) as client, httpx.Client(verify=provider_ssl) as acker:
        with client.stream("GET", f"{provider.base_url}/test/causal-sse",
                           params={"events": 5, "token": "t1"}) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    payload = json.loads(line[6:])
                    assert event != "error", payload
                    if event == "tick":
                        seen.append(payload["n"])
                        acker.post(f"{provider.base_url}/test/ack", params={"token": "t1", "n": payload["n"]})
    assert seen == [0, 1, 2, 3, 4] and event == "done"


def test_causal_sse_without_acks_ends_with_error(provider: ProviderHandle, test_ca: CertPaths) -> None:
    started = time.monotonic()
    result = curl(test_ca, f"{provider.base_url}/test/causal-sse?events=3&token=t2&timeout=0.3&framing=close")
    events = sse_events(result.stdout)
    assert [name for name, _ in events] == ["tick", "error"]
    assert time.monotonic() - started < 10


# -- WebSocket -------------------------------------------------------------------------------------------------------


def ws_url(provider: ProviderHandle, path: str) -> str:
    return f"wss://127.0.0.1:{provider.port}{path}"


def test_websocket_responses_with_deflate(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    instructions = big_text(60_000)
    request = {"type": "response.create", "model": "gpt-5-codex", "instructions": instructions, "input": "hello ws"}
    with ws_connect(ws_url(provider, "/v1/responses"), ssl=provider_ssl, compression="deflate",
                    additional_headers={"Authorization": "Bearer sk-test"}, max_size=2**24, open_timeout=10) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        for turn in ("hello ws", "again"):
            ws.send(json.dumps({**request, "input": turn}))
            events = []
            while not events or events[-1]["type"] != "response.completed":
                events.append(json.loads(ws.recv(timeout=10)))
            text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
            assert text == f"Hello from the fake openai provider. You said: {turn}"
            assert events[-1]["response"]["instructions"] == instructions
            assert events[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] > 0
    assert extensions.startswith("permessage-deflate")
    stats = provider.ws_sessions[-1].stats
    assert stats.compressed_messages_received == 2
    assert stats.data_frames_sent > stats.messages_sent  # the large events went out in 16 KiB fragments
    assert provider.ws_messages[0].data == json.dumps({**request, "input": "hello ws"}).encode()


def test_websocket_echo_fragmentation_ping_and_server_close(provider: ProviderHandle,
                                                            provider_ssl: ssl.SSLContext) -> None:
    with ws_connect(ws_url(provider, "/test/ws"), ssl=provider_ssl, compression="deflate", max_size=2**24,
                    open_timeout=10) as ws:
        ws.send(b"\x00\x01binary")
        assert ws.recv(timeout=10) == b"\x00\x01binary"
        ws.send("big:200000")
        assert ws.recv(timeout=10) == big_text(200_000)
        assert ws.ping(b"p").wait(10)
        ws.send("close:4001")
        with pytest.raises(Exception):
            ws.recv(timeout=10)
        assert ws.close_code == 4001
    stats = provider.ws_sessions[-1].stats
    assert stats.pings_received == 1 and stats.close_code_received == 4001
    assert stats.data_frames_sent > stats.messages_sent


def test_websocket_without_compression(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    with ws_connect(ws_url(provider, "/test/ws"), ssl=provider_ssl, compression=None, open_timeout=10) as ws:
        ws.send("plain")
        assert ws.recv(timeout=10) == "plain"
    assert provider.ws_sessions[-1].stats.extensions is None


def test_websocket_refused(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(ws_url(provider, "/v1/responses?refuse=1"), ssl=provider_ssl,
                   additional_headers={"Authorization": "Bearer k"}, open_timeout=10)
    assert refused.value.response.status_code == 426


def test_websocket_drop_without_close_frame(provider: ProviderHandle, provider_ssl: ssl.SSLContext) -> None:
    with ws_connect(ws_url(provider, "/v1/responses?drop=1"), ssl=provider_ssl, compression="deflate",
                    additional_headers={"Authorization": "Bearer k"}, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "response.create", "model": "m", "input": "x"}))
        with pytest.raises(ConnectionClosedError) as dropped:
            while True:
                ws.recv(timeout=10)
    assert dropped.value.rcvd is None  # no Close frame came


# -- running standalone ----------------------------------------------------------------------------------------------


def test_standalone_process_writes_its_port(test_ca: CertPaths, tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen([sys.executable, str(HERE / "fake_provider.py"), "--port", "0", "--cert",
                                str(test_ca.leaf_cert), "--key", str(test_ca.leaf_key), "--port-file", str(port_file)],
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert process.poll() is None and time.monotonic() < deadline, "fake provider did not start"
            time.sleep(0.05)
        port = int(port_file.read_text())
        result = curl(test_ca, "--resolve", f"api.openai.com:{port}:127.0.0.1",
                      f"https://api.openai.com:{port}/test/status?code=202", "-w", "%{http_code}")
        assert result.stdout.endswith(b"202")
    finally:
        process.terminate()
        process.wait(10)
