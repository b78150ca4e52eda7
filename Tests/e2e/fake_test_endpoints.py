"""The fake provider's test-only endpoints (`/test/...`) and its WebSocket endpoints.

Each exists to make one gateway property testable without timing guesses:
  /test/echo         request body in = response body out (Content-Type kept)
  /test/sink         consumes a body of any size, answers its length and SHA-256; progress is visible
  /test/large        N deterministic bytes, Content-Length, written under flow control; progress is visible
  /test/chunked      N chunks of M bytes, chunked encoding
  /test/causal-sse   event n+1 is sent only after a client POSTed /test/ack for event n: a buffering proxy
                     cannot pass it (the stream ends with an error event after `timeout` seconds instead)
  /test/status       any status with a small JSON body
  /test/ws, GET /v1/responses (and /backend-api/codex/responses) with Upgrade: websocket
"""
from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import fake_llm_apis as apis
from fake_http import HTTPError, HTTPExchange
from fake_websocket import (
    OP_TEXT,
    WebSocketClosed,
    WebSocketConnection,
    WebSocketStats,
    accept_key,
    negotiate_deflate,
)

if TYPE_CHECKING:
    from fake_provider import ProviderState

LARGE_CHUNK = 64 * 1024
CAUSAL_TIMEOUT = 10.0


def deterministic_chunks(total: int, seed: int = 0, chunk_size: int = LARGE_CHUNK) -> Iterator[bytes]:
    """The pseudo-random body of /test/large (and /test/chunked with chunk_size = size), generated lazily so
    neither the server nor a verifying test ever holds it whole."""
    rng = random.Random(seed)
    remaining = total
    while remaining > 0:
        size = min(chunk_size, remaining)
        yield rng.randbytes(size)
        remaining -= size


def deterministic_sha256(total: int, seed: int = 0, chunk_size: int = LARGE_CHUNK) -> str:
    """SHA-256 (hex) of what /test/large?bytes=total&seed=seed sends."""
    digest = hashlib.sha256()
    for chunk in deterministic_chunks(total, seed, chunk_size):
        digest.update(chunk)
    return digest.hexdigest()


def big_text(size: int) -> str:
    """`size` characters of deterministic hex text: it deflates only to about half, so a large message stays
    larger than one 16 KiB frame even when compressed."""
    rng = random.Random(size)
    line_count = size // 65 + 1
    text = "".join(rng.randbytes(32).hex() + "\n" for _ in range(line_count))
    return text[:size]


def _int_query(ex: HTTPExchange, name: str, default: int | None = None, low: int = 0, high: int = 1 << 40) -> int:
    raw = ex.request.query.get(name)
    if raw is None:
        if default is None:
            raise HTTPError(400, f"query parameter {name} is required")
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise HTTPError(400, f"query parameter {name} must be an integer in [{low}, {high}]")
    return int(raw)


async def echo(ex: HTTPExchange, state: ProviderState) -> None:
    body = await state.read_body(ex)
    content_type = ex.request.header("Content-Type") or "application/octet-stream"
    await ex.send(200, body, [("Content-Type", content_type)])


async def sink(ex: HTTPExchange, state: ProviderState) -> None:
    """Consumes the body as it arrives; `state.progress[tag]` shows how much has arrived so far, which lets a
    test prove the gateway streams request bodies up instead of buffering them."""
    tag = ex.request.query.get("tag", "upload")
    digest = hashlib.sha256()
    state.progress[tag] = 0
    async for piece in ex.body.chunks():
        digest.update(piece)
        state.progress[tag] += len(piece)
    state.finished.add(tag)
    state.record_body_summary(ex, state.progress[tag], digest.hexdigest())
    await ex.send_json(200, {"bytes": state.progress[tag], "sha256": digest.hexdigest()})


