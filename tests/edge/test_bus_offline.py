"""A gateway that stops answering is one bus.offline alarm (and one clear of it, active
false, when it is back), not one device.offline per device; a single dead device on a
live bus is still a device.offline. Against the simulator over real TCP."""

from __future__ import annotations

import asyncio

from device_profiles import load
from edge.acquire.modbus.bus import Bus
from edge.config import BusConfig, DeviceConfig
from simulators.clock import SimClock
from simulators.faults import Fault
from simulators.fleet import DeviceFleet, DeviceGroup

UNITS = (1, 2, 3, 4)


def _fleet() -> DeviceFleet:
    return DeviceFleet(
        [DeviceGroup(load("chint/dtsu666"), list(UNITS))], seed=5, clock=SimClock(1.78e9, 0.0)
    )


def _bus(port: int) -> tuple[Bus, list]:
    cfg = BusConfig.model_validate(
        {
            "id": "gw1",
            "tcp": {"host": "127.0.0.1", "port": port, "max_connections": 2},
            "timeout": 0.2,
            "retries": 0,
            "backoff_cap": 0.4,
        }
    )
    profile = load("chint/dtsu666")
    devices = [DeviceConfig(f"m{u}", "gw1", u, profile, 0.2, {}, ("voltage_l1",)) for u in UNITS]
    events: list = []
    return Bus(cfg, devices, lambda s: None, events.append), events


def _codes(events) -> list[str]:
    """Each record as code+ (raised) / code- (cleared) / code (plain event)."""
    marks = {True: "+", False: "-", None: ""}
    return [e.code + marks[e.active] for e in events]


def test_stopped_gateway_is_one_bus_offline_raised_then_cleared():
    async def scenario():
        fleet = _fleet()
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        bus, events = _bus(port)
        task = asyncio.create_task(bus.run())
        await asyncio.sleep(1.0)
        await server.close()  # the whole gateway is gone: connections reset, port closed
        await asyncio.sleep(2.0)
        down = list(events)
        server = fleet.server()
        await server.start("127.0.0.1", port)
        await asyncio.sleep(2.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
        return down, events

    down, events = asyncio.run(scenario())
    assert _codes(down) == ["bus.offline+"], _codes(down)
    assert _codes(events) == ["bus.offline+", "bus.offline-"], _codes(events)
    offline = events[0]
    assert offline.source == "gw1" and offline.type == "alarm"
    assert "127.0.0.1" in offline.message and "4 devices" in offline.message
    assert offline.data["bus"] == "gw1"


def _silence(units, settle: float, silent: float, after: float) -> list:
    """Poll the fleet's gateway; after `settle` s the given units stop answering for
    `silent` s, then answer again for `after` s. Returns the bus's events."""

    async def scenario():
        fleet = _fleet()
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        bus, events = _bus(port)
        task = asyncio.create_task(bus.run())
        await asyncio.sleep(settle)
        for unit in units:
            fleet.faults.set(unit, Fault("no_answer"))
        await asyncio.sleep(silent)
        fleet.faults.clear()
        await asyncio.sleep(after)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
        return events

    return asyncio.run(scenario())


def test_gateway_whose_devices_all_go_silent_is_one_bus_offline():
    # The gateway's serial side is dead: TCP up, no answers from any unit.
    events = _silence(UNITS, settle=1.0, silent=2.0, after=2.0)
    assert _codes(events) == ["bus.offline+", "bus.offline-"], _codes(events)
    assert "no answer within 0.2 s" in events[0].message


def test_one_dead_device_on_a_live_bus_is_a_device_offline():
    events = _silence([3], settle=0.6, silent=2.0, after=1.5)
    assert _codes(events) == ["device.offline+", "device.offline-"], _codes(events)
    assert {e.source for e in events} == {"m3"}
    assert events[0].data == {"bus": "gw1", "unit": 3}
