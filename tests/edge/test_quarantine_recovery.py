"""A quarantined point that reads fine again on its retry is announced as recovered
(modbus.point_recovered), once; a later refusal is announced again. Simulator over TCP."""

from __future__ import annotations

import asyncio

from device_profiles import load
from edge.acquire.modbus.poller import DevicePoller
from edge.acquire.modbus.tcp import TcpHost
from edge.config import DeviceConfig
from simulators.clock import SimClock
from simulators.faults import Fault
from simulators.fleet import DeviceFleet, DeviceGroup

RETRY = 900.0


def test_quarantined_point_that_reads_again_is_an_event():
    profile = load("chint/dtsu666")
    now = [1_784_100_000.0]

    async def scenario():
        fleet = DeviceFleet([DeviceGroup(profile, [1])], seed=5, clock=SimClock(now[0], 0.0))
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        host = TcpHost("127.0.0.1", port)
        config = DeviceConfig("dev-1", "b", 1, profile, 1.0, {}, tuple(profile.points))
        poller = DevicePoller(
            config, timeout=1.0, retries=0, quarantine_retry=RETRY, clock=lambda: now[0]
        )
        polls = []
        try:
            async with host.connection() as conn:

                async def poll(advance: float):
                    now[0] += advance
                    polls.append(await poller.poll(conn))

                fleet.faults.set(1, Fault("illegal_point", point="frequency"))
                await poll(0)  # 0: refused, quarantined
                await poll(10)  # 1: still quarantined, not asked
                fleet.faults.clear(1)  # the firmware was fixed
                await poll(10)  # 2: not yet retried
                await poll(RETRY)  # 3: retried, reads fine: recovered
                await poll(10)  # 4: nothing new
                fleet.faults.set(1, Fault("illegal_point", point="frequency"))
                await poll(10)  # 5: refused again: a new quarantine, announced again
        finally:
            host.close()
            await server.close()
        return polls

    polls = asyncio.run(scenario())
    codes = [[e.code for e in p.events] for p in polls]
    assert codes == [
        ["modbus.point_quarantined"],
        [],
        [],
        ["modbus.point_recovered"],
        [],
        ["modbus.point_quarantined"],
    ]
    recovered = polls[3].events[0]
    assert recovered.source == "dev-1" and recovered.data["point"] == "frequency"
    assert "frequency" in recovered.message
    freq = {i: next(r for r in p.readings if r.point == "frequency") for i, p in enumerate(polls)}
    assert [freq[i].quality for i in range(6)] == ["bad", "bad", "bad", "good", "good", "bad"]
