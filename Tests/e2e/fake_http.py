"""Hand-written HTTP/1.1 server side for the fake provider (RFC 9112), on asyncio streams.

Written by hand rather than with an HTTP framework so the suite controls every byte the gateway sees:
framing (Content-Length, chunked, close-delimited), `Expect: 100-continue`, keep-alive, and exactly when a
streamed chunk is handed to the socket. Only what the fake provider needs is implemented; anything
ambiguous (both Content-Length and Transfer-Encoding, differing Content-Lengths) is refused with 400 the
way careful origin servers do, so request-smuggling mistakes in the gateway show up as failures.
"""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: The longest request head accepted; the StreamReader limit must be at least this.
MAX_HEAD_BYTES = 64 * 1024
#: The largest request body a handler may buffer whole.
MAX_BUFFERED_BODY = 64 * 1024 * 1024
#: A body left unread by a handler is drained up to this much to keep the connection; beyond it we close.
MAX_DRAIN_BYTES = 1024 * 1024

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

Headers = list[tuple[str, str]]


class HTTPError(Exception):
    """A request the server answers with an error status and then closes the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    """A parsed request head. `headers` keeps the order and spelling of the wire."""

    method: str
    target: str
    version: str
    headers: Headers
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        """The first value of `name` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of `name`, comma-separated lists split, for tokens such as Connection."""
        lowered = name.lower()
        values: list[str] = []
        for key, value in self.headers:
            if key.lower() == lowered:
                values.extend(part.strip() for part in value.split(",") if part.strip())
        return values

    def has_token(self, name: str, token: str) -> bool:
        return token.lower() in (v.lower() for v in self.header_values(name))

    @property
    def keep_alive(self) -> bool:
        """HTTP/1.1 defaults to persistent connections, HTTP/1.0 to closing (RFC 9112 §9.3)."""
        if self.has_token("Connection", "close"):
            return False
        if self.version == "HTTP/1.0":
            return self.has_token("Connection", "keep-alive")
        return True

    @property
    def expects_continue(self) -> bool:
        return (self.header("Expect") or "").lower() == "100-continue"


async def read_request_head(reader: asyncio.StreamReader) -> Request | None:
    """Reads one request head; None when the peer closed cleanly between requests."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial.strip():
            return None
        raise HTTPError(400, "connection closed inside the request head") from None
    except asyncio.LimitOverrunError:
        raise HTTPError(431, "request head too large") from None
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    text = raw.lstrip(b"\r\n").decode("latin-1")
    lines = text.split("\r\n")[:-2]
    if not lines:
        raise HTTPError(400, "empty request head")
    return _parse_head(lines)


def _parse_head(lines: list[str]) -> Request:
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HTTPError(400, f"bad request line {lines[0][:80]!r}")
    method, target, version = parts
    if not _TOKEN.match(method) or not target:
        raise HTTPError(400, "bad method or target")
    headers: Headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            raise HTTPError(400, "obsolete header line folding")
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name):
            raise HTTPError(400, f"bad header line {line[:80]!r}")
        headers.append((name, value.strip(" \t")))
    return Request(method=method, target=target, version=version, headers=headers)


