"""The frame sink checked on its own, with this test playing the gateway: decoding, cumulative acks and their
switches, refusal of garbage, and reassembly of exchanges. The gateway tests trust it, so it is tested."""
from __future__ import annotations

import json
import socket
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from frame_sink import (
    KIND_ACK,
    KIND_EXCHANGE_BEGIN,
    KIND_EXCHANGE_END,
    KIND_HELLO,
    KIND_REQUEST_BODY,
    KIND_RESPONSE_BODY,
    KIND_RESPONSE_HEAD,
    KIND_WEBSOCKET_MESSAGE,
    MAX_FRAME_LENGTH,
    FrameDecoder,
    FrameSink,
    encode_frame,
)

EXCHANGE = uuid.UUID("6f1c1d4e-8a9b-4c2d-9e0f-112233445566")


@pytest.fixture
def socket_path() -> Iterator[Path]:
    # Short on purpose: pytest's tmp_path can exceed the 108-byte limit of a unix socket path.
    with tempfile.TemporaryDirectory(prefix="fs-", dir="/tmp") as directory:
        yield Path(directory) / "ingest.sock"


def hello(gateway_id: str = "host/gw-1") -> bytes:
    return encode_frame(KIND_HELLO, 0, None, json.dumps({"gateway_id": gateway_id, "protocol": 1}).encode())


def exchange_frames(first_seq: int = 1, exchange: uuid.UUID = EXCHANGE) -> list[bytes]:
    """A complete HTTP exchange followed by a WebSocket message, as the gateway would send them."""
    seq = iter(range(first_seq, first_seq + 100))
    return [
        encode_frame(KIND_EXCHANGE_BEGIN, next(seq), exchange,
                     json.dumps({"method": "POST", "path": "/v1/x"}).encode()),
        encode_frame(KIND_REQUEST_BODY, next(seq), exchange, b"hello "),
        encode_frame(KIND_REQUEST_BODY, next(seq), exchange, b"world"),
        encode_frame(KIND_RESPONSE_HEAD, next(seq), exchange, json.dumps({"status": 200, "headers": []}).encode()),
        encode_frame(KIND_RESPONSE_BODY, next(seq), exchange, b"answer"),
        encode_frame(KIND_WEBSOCKET_MESSAGE, next(seq), exchange, bytes([1, 1]) + b"{}"),
        encode_frame(KIND_EXCHANGE_END, next(seq), exchange, json.dumps({"outcome": "complete"}).encode()),
    ]


def connect(path: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(5)
    client.connect(str(path))
    return client


def read_ack(client: socket.socket, timeout: float = 5.0) -> int | None:
    """The next ack's sequence number; None if none arrives within `timeout`."""
    client.settimeout(timeout)
    try:
        raw = b""
        while len(raw) < 4 + 34 + 8:
            data = client.recv(4 + 34 + 8 - len(raw))
            if not data:
                return None
            raw += data
    except (TimeoutError, socket.timeout):
        return None
    (length, version, kind, seq) = struct.unpack("!IBBQ", raw[:14])
    assert (length, version, kind, seq) == (42, 1, KIND_ACK, 0)
    return struct.unpack("!Q", raw[-8:])[0]


def test_reassembles_an_exchange_and_acks_cumulatively(socket_path: Path) -> None:
    with FrameSink(socket_path) as sink, connect(socket_path) as client:
        client.sendall(hello() + b"".join(exchange_frames()))
        assert read_ack(client) == 7
        assert sink.wait_for_ends(1)
    exchange = sink.exchanges()[str(EXCHANGE)]
    assert exchange.begin == {"method": "POST", "path": "/v1/x"} and exchange["begin"] == exchange.begin
    assert exchange.request_body == b"hello world" and exchange.response_body == b"answer"
    assert exchange.response_head == {"status": 200, "headers": []}
    assert [(m.direction, m.opcode, m.data) for m in exchange.ws_messages] == [(1, 1, b"{}")]
    assert exchange.end == {"outcome": "complete"}
    assert sink.hellos == [{"gateway_id": "host/gw-1", "protocol": 1}] and sink.errors == []


def test_withheld_acks_resume_at_the_highest_sequence(socket_path: Path) -> None:
    with FrameSink(socket_path, ack=False) as sink, connect(socket_path) as client:
        client.sendall(hello() + b"".join(exchange_frames()))
        assert sink.wait_for(lambda s: len(s.frames) == 8)
        assert read_ack(client, timeout=0.3) is None
        sink.set_ack(True)
        assert read_ack(client) == 7


def test_ack_delay_holds_the_ack_back(socket_path: Path) -> None:
    with FrameSink(socket_path, ack_delay=0.4), connect(socket_path) as client:
        started = time.monotonic()
        client.sendall(hello() + exchange_frames()[0])
        assert read_ack(client) == 1
        assert time.monotonic() - started >= 0.35


@pytest.mark.parametrize("garbage", [
    struct.pack("!IB", 40, 2) + bytes(39),                     # version 2
    struct.pack("!IB", MAX_FRAME_LENGTH + 1, 1),               # over 64 MiB, refused before it arrives
    struct.pack("!IB", 10, 1) + bytes(9),                      # shorter than the header
])
def test_garbage_closes_the_connection(socket_path: Path, garbage: bytes) -> None:
    with FrameSink(socket_path) as sink, connect(socket_path) as client:
        client.sendall(hello() + garbage)
        assert read_ack(client, timeout=5) is None  # closed, not acked
        assert sink.wait_for(lambda s: len(s.errors) == 1)


def test_frames_before_hello_are_an_error(socket_path: Path) -> None:
    with FrameSink(socket_path) as sink, connect(socket_path) as client:
        client.sendall(exchange_frames()[0])
        assert read_ack(client) == 1
    assert "before hello" in sink.errors[0]


def test_resends_after_reconnect_are_deduplicated(socket_path: Path) -> None:
    frames = exchange_frames()
    with FrameSink(socket_path) as sink:
        with connect(socket_path) as first:
            first.sendall(hello() + b"".join(frames[:4]))
            assert read_ack(first) == 4
        sink.drop_connections()
        with connect(socket_path) as second:  # the gateway resends what it is unsure of, then goes on
            second.sendall(hello() + b"".join(frames[2:]))
            assert read_ack(second) == 7
        assert sink.wait_for_ends(1)
    assert [f.seq for f in sink.duplicates()] == [3, 4]
    assert sink.exchanges()[str(EXCHANGE)].request_body == b"hello world"
    assert sink.connection_count == 2


def test_decoder_handles_every_split_point() -> None:
    stream = hello() + b"".join(exchange_frames())
    for split in range(1, len(stream)):
        decoder = FrameDecoder()
        decoded = decoder.feed(stream[:split]) + decoder.feed(stream[split:])
        assert [kind for kind, *_ in decoded] == [1, 10, 11, 11, 12, 13, 14, 15]


def test_a_stopped_sink_starts_again_and_keeps_its_frames(socket_path: Path) -> None:
    frames = exchange_frames()
    sink = FrameSink(socket_path).start()
    try:
        with connect(socket_path) as first:
            first.sendall(hello() + b"".join(frames[:2]))
            assert read_ack(first) == 2
        sink.stop()  # ingestd went away ...
        assert not socket_path.exists()
        sink.start()  # ... and came back
        with connect(socket_path) as second:
            second.sendall(hello() + b"".join(frames[2:]))
            assert read_ack(second) == 7
        assert sink.wait_for_ends(1)
    finally:
        sink.stop()
    assert sink.exchanges()[str(EXCHANGE)].response_body == b"answer"
