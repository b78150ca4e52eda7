"""The gateway over real sockets: real clients (curl, the anthropic and openai SDKs, a WebSocket client),
the project's fake provider behind it, and a frame sink on the capture socket. Every test checks two
things: the client got exactly what it gets without the gateway, and the frames reassemble to those bytes."""
from __future__ import annotations

import hashlib
import json
import socket
import ssl
import subprocess
import threading
import time
import uuid

import anthropic
import httpx
import openai
import pytest

API = "https://api.anthropic.com"
AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "a1B2" * 9


def curl(gateway, url: str, *args: str, data: bytes | None = None, timeout: int = 30) -> subprocess.CompletedProcess:
    cmd = ["curl", "-sS", "--max-time", str(timeout), "--proxy", gateway.proxy_url, "--cacert", str(gateway.ca_path),
           "-H", "x-api-key: sk-ant-e2e", *args, url]
    if data is not None:
        cmd[1:1] = ["--data-binary", "@-"]
    return subprocess.run(cmd, input=data, capture_output=True, timeout=timeout + 5)


def curl_direct(provider, test_ca, path: str, *args: str, data: bytes | None = None) -> bytes:
    cmd = ["curl", "-sS", "--max-time", "30", "--cacert", str(test_ca.ca_cert), "-H", "x-api-key: sk-ant-e2e",
           "--resolve", f"api.anthropic.com:{provider.port}:127.0.0.1", *args, f"https://api.anthropic.com:{provider.port}{path}"]
    if data is not None:
        cmd[1:1] = ["--data-binary", "@-"]
    return subprocess.run(cmd, input=data, capture_output=True, check=True, timeout=35).stdout


def only_exchange(gateway, path_prefix: str = "/"):
    assert gateway.sink.wait_for_ends(1), gateway.logs()
    matches = [e for e in gateway.sink.exchanges().values() if e.begin and e.begin["path"].startswith(path_prefix)]
    assert matches, f"no exchange for {path_prefix}"
    return matches[-1]


MESSAGE = json.dumps({"model": "claude-e2e-test", "max_tokens": 64,
                      "messages": [{"role": "user", "content": "hello"}]}).encode()


def test_curl_gets_the_upstream_bytes_and_the_frames_reassemble_to_them(gateway, provider, test_ca):
    direct = curl_direct(provider, test_ca, "/v1/messages", "-H", "content-type: application/json", data=MESSAGE)
    r = curl(gateway, f"{API}/v1/messages", "-H", "content-type: application/json", data=MESSAGE)
    assert r.returncode == 0, r.stderr
    assert r.stdout == direct
    ex = only_exchange(gateway, "/v1/messages")
    assert ex.request_body == MESSAGE
    assert ex.response_body == r.stdout
    assert ex.end["outcome"] == "complete"
    assert ex.end["request_wire_sha256"] == hashlib.sha256(MESSAGE).hexdigest()
    assert ex.end["response_wire_sha256"] == hashlib.sha256(r.stdout).hexdigest()
    headers = {k.lower(): v for k, v in ex.begin["headers"]}
    assert headers["x-api-key"].startswith("[REDACTED hmac:"), "credential headers never leave the gateway"
    client = ex.begin["client"]
    assert client["address"].startswith("127.0.0.1:")
    # Attribution from /proc is best effort (looked up off the event loop, used when known in time).
    assert client.get("executable", "/usr/bin/curl").endswith("curl"), client


def test_anthropic_sdk_stream_and_non_stream(gateway):
    http = anthropic.DefaultHttpxClient(proxy=gateway.proxy_url, verify=gateway.client_ssl_context())
    with anthropic.Anthropic(api_key="sk-ant-e2e", http_client=http, max_retries=0) as client:
        message = client.messages.create(model="claude-e2e-test", max_tokens=64,
                                          messages=[{"role": "user", "content": "hi"}])
        assert message.content
        texts = []
        with client.messages.stream(model="claude-e2e-test", max_tokens=64,
                                    messages=[{"role": "user", "content": "stream please"}]) as stream:
            for text in stream.text_stream:
                texts.append(text)
        assert texts
    assert gateway.sink.wait_for_ends(2)
    exchanges = [e for e in gateway.sink.exchanges().values() if e.begin["path"].startswith("/v1/messages")]
    streamed = [e for e in exchanges if e.end["streamed"]]
    assert len(streamed) == 1
    captured = streamed[0].response_body.decode()
    assert "event: message_stop" in captured
    assert all(json.dumps(piece)[1:-1] in captured for piece in texts)


