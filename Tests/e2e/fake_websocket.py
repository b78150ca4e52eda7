"""Hand-written RFC 6455 server side with permessage-deflate (RFC 7692), for the fake provider.

The gateway relays WebSocket frames as they are and inflates a copy for capture, so the fake provider
must produce what real servers produce: compressed messages with context takeover (later messages refer
back to earlier ones, so a capture decoder that resets per message gets garbage), large messages split
into continuation frames, pings, and a proper close handshake -- or a connection dropped without one.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import zlib
from typing import Any
from dataclasses import dataclass

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TAIL = b"\x00\x00\xff\xff"

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DEFAULT_FRAGMENT_SIZE = 16 * 1024
DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024


def accept_key(client_key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((client_key + _GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class DeflateParameters:
    """What was agreed for permessage-deflate. The server keeps its context unless the client demanded
    otherwise, and never compresses with a larger window than the client allowed."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_window_bits: int = 15

    def response_header(self, offered_server_window: bool) -> str:
        parts = ["permessage-deflate"]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if offered_server_window:
            parts.append(f"server_max_window_bits={self.server_window_bits}")
        return "; ".join(parts)


def negotiate_deflate(offers: list[str]) -> tuple[DeflateParameters, str] | None:
    """Accepts the first permessage-deflate offer we can honour; returns the parameters and the response
    header value, or None to run uncompressed."""
    for offer in offers:
        name, *raw_params = [p.strip() for p in offer.split(";")]
        if name.lower() != "permessage-deflate":
            continue
        accepted = _accept_offer(raw_params)
        if accepted is not None:
            return accepted
    return None


def _accept_offer(raw_params: list[str]) -> tuple[DeflateParameters, str] | None:
    params: dict[str, str | None] = {}
    for raw in raw_params:
        key, sep, value = raw.partition("=")
        key = key.strip().lower()
        if key in params:
            return None  # RFC 7692 §7: a repeated parameter makes the offer invalid
        params[key] = value.strip().strip('"') if sep else None
    known = {"server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits",
             "client_max_window_bits"}
    if set(params) - known:
        return None
    window = 15
    if "server_max_window_bits" in params:
        value = params["server_max_window_bits"]
        # zlib cannot make a raw deflate stream with an 8-bit window, so such an offer is declined.
        if value is None or not value.isdigit() or not 9 <= int(value) <= 15:
            return None
        window = int(value)
    chosen = DeflateParameters(
        server_no_context_takeover="server_no_context_takeover" in params,
        client_no_context_takeover="client_no_context_takeover" in params,
        server_window_bits=window,
    )
    return chosen, chosen.response_header("server_max_window_bits" in params)


class WebSocketClosed(Exception):
    """The peer closed (or broke) the connection; `code` is the close code seen, if any."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"websocket closed ({code}) {reason}".strip())
        self.code = code
        self.reason = reason


class _ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class WebSocketStats:
    """Counts the tests read to prove that fragmentation and compression really happened."""

    frames_sent: int = 0
    data_frames_sent: int = 0
    frames_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    compressed_messages_received: int = 0
    pings_received: int = 0
    close_code_received: int | None = None
    close_code_sent: int | None = None
    extensions: str | None = None


@dataclass(frozen=True)
class Message:
    opcode: int
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def _unmask(data: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte mask as one big integer: linear and fast enough for megabytes in CPython."""
    if not data:
        return data
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


