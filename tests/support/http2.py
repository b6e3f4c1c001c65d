"""A raw HTTP/2 client that can do what gRPC clients never do: stall.

It opens gRPC streams (HEADERS, no body, no END_STREAM) and reads the
server's frames, so tests can show what a stalled or idle connection costs
the server and how it ends. Just enough HTTP/2 (RFC 9113) for that: header
blocks are encoded as HPACK literals without indexing or Huffman coding
(RFC 7541 §6.2.2), which every decoder accepts; the server's header blocks
are not decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
REFUSED_STREAM = 0x7


@dataclass(frozen=True)
class Frame:
    type: int
    flags: int
    stream_id: int
    payload: bytes

    @property
    def ends_stream(self) -> bool:
        return self.type == HEADERS and bool(self.flags & END_STREAM)

    @property
    def error_code(self) -> int:
        """RST_STREAM's error code, or GOAWAY's."""
        offset = 4 if self.type == GOAWAY else 0
        return int(struct.unpack(">I", self.payload[offset : offset + 4])[0])


def _frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([frame_type, flags])
        + struct.pack(">I", stream_id)
        + payload
    )


def _literal(name: str, value: str) -> bytes:
    # HPACK "literal header field without indexing, new name"; short strings only.
    encoded_name, encoded_value = name.encode(), value.encode()
    assert len(encoded_name) < 127 and len(encoded_value) < 127
    return (
        b"\x00"
        + bytes([len(encoded_name)])
        + encoded_name
        + bytes([len(encoded_value)])
        + encoded_value
    )


class RawConnection:
    """One HTTP/2 connection over a plain TCP socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str):
        self._reader = reader
        self._writer = writer
        self._authority = authority
        self._next_stream_id = 1
        self.server_settings: dict[int, int] = {}
        self.closed = False

    async def handshake(self) -> None:
        """Send the preface and our (empty) settings; acknowledge the server's."""
        self._writer.write(PREFACE + _frame(SETTINGS, 0, 0))
        await self._writer.drain()
        while True:
            frame = await self.next_frame(timeout=10)
            if frame.type == SETTINGS and not frame.flags & ACK:
                payload = frame.payload
                for offset in range(0, len(payload), 6):
                    key, value = struct.unpack(">HI", payload[offset : offset + 6])
                    self.server_settings[key] = value
                self._writer.write(_frame(SETTINGS, ACK, 0))
                await self._writer.drain()
                return

    async def open_stalled_stream(self, path: str) -> int:
        """Open a gRPC call to ``path``: headers only, the request never follows."""
        stream_id = self._next_stream_id
        self._next_stream_id += 2
        block = b"".join(
            _literal(name, value)
            for name, value in (
                (":method", "POST"),
                (":scheme", "http"),
                (":path", path),
                (":authority", self._authority),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            )
        )
        self._writer.write(_frame(HEADERS, END_HEADERS, stream_id, block))
        await self._writer.drain()
        return stream_id

    async def next_frame(self, timeout: float) -> Frame:
        """The next frame from the server (PINGs are answered and skipped).

        Raises ``ConnectionError`` when the server closed the connection.
        """
        async with asyncio.timeout(timeout):
            while True:
                try:
                    header = await self._reader.readexactly(9)
                    length = int.from_bytes(header[:3], "big")
                    payload = await self._reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionResetError) as err:
                    self.closed = True
                    raise ConnectionError("the server closed the connection") from err
                stream_id = struct.unpack(">I", header[5:9])[0] & 0x7FFFFFFF
                frame = Frame(header[3], header[4], stream_id, payload)
                if frame.type == PING and not frame.flags & ACK:
                    self._writer.write(_frame(PING, ACK, 0, payload))
                    await self._writer.drain()
                    continue
                return frame

    async def frames(self, timeout: float) -> list[Frame]:
        """Every frame the server sends within ``timeout`` seconds, or until it closes."""
        frames: list[Frame] = []
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(timeout):
                while True:
                    frames.append(await self.next_frame(timeout))
        return frames

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_connection(port: int, *, handshake: bool = True) -> AsyncIterator[RawConnection]:
    """A raw HTTP/2 connection to the server on ``127.0.0.1:port``, closed after the block."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = RawConnection(reader, writer, f"127.0.0.1:{port}")
    try:
        if handshake:
            await connection.handshake()
        yield connection
    finally:
        await connection.close()
