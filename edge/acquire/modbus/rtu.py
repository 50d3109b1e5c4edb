"""An RS-485 line (Modbus RTU) through pymodbus's serial client.

A line carries strictly one transaction at a time, followed by a silent gap: a device
that sees the next frame too early (OpenEMS saw it 1 ms after a write) drops it. The
port may also be a pyserial URL such as socket://host:port for transparent
serial-to-Ethernet converters ("RTU over TCP").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import AsyncIterator

from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.framer import FramerType

from edge.acquire.modbus.errors import BadFrame, LinkDown, ModbusExceptionResponse, NoAnswer

log = logging.getLogger(__name__)


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
        self.frame_gap = frame_gap if frame_gap is not None else frame_gap_for(baudrate)
        self._client = AsyncModbusSerialClient(
            port,
            framer=FramerType.RTU,
            baudrate=baudrate,
            parity=parity,
            stopbits=stopbits,
            bytesize=bytesize,
            retries=0,
            timeout=1.0,
            reconnect_delay=0,
        )
        self._lock = asyncio.Lock()
        self._last_io = 0.0
        # time.monotonic() just before the last request went out (after lock and gap).
        self.sent_at = 0.0

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[RtuLine]:
        # The line is its own session: every transaction takes the line's lock anyway.
        yield self

    async def _ensure_connected(self) -> None:
        if not self._client.connected and not await self._client.connect():
            raise LinkDown(f"cannot open serial line {self.port}")

    async def _transact(self, call, timeout: float):
        # The lock makes the line strictly one-at-a-time even when several devices share it.
        async with self._lock:
            await self._ensure_connected()
            wait = self._last_io + self.frame_gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._client.ctx.comm_params.timeout_connect = timeout
            self.sent_at = time.monotonic()  # the poller stamps readings with this
            try:
                response = await call()
            except ModbusIOException:
                raise NoAnswer(f"no answer within {timeout:g} s") from None
            except ConnectionException as exc:
                raise LinkDown(f"serial line {self.port}: {exc}") from None
            finally:
                self._last_io = time.monotonic()
        if response.isError():
            code = getattr(response, "exception_code", 0)
            raise ModbusExceptionResponse(code)
        return response

    async def read(
        self, unit: int, function: int, address: int, count: int, timeout: float
    ) -> bytes:
        c = self._client
        method = {
            1: c.read_coils,
            2: c.read_discrete_inputs,
            3: c.read_holding_registers,
            4: c.read_input_registers,
        }[function]
        response = await self._transact(
            lambda: method(address, count=count, device_id=unit), timeout
        )
        if function in (1, 2):
            bits = list(response.bits[:count])
            if len(bits) < count:
                raise BadFrame(f"answer carries {len(bits)} bits, expected {count}")
            packed = bytearray((count + 7) // 8)
            for i, b in enumerate(bits):
                if b:
                    packed[i >> 3] |= 1 << (i & 7)
            return bytes(packed)
        regs = response.registers
        if len(regs) != count:
            raise BadFrame(f"answer carries {len(regs)} registers, expected {count}")
        return struct.pack(f">{count}H", *regs)

    async def write(
        self,
        unit: int,
        function: int,
        address: int,
        payload: bytes | int,
        count: int,
        timeout: float,
    ) -> None:
        c = self._client
        if function == 5:
            call = lambda: c.write_coil(address, bool(payload), device_id=unit)  # noqa: E731
        elif function == 6:
            call = lambda: c.write_register(address, int(payload), device_id=unit)  # noqa: E731
        elif function == 16:
            regs = list(struct.unpack(f">{count}H", bytes(payload)))  # type: ignore[arg-type]
            call = lambda: c.write_registers(address, regs, device_id=unit)  # noqa: E731
        else:
            data = bytes(payload)  # type: ignore[arg-type]
            bits = [bool((data[i >> 3] >> (i & 7)) & 1) for i in range(count)]
            call = lambda: c.write_coils(address, bits, device_id=unit)  # noqa: E731
        await self._transact(call, timeout)

    def close(self) -> None:
        self._client.close()
