"""A stand-in for ingestd in the end-to-end tests: listens on the gateway's capture socket
(`$home/run/ingest.sock`), decodes capture frames, keeps them for assertions and acknowledges them.

It is written from the wire format alone (Sources/Shared/Capture/CaptureFrameCodec.swift), not from the
Swift code, so it checks the gateway against the contract rather than against itself:

    u32 length      bytes that follow this field: 34-byte header + payload      (all big-endian)
    u8  version     1
    u8  kind        1 hello, 2 ack, 10 exchange_begin, 11 request_body, 12 response_head,
                    13 response_body, 14 websocket_message, 15 exchange_end
    u64 seq         per-gateway sequence number from 1; 0 for control frames
    16  exchange id UUID bytes (zeros for control frames)
    i64 timestamp   nanoseconds since the Unix epoch
    ... payload

Acks are cumulative (kind 2, payload u64: every seq up to it is durable). Options let a test withhold or
delay them (`ack=False`, `ack_delay`), stop reading (`pause()`), or cut the connections (`drop_connections()`)
to play an ingestd that is slow, stuck or crashed.

    sink = FrameSink(path).start(); ...; sink.exchanges(); sink.stop()
    python frame_sink.py PATH [--no-ack] [--ack-delay SECONDS]
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
HEADER = struct.Struct("!BBQ16sq")  # version, kind, seq, exchange id, timestamp: 34 bytes
LENGTH = struct.Struct("!I")
MAX_FRAME_LENGTH = 64 * 1024 * 1024
# sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107

KIND_HELLO, KIND_ACK = 1, 2
KIND_EXCHANGE_BEGIN, KIND_REQUEST_BODY, KIND_RESPONSE_HEAD = 10, 11, 12
KIND_RESPONSE_BODY, KIND_WEBSOCKET_MESSAGE, KIND_EXCHANGE_END = 13, 14, 15
KIND_NAMES = {
    KIND_HELLO: "hello", KIND_ACK: "ack", KIND_EXCHANGE_BEGIN: "exchange_begin",
    KIND_REQUEST_BODY: "request_body", KIND_RESPONSE_HEAD: "response_head", KIND_RESPONSE_BODY: "response_body",
    KIND_WEBSOCKET_MESSAGE: "websocket_message", KIND_EXCHANGE_END: "exchange_end",
}
JSON_KINDS = {KIND_HELLO, KIND_EXCHANGE_BEGIN, KIND_RESPONSE_HEAD, KIND_EXCHANGE_END}
NO_EXCHANGE = str(uuid.UUID(int=0))


@dataclass(frozen=True)
class Frame:
    """One decoded frame, with where it came from (connection index, that connection's hello)."""

    kind: int
    seq: int
    exchange_id: str
    timestamp: int
    payload: bytes
    connection: int
    gateway_id: str | None
    received_at: float

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, f"kind({self.kind})")

    def json(self) -> Any:
        return json.loads(self.payload)


def encode_frame(kind: int, seq: int, exchange_id: uuid.UUID | str | bytes | None, payload: bytes,
                 timestamp: int | None = None, version: int = VERSION) -> bytes:
    """The wire form of a frame (for acks, and for tests that play the gateway)."""
    if exchange_id is None:
        raw_id = bytes(16)
    elif isinstance(exchange_id, bytes):
        raw_id = exchange_id
    else:
        raw_id = (exchange_id if isinstance(exchange_id, uuid.UUID) else uuid.UUID(exchange_id)).bytes
    stamp = time.time_ns() if timestamp is None else timestamp
    header = HEADER.pack(version, kind, seq, raw_id, stamp)
    return LENGTH.pack(len(header) + len(payload)) + header + payload


class FrameError(Exception):
    """A byte stream that is not the capture protocol; the connection is closed."""


