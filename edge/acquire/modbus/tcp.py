"""Modbus TCP client: MBAP framing over asyncio streams, a bounded pool per host.

Written for the poll loop's hot path (one header pack, one read per answer) and for
predictable fault behaviour: a late answer to a timed-out request is recognised by its
transaction id and discarded, so it can never be taken for the next request's answer.
One request is outstanding per connection at a time, because many serial gateways
cannot queue more; parallelism comes from the pool's connections.

A socket on which anything went wrong in the middle of a frame (a timeout after the
header, a malformed header, a reset) is closed and never used again: the rest of that
frame could still arrive and be read as the next answer. Gateways also close sockets
that sat idle; a pooled connection found closed by its peer on first use is replaced and
the request sent once more on a fresh socket, so an idle close never reaches the poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator

from edge.acquire.modbus.errors import BadFrame, LinkDown, ModbusExceptionResponse, NoAnswer

log = logging.getLogger(__name__)

_MBAP = struct.Struct(">HHHB")  # transaction id, protocol id (0), length, unit id
_READ_PDU = struct.Struct(">BHH")  # function, address, count
_WRITE_SINGLE_PDU = struct.Struct(">BHH")  # function, address, value
_WRITE_MULTI_HEAD = struct.Struct(">BHHB")  # function, address, count, byte count


class _PeerClosed(Exception):
    """The peer closed or reset the socket before a single byte of the answer came."""


class TcpConnection:
    """One connection to a Modbus server (a device or a TCP/RTU gateway).

    The object outlives its socket: after a failure the next transaction opens a fresh one.
    """

    def __init__(
        self, host: str, port: int, connect_timeout: float, counters: Counter | None = None
    ):
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        # connects, stale_replaced (closed by the peer while idle), broken_closed (closed
        # by us after a fault mid-frame or a lost connection); shared with the pool.
        self.counters: Counter = counters if counters is not None else Counter()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tid = 0
        self.broken = True  # no usable socket (yet, or any more)
        self.may_be_stale = False  # set by the pool: the socket sat idle since its last use
        self.sent_at = 0.0  # time.monotonic() when the last request was written

    @classmethod
    async def open(
        cls, host: str, port: int, timeout: float, counters: Counter | None = None
    ) -> TcpConnection:
        conn = cls(host, port, timeout, counters)
        await conn._connect()
        return conn

    async def _connect(self) -> None:
        self._drop_socket()
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError) as exc:
            raise LinkDown(
                f"cannot connect to {self.host}:{self.port}: {exc or 'timed out'}"
            ) from None
        self._reader, self._writer = reader, writer
        self.broken = False
        self.counters["connects"] += 1

    def _drop_socket(self) -> None:
        self.broken = True
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self._reader = self._writer = None

    def _break(self) -> None:
        self.counters["broken_closed"] += 1
        self._drop_socket()

    def _peer_gone(self) -> bool:
        assert self._reader is not None and self._writer is not None
        return (
            self._reader.at_eof()
            or self._reader.exception() is not None
            or self._writer.is_closing()
        )

    async def transact(self, unit: int, pdu: bytes, timeout: float) -> bytes:
        """Send one request PDU, return the answer PDU (function code onwards)."""
        may_be_stale, self.may_be_stale = self.may_be_stale, False
        if self.broken:
            await self._connect()  # never reuse a socket that went wrong
            may_be_stale = False
        elif may_be_stale and self._peer_gone():
            self._replace_stale("closed while idle")
            await self._connect()
            may_be_stale = False
        try:
            return await self._exchange(unit, pdu, timeout)
        except _PeerClosed as exc:
            if not may_be_stale:
                self._break()
                raise LinkDown(f"connection lost: {exc}") from None
            self._replace_stale(str(exc))
        # Closed by the gateway while idle in the pool, seen only now: once more, fresh.
        await self._connect()
        try:
            return await self._exchange(unit, pdu, timeout)
        except _PeerClosed as exc:
            self._break()
            raise LinkDown(f"connection lost: {exc}") from None

    def _replace_stale(self, how: str) -> None:
        self.counters["stale_replaced"] += 1
        log.debug("%s:%d: pooled connection %s; using a fresh one", self.host, self.port, how)
        self._drop_socket()

    async def _exchange(self, unit: int, pdu: bytes, timeout: float) -> bytes:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        self._tid = (self._tid + 1) & 0xFFFF
        tid = self._tid
        got_bytes = False
        mid_frame = False
        try:
            self.sent_at = time.monotonic()
            writer.write(_MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu)
            async with asyncio.timeout(timeout):
                while True:
                    header = await reader.readexactly(7)
                    got_bytes = mid_frame = True
                    r_tid, proto, length, r_unit = _MBAP.unpack(header)
                    if length < 2 or length > 256 or proto != 0:
                        self._break()
                        raise BadFrame(f"malformed MBAP header {header.hex()}")
                    body = await reader.readexactly(length - 1)
                    mid_frame = False
                    if r_tid == tid:
                        break
                    # An answer to an earlier request that timed out: drop it.
        except TimeoutError:
            # A header read that timed out consumed nothing (the stream is still in step),
            # unless part of a header is waiting in the reader's buffer (private, but only
            # looked at on this cold path).
            if mid_frame or getattr(reader, "_buffer", None):
                self._break()
                raise NoAnswer(f"no answer within {timeout:g} s (cut off mid-frame)") from None
            raise NoAnswer(f"no answer within {timeout:g} s") from None
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
            if not got_bytes and not partial:
                self._drop_socket()
                raise _PeerClosed(exc.__class__.__name__) from None
            self._break()
            raise LinkDown(f"connection lost: {exc.__class__.__name__}") from None
        if r_unit != unit:
            raise BadFrame(f"answer from unit {r_unit}, asked unit {unit}")
        return body

    async def read(
        self, unit: int, function: int, address: int, count: int, timeout: float
    ) -> bytes:
        """Read registers/bits; returns the data bytes of the answer."""
        body = await self.transact(unit, _READ_PDU.pack(function, address, count), timeout)
        return check_read_answer(body, function, count)

    async def write(
        self,
        unit: int,
        function: int,
        address: int,
        payload: bytes | int,
        count: int,
        timeout: float,
    ) -> None:
        """FC5/6 take an int value; FC15/16 take the data bytes and the register/bit count."""
        body = await self.transact(unit, write_pdu(function, address, payload, count), timeout)
        if body[0] & 0x80:
            raise ModbusExceptionResponse(body[1] if len(body) > 1 else 0)
        if body[0] != function:
            raise BadFrame(f"answer has function {body[0]}, asked {function}")

    def close(self) -> None:
        self._drop_socket()


def read_pdu(function: int, address: int, count: int) -> bytes:
    return _READ_PDU.pack(function, address, count)


def write_pdu(function: int, address: int, payload: bytes | int, count: int) -> bytes:
    """FC5/6 take an int value; FC15/16 take the data bytes and the register/bit count."""
    if function in (5, 6):
        return _WRITE_SINGLE_PDU.pack(function, address, int(payload))  # type: ignore[arg-type]
    data = bytes(payload)  # type: ignore[arg-type]
    return _WRITE_MULTI_HEAD.pack(function, address, count, len(data)) + data


def check_read_answer(body: bytes, function: int, count: int) -> bytes:
    """Validate a read answer PDU and return its data bytes."""
    if not body:
        raise BadFrame("empty answer")
    if body[0] == function | 0x80:
        raise ModbusExceptionResponse(body[1] if len(body) > 1 else 0)
    if body[0] != function:
        raise BadFrame(f"answer has function {body[0]}, asked {function}")
    expected = (count + 7) // 8 if function in (1, 2) else 2 * count
    if len(body) < 2 or body[1] != expected or len(body) != 2 + expected:
        raise BadFrame(f"answer carries {len(body) - 2} data bytes, expected {expected}")
    return body[2:]


class TcpHost:
    """A bounded pool of connections to one host:port, shared by the devices behind it."""

    def __init__(
        self, host: str, port: int, max_connections: int = 2, connect_timeout: float = 3.0
    ):
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[TcpConnection] = []
        self.counters: Counter = Counter()

    @property
    def connects(self) -> int:
        return self.counters["connects"]

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[TcpConnection]:
        async with self._slots:
            if self._idle:
                conn = self._idle.pop()
                conn.may_be_stale = True  # the gateway may have closed it meanwhile
            else:
                conn = await TcpConnection.open(
                    self.host, self.port, self.connect_timeout, self.counters
                )
            try:
                yield conn
            finally:
                if conn.broken:
                    conn.close()
                else:
                    self._idle.append(conn)

    def stats(self) -> dict:
        return dict(self.counters)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