def test_openai_sdk_chat_and_responses(gateway):
    http = openai.DefaultHttpxClient(proxy=gateway.proxy_url, verify=gateway.client_ssl_context())
    with openai.OpenAI(api_key="sk-e2e", base_url="https://api.openai.com/v1", http_client=http, max_retries=0) as client:
        chat = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert chat.choices[0].message.content
        chunks = list(client.chat.completions.create(model="gpt-4o", stream=True,
                                                     messages=[{"role": "user", "content": "stream"}]))
        assert chunks
        response = client.responses.create(model="gpt-5", input="hello")
        assert response.output
        events = list(client.responses.create(model="gpt-5", input="stream", stream=True))
        assert events[-1].type == "response.completed"
    assert gateway.sink.wait_for_ends(4)
    paths = sorted(e.begin["path"] for e in gateway.sink.exchanges().values())
    assert paths == ["/v1/chat/completions"] * 2 + ["/v1/responses"] * 2


def test_gemini_sse_through_curl(gateway, provider, test_ca):
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "2+2"}]}]}).encode()
    url = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    r = curl(gateway, url, "-H", "x-goog-api-key: g-e2e", "-H", "content-type: application/json", data=body)
    assert r.returncode == 0, r.stderr
    assert b"data: " in r.stdout
    ex = only_exchange(gateway, "/v1beta/models/")
    assert ex.response_body == r.stdout


def test_sse_events_are_forwarded_one_by_one(gateway):
    """Causality, not timing: the provider sends event n+1 only after the client acknowledged event n
    through the gateway. A buffering gateway deadlocks this (the provider gives up after its timeout)."""
    token = uuid.uuid4().hex
    ctx = gateway.client_ssl_context()
    with httpx.Client(proxy=gateway.proxy_url, verify=ctx, timeout=30) as client, \
            httpx.Client(proxy=gateway.proxy_url, verify=ctx, timeout=30) as acker:
        seen = []
        with client.stream("GET", f"{API}/test/causal-sse?events=20&token={token}&timeout=8") as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "tick":
                    n = json.loads(line[6:])["n"]
                    seen.append(n)
                    acker.post(f"{API}/test/ack?token={token}&n={n}", content=b"")
                elif line.startswith("data: ") and event == "error":
                    pytest.fail(line)
        assert seen == list(range(20))


def test_a_slow_reader_keeps_the_gateway_from_buffering(gateway, provider):
    """Backpressure: the client stops reading a 256 MB body; what the provider managed to send minus what
    the client received stays small (socket buffers, not the whole body)."""
    total = 256 * 1024 * 1024
    ctx = gateway.client_ssl_context()
    with httpx.Client(proxy=gateway.proxy_url, verify=ctx, timeout=60) as client:
        with client.stream("GET", f"{API}/test/large?bytes={total}&tag=slow") as response:
            received = 0
            for chunk in response.iter_raw(65536):
                received += len(chunk)
                if received >= 8 * 1024 * 1024:
                    break
            time.sleep(1.5)  # let any buffering show; the assertion is on bytes, not time
            sent = provider.progress.get("slow", 0)
            assert sent - received < 48 * 1024 * 1024, f"provider sent {sent}, client read {received}"
            assert sent < total, "the provider could send the whole body into the gateway"