class FrameDecoder:
    """Splits a byte stream into frames (sans-IO: feed bytes, take frames)."""

    def __init__(self, max_frame_length: int = MAX_FRAME_LENGTH) -> None:
        self._buffer = bytearray()
        self._max = max_frame_length

    def feed(self, data: bytes) -> list[tuple[int, int, bytes, int, bytes]]:
        """Appends bytes; returns complete frames as (kind, seq, id bytes, timestamp, payload)."""
        self._buffer += data
        frames = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> tuple[int, int, bytes, int, bytes] | None:
        if len(self._buffer) < LENGTH.size:
            return None
        (length,) = LENGTH.unpack_from(self._buffer)
        if length < HEADER.size:
            raise FrameError(f"frame length {length} is shorter than the {HEADER.size}-byte header")
        if length > self._max:
            raise FrameError(f"frame length {length} exceeds the limit of {self._max}")
        # Refuse garbage as soon as its version byte is visible, before waiting for a huge "length".
        if len(self._buffer) > LENGTH.size and self._buffer[LENGTH.size] != VERSION:
            raise FrameError(f"frame version {self._buffer[LENGTH.size]}, expected {VERSION}")
        end = LENGTH.size + length
        if len(self._buffer) < end:
            return None
        _, kind, seq, raw_id, stamp = HEADER.unpack_from(self._buffer, LENGTH.size)
        payload = bytes(self._buffer[LENGTH.size + HEADER.size:end])
        del self._buffer[:end]
        return kind, seq, raw_id, stamp, payload


@dataclass(frozen=True)
class WebSocketMessage:
    """A captured WebSocket message: direction 0 = client→upstream, 1 = upstream→client."""

    direction: int
    opcode: int
    data: bytes
    seq: int


@dataclass
class CapturedExchange:
    """All frames of one exchange put back together. `ex.begin` and `ex["begin"]` both work."""

    exchange_id: str
    begin: dict[str, Any] | None = None
    request_body: bytes = b""
    response_head: dict[str, Any] | None = None
    response_body: bytes = b""
    ws_messages: list[WebSocketMessage] = field(default_factory=list)
    end: dict[str, Any] | None = None
    frames: list[Frame] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    @property
    def complete(self) -> bool:
        return self.end is not None


class _Connection:
    """One gateway connection: its socket, reader thread and acknowledgement state."""

    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index = index
        self.sock = sock
        self.gateway_id: str | None = None
        self.highest_seq = 0
        self.acked = 0
        self.due: list[tuple[float, int]] = []  # heap of (when, seq) acks to send
        self.wakeup = threading.Condition()
        self.closed = False
        self.send_lock = threading.Lock()