async def large(ex: HTTPExchange, state: ProviderState) -> None:
    """N bytes with Content-Length. `state.progress[tag]` is how many bytes the transport has taken so far
    (approximately what reached the socket): with a slow reader behind a proxy that respects backpressure it
    stays well below N."""
    total = _int_query(ex, "bytes")
    seed = _int_query(ex, "seed", 0)
    tag = ex.request.query.get("tag", "large")
    transport = ex.writer.transport
    state.progress[tag] = 0
    state.finished.discard(tag)
    await ex.start_fixed(200, [("Content-Type", "application/octet-stream")], total)
    handed = 0
    for chunk in deterministic_chunks(total, seed):
        ex.writer.write(chunk)
        handed += len(chunk)
        await ex.writer.drain()
        state.progress[tag] = handed - transport.get_write_buffer_size()
    state.progress[tag] = handed - transport.get_write_buffer_size()
    state.finished.add(tag)


async def chunked(ex: HTTPExchange, state: ProviderState) -> None:
    count = _int_query(ex, "chunks", 4, 1, 1 << 20)
    size = _int_query(ex, "size", 1024, 1, 16 << 20)
    seed = _int_query(ex, "seed", 0)
    stream = await ex.start_stream(200, [("Content-Type", "application/octet-stream")])
    for chunk in deterministic_chunks(count * size, seed, size):
        await stream.write(chunk)
    await stream.finish()


async def causal_sse(ex: HTTPExchange, state: ProviderState) -> None:
    """Event 0 at once; event n+1 only after /test/ack?token=T&n=n. `framing=close` ends the body by closing."""
    count = _int_query(ex, "events", 5, 1, 100_000)
    token = ex.request.query.get("token") or ""
    if not token:
        raise HTTPError(400, "query parameter token is required")
    timeout = float(ex.request.query.get("timeout", CAUSAL_TIMEOUT))
    headers = [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache")]
    stream = await ex.start_stream(200, headers, ex.request.query.get("framing", "chunked"))
    try:
        for n in range(count):
            if n > 0 and not await state.wait_ack(token, n - 1, timeout):
                message = f"no ack for event {n - 1} within {timeout:g}s: is something buffering the stream?"
                await stream.write(apis.sse({"n": n - 1, "token": token, "error": message}, "error"))
                break
            await stream.write(apis.sse({"n": n, "token": token}, "tick"))
        else:
            await stream.write(apis.sse({"events": count, "token": token}, "done"))
        await stream.finish()
    finally:
        state.forget_acks(token)


async def ack(ex: HTTPExchange, state: ProviderState) -> None:
    token = ex.request.query.get("token") or ""
    n = _int_query(ex, "n")
    await state.read_body(ex)
    state.ack(token, n)
    await ex.send_json(200, {"acked": n, "token": token})


async def status(ex: HTTPExchange, state: ProviderState) -> None:
    code = _int_query(ex, "code", 200, 200, 599)
    await ex.send_json(code, {"status": code})


# -- WebSocket -----------------------------------------------------------------------------------------------------


@dataclass
class WebSocketRecord:
    """One message as the fake provider saw it: direction 0 = client→provider, 1 = provider→client
    (the capture protocol's numbering), opcode, bytes (decompressed)."""

    path: str
    direction: int
    opcode: int
    data: bytes


@dataclass
class WebSocketSession:
    path: str
    query: dict[str, str]
    stats: WebSocketStats = field(default_factory=WebSocketStats)


async def _handshake(ex: HTTPExchange, state: ProviderState) -> WebSocketConnection | None:
    """Answers the upgrade (or refuses it) and returns the connection, now WebSocket."""
    request = ex.request
    if request.query.get("refuse") == "1":
        ex.close_connection = True
        await ex.send_json(426, {"error": {"message": "upgrade refused (refuse=1)", "type": "invalid_request_error"}},
                           [("Sec-WebSocket-Version", "13")])
        return None
    key = request.header("Sec-WebSocket-Key")
    if (request.method != "GET" or not request.has_token("Upgrade", "websocket")
            or not request.has_token("Connection", "upgrade") or request.header("Sec-WebSocket-Version") != "13"
            or not key):
        raise HTTPError(400, "not a valid WebSocket upgrade request")
    negotiated = None if request.query.get("deflate") == "0" else negotiate_deflate(
        request.header_values("Sec-WebSocket-Extensions"))
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept_key(key))]
    if negotiated is not None:
        headers.append(("Sec-WebSocket-Extensions", negotiated[1]))
    await ex.send(101, b"", headers)
    ex.upgraded = True
    connection = WebSocketConnection(ex.reader, ex.writer, negotiated[0] if negotiated else None)
    connection.stats.extensions = negotiated[1] if negotiated else None
    state.ws_sessions.append(WebSocketSession(request.path, dict(request.query), connection.stats))
    return connection