class WebSocketConnection:
    """The server end of one WebSocket connection on asyncio streams."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deflate: DeflateParameters | None,
        fragment_size: int = DEFAULT_FRAGMENT_SIZE,
        max_message: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._deflate = deflate
        self._fragment_size = fragment_size
        self._max_message = max_message
        self._send_lock = asyncio.Lock()
        self._compressor = self._new_compressor() if deflate else None
        self._decompressor = zlib.decompressobj(wbits=-15) if deflate else None
        self.stats = WebSocketStats()
        self.closed = False

    # -- sending -------------------------------------------------------------------------------------------------

    def _new_compressor(self) -> Any:  # zlib's compressor type has no public name
        assert self._deflate is not None
        return zlib.compressobj(6, zlib.DEFLATED, -self._deflate.server_window_bits)

    def _compress(self, payload: bytes) -> bytes:
        assert self._deflate is not None
        if self._deflate.server_no_context_takeover or self._compressor is None:
            self._compressor = self._new_compressor()
        data = self._compressor.compress(payload) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        # RFC 7692 §7.2.1: a message ends with an empty stored block whose last 4 octets are removed.
        return data[:-4] if data.endswith(_TAIL) else data

    async def send_text(self, text: str) -> None:
        await self.send(OP_TEXT, text.encode("utf-8"))

    async def send(self, opcode: int, payload: bytes) -> None:
        """Sends one data message, compressed when negotiated, split into `fragment_size` frames."""
        compressed = self._deflate is not None
        body = self._compress(payload) if compressed else payload
        pieces = [body[i:i + self._fragment_size] for i in range(0, len(body), self._fragment_size)] or [b""]
        async with self._send_lock:
            for index, piece in enumerate(pieces):
                first, last = index == 0, index == len(pieces) - 1
                self._writer.write(self._frame(
                    opcode if first else OP_CONTINUATION, piece, fin=last, rsv1=compressed and first))
                self.stats.frames_sent += 1
                self.stats.data_frames_sent += 1
                await self._writer.drain()
            self.stats.messages_sent += 1

    async def _send_control(self, opcode: int, payload: bytes) -> None:
        async with self._send_lock:
            self._writer.write(self._frame(opcode, payload[:125], fin=True, rsv1=False))
            self.stats.frames_sent += 1
            await self._writer.drain()

    @staticmethod
    def _frame(opcode: int, payload: bytes, fin: bool, rsv1: bool) -> bytes:
        first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", first, length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", first, 126, length)
        else:
            head = struct.pack("!BBQ", first, 127, length)
        return head + payload  # server frames are never masked (RFC 6455 §5.1)

    async def close(self, code: int = 1000, reason: str = "", wait: float = 5.0) -> None:
        """Server-initiated close handshake: send Close, wait (bounded) for the peer's Close, then end TCP."""
        if self.closed:
            return
        await self._send_close(code, reason)
        try:
            await asyncio.wait_for(self._await_peer_close(), wait)
        except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        self._end_tcp()

    async def _await_peer_close(self) -> None:
        while True:
            try:
                await self.receive()
            except WebSocketClosed:
                return

    async def _send_close(self, code: int, reason: str) -> None:
        self.stats.close_code_sent = code
        await self._send_control(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:123])

    def abort(self) -> None:
        """Drops the TCP connection without a Close frame (what a crashed upstream looks like)."""
        self.closed = True
        self._writer.transport.abort()

    def _end_tcp(self) -> None:
        self.closed = True
        self._writer.close()

    # -- receiving -----------------------------------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next data message; pings are answered and a Close is echoed on the way. Raises
        WebSocketClosed when the connection ends."""
        try:
            return await self._receive_message()
        except _ProtocolError as error:
            if not self.closed:
                await self._send_close(error.code, error.reason)
                self._end_tcp()
            raise WebSocketClosed(error.code, error.reason) from None
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed = True
            raise WebSocketClosed(None, "connection lost") from None

    async def _receive_message(self) -> Message:
        opcode: int | None = None
        compressed = False
        parts: list[bytes] = []
        size = 0
        while True:
            fin, rsv1, frame_opcode, payload = await self._read_frame()
            if frame_opcode >= 0x8:
                await self._on_control(frame_opcode, payload)
                continue
            if frame_opcode == OP_CONTINUATION:
                if opcode is None or rsv1:
                    raise _ProtocolError(1002, "unexpected continuation frame")
            else:
                if opcode is not None:
                    raise _ProtocolError(1002, "new message inside a fragmented one")
                if frame_opcode not in (OP_TEXT, OP_BINARY):
                    raise _ProtocolError(1002, f"unknown opcode {frame_opcode}")
                if rsv1 and self._deflate is None:
                    raise _ProtocolError(1002, "RSV1 set without permessage-deflate")
                opcode, compressed = frame_opcode, rsv1
            size += len(payload)
            if size > self._max_message:
                raise _ProtocolError(1009, "message too big")
            parts.append(payload)
            if fin:
                return self._finish_message(opcode, compressed, b"".join(parts))

    def _finish_message(self, opcode: int, compressed: bool, data: bytes) -> Message:
        if compressed:
            data = self._inflate(data)
            self.stats.compressed_messages_received += 1
        if opcode == OP_TEXT:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise _ProtocolError(1007, "text message is not UTF-8") from None
        self.stats.messages_received += 1
        return Message(opcode, data)

    def _inflate(self, data: bytes) -> bytes:
        assert self._decompressor is not None
        try:
            out = self._decompressor.decompress(data + _TAIL, self._max_message + 1)
        except zlib.error as error:
            raise _ProtocolError(1007, f"bad deflate data: {error}") from None
        if len(out) > self._max_message or self._decompressor.unconsumed_tail:
            raise _ProtocolError(1009, "message too big after inflation")
        return out

    async def _on_control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self.stats.pings_received += 1
            await self._send_control(OP_PONG, payload)
        elif opcode == OP_PONG:
            return
        elif opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            self.stats.close_code_received = code
            if self.stats.close_code_sent is None:
                # Echo the code (RFC 6455 §5.5.1), then the server closes TCP first (§7.1.1).
                self.stats.close_code_sent = code
                await self._send_control(OP_CLOSE, payload[:2])
            self._end_tcp()
            raise WebSocketClosed(code, payload[2:].decode("utf-8", "replace"))
        else:
            raise _ProtocolError(1002, f"unknown control opcode {opcode}")

    async def _read_frame(self) -> tuple[bool, bool, int, bytes]:
        b0, b1 = await self._reader.readexactly(2)
        fin, rsv1, opcode = bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F
        if b0 & 0x30:
            raise _ProtocolError(1002, "RSV2/RSV3 set")
        if not b1 & 0x80:
            raise _ProtocolError(1002, "client frame not masked")
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self._reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self._reader.readexactly(8))[0]
        if opcode >= 0x8 and (length > 125 or not fin):
            raise _ProtocolError(1002, "bad control frame")
        if length > self._max_message:
            raise _ProtocolError(1009, "frame too big")
        mask = await self._reader.readexactly(4)
        payload = _unmask(await self._reader.readexactly(length), mask)
        self.stats.frames_received += 1
        return fin, rsv1, opcode, payload