class FrameSink:
    """The test sink. All public lists are appended under a lock and safe to read from the test thread."""

    def __init__(self, path: str | os.PathLike[str], ack: bool = True, ack_delay: float = 0.0,
                 max_frame_length: int = MAX_FRAME_LENGTH) -> None:
        self.path = os.fspath(path)
        if len(self.path.encode()) > MAX_SOCKET_PATH:
            raise ValueError(f"unix socket path is {len(self.path.encode())} bytes, over {MAX_SOCKET_PATH}: "
                             f"use a shorter home directory ({self.path})")
        self.ack_delay = ack_delay
        self.max_frame_length = max_frame_length
        self.frames: list[Frame] = []
        self.errors: list[str] = []
        self.hellos: list[dict[str, Any]] = []
        self.acks_sent: list[int] = []
        self.connection_count = 0
        self._ack = ack
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._reading = threading.Event()
        self._reading.set()
        self._connections: list[_Connection] = []
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> FrameSink:
        """Binds the socket (replacing a stale one) and starts accepting; returns self for chaining. Also
        restarts a stopped sink, keeping what it received before."""
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._stopping.clear()  # a stopped sink may be started again: ingestd coming back, frames kept
        self._threads = []
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o660)
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        self._spawn(self._accept_loop, "frame-sink-accept")
        return self

    def stop(self) -> None:
        """Stops listening, closes every connection and removes the socket file."""
        self._stopping.set()
        self._reading.set()
        self.drop_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if os.path.exists(self.path):
            os.unlink(self.path)

    def __enter__(self) -> FrameSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def drop_connections(self) -> None:
        """Cuts every open connection at once, like an ingestd that crashed (the listener stays)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            self._close(connection)

    # -- behaviour switches --------------------------------------------------------------------------------------

    @property
    def ack_enabled(self) -> bool:
        return self._ack

    def set_ack(self, enabled: bool) -> None:
        """Withholds or resumes acks; resuming acks everything already received at once."""
        self._ack = enabled
        if enabled:
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                self._schedule_ack(connection, connection.highest_seq)

    def pause(self) -> None:
        """Stops reading, so the gateway's socket buffer fills (a stalled ingestd)."""
        self._reading.clear()

    def resume(self) -> None:
        self._reading.set()

    # -- reading -------------------------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self._lock:
                connection = _Connection(self.connection_count, sock)
                self.connection_count += 1
                self._connections.append(connection)
                self._changed.notify_all()
            self._spawn(self._read_loop, f"frame-sink-read-{connection.index}", connection)
            self._spawn(self._ack_loop, f"frame-sink-ack-{connection.index}", connection)

    def _read_loop(self, connection: _Connection) -> None:
        decoder = FrameDecoder(self.max_frame_length)
        try:
            while not connection.closed:
                self._reading.wait()
                data = connection.sock.recv(256 * 1024)
                if not data:
                    return
                for raw in decoder.feed(data):
                    self._store(connection, *raw)
                if self._ack and connection.highest_seq > connection.acked:
                    self._schedule_ack(connection, connection.highest_seq)
        except FrameError as error:
            self._error(f"connection {connection.index}: {error}")
        except OSError:
            return
        finally:
            self._close(connection)

    def _store(self, connection: _Connection, kind: int, seq: int, raw_id: bytes, stamp: int, payload: bytes) -> None:
        if kind == KIND_HELLO:
            self._on_hello(connection, payload)
        elif connection.gateway_id is None:
            self._error(f"connection {connection.index}: {KIND_NAMES.get(kind, kind)} frame before hello")
        if kind in JSON_KINDS:
            try:
                json.loads(payload)
            except ValueError:
                self._error(f"connection {connection.index}: seq {seq} {KIND_NAMES[kind]} payload is not JSON")
        frame = Frame(kind, seq, str(uuid.UUID(bytes=raw_id)), stamp, payload, connection.index,
                      connection.gateway_id, time.monotonic())
        with self._lock:
            self.frames.append(frame)
            connection.highest_seq = max(connection.highest_seq, seq)
            self._changed.notify_all()

    def _on_hello(self, connection: _Connection, payload: bytes) -> None:
        try:
            hello = json.loads(payload)
            connection.gateway_id = str(hello["gateway_id"])
        except (ValueError, KeyError, TypeError):
            self._error(f"connection {connection.index}: hello payload without gateway_id: {payload[:200]!r}")
            return
        if hello.get("protocol") != VERSION:
            self._error(f"connection {connection.index}: hello announces protocol {hello.get('protocol')}")
        with self._lock:
            self.hellos.append(hello)

    # -- acknowledging -------------------------------------------------------------------------------------------

    def _schedule_ack(self, connection: _Connection, seq: int) -> None:
        with connection.wakeup:
            heapq.heappush(connection.due, (time.monotonic() + self.ack_delay, seq))
            connection.wakeup.notify()

    def _ack_loop(self, connection: _Connection) -> None:
        """Sends due acks in order; a separate thread so a delayed ack never delays reading."""
        while not connection.closed:
            with connection.wakeup:
                while not connection.due and not connection.closed:
                    connection.wakeup.wait(0.5)
                if connection.closed:
                    return
                when, seq = connection.due[0]
                wait = when - time.monotonic()
                if wait > 0:
                    connection.wakeup.wait(wait)
                    continue
                heapq.heappop(connection.due)
            if seq > connection.acked and self._ack:
                self._send_ack(connection, seq)

    def _send_ack(self, connection: _Connection, seq: int) -> None:
        try:
            with connection.send_lock:
                connection.sock.sendall(encode_frame(KIND_ACK, 0, None, struct.pack("!Q", seq)))
        except OSError:
            return
        connection.acked = seq
        with self._lock:
            self.acks_sent.append(seq)
            self._changed.notify_all()

    # -- closing and errors --------------------------------------------------------------------------------------

    def _close(self, connection: _Connection) -> None:
        with connection.wakeup:
            if connection.closed:
                return
            connection.closed = True
            connection.wakeup.notify_all()
        try:
            connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        connection.sock.close()
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
            self._changed.notify_all()

    def _error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)
            self._changed.notify_all()

    # -- assertions ----------------------------------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def snapshot(self) -> list[Frame]:
        with self._lock:
            return list(self.frames)

    def wait_for(self, condition: Callable[[FrameSink], bool], timeout: float = 10.0) -> bool:
        """Waits until `condition(sink)` holds, re-checking whenever a frame, ack or connection changes."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                # Bounded wait: a change that lands between the check and the wait costs at most 0.1 s.
                self._changed.wait(min(remaining, 0.1))
        return True

    def wait_for_ends(self, count: int, timeout: float = 10.0) -> bool:
        """Waits until `count` exchanges have an exchange_end."""
        return self.wait_for(lambda sink: sum(e.complete for e in sink.exchanges().values()) >= count, timeout)

    def duplicates(self) -> list[Frame]:
        """Frames whose (gateway id, seq) was already received: resends after a reconnect."""
        seen: set[tuple[str | None, int]] = set()
        repeated = []
        for frame in self.snapshot():
            if frame.seq == 0:
                continue
            key = (frame.gateway_id, frame.seq)
            if key in seen:
                repeated.append(frame)
            seen.add(key)
        return repeated

    def exchanges(self) -> dict[str, CapturedExchange]:
        """Exchange id → the exchange reassembled from its frames, duplicates dropped (as ingestd does),
        in order of first appearance."""
        result: dict[str, CapturedExchange] = {}
        seen: set[tuple[str | None, int]] = set()
        for frame in self.snapshot():
            if frame.exchange_id == NO_EXCHANGE or frame.kind in (KIND_HELLO, KIND_ACK):
                continue
            key = (frame.gateway_id, frame.seq)
            if key in seen:
                continue
            seen.add(key)
            exchange = result.setdefault(frame.exchange_id, CapturedExchange(frame.exchange_id))
            _apply(exchange, frame)
        return result


def _apply(exchange: CapturedExchange, frame: Frame) -> None:
    exchange.frames.append(frame)
    if frame.kind == KIND_EXCHANGE_BEGIN:
        exchange.begin = _json_or_none(frame)
    elif frame.kind == KIND_REQUEST_BODY:
        exchange.request_body += frame.payload
    elif frame.kind == KIND_RESPONSE_HEAD:
        exchange.response_head = _json_or_none(frame)
    elif frame.kind == KIND_RESPONSE_BODY:
        exchange.response_body += frame.payload
    elif frame.kind == KIND_WEBSOCKET_MESSAGE and len(frame.payload) >= 2:
        exchange.ws_messages.append(
            WebSocketMessage(frame.payload[0], frame.payload[1], frame.payload[2:], frame.seq))
    elif frame.kind == KIND_EXCHANGE_END:
        exchange.end = _json_or_none(frame)


def _json_or_none(frame: Frame) -> dict[str, Any] | None:
    try:
        value = frame.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _describe(frame: Frame) -> str:
    if frame.kind in JSON_KINDS:
        detail = frame.payload.decode("utf-8", "replace")
    else:
        detail = f"{len(frame.payload)} bytes"
    return f"conn={frame.connection} seq={frame.seq} {frame.kind_name} {frame.exchange_id} {detail[:300]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Capture-protocol sink: prints every frame the gateway sends.")
    parser.add_argument("path", help="unix socket to listen on (the gateway's $home/run/ingest.sock)")
    parser.add_argument("--no-ack", action="store_true", help="never acknowledge")
    parser.add_argument("--ack-delay", type=float, default=0.0, help="seconds before each ack")
    args = parser.parse_args(argv)
    sink = FrameSink(args.path, ack=not args.no_ack, ack_delay=args.ack_delay).start()
    print(f"listening on {args.path}", file=sys.stderr, flush=True)
    shown = 0
    try:
        while True:
            frames = sink.snapshot()
            for frame in frames[shown:]:
                print(_describe(frame), flush=True)
            shown = len(frames)
            for error in sink.errors:
                print(f"error: {error}", file=sys.stderr, flush=True)
            sink.errors.clear()
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
