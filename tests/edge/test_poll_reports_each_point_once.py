"""A poll that re-plans part-way (a point quarantined, gap reads refused) and then meets a
silent device still reports every planned point exactly once, against the simulator over
real TCP.

The simulator's faults are per unit and switched while the edge polls; here the served
device switches its own unit to silence at the moment the request that triggers the
re-plan reaches it, so the very next request of the same poll times out.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from device_profiles.schema import Profile
from edge.acquire.modbus.poller import DevicePoller
from edge.acquire.modbus.tcp import TcpHost
from edge.config import DeviceConfig
from simulators.faults import Fault, FaultTable
from simulators.modbus_server import ModbusServer
from simulators.registers import RegisterImage

VALUES = {"a": 11.0, "b": 22.0, "c": 33.0, "d": 44.0}


def _profile(max_gap: int, addresses: dict[str, int]) -> Profile:
    return Profile.model_validate(
        {
            "id": "test/four",
            "vendor": "T",
            "model": "M",
            "kind": "meter",
            "verified": False,
            "quirks": {"max_gap": max_gap},
            "points": {
                name: {"table": "holding", "address": addr, "type": "u16", "unit": "V"}
                for name, addr in addresses.items()
            },
        }
    )


class _SilentAfter:
    """A served device that silences its unit once `address` has been asked for."""

    def __init__(self, image: RegisterImage, faults: FaultTable, unit: int, address: int):
        self.image, self.faults, self.unit, self.address = image, faults, unit, address

    def read(self, table: str, address: int, count: int) -> bytes:
        if address == self.address:
            self.faults.set(self.unit, Fault("no_answer"))  # applies from the next request
        return self.image.read(table, address, count)

    def write(self, table: str, address: int, data: bytes | int, count: int) -> object:
        return self.image.write(table, address, data, count)


async def _one_poll(device: _SilentAfter, faults: FaultTable, edge_profile: Profile):
    server = ModbusServer({1: device}, faults)
    port = await server.start("127.0.0.1", 0)
    host = TcpHost("127.0.0.1", port, max_connections=1)
    config = DeviceConfig("dev-1", "b", 1, edge_profile, 1.0, {}, tuple(edge_profile.points))
    poller = DevicePoller(config, timeout=0.2, retries=0)
    planned = len(poller.plan)
    try:
        async with host.connection() as conn:
            result = await poller.poll(conn, 1.0)
    finally:
        host.close()
        await server.close()
    return poller, planned, result


def _assert_each_point_once(readings) -> dict:
    counts = Counter(r.point for r in readings)
    assert counts == {name: 1 for name in VALUES}, counts
    return {r.point: r for r in readings}


def test_point_quarantined_then_timeout_reports_every_point_once():
    """b (alone in its request) is refused and quarantined: the plan shrinks from 4 to 3
    requests; then c times out. c must be reported (bad), not skipped."""
    addresses = {"a": 100, "b": 200, "c": 300, "d": 400}
    profile = _profile(0, addresses)
    faults = FaultTable()
    image = RegisterImage(profile, lambda: VALUES, refused=lambda: frozenset({"b"}))
    device = _SilentAfter(image, faults, 1, addresses["b"])

    poller, planned, result = asyncio.run(_one_poll(device, faults, profile))

    assert planned == 4 and len(poller.plan) == 3  # the re-plan did happen
    by_point = _assert_each_point_once(result.readings)
    assert by_point["a"].value == pytest.approx(11.0)
    assert by_point["b"].quality == "bad" and by_point["b"].reason.startswith("quarantined:")
    for name in ("c", "d"):
        assert by_point[name].quality == "bad"
        assert "no answer" in by_point[name].reason


def test_gap_reads_refused_then_timeout_reports_every_point_once():
    """The profile claims the hole between a and b is readable, the device refuses it:
    the plan grows from 3 to 4 requests; then c times out. b must not be reported twice
    (once good, once bad)."""
    addresses = {"a": 100, "b": 110, "c": 300, "d": 400}
    loose = _profile(20, addresses)
    strict = _profile(0, addresses)
    faults = FaultTable()
    device = _SilentAfter(RegisterImage(strict, lambda: VALUES), faults, 1, addresses["b"])

    poller, planned, result = asyncio.run(_one_poll(device, faults, loose))

    assert planned == 3 and len(poller.plan) == 4  # the re-plan did happen
    assert [e.code for e in result.events] == ["modbus.gaps_refused"]
    by_point = _assert_each_point_once(result.readings)
    assert by_point["a"].value == pytest.approx(11.0)
    assert by_point["b"].value == pytest.approx(22.0) and by_point["b"].quality == "good"
    for name in ("c", "d"):
        assert by_point[name].quality == "bad" and "no answer" in by_point[name].reason


def test_unreachable_bus_still_reports_quarantined_points_once():
    """When the poll cannot even connect, every point is reported bad once, including
    the quarantined ones (with their quarantine reason), not only the planned requests."""
    from device_profiles import load
    from edge.acquire.modbus.bus import Bus, open_link
    from edge.config import BusConfig
    from simulators.clock import SimClock
    from simulators.fleet import DeviceFleet, DeviceGroup

    profile = load("chint/dtsu666")

    async def scenario():
        fleet = DeviceFleet([DeviceGroup(profile, [1])], seed=5, clock=SimClock(1.78e9, 0.0))
        fleet.faults.set(1, Fault("illegal_point", point="frequency"))
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        cfg = BusConfig.model_validate(
            {"id": "b", "tcp": {"host": "127.0.0.1", "port": port}, "timeout": 0.5, "retries": 0}
        )
        device = DeviceConfig("dev-1", "b", 1, profile, 1.0, {}, tuple(profile.points))
        samples: list = []
        bus = Bus(cfg, [device], samples.append, lambda e: None)
        bus.link = open_link(cfg)
        try:
            await bus.poll_once(bus.pollers[0])
            await server.close()  # the gateway is gone: the next poll cannot connect
            bus.link.close()
            await bus.poll_once(bus.pollers[0])
        finally:
            bus.link.close()
        return samples

    first, second = asyncio.run(scenario())
    for sample in (first, second):
        counts = Counter(r.point for r in sample.readings)
        assert counts == {name: 1 for name in profile.points}, counts
    freq = next(r for r in second.readings if r.point == "frequency")
    assert freq.quality == "bad" and freq.reason.startswith("quarantined:")
    assert all(r.quality == "bad" for r in second.readings)