async def _send(ws: WebSocketConnection, state: ProviderState, path: str, text: str) -> None:
    state.ws_messages.append(WebSocketRecord(path, 1, OP_TEXT, text.encode()))
    await ws.send_text(text)


async def websocket_responses(ex: HTTPExchange, state: ProviderState) -> None:
    """Responses API over WebSocket: each `response.create` text message gets the streamed events back as
    separate text messages. `drop=1` cuts TCP (no Close frame) after the first answer."""
    ws = await _handshake(ex, state)
    if ws is None:
        return
    path, drop = ex.request.path, ex.request.query.get("drop") == "1"
    try:
        for index in range(1 << 30):
            message = await ws.receive()
            state.ws_messages.append(WebSocketRecord(path, 0, message.opcode, message.data))
            for event in _responses_over_ws(message.data, index):
                await _send(ws, state, path, apis.compact(event))
            if drop:
                ws.abort()
                return
    except WebSocketClosed:
        return


def _responses_over_ws(data: bytes, index: int) -> list[dict[str, Any]]:
    try:
        request = json.loads(data)
    except ValueError:
        request = None
    if not isinstance(request, dict) or request.get("type") != "response.create":
        return [{"type": "error", "status": 400, "error": {
            "type": "invalid_request_error", "code": "unknown_message",
            "message": "expected a JSON message with type response.create"}}]
    # Accept both the flat form (the POST body plus "type") and a nested {"response": {...}}.
    body = request["response"] if isinstance(request.get("response"), dict) else request
    body = {k: v for k, v in body.items() if k != "type"}
    return apis.response_events(body, data, apis.stable_id("", data, str(index)))


async def websocket_echo(ex: HTTPExchange, state: ProviderState) -> None:
    """/test/ws: echoes every message; `big:N` answers N characters of text, `close:CODE` starts the close
    handshake from the server side. `drop=1` cuts TCP after the first answer."""
    ws = await _handshake(ex, state)
    if ws is None:
        return
    path, drop = ex.request.path, ex.request.query.get("drop") == "1"
    try:
        while True:
            message = await ws.receive()
            state.ws_messages.append(WebSocketRecord(path, 0, message.opcode, message.data))
            if await _echo_command(ws, state, path, message.opcode, message.data):
                return
            if drop:
                ws.abort()
                return
    except WebSocketClosed:
        return


async def _echo_command(ws: WebSocketConnection, state: ProviderState, path: str, opcode: int, data: bytes) -> bool:
    """Acts on one /test/ws message; True when the connection is finished."""
    if opcode == OP_TEXT and data.startswith(b"big:") and data[4:].isdigit():
        await _send(ws, state, path, big_text(int(data[4:])))
    elif opcode == OP_TEXT and data.startswith(b"close:") and data[6:].isdigit():
        await ws.close(int(data[6:]), "closing as asked")
        return True
    else:
        state.ws_messages.append(WebSocketRecord(path, 1, opcode, data))
        await ws.send(opcode, data)
    return False

