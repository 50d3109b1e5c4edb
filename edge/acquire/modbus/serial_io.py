"""Bytes in and out of a pyserial port on the event loop, with deadlines and silence.

The port is anything pyserial's serial_for_url opens: a device (/dev/ttyUSB0) or a URL
such as socket://host:port for a transparent serial-to-Ethernet converter. Received
bytes are collected as they come (the loop watches the port's file descriptor), so the
RTU code can ask "give me n bytes by then", "throw away what came", and "wait until the
line has been quiet".
"""

from __future__ import annotations

import asyncio
import contextlib

import serial


class PortClosed(Exception):
    """The port failed or the peer (a converter) closed the connection."""


class SerialIO:
    def __init__(self, port: serial.SerialBase, loop: asyncio.AbstractEventLoop):
        self._port = port
        self._loop = loop
        self._buffer = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self.error: str | None = None
        self.last_rx = 0.0  # loop time of the last received byte
        loop.add_reader(port.fileno(), self._readable)

    @classmethod
    async def open(
        cls, url: str, baudrate: int, parity: str, stopbits: int, bytesize: int
    ) -> SerialIO:
        def _open() -> serial.SerialBase:
            return serial.serial_for_url(
                url,
                baudrate=baudrate,
                parity=parity,
                stopbits=stopbits,
                bytesize=bytesize,
                timeout=0,  # reads never block: the loop tells us when bytes are there
                exclusive=True,  # two programs on one RS-485 port garble each other
            )

        # Opening a socket:// URL connects over TCP: keep that off the event loop.
        port = await asyncio.to_thread(_open)
        return cls(port, asyncio.get_running_loop())

    def _readable(self) -> None:
        try:
            data = self._port.read(4096)
        except (serial.SerialException, OSError) as exc:
            self._fail(str(exc) or exc.__class__.__name__)
            return
        if data:
            self._buffer += data
            self.last_rx = self._loop.time()
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._port.fileno())
        self._wake()

    def _check(self) -> None:
        if self.error is not None:
            raise PortClosed(self.error)

    def write(self, data: bytes) -> None:
        self._check()
        try:
            self._port.write(data)  # a frame is at most 256 bytes: the OS takes it at once
        except (serial.SerialException, OSError) as exc:
            self._fail(str(exc) or exc.__class__.__name__)
            raise PortClosed(self.error) from None

    def discard(self) -> bytes:
        """Take and return everything received so far."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def _wait(self, deadline: float) -> bool:
        """Wait for more bytes until `deadline` (loop time); False when it passed."""
        self._check()
        delay = deadline - self._loop.time()
        if delay <= 0:
            return False
        self._waiter = self._loop.create_future()
        handle = self._loop.call_later(delay, self._wake)
        try:
            await self._waiter
        finally:
            handle.cancel()
            self._waiter = None
        self._check()
        return self._loop.time() < deadline or bool(self._buffer)

    async def read_exactly(self, n: int, deadline: float) -> bytes:
        """n bytes, or TimeoutError at `deadline` (what came stays in the buffer)."""
        while len(self._buffer) < n:
            before = len(self._buffer)
            if not await self._wait(deadline) and len(self._buffer) == before:
                raise TimeoutError
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def wait_for_bytes(self, deadline: float) -> bool:
        """True as soon as anything is in the buffer, False if nothing came by `deadline`."""
        while not self._buffer:
            if not await self._wait(deadline) and not self._buffer:
                return False
        return True

    def close(self) -> None:
        self._fail("closed")
        with contextlib.suppress(Exception):
            self._port.close()
