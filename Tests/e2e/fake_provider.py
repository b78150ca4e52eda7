"""The project's fake LLM provider: one TLS server that answers like api.anthropic.com, api.openai.com,
chatgpt.com (Codex) and generativelanguage.googleapis.com, plus test-only endpoints.

The gateway tests point real clients at the gateway and map every API host to this server
(`gateway.upstream_override`), so the server must speak each provider's real wire format and be
deterministic: the same request gets the same bytes, whether fetched directly or through the gateway.
Formats live in `fake_llm_apis`, the HTTP layer in `fake_http`, WebSocket in `fake_websocket`, the
`/test/...` endpoints in `fake_test_endpoints`.

    python fake_provider.py --port 0 --cert leaf.pem --key leaf.key --port-file port.txt
    port, handle = start_in_thread(cert, key)     # from a test; handle.stop() at the end
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fake_llm_apis as apis
import fake_test_endpoints as testing
from fake_http import MAX_HEAD_BYTES, HTTPError, HTTPExchange, encode_head, read_request_head

Handler = Callable[[HTTPExchange], Awaitable[None]]

#: Bodies up to this size are kept whole in `RecordedRequest.body`; larger ones only as length and hash.
RECORDED_BODY_LIMIT = 1024 * 1024
_GEMINI_PATH = re.compile(r"^/v1beta/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)$")


@dataclass
class RecordedRequest:
    """A request as the provider received it: what a test compares with what the client sent."""

    method: str
    target: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes | None = None
    body_length: int = 0
    body_sha256: str = hashlib.sha256(b"").hexdigest()

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class ProviderState:
    """Everything the handlers share and the tests read. Mutated only on the server's event loop; reading
    it from the test thread is safe for these simple appends and counters."""

    requests: list[RecordedRequest] = field(default_factory=list)
    #: Bytes moved so far per tag: /test/large (sent) and /test/sink (received).
    progress: dict[str, int] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    ws_sessions: list[testing.WebSocketSession] = field(default_factory=list)
    ws_messages: list[testing.WebSocketRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _acks: dict[tuple[str, int], asyncio.Event] = field(default_factory=dict)
    _current: dict[int, RecordedRequest] = field(default_factory=dict)

    def begin(self, ex: HTTPExchange) -> None:
        record = RecordedRequest(ex.request.method, ex.request.target, ex.request.path, list(ex.request.headers))
        self.requests.append(record)
        self._current[id(ex)] = record

    def end(self, ex: HTTPExchange) -> None:
        self._current.pop(id(ex), None)

    async def read_body(self, ex: HTTPExchange) -> bytes:
        """The whole request body, recorded for the tests."""
        body = await ex.body.read_all()
        record = self._current.get(id(ex))
        if record is not None:
            record.body = body if len(body) <= RECORDED_BODY_LIMIT else None
            record.body_length = len(body)
            record.body_sha256 = hashlib.sha256(body).hexdigest()
        return body

    def record_body_summary(self, ex: HTTPExchange, length: int, sha256: str) -> None:
        record = self._current.get(id(ex))
        if record is not None:
            record.body_length, record.body_sha256 = length, sha256

    def _ack_event(self, token: str, n: int) -> asyncio.Event:
        return self._acks.setdefault((token, n), asyncio.Event())

    def ack(self, token: str, n: int) -> None:
        self._ack_event(token, n).set()

    async def wait_ack(self, token: str, n: int, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._ack_event(token, n).wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def forget_acks(self, token: str) -> None:
        for key in [k for k in self._acks if k[0] == token]:
            del self._acks[key]


def request_key(ex: HTTPExchange, body: bytes) -> str:
    """What ids are derived from: identical requests get identical responses."""
    return f"{ex.request.method} {ex.request.target}\n{hashlib.sha256(body).hexdigest()}"


def _parse_json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class FakeProvider:
    """Routes requests to handlers and runs the TLS listener."""

    def __init__(self, state: ProviderState | None = None) -> None:
        self.state = state or ProviderState()
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        s = self.state
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/messages"): self._anthropic_messages,
            ("POST", "/v1/messages/count_tokens"): self._anthropic_count_tokens,
            ("GET", "/api/claude_code/settings"): self._claude_code_settings,
            ("POST", "/v1/chat/completions"): self._chat_completions,
            ("POST", "/v1/responses"): self._responses,
            ("GET", "/v1/responses"): self._responses_websocket,
            ("POST", "/backend-api/codex/responses"): self._responses,
            ("GET", "/backend-api/codex/responses"): self._responses_websocket,
            ("POST", "/test/echo"): lambda ex: testing.echo(ex, s),
            ("POST", "/test/sink"): lambda ex: testing.sink(ex, s),
            ("PUT", "/test/sink"): lambda ex: testing.sink(ex, s),
            ("GET", "/test/large"): lambda ex: testing.large(ex, s),
            ("GET", "/test/chunked"): lambda ex: testing.chunked(ex, s),
            ("GET", "/test/causal-sse"): lambda ex: testing.causal_sse(ex, s),
            ("POST", "/test/ack"): lambda ex: testing.ack(ex, s),
            ("GET", "/test/status"): lambda ex: testing.status(ex, s),
            ("GET", "/test/ws"): lambda ex: testing.websocket_echo(ex, s),
        }

    # -- listener ------------------------------------------------------------------------------------------------

    async def start(self, host: str, port: int, context: ssl.SSLContext) -> int:
        """Binds and starts serving; returns the bound port."""
        self._server = await asyncio.start_server(self._connection, host, port, ssl=context, limit=MAX_HEAD_BYTES)
        return self._server.sockets[0].getsockname()[1]

    async def shutdown(self) -> None:
        """Stops accepting and cuts open connections (a test's provider never outlives the test)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.transport.abort()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        writer.transport.set_write_buffer_limits(high=256 * 1024)
        try:
            await self._serve_requests(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass
        except Exception:  # a bug in a handler: keep serving others, and let the tests see it
            self.state.errors.append(traceback.format_exc())
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _serve_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Keep-alive loop: one request after another until either side wants the connection closed."""
        while True:
            try:
                request = await read_request_head(reader)
                if request is None:
                    return
                ex = HTTPExchange(request, reader, writer)  # refuses ambiguous body framing
            except HTTPError as error:
                await self._refuse(writer, error)
                return
            self.state.begin(ex)
            try:
                await self._dispatch(ex)
            except HTTPError as error:
                if ex.response_status is None:
                    ex.close_connection = True
                    await ex.send_json(error.status, {"error": {"message": error.message, "type": "fake_provider"}})
                return
            finally:
                self.state.end(ex)
            if ex.upgraded or ex.close_connection or not await ex.body.discard():
                return

    @staticmethod
    async def _refuse(writer: asyncio.StreamWriter, error: HTTPError) -> None:
        """Answers a request that could not even be parsed, then the connection is closed."""
        body = json.dumps({"error": {"message": error.message, "type": "fake_provider"}}).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")]
        writer.write(encode_head(error.status, headers) + body)
        await writer.drain()

    async def _dispatch(self, ex: HTTPExchange) -> None:
        path, method = ex.request.path, ex.request.method
        handler = self._routes.get((method, path))
        if handler is None and (match := _GEMINI_PATH.match(path)) and method == "POST":
            model, action = match.groups()
            await self._gemini(ex, model, action)
            return
        if handler is None:
            known = any(p == path for _, p in self._routes)
            raise HTTPError(405 if known else 404, f"no route for {method} {path}")
        await handler(ex)

    # -- Anthropic -----------------------------------------------------------------------------------------------

    async def _anthropic_request(self, ex: HTTPExchange) -> tuple[dict[str, Any], bytes, str] | None:
        """Auth and JSON checks shared by the Anthropic endpoints; None once an error was answered."""
        body = await self.state.read_body(ex)
        key = request_key(ex, body)
        headers = [("request-id", apis.stable_id("req_", key))]
        authorization = ex.request.header("Authorization") or ""
        if not ex.request.header("x-api-key") and not authorization.startswith("Bearer "):
            await ex.send_json(401, apis.anthropic_error("authentication_error", "x-api-key header is required", key),
                               headers)
            return None
        request = _parse_json(body)
        if request is None:
            await ex.send_json(400, apis.anthropic_error("invalid_request_error", "body is not a JSON object", key),
                               headers)
            return None
        return request, body, key

    async def _anthropic_messages(self, ex: HTTPExchange) -> None:
        parsed = await self._anthropic_request(ex)
        if parsed is None:
            return
        request, body, key = parsed
        headers = [("request-id", apis.stable_id("req_", key))]
        if not request.get("stream"):
            await ex.send_json(200, apis.anthropic_message(request, body, key), headers)
            return
        stream = await ex.start_stream(
            200, [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"), *headers])
        for name, data in apis.anthropic_stream(request, body, key):
            await stream.write(apis.sse(data, name))
        await stream.finish()

    async def _anthropic_count_tokens(self, ex: HTTPExchange) -> None:
        parsed = await self._anthropic_request(ex)
        if parsed is not None:
            await ex.send_json(200, apis.anthropic_count_tokens(parsed[1]))

    async def _claude_code_settings(self, ex: HTTPExchange) -> None:
        """Claude Code asks for organisation-managed settings at start; an organisation without any."""
        await ex.send_json(200, {"settings": {}, "checksum": apis.stable_id("", "settings", length=16)})

    # -- OpenAI --------------------------------------------------------------------------------------------------

    async def _openai_request(self, ex: HTTPExchange) -> tuple[dict[str, Any], bytes, str] | None:
        body = await self.state.read_body(ex)
        if not (ex.request.header("Authorization") or "").startswith("Bearer "):
            await ex.send_json(401, apis.openai_error(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "missing_api_key"), indent=2)
            return None
        request = _parse_json(body)
        if request is None:
            await ex.send_json(400, apis.openai_error("We could not parse the JSON body of your request.",
                                                      "invalid_json"), indent=2)
            return None
        return request, body, request_key(ex, body)

    @staticmethod
    def _openai_headers(key: str) -> list[tuple[str, str]]:
        return [("x-request-id", apis.stable_id("req_", key, length=32)), ("openai-processing-ms", "7"),
                ("openai-version", "2020-10-01")]

    async def _chat_completions(self, ex: HTTPExchange) -> None:
        parsed = await self._openai_request(ex)
        if parsed is None:
            return
        request, body, key = parsed
        if not request.get("stream"):
            await ex.send_json(200, apis.chat_completion(request, body, key), self._openai_headers(key), indent=2)
            return
        stream = await ex.start_stream(200, [("Content-Type", "text/event-stream; charset=utf-8"),
                                             *self._openai_headers(key)])
        for chunk in apis.chat_completion_chunks(request, body, key):
            await stream.write(apis.sse(chunk))
        await stream.write(apis.sse("[DONE]"))
        await stream.finish()

    async def _responses(self, ex: HTTPExchange) -> None:
        parsed = await self._openai_request(ex)
        if parsed is None:
            return
        request, body, key = parsed
        if not request.get("stream"):
            await ex.send_json(200, apis.response(request, body, key), self._openai_headers(key), indent=2)
            return
        stream = await ex.start_stream(200, [("Content-Type", "text/event-stream; charset=utf-8"),
                                             *self._openai_headers(key)])
        for event in apis.response_events(request, body, key):
            await stream.write(apis.sse(event, event["type"]))
        await stream.finish()

    async def _responses_websocket(self, ex: HTTPExchange) -> None:
        if not (ex.request.header("Authorization") or "").startswith("Bearer "):
            ex.close_connection = True
            await ex.send_json(401, apis.openai_error("You didn't provide an API key.", "missing_api_key"))
            return
        await testing.websocket_responses(ex, self.state)

    # -- Gemini --------------------------------------------------------------------------------------------------

    async def _gemini(self, ex: HTTPExchange, model: str, action: str) -> None:
        body = await self.state.read_body(ex)
        if not ex.request.header("x-goog-api-key") and not ex.request.query.get("key"):
            await ex.send_json(403, apis.gemini_error(
                403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call this API."), indent=2)
            return
        request = _parse_json(body)
        if request is None:
            await ex.send_json(400, apis.gemini_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
                               indent=2)
            return
        key = request_key(ex, body)
        json_type = [("Content-Type", "application/json; charset=UTF-8"), ("Vary", "Origin, X-Origin, Referer")]
        if action == "countTokens":
            total = apis.plan_usage(body, "", cache_write=False, reasoning=0).input_total
            await ex.send_json(200, {"totalTokens": total}, json_type[1:], indent=2)
        elif action == "generateContent":
            await ex.send_json(200, apis.gemini_response(model, request, body, key), json_type[1:], indent=2)
        elif ex.request.query.get("alt") == "sse":
            stream = await ex.start_stream(200, [("Content-Type", "text/event-stream"), json_type[1]])
            for chunk in apis.gemini_stream_chunks(model, request, body, key):
                await stream.write(apis.sse(chunk, newline="\r\n"))  # Google ends SSE lines with CRLF
            await stream.finish()
        else:
            # Without alt=sse the stream is one JSON array, written element by element.
            stream = await ex.start_stream(200, json_type)
            chunks = apis.gemini_stream_chunks(model, request, body, key)
            for n, chunk in enumerate(chunks):
                await stream.write((("[" if n == 0 else ",\r\n") + json.dumps(chunk, indent=2)).encode())
            await stream.write(b"]")
            await stream.finish()


# -- running it ------------------------------------------------------------------------------------------------------


def server_context(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ssl.SSLContext:
    """TLS for the listener. ALPN offers only http/1.1: the fake provider does not speak h2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.set_alpn_protocols(["http/1.1"])
    return context


class ProviderHandle:
    """A fake provider running on its own thread and event loop, as a test fixture uses it."""

    def __init__(self, port: int, host: str, provider: FakeProvider, loop: asyncio.AbstractEventLoop,
                 thread: threading.Thread) -> None:
        self.port = port
        self.host = host
        self.provider = provider
        self.state = provider.state
        self._loop = loop
        self._thread = thread

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def progress(self) -> dict[str, int]:
        return self.state.progress

    @property
    def large_bytes_written(self) -> int:
        """Bytes of the last untagged /test/large response handed to the socket so far."""
        return self.state.progress.get("large", 0)

    @property
    def ws_messages(self) -> list[testing.WebSocketRecord]:
        return self.state.ws_messages

    @property
    def ws_sessions(self) -> list[testing.WebSocketSession]:
        return self.state.ws_sessions

    @property
    def errors(self) -> list[str]:
        """Tracebacks of handler bugs; a test can assert this stays empty."""
        return self.state.errors

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Polls `condition` (cheap reads of the state) until true or `timeout`; returns the last result."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() >= deadline:
                return condition()
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15)


def _run_loop(loop: asyncio.AbstractEventLoop, provider: FakeProvider, started: Callable[[], None]) -> None:
    asyncio.set_event_loop(loop)
    try:
        started()
        loop.run_forever()
        loop.run_until_complete(provider.shutdown())
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    finally:
        loop.close()


def start_in_thread(cert: str | os.PathLike[str], key: str | os.PathLike[str], host: str = "127.0.0.1",
                    port: int = 0, provider: FakeProvider | None = None) -> tuple[int, ProviderHandle]:
    """Starts a fake provider (this one, or `provider`, e.g. a scripted subclass) on a background thread with its
    own event loop; returns once it listens. Everything runs on that thread, so this works from async tests
    that already run a loop."""
    loop = asyncio.new_event_loop()
    provider = provider or FakeProvider()
    context = server_context(cert, key)
    ready = threading.Event()
    outcome: dict[str, Any] = {}

    def started() -> None:
        try:
            outcome["port"] = loop.run_until_complete(provider.start(host, port, context))
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error
            loop.call_soon(loop.stop)
        finally:
            ready.set()

    name = type(provider).__name__
    thread = threading.Thread(target=_run_loop, args=(loop, provider, started), name=name, daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError(f"{name} did not start within 30 s")
    if "error" in outcome:
        thread.join(10)
        raise outcome["error"]
    bound = outcome["port"]
    return bound, ProviderHandle(bound, host, provider, loop, thread)


async def _serve_forever(args: argparse.Namespace, provider: FakeProvider) -> None:
    port = await provider.start(args.host, args.port, server_context(args.cert, args.key))
    if args.port_file:
        # Written whole then renamed, so a reader polling for the file never sees a partial number.
        target = Path(args.port_file)
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_text(f"{port}\n")
        temporary.replace(target)
    print(f"{type(provider).__name__} listening on https://{args.host}:{port}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await provider.shutdown()


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None,
         make_provider: Callable[[argparse.Namespace], FakeProvider] = lambda _: FakeProvider()) -> None:
    """The standalone process; a variant passes its own `parser` (extra options) and `make_provider`."""
    parser = parser or argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True, help="PEM server certificate (see certs.py)")
    parser.add_argument("--key", required=True, help="PEM private key of --cert")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args, make_provider(args)))


if __name__ == "__main__":
    main()
