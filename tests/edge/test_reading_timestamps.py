"""Readings are stamped when their request is sent, not when the poll started waiting for
the line (RS-485 lock) or a pool slot (TCP host with one connection).

Three meters share one line, one of them slow (every answer 0.5 s late), so the others
wait for the line. The simulator records when each request really arrived; the time
of the record each reading travels in (which is the reading's time) must be its first
request's send time, at most MAX_SAMPLE_SPREAD before the reading's own request.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest

from device_profiles import load
from edge.acquire.modbus.bus import MAX_SAMPLE_SPREAD, Bus
from edge.config import BusConfig, DeviceConfig
from simulators.clock import SimClock
from simulators.faults import Fault
from simulators.fleet import DeviceFleet, DeviceGroup
from simulators.modbus_server import ModbusServer

SLOW = 0.5  # s, the slow meter's answer delay: what a stamp taken before the wait is off by
# Far above loopback + event loop latency on a loaded 2-core machine (measured: ~1 ms);
# stamps taken before waiting for the line were off by up to 1.4 s in this scenario.
BOUND = 0.1


class _Recording:
    """A served device that notes when each read request arrived at the simulator."""

    def __init__(self, image, unit: int, log: dict):
        self.image, self.unit, self.log = image, unit, log

    def read(self, table: str, address: int, count: int) -> bytes:
        self.log[(self.unit, table, address)].append(time.time())
        return self.image.read(table, address, count)

    def write(self, table: str, address: int, data: bytes | int, count: int) -> object:
        return self.image.write(table, address, data, count)


@pytest.mark.parametrize("link", ["rtu", "tcp-one-connection"])
def test_each_reading_is_stamped_when_its_request_was_sent(link):
    profile = load("chint/dtsu666")
    units = (1, 2, 3)

    async def scenario():
        fleet = DeviceFleet([DeviceGroup(profile, list(units))], seed=5, clock=SimClock(1.78e9, 0))
        fleet.faults.set(3, Fault("slow", delay=SLOW))
        arrived: dict = defaultdict(list)
        served = {u: _Recording(fleet.images[u], u, arrived) for u in units}
        framing = "rtu" if link == "rtu" else "tcp"
        server = ModbusServer(served, fleet.faults, framing)
        port = await server.start("127.0.0.1", 0)
        if framing == "rtu":
            wire = {"rtu": {"port": f"socket://127.0.0.1:{port}", "baudrate": 115200}}
        else:
            wire = {"tcp": {"host": "127.0.0.1", "port": port, "max_connections": 1}}
        cfg = BusConfig.model_validate({"id": "b", **wire, "timeout": 2.0, "retries": 0})
        devices = [
            DeviceConfig(f"m{u}", "b", u, profile, 0.5, {}, tuple(profile.points)) for u in units
        ]
        samples: list = []
        bus = Bus(cfg, devices, samples.append, lambda e: None)
        task = asyncio.create_task(bus.run())
        await asyncio.sleep(4.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
        return bus, samples, arrived

    bus, samples, arrived = asyncio.run(scenario())

    # Match each request's stamps (one per poll, in poll order) to its arrivals at the
    # simulator: d = arrival - stamp. A record is stamped with its first request's send
    # time, so d is ~0 for that request and at most MAX_SAMPLE_SPREAD for the others.
    by_sample: dict[int, list[float]] = defaultdict(list)
    checked = 0
    for poller in bus.pollers:
        unit = poller.unit
        mine = [s for s in samples if s.device == poller.id]
        assert mine, f"{poller.id} was never polled"
        assert all(r.quality == "good" for s in mine for r in s.readings)
        assert all(r.ts == s.ts for s in mine for r in s.readings)  # printed = stored
        assert len(poller.plan) >= 2
        for req in poller.plan:
            first = req.points[0].name
            stamps = [(id(s), s.ts) for s in mine for r in s.readings if r.point == first]
            got = arrived[(unit, req.table, req.address)]
            # Polls cancelled at the end may have been received but not reported.
            assert len(got) >= len(stamps) >= 1
            for (sample, ts), received in zip(stamps, got, strict=False):
                d = received - ts
                assert -BOUND < d < MAX_SAMPLE_SPREAD + BOUND, (poller.id, req.describe(), d)
                by_sample[sample].append(d)
                checked += 1
    assert checked >= 3 * 2 * 2
    for ds in by_sample.values():
        assert min(abs(d) for d in ds) < BOUND, ds  # the record's ts: its first send
