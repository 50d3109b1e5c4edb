"""Modbus TCP client: MBAP framing over asyncio streams, a bounded pool per host.

Written for the poll loop's hot path (one header pack, one read per answer) and for
predictable fault behaviour: a late answer to a timed-out request is recognised by its
transaction id and discarded, so it can never be taken for the next request's answer.
One request is outstanding per connection at a time, because many serial gateways
cannot queue more; parallelism comes from the pool's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

from edge.acquire.modbus.errors import BadFrame, LinkDown, ModbusExceptionResponse, NoAnswer

_MBAP = struct.Struct(">HHHB")  # transaction id, protocol id (0), length, unit id
_READ_PDU = struct.Struct(">BHH")  # function, address, count
_WRITE_SINGLE_PDU = struct.Struct(">BHH")  # function, address, value
_WRITE_MULTI_HEAD = struct.Struct(">BHHB")  # function, address, count, byte count


class TcpConnection:
    """One TCP connection to a Modbus server (a device or a TCP/RTU gateway)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._tid = 0
        self.broken = False

    @classmethod
    async def open(cls, host: str, port: int, timeout: float) -> TcpConnection:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise LinkDown(f"cannot connect to {host}:{port}: {exc or 'timed out'}") from None
        return cls(reader, writer)

    async def transact(self, unit: int, pdu: bytes, timeout: float) -> bytes:
        """Send one request PDU, return the answer PDU (function code onwards)."""
        self._tid = (self._tid + 1) & 0xFFFF
        tid = self._tid
        self._writer.write(_MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    header = await self._reader.readexactly(7)
                    r_tid, proto, length, r_unit = _MBAP.unpack(header)
                    if length < 2 or length > 256 or proto != 0:
                        self.broken = True
                        raise BadFrame(f"malformed MBAP header {header.hex()}")
                    body = await self._reader.readexactly(length - 1)
                    if r_tid == tid:
                        break
                    # An answer to an earlier request that timed out: drop it.
        except TimeoutError:
            raise NoAnswer(f"no answer within {timeout:g} s") from None
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self.broken = True
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
        self.broken = True
        with contextlib.suppress(Exception):
            self._writer.close()


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
        self.connects = 0

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[TcpConnection]:
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = await TcpConnection.open(self.host, self.port, self.connect_timeout)
                self.connects += 1
            try:
                yield conn
            finally:
                if conn.broken:
                    conn.close()
                else:
                    self._idle.append(conn)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
