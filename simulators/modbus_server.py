"""A Modbus server for simulated devices: MBAP (Modbus TCP) or RTU framing over TCP.

RTU framing over TCP is what transparent serial-to-Ethernet converters do, and lets the
edge's RS-485 code path run against the simulator. Faults are applied per unit at the
moment a request arrives, so tests can switch them on and off while the edge polls.
Like many real gateways, the server can close connections that stay idle (idle_close
seconds without a byte either way), with an orderly close or, idle_reset, a reset.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import socket
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
    # apply=False (only passed under the ignore_writes fault): check the write, change nothing.
    def write(
        self, table: str, address: int, data: bytes | int, count: int, apply: bool = True
    ) -> object: ...


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
        idle_close: float | None = None,
        idle_reset: bool = False,
    ):
        self.devices = devices
        self.faults = faults or FaultTable()
        self.framing = framing
        self.idle_close = idle_close  # seconds; set before start() to apply to every connection
        self.idle_reset = idle_reset
        self.idle_closed = 0  # connections closed for idleness
        self.accepted = 0  # connections accepted
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

    def answer(self, unit: int, pdu: bytes, ignore_writes: bool = False) -> bytes:
        """The response PDU for a request PDU (faults are handled by the connection).

        ignore_writes: a write is checked and echoed as if done, but changes nothing."""
        device = self.devices[unit]
        function = pdu[0]
        self.requests[unit] += 1
        extra = {"apply": False} if ignore_writes else {}
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
                    device.write("coil", address, 1 if value else 0, 1, **extra)
                else:
                    device.write("holding", address, value, 1, **extra)
                return pdu[:5]
            if function in (15, 16):
                address, count, nbytes = struct.unpack_from(">HHB", pdu, 1)
                data = pdu[6 : 6 + nbytes]
                if len(data) != nbytes:
                    return _exception(function, 3)
                table = "coil" if function == 15 else "holding"
                device.write(table, address, data, count, **extra)
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
        self.loop = asyncio.get_running_loop()
        self._out: list[tuple[float, int, bytes]] = []  # heap of (send at, order, bytes)
        self._order = 0
        self._last_at = 0.0  # send time of the latest queued frame
        self._hold_until = 0.0  # a split frame is in flight until then: nothing may cut in
        self._pump_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_io = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)
        self.server.accepted += 1
        self._last_io = self.loop.time()
        self._arm_idle_check(self._last_io)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.connections.discard(self)
        for timer in (self._pump_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()

    def data_received(self, data: bytes) -> None:
        self._last_io = self.loop.time()
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
        fault = self.server.faults.for_request(unit)
        if fault is not None:
            if fault.kind == "no_answer":
                return
            if fault.kind == "drop":
                self._abort()
                return
            if fault.kind == "exception":
                self._queue(wrap(_exception(pdu[0], fault.code)))
                return
        ignore = fault is not None and fault.kind == "ignore_writes"
        response = wrap(self.server.answer(unit, pdu, ignore_writes=ignore))
        if fault is None:
            self._queue(response)
        elif fault.kind == "slow":
            self._queue(response, delay=fault.pick_delay(self.server.faults.rng))
        elif fault.kind == "split":
            self._queue(response, split=fault.pick_delay(self.server.faults.rng))
        else:
            self._queue(response)

    def _queue(self, frame: bytes, delay: float = 0.0, split: float = 0.0) -> None:
        """Send `frame` after `delay`, or its header now and the rest `split` s later.

        An RS-485 device answers one request at a time, so RTU answers leave in order;
        over MBAP a slow answer does not hold up the others. Nothing ever cuts into a
        split frame: the bytes on the wire are always whole frames, just late.
        """
        now = self.loop.time()
        at = now + delay
        if self.server.framing == "rtu" or split:
            at = max(at, self._last_at)
        at = max(at, self._hold_until)
        if split:
            head = 7 if self.server.framing == "tcp" else 3  # MBAP / unit+function+count
            self._push(at, frame[:head])
            self._hold_until = at + split
            self._push(at + split, frame[head:])
        else:
            self._push(at, frame)
        self._pump()

    def _push(self, at: float, data: bytes) -> None:
        self._order += 1
        self._last_at = max(self._last_at, at)
        heapq.heappush(self._out, (at, self._order, data))

    def _pump(self) -> None:
        if self._pump_timer is not None:
            self._pump_timer.cancel()
            self._pump_timer = None
        now = self.loop.time()
        while self._out and self._out[0][0] <= now:
            self._send(heapq.heappop(self._out)[2])
        if self._out:
            self._pump_timer = self.loop.call_at(self._out[0][0], self._pump)

    def _send(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._last_io = self.loop.time()
            self.transport.write(frame)

    def _arm_idle_check(self, at: float) -> None:
        idle = self.server.idle_close
        if idle and self.transport is not None:
            self._idle_timer = self.loop.call_at(at + idle, self._idle_check)

    def _idle_check(self) -> None:
        """Close the connection once nothing went either way for idle_close seconds."""
        self._idle_timer = None
        idle = self.server.idle_close
        if self.transport is None or not idle:
            return
        if self._out or self.loop.time() - self._last_io < idle * 0.999:
            self._arm_idle_check(max(self._last_io, self.loop.time() - idle + 0.01))
            return
        self.server.idle_closed += 1
        if self.server.idle_reset:
            self._abort(reset=True)
        else:
            self.transport.close()  # FIN, as most gateways do

    def _abort(self, reset: bool = False) -> None:
        if self.transport is not None:
            if reset:  # linger 0: the peer sees a reset, not an orderly close
                sock = self.transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