def test_a_large_request_body_streams_up(gateway, provider):
    body = bytes(range(256)) * (12 * 1024 * 16)  # 48 MiB: Expect: 100-continue from curl
    r = curl(gateway, f"{API}/test/sink?tag=up", "-H", "content-type: application/octet-stream", data=body, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


@pytest.mark.parametrize("redact", [True, False])
def test_secrets_in_bodies_never_reach_the_frames_unless_redaction_is_off(start_gateway, redact):
    gateway = start_gateway(redact_bodies=redact)
    prompt = json.dumps({"model": "claude-e2e-test", "max_tokens": 32,
                         "messages": [{"role": "user", "content": f"keys {AWS} and {GITHUB}"}]}).encode()
    r = curl(gateway, f"{API}/test/echo", "-H", "content-type: application/json", data=prompt)
    assert r.returncode == 0, r.stderr
    assert r.stdout == prompt, "the client's bytes are identical either way"
    ex = only_exchange(gateway, "/test/echo")
    captured = ex.request_body + ex.response_body
    if redact:
        assert AWS.encode() not in captured and GITHUB.encode() not in captured
        assert b"[REDACTED:aws_access_key]" in ex.request_body
        assert set(ex.end["redactions"]) == {"aws_access_key", "github_token"}
        assert ex.end["request_wire_sha256"] == hashlib.sha256(prompt).hexdigest()
    else:
        assert AWS.encode() in ex.request_body and ex.response_body == prompt


def raw_request(gateway, payload: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=timeout) as s:
        s.sendall(payload)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except socket.timeout:
            pass
        return b"".join(chunks)


@pytest.mark.parametrize("payload,status", [
    (b"GARBAGE\r\n\r\n", b"400"),
    (b"GET /no-absolute-form HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
    (b"CONNECT nohost HTTP/1.1\r\n\r\n", b"400"),
    (b"POST http://api.anthropic.com/v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n"
     b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"400"),
    (b"GET http://api.anthropic.com/ HTTP/1.1\r\nHost: api.anthropic.com\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", b"431"),
])
def test_bad_input_gets_a_clear_answer_while_others_are_served(gateway, payload, status):
    token = uuid.uuid4().hex
    ctx = gateway.client_ssl_context()
    results: dict[str, object] = {}

    def good_client() -> None:
        with httpx.Client(proxy=gateway.proxy_url, verify=ctx, timeout=30) as client:
            results["good"] = client.post(f"{API}/v1/messages", content=MESSAGE,
                                          headers={"x-api-key": "k", "content-type": "application/json"}).status_code

    worker = threading.Thread(target=good_client)
    worker.start()
    answer = raw_request(gateway, payload)
    worker.join(30)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert b"flightlog gateway: " in answer
    assert results.get("good") == 200
    assert gateway.process_running
    _ = token


def test_upstream_unreachable_is_a_502_naming_the_cause(start_gateway):
    gateway = start_gateway(extra_config={"gateway": {"upstream_override": ["api.anthropic.com=127.0.0.1:1"]}})
    r = curl(gateway, f"{API}/v1/messages", "-H", "content-type: application/json", "-w", "%{http_code}", data=MESSAGE)
    assert r.stdout.endswith(b"502"), r.stdout
    assert b"unreachable" in r.stdout
    ex = only_exchange(gateway, "/v1/messages")
    assert ex.end["outcome"] == "upstream_error"
    assert ex.response_head["status"] == 502 and ex.response_head["synthetic"]


def test_an_untrusted_upstream_certificate_is_a_502(start_gateway, tmp_path):
    other_ca = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "k"), "-out", str(other_ca), "-days", "1", "-subj", "/CN=other"],
                   check=True, capture_output=True)
    gateway = start_gateway(extra_config={"gateway": {"upstream_ca": str(other_ca)}})
    r = curl(gateway, f"{API}/v1/messages", "-H", "content-type: application/json", "-w", "%{http_code}", data=MESSAGE)
    assert r.stdout.endswith(b"502"), r.stdout
    assert b"TLS" in r.stdout


def test_keep_alive_and_pipelining_on_one_connection(gateway):
    ctx = gateway.client_ssl_context()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as raw:
        raw.sendall(b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n\r\n")
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        with ctx.wrap_socket(raw, server_hostname="api.anthropic.com") as tls:
            request = (b"POST /test/echo HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: k\r\n"
                       b"Content-Length: 5\r\n\r\n")
            tls.sendall(request + b"first" + request + b"secnd")  # two requests back to back
            data = b""
            while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"secnd"):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.index(b"first") < data.index(b"secnd")
    assert gateway.sink.wait_for_ends(2)


