"""Run a simulated meter fleet's Modbus server on a real TCP port, in a background thread.

The test process keeps the fleet object, so it can switch faults and read the
simulator's own state while the edge (usually a separate process) polls it.
"""

from __future__ import annotations

import asyncio
import threading

from simulators.fleet import DeviceFleet


class SimulatorThread:
    def __init__(self, fleet: DeviceFleet, framing: str = "tcp"):
        self.fleet = fleet
        self.framing = framing
        self.port = 0
        self.server = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._started = threading.Event()

    def __enter__(self) -> SimulatorThread:
        self._thread.start()
        self.server = self.fleet.server(self.framing)
        fut = asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self._loop)
        self.port = fut.result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
