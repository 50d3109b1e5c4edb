"""An RS-485 line (Modbus RTU): our own small framer over a pyserial port.

A line carries strictly one transaction at a time, followed by a silent gap: a device
that sees the next frame too early (OpenEMS saw it 1 ms after a write) drops it. The
port may also be a pyserial URL such as socket://host:port for transparent
serial-to-Ethernet converters ("RTU over TCP").

RTU frames carry no transaction id, so an answer that comes after the timeout looks
exactly like the answer to the next request of the same size (a voltage read as a
frequency). The only defence is time: after a timeout the line is drained, still
holding the line, for up to one more timeout (everything that arrives is discarded,
until the line has been quiet for the inter-frame time), and whatever is found waiting
before a request is sent is discarded too. An answer whose unit, function, byte count or
CRC does not fit the request is discarded as a bad frame, and the line drained likewise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

from edge.acquire.modbus.errors import (
    BadFrame,
    LateAnswer,
    LinkDown,
    ModbusExceptionResponse,
    NoAnswer,
)
from edge.acquire.modbus.serial_io import PortClosed, SerialIO
from edge.acquire.modbus.tcp import check_read_answer, read_pdu, write_pdu

log = logging.getLogger(__name__)

# A drain ends once the line has been quiet this long at least: USB adapters (FTDI's
# 16 ms latency timer) and serial-to-Ethernet converters deliver a frame in bursts.
MIN_DRAIN_QUIET = 0.02


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def frame_gap_for(baudrate: int, bits_per_char: int = 11) -> float:
    """3.5 character times, fixed at 1.75 ms above 19200 baud (Modbus over serial line, 2.5.1.1)."""
    if baudrate > 19200:
        return 0.00175
    return 3.5 * bits_per_char / baudrate


class RtuLine:
    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        frame_gap: float | None = None,
    ):
        self.port = port
        self._settings = (baudrate, parity, stopbits, bytesize)
        self.frame_gap = frame_gap if frame_gap is not None else frame_gap_for(baudrate)
        self.drain_quiet = max(self.frame_gap, MIN_DRAIN_QUIET)
        self._io: SerialIO | None = None
        self._lock = asyncio.Lock()
        self._last_io = 0.0
        # late_discarded: timed-out requests whose answer came late and was thrown away;
        # stray_discarded: bytes found waiting before a request (an even later answer);
        # bad_frame: answers that did not fit the request.
        self.counters: Counter = Counter()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[RtuSession]:
        # Every transaction takes the line's lock anyway; a session only remembers when
        # its own last request went out (the line is shared, so the line cannot).
        yield RtuSession(self)

    async def _ensure_open(self) -> SerialIO:
        if self._io is not None and self._io.error is None:
            return self._io
        if self._io is not None:
            self._io.close()
            self._io = None
        try:
            self._io = await SerialIO.open(self.port, *self._settings)
        except Exception as exc:  # SerialException, OSError, ValueError (bad URL)
            raise LinkDown(f"cannot open serial line {self.port}: {exc}") from None
        return self._io

    async def _transact(
        self,
        unit: int,
        pdu: bytes,
        count: int,
        timeout: float,
        session: RtuSession | None = None,
    ) -> bytes:
        """Send one request, return the answer PDU (function code onwards)."""
        # The lock makes the line strictly one-at-a-time even when several devices share it;
        # the drain after a timeout happens inside it, so no request follows a late answer.
        async with self._lock:
            io = await self._ensure_open()
            wait = self._last_io + self.frame_gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            stray = io.discard()
            if stray:
                self.counters["stray_discarded"] += 1
                log.warning(
                    "%s: discarded %d bytes that arrived after the last drain (%s)",
                    self.port,
                    len(stray),
                    stray[:16].hex(),
                )
            body = bytes((unit,)) + pdu
            if session is not None:
                session.sent_at = time.monotonic()
            try:
                return await self._exchange(io, body, pdu, count, timeout)
            except PortClosed as exc:
                raise LinkDown(f"serial line {self.port}: {exc}") from None
            finally:
                self._last_io = time.monotonic()

    async def _exchange(
        self, io: SerialIO, body: bytes, pdu: bytes, count: int, timeout: float
    ) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            io.write(body + crc16(body).to_bytes(2, "little"))
            answer = await self._receive(io, body[0], pdu[0], loop.time() + timeout)
            if pdu[0] in (1, 2, 3, 4):
                check_read_answer(answer, pdu[0], count)
            elif answer[0] == pdu[0] and answer != pdu[:5]:
                raise BadFrame(f"answer {answer.hex()} does not echo the write {pdu[:5].hex()}")
        except TimeoutError:
            if await self._drain(io, timeout):
                self.counters["late_discarded"] += 1
                raise LateAnswer(
                    f"no answer within {timeout:g} s (a late answer was discarded)"
                ) from None
            raise NoAnswer(f"no answer within {timeout:g} s") from None
        except BadFrame:
            self.counters["bad_frame"] += 1
            await self._drain(io, timeout)
            raise
        return answer

    async def _receive(self, io: SerialIO, unit: int, function: int, deadline: float) -> bytes:
        head = await io.read_exactly(2, deadline)
        r_function = head[1]
        if r_function == function | 0x80:
            rest = await io.read_exactly(3, deadline)  # exception code, CRC
        elif r_function != function:
            raise BadFrame(f"answer has function {r_function}, asked {function}")
        elif function in (1, 2, 3, 4):
            n = await io.read_exactly(1, deadline)
            rest = n + await io.read_exactly(n[0] + 2, deadline)
        else:
            rest = await io.read_exactly(6, deadline)  # the echo of a write
        frame = head + rest
        if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
            raise BadFrame(f"CRC error in answer {frame.hex()}")
        if head[0] != unit:
            raise BadFrame(f"answer from unit {head[0]}, asked unit {unit}")
        return frame[1:-2]

    async def _drain(self, io: SerialIO, timeout: float) -> int:
        """Discard what arrives for up to `timeout`, stopping once the line has been quiet
        for the inter-frame time after something came; returns the bytes discarded."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        discarded = len(io.discard())  # the part of a frame that was cut short, if any
        if not discarded and not await io.wait_for_bytes(end):
            return 0
        while True:
            discarded += len(io.discard())
            quiet_until = min(io.last_rx + self.drain_quiet, end)
            if not await io.wait_for_bytes(quiet_until):
                break
            if loop.time() >= end:
                discarded += len(io.discard())
                break
        log.info("%s: drained %d late bytes after a timeout", self.port, discarded)
        return discarded

    async def read(
        self,
        unit: int,
        function: int,
        address: int,
        count: int,
        timeout: float,
        session: RtuSession | None = None,
    ) -> bytes:
        """Read registers/bits; returns the data bytes of the answer."""
        pdu = read_pdu(function, address, count)
        answer = await self._transact(unit, pdu, count, timeout, session)
        return answer[2:]

    async def write(
        self,
        unit: int,
        function: int,
        address: int,
        payload: bytes | int,
        count: int,
        timeout: float,
        session: RtuSession | None = None,
    ) -> None:
        """FC5/6 take an int value; FC15/16 take the data bytes and the register/bit count."""
        pdu = write_pdu(function, address, payload, count)
        answer = await self._transact(unit, pdu, count, timeout, session)
        if answer[0] & 0x80:
            raise ModbusExceptionResponse(answer[1] if len(answer) > 1 else 0)

    def stats(self) -> dict:
        return dict(self.counters)

    def close(self) -> None:
        if self._io is not None:
            self._io.close()
            self._io = None


class RtuSession:
    """One poll's use of a shared line; `sent_at` is time.monotonic() when its last
    request went out (after waiting for the line), like TcpConnection.sent_at."""

    __slots__ = ("line", "sent_at")

    def __init__(self, line: RtuLine):
        self.line = line
        self.sent_at = 0.0

    async def read(
        self, unit: int, function: int, address: int, count: int, timeout: float
    ) -> bytes:
        return await self.line.read(unit, function, address, count, timeout, self)

    async def write(
        self,
        unit: int,
        function: int,
        address: int,
        payload: bytes | int,
        count: int,
        timeout: float,
    ) -> None:
        await self.line.write(unit, function, address, payload, count, timeout, self)