def test_websocket_with_permessage_deflate_is_relayed_and_captured_inflated(gateway):
    from websockets.sync.client import connect
    message = json.dumps({"type": "response.create", "response": {"model": "gpt-5-codex", "input": "x" * 60000}})
    url = "wss://api.openai.com/v1/responses"
    with connect(url, ssl=gateway.client_ssl_context(), proxy=gateway.proxy_url, compression="deflate",
                 additional_headers={"Authorization": "Bearer sk-e2e"}, max_size=None, open_timeout=10) as ws:
        assert "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
        ws.send(message)
        replies = []
        while True:
            reply = json.loads(ws.recv(timeout=10))
            replies.append(reply)
            if reply["type"] == "response.completed":
                break
    assert gateway.sink.wait_for(lambda s: any(e.end and e.end.get("websocket") for e in s.exchanges().values()))
    ex = next(e for e in gateway.sink.exchanges().values() if e.end and e.end.get("websocket"))
    sent = [m for m in ex.ws_messages if m.direction == 0 and m.opcode == 1]
    got = [m for m in ex.ws_messages if m.direction == 1 and m.opcode == 1]
    assert sent and sent[0].data.decode() == message
    assert [json.loads(m.data)["type"] for m in got] == [r["type"] for r in replies]
    assert ex.end["outcome"] == "websocket_closed"


def test_a_refused_upgrade_is_relayed_as_is(gateway):
    r = subprocess.run(["curl", "-sS", "--proxy", gateway.proxy_url, "--cacert", str(gateway.ca_path), "-H",
                        "Authorization: Bearer sk-e2e", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                        "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                        "-w", "%{http_code}", "https://api.openai.com/v1/responses?refuse=1"],
                       capture_output=True, timeout=20)
    assert r.stdout[-3:] in (b"426", b"400"), r.stdout


def test_a_trickling_client_is_closed_after_the_idle_timeout(start_gateway):
    gateway = start_gateway(extra_config={"gateway": {"idle_timeout": "1s"}})
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=15) as s:
        s.sendall(b"GET http://api.anthropic.com/ HTTP/1.1\r\nHost: api.anth")  # and never the rest
        s.settimeout(15)
        assert s.recv(4096) == b"", "the gateway should close a connection whose head never completes"
    r = curl(gateway, f"{API}/v1/messages", "-H", "content-type: application/json", data=MESSAGE)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("on_failure", ["block", "pass"])
def test_when_capture_cannot_be_made_durable_on_failure_decides(start_gateway, on_failure):
    gateway = start_gateway(on_failure=on_failure, sink_options={"ack": False},
                            extra_config={"capture": {"memory_buffer_bytes": 8192, "spool_max_bytes": 0}})
    codes = []
    for _ in range(12):
        r = curl(gateway, f"{API}/test/echo", "-H", "content-type: application/json", "-o", "/dev/null",
                 "-w", "%{http_code}", data=b"x" * 2000)
        codes.append(r.stdout.decode())
    if on_failure == "block":
        assert "503" in codes and codes[0] == "200", codes
    else:
        assert set(codes) == {"200"}, codes
        deadline = time.time() + 5
        while time.time() < deadline and not (gateway.status() or {}).get("counters", {}).get("exchanges_lost"):
            time.sleep(0.2)
        assert (gateway.status() or {})["counters"]["exchanges_lost"] > 0


def test_a_websocket_peer_that_drops_tcp_ends_the_capture_with_the_cause(gateway):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    with connect("wss://api.openai.com/v1/responses?drop=1", ssl=gateway.client_ssl_context(), proxy=gateway.proxy_url,
                 compression="deflate", additional_headers={"Authorization": "Bearer sk-e2e"}, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "response.create", "response": {"model": "gpt-5-codex", "input": "hi"}}))
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=10)
    assert gateway.sink.wait_for(lambda s: any(e.end and e.end.get("websocket") for e in s.exchanges().values()))
    ex = next(e for e in gateway.sink.exchanges().values() if e.end and e.end.get("websocket"))
    assert ex.end["outcome"] == "websocket_closed"
    assert "without a close frame" in (ex.end.get("error") or "")