class BodyReader:
    """Streams one request body, whatever its framing, and sends `100 Continue` when first asked for bytes."""

    def __init__(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._continue_pending = request.expects_continue
        self._remaining, self._chunked = _body_framing(request)
        self.finished = self._remaining == 0 and not self._chunked
        self.bytes_read = 0

    @property
    def continue_pending(self) -> bool:
        """True while the client still waits for `100 Continue` (it may not have sent the body at all)."""
        return self._continue_pending and not self.finished

    async def chunks(self, size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """Yields the body as it arrives, in pieces of at most `size` bytes."""
        if self.finished:
            return
        if self._continue_pending:
            self._continue_pending = False
            self._writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await self._writer.drain()
        source = self._chunked_pieces(size) if self._chunked else self._length_pieces(size)
        async for piece in source:
            self.bytes_read += len(piece)
            yield piece
        self.finished = True

    async def read_all(self, limit: int = MAX_BUFFERED_BODY) -> bytes:
        """The whole body; 413 when it is larger than `limit`."""
        pieces: list[bytes] = []
        total = 0
        async for piece in self.chunks():
            total += len(piece)
            if total > limit:
                raise HTTPError(413, f"request body over {limit} bytes")
            pieces.append(piece)
        return b"".join(pieces)

    async def discard(self) -> bool:
        """Consumes what the handler left unread; False when the connection cannot be reused."""
        if self.finished:
            return True
        if self.continue_pending:
            # The client was never told to send the body; RFC 9110 §10.1.1 lets us close instead.
            return False
        drained = 0
        async for piece in self.chunks():
            drained += len(piece)
            if drained > MAX_DRAIN_BYTES:
                return False
        return True

    async def _length_pieces(self, size: int) -> AsyncIterator[bytes]:
        while self._remaining > 0:
            piece = await self._reader.read(min(size, self._remaining))
            if not piece:
                raise HTTPError(400, "connection closed inside the request body")
            self._remaining -= len(piece)
            yield piece

    async def _chunked_pieces(self, size: int) -> AsyncIterator[bytes]:
        while True:
            chunk_size = await self._read_chunk_size()
            if chunk_size == 0:
                await self._read_trailers()
                return
            left = chunk_size
            while left > 0:
                piece = await self._reader.read(min(size, left))
                if not piece:
                    raise HTTPError(400, "connection closed inside a chunk")
                left -= len(piece)
                yield piece
            if await self._reader.readexactly(2) != b"\r\n":
                raise HTTPError(400, "chunk data not followed by CRLF")

    async def _read_chunk_size(self) -> int:
        line = await self._read_line()
        digits = line.split(";", 1)[0].strip()
        if not digits or not re.fullmatch(r"[0-9A-Fa-f]{1,15}", digits):
            raise HTTPError(400, f"bad chunk size {line[:40]!r}")
        return int(digits, 16)

    async def _read_trailers(self) -> None:
        while await self._read_line():
            pass

    async def _read_line(self) -> str:
        try:
            raw = await self._reader.readuntil(b"\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise HTTPError(400, "bad chunked framing") from None
        return raw[:-2].decode("latin-1")


def _body_framing(request: Request) -> tuple[int, bool]:
    """(Content-Length, chunked) for a request, refusing the ambiguous combinations (RFC 9112 §6.3)."""
    transfer = request.header_values("Transfer-Encoding")
    lengths = [v for k, v in request.headers if k.lower() == "content-length"]
    if transfer:
        if lengths:
            raise HTTPError(400, "both Transfer-Encoding and Content-Length")
        if [t.lower() for t in transfer] != ["chunked"]:
            raise HTTPError(501, f"unsupported Transfer-Encoding {', '.join(transfer)}")
        return 0, True
    if not lengths:
        return 0, False
    values = {v.strip() for v in lengths}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise HTTPError(400, "bad or conflicting Content-Length")
    return int(values.pop()), False


def status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


def encode_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers)
    return status_line(status) + lines + b"\r\n"


class ResponseStream:
    """A response body written piece by piece: chunked, or close-delimited (no length, end = close)."""

    def __init__(self, writer: asyncio.StreamWriter, chunked: bool) -> None:
        self._writer = writer
        self._chunked = chunked
        self.bytes_written = 0

    async def write(self, data: bytes) -> None:
        """Writes one piece and waits for the transport to take it (flow control), so each SSE event is sent
        on its own rather than coalesced with later ones."""
        if not data:
            return
        if self._chunked:
            self._writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        else:
            self._writer.write(data)
        self.bytes_written += len(data)
        await self._writer.drain()

    async def finish(self) -> None:
        if self._chunked:
            self._writer.write(b"0\r\n\r\n")
        await self._writer.drain()


class HTTPExchange:
    """One request on a connection and the means to answer it. Handlers set `close_connection` when the
    connection must not be reused, and `upgraded` once they took the connection over (WebSocket)."""

    def __init__(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.request = request
        self.reader = reader
        self.writer = writer
        self.body = BodyReader(request, reader, writer)
        self.close_connection = not request.keep_alive
        self.upgraded = False
        self.response_status: int | None = None

    def _common_headers(self, headers: Headers) -> Headers:
        if self.close_connection and not any(k.lower() == "connection" for k, _ in headers):
            headers = [*headers, ("Connection", "close")]
        return headers

    async def send(self, status: int, body: bytes, headers: Headers | None = None) -> None:
        """A complete response with Content-Length framing (none for 1xx/204/304, RFC 9110 §8.6)."""
        headers = list(headers or [])
        if status in (204, 304) or status < 200:
            body = b""
        else:
            headers.append(("Content-Length", str(len(body))))
        self.response_status = status
        payload = b"" if self.request.method == "HEAD" else body
        self.writer.write(encode_head(status, self._common_headers(headers)) + payload)
        await self.writer.drain()

    async def send_json(self, status: int, value: Any, headers: Headers | None = None,
                        indent: int | None = None) -> None:
        separators = (",", ": ") if indent else (",", ":")
        body = json.dumps(value, indent=indent, separators=separators).encode()
        await self.send(status, body, [("Content-Type", "application/json"), *(headers or [])])

    async def start_stream(self, status: int, headers: Headers, framing: str = "chunked") -> ResponseStream:
        """Sends the head of a streamed response; `framing` is `chunked` or `close` (close-delimited)."""
        if framing not in ("chunked", "close"):
            raise HTTPError(400, f"unknown framing {framing!r}")
        headers = list(headers)
        if framing == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            self.close_connection = True
        self.response_status = status
        self.writer.write(encode_head(status, self._common_headers(headers)))
        await self.writer.drain()
        return ResponseStream(self.writer, chunked=framing == "chunked")

    async def start_fixed(self, status: int, headers: Headers, length: int) -> None:
        """Sends the head of a Content-Length response whose body the caller writes itself."""
        self.response_status = status
        head = encode_head(status, self._common_headers([*headers, ("Content-Length", str(length))]))
        self.writer.write(head)
        await self.writer.drain()
