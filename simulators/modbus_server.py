"""A Modbus server for simulated devices: MBAP (Modbus TCP) or RTU framing over TCP.

RTU framing over TCP is what transparent serial-to-Ethernet converters do, and lets the
edge's RS-485 code path run against the simulator. Faults are applied per unit at the
moment a request arrives, so tests can switch them on and off while the edge polls.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import Counter
from collections.abc import Mapping
from typing import Literal, Protocol

from simulators.faults import FaultTable
from simulators.registers import IllegalAddress

log = logging.getLogger(__name__)

TABLE_BY_READ = {1: "coil", 2: "discrete", 3: "holding", 4: "input"}
_MAX_COUNT = {1: 2000, 2: 2000, 3: 125, 4: 125}


class ServedDevice(Protocol):
    def read(self, table: str, address: int, count: int) -> bytes: ...
    def write(self, table: str, address: int, data: bytes | int, count: int) -> object: ...


def _crc16(frame: bytes) -> int:
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _exception(function: int, code: int) -> bytes:
    return bytes((function | 0x80, code))


class ModbusServer:
    def __init__(
        self,
        devices: Mapping[int, ServedDevice],
        faults: FaultTable | None = None,
        framing: Literal["tcp", "rtu"] = "tcp",
    ):
        self.devices = devices
        self.faults = faults or FaultTable()
        self.framing = framing
        self.requests: Counter = Counter()  # per unit
        self.server: asyncio.Server | None = None
        self.connections: set[_Connection] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 5020) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_address=True
        )
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for conn in list(self.connections):
                conn._abort()
            await self.server.wait_closed()

    def answer(self, unit: int, pdu: bytes) -> bytes:
        """The response PDU for a request PDU (faults are handled by the connection)."""
        device = self.devices[unit]
        function = pdu[0]
        self.requests[unit] += 1
        try:
            if function in TABLE_BY_READ:
                if len(pdu) != 5:
                    return _exception(function, 3)
                address, count = struct.unpack_from(">HH", pdu, 1)
                if not 1 <= count <= _MAX_COUNT[function] or address + count > 0x10000:
                    return _exception(function, 3)
                data = device.read(TABLE_BY_READ[function], address, count)
                return bytes((function, len(data))) + data
            if function in (5, 6):
                address, value = struct.unpack_from(">HH", pdu, 1)
                if function == 5:
                    if value not in (0x0000, 0xFF00):
                        return _exception(function, 3)
                    device.write("coil", address, 1 if value else 0, 1)
                else:
                    device.write("holding", address, value, 1)
                return pdu[:5]
            if function in (15, 16):
                address, count, nbytes = struct.unpack_from(">HHB", pdu, 1)
                data = pdu[6 : 6 + nbytes]
                if len(data) != nbytes:
                    return _exception(function, 3)
                device.write("coil" if function == 15 else "holding", address, data, count)
                return pdu[:5]
            return _exception(function, 1)
        except IllegalAddress:
            return _exception(function, 2)
        except ValueError:
            return _exception(function, 3)
        except Exception:
            log.exception("simulated unit %d failed on function %d", unit, function)
            return _exception(function, 4)


class _Connection(asyncio.Protocol):
    def __init__(self, server: ModbusServer):
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.server.framing == "tcp":
            self._mbap_frames()
        else:
            self._rtu_frames()

    def _mbap_frames(self) -> None:
        buf = self.buffer
        while len(buf) >= 7:
            tid, proto, length, unit = struct.unpack_from(">HHHB", buf)
            if proto != 0 or not 2 <= length <= 254:
                self._abort()
                return
            if len(buf) < 6 + length:
                break
            pdu = buf[7 : 6 + length]
            buf = buf[6 + length :]
            self._handle(
                unit,
                pdu,
                lambda resp, tid=tid, unit=unit: (
                    struct.pack(">HHHB", tid, 0, len(resp) + 1, unit) + resp
                ),
            )
        self.buffer = buf

    def _rtu_frames(self) -> None:
        buf = self.buffer
        while len(buf) >= 8:
            function = buf[1]
            if function in (15, 16):
                if len(buf) < 7:
                    break
                size = 9 + buf[6]
            elif function in (1, 2, 3, 4, 5, 6):
                size = 8
            else:  # cannot frame it: resynchronise by dropping what we have
                buf = b""
                break
            if len(buf) < size:
                break
            frame, buf = buf[:size], buf[size:]
            if _crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
                continue  # a real device ignores a corrupt frame
            unit = frame[0]
            self._handle(unit, frame[1:-2], lambda resp, unit=unit: self._rtu_wrap(unit, resp))
        self.buffer = buf

    @staticmethod
    def _rtu_wrap(unit: int, resp: bytes) -> bytes:
        body = bytes((unit,)) + resp
        return body + _crc16(body).to_bytes(2, "little")

    def _handle(self, unit: int, pdu: bytes, wrap) -> None:
        if unit not in self.server.devices or not pdu:
            return  # nobody at this address: silence, as on a real line
        fault = self.server.faults.get(unit)
        if fault is not None:
            if fault.kind == "no_answer":
                return
            if fault.kind == "drop":
                self._abort()
                return
            if fault.kind == "exception":
                self._send(wrap(_exception(pdu[0], fault.code)))
                return
        response = wrap(self.server.answer(unit, pdu))
        if fault is not None and fault.kind == "slow":
            asyncio.get_running_loop().call_later(fault.delay, self._send, response)
        else:
            self._send(response)

    def _send(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
