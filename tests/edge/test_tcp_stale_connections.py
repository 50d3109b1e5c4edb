"""Modbus TCP connections that go bad: a gateway that closes idle sockets must not make
devices flap offline/online, and a timeout in the middle of an answer must never leave a
desynchronised connection in the pool."""

from __future__ import annotations

import asyncio
import struct

import pytest

from device_profiles import load
from edge.acquire.modbus.bus import Bus
from edge.acquire.modbus.errors import LinkDown, NoAnswer
from edge.acquire.modbus.tcp import TcpHost
from edge.config import BusConfig, DeviceConfig
from simulators.clock import SimClock
from simulators.faults import Fault
from simulators.fleet import DeviceFleet, DeviceGroup

PROFILE = load("chint/dtsu666")
VOLTAGE, FREQUENCY = 0x2006, 0x2044  # DTSU666 holding registers, f32; voltage x0.1 V


def _fleet(units=(1, 2)) -> DeviceFleet:
    return DeviceFleet(
        [DeviceGroup(PROFILE, list(units))], seed=5, clock=SimClock(1_784_100_000.0, 0.0)
    )


def _bus(port: int, units, interval: float, timeout: float, retries: int):
    cfg = BusConfig.model_validate(
        {
            "id": "gw",
            "tcp": {"host": "127.0.0.1", "port": port, "max_connections": 2},
            "timeout": timeout,
            "retries": retries,
            "backoff_cap": 0.5,
        }
    )
    devices = [
        DeviceConfig(f"dev-{u}", "gw", u, PROFILE, interval, {}, tuple(PROFILE.points))
        for u in units
    ]
    samples, events = [], []
    return Bus(cfg, devices, samples.append, events.append), samples, events


async def _run(bus: Bus, seconds: float) -> None:
    task = asyncio.create_task(bus.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _assert_all_good_and_right(fleet: DeviceFleet, samples) -> int:
    n = 0
    for s in samples:
        state = fleet.meters[int(s.device.split("-")[1])].values()
        for r in s.readings:
            assert r.quality == "good", r
            if isinstance(r.value, float) and r.point in state:
                assert r.value == pytest.approx(state[r.point], rel=1e-5, abs=0.01), r
            n += 1
    return n


@pytest.mark.parametrize("reset", [False, True], ids=["gateway-closes", "gateway-resets"])
def test_gateway_closing_idle_sockets_never_takes_a_device_offline(reset):
    """The gateway drops sockets idle for 0.15 s; devices are polled every 0.5 s, so nearly
    every poll finds its pooled connection dead. Retried once on a fresh socket, each poll
    still reads every point, and no device is ever reported offline."""

    async def scenario():
        fleet = _fleet()
        server = fleet.server()
        server.idle_close, server.idle_reset = 0.15, reset
        port = await server.start("127.0.0.1", 0)
        bus, samples, events = _bus(port, (1, 2), interval=0.5, timeout=0.5, retries=0)
        try:
            await _run(bus, 3.2)
        finally:
            await server.close()
        return fleet, server, bus, samples, events

    fleet, server, bus, samples, events = asyncio.run(scenario())
    assert [e.message for e in events if e.code == "device.offline"] == []
    assert all(not p.stats.errors for p in bus.pollers), [p.stats.errors for p in bus.pollers]
    assert all(p.stats.polls >= 5 for p in bus.pollers)
    assert _assert_all_good_and_right(fleet, samples) > 0
    assert server.idle_closed >= 6  # the gateway really did close most pooled sockets
    assert bus.link.stats()["stale_replaced"] >= 6


def test_mid_frame_timeout_is_followed_by_correct_values_on_the_next_read():
    """The MBAP header arrives, the rest comes after the timeout: the connection must not
    go back to the pool, where the next read would take the leftover bytes for its answer."""

    async def scenario():
        fleet = _fleet(units=(1,))
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        host = TcpHost("127.0.0.1", port, max_connections=1)
        try:
            fleet.faults.set(1, Fault("split", delay=0.3))
            async with host.connection() as conn:
                with pytest.raises(NoAnswer):
                    await conn.read(1, 3, VOLTAGE, 2, 0.1)
            fleet.faults.clear(1)
            async with host.connection() as conn:
                volts = struct.unpack(">f", await conn.read(1, 3, VOLTAGE, 2, 1.0))[0] * 0.1
                hertz = struct.unpack(">f", await conn.read(1, 3, FREQUENCY, 2, 1.0))[0] * 0.01
            return fleet.meters[1].values(), volts, hertz, host
        finally:
            host.close()
            await server.close()

    state, volts, hertz, host = asyncio.run(scenario())
    assert volts == pytest.approx(state["voltage_l1"], rel=1e-6)
    assert hertz == pytest.approx(state["frequency"], rel=1e-6)
    assert host.stats()["broken_closed"] == 1


def test_mid_frame_timeouts_on_a_busy_bus_leave_every_value_right():
    """Every 4th answer is split with a pause longer than the timeout; the poller's retry
    goes out on a fresh connection, so every poll still reads every point correctly."""

    async def scenario():
        fleet = _fleet()
        for unit in (1, 2):
            fleet.faults.set(unit, Fault("split", delay=0.6, every=4))
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        # The timeout also bounds connecting: 0.1 s was too short for a fresh socket on a
        # busy 2-core CI machine (a bad "cannot connect", not a wrong value).
        bus, samples, events = _bus(port, (1, 2), interval=0.3, timeout=0.25, retries=1)
        try:
            await _run(bus, 3.0)
        finally:
            await server.close()
        return fleet, bus, samples, events

    fleet, bus, samples, events = asyncio.run(scenario())
    assert _assert_all_good_and_right(fleet, samples) > 0
    assert not [e for e in events if e.code == "device.offline"]
    for p in bus.pollers:
        assert set(p.stats.errors) == {"timeout"}, p.stats.errors  # never a bad frame
        assert p.stats.polls >= 4
    assert bus.link.stats()["broken_closed"] >= 4


def test_a_stale_connection_is_retried_once_not_forever():
    """A gateway that drops every request: the pooled connection is retried on one fresh
    socket, then the failure is reported."""

    async def scenario():
        fleet = _fleet(units=(1,))
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        host = TcpHost("127.0.0.1", port, max_connections=1)
        try:
            async with host.connection() as conn:
                await conn.read(1, 3, VOLTAGE, 2, 1.0)
            fleet.faults.set(1, Fault("drop"))
            with pytest.raises(LinkDown, match="connection lost"):
                async with host.connection() as conn:
                    await conn.read(1, 3, VOLTAGE, 2, 1.0)
            return server.accepted
        finally:
            host.close()
            await server.close()

    assert asyncio.run(scenario()) == 2  # the first connection, and one retry
