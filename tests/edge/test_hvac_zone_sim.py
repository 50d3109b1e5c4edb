"""The HVAC zone simulator speaks the steward/hvac-zone profile: every table (input,
holding, coil, discrete) reads back its state, and writes change the zone."""

from __future__ import annotations

import asyncio

import pytest

from device_profiles import load
from edge.acquire.modbus.poller import DevicePoller
from edge.acquire.modbus.tcp import TcpHost
from edge.config import DeviceConfig
from simulators.clock import SimClock
from simulators.fleet import DeviceFleet, DeviceGroup


def test_zone_reads_match_state_and_writes_take_effect():
    profile = load("steward/hvac-zone")
    clock = SimClock(1_784_098_800.0, 0.0)  # 15:00 on 15 July (UTC+8): the unit cools
    fleet = DeviceFleet([DeviceGroup(profile, [5])], seed=2, clock=clock)
    zone = fleet.zones[5]
    device = DeviceConfig("ahu-5", "b", 5, profile, 1.0, {}, tuple(profile.points))

    async def scenario():
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        host = TcpHost("127.0.0.1", port)
        poller = DevicePoller(device, timeout=1.0, retries=0)
        try:
            async with host.connection() as conn:
                before = await poller.poll(conn, 1.0)
                # 27.0 degC is raw 270 (x0.1), written with FC6 as the profile says.
                await conn.write(5, 6, 100, 270, 1, 1.0)
                await conn.write(5, 5, 0, 0x0000, 1, 1.0)  # switch the unit off
                after = await poller.poll(conn, 2.0)
        finally:
            host.close()
            await server.close()
        return before, after

    state = dict(zone.values())  # frozen clock: what the first poll must see
    before, after = asyncio.run(scenario())
    read = {r.point: r.value for r in before.readings}
    assert all(r.quality == "good" for r in before.readings)
    assert set(read) == set(profile.points)
    for name in ("zone_temperature", "outdoor_temperature", "cooling_setpoint"):
        assert read[name] == pytest.approx(state[name], abs=0.05), name
    assert read["on_off"] == 1 and read["running_state"] == 1  # cooling on a July afternoon
    assert read["active_power"] > 0
    after_values = {r.point: r.value for r in after.readings}
    assert after_values["cooling_setpoint"] == 27.0
    assert after_values["on_off"] == 0
    assert zone.setpoints["cooling_setpoint"] == 27.0 and zone.on == 0
