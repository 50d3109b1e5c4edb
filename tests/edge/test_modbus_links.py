"""The Modbus links and the poller against real servers: pymodbus's own server (an
independent implementation), and the simulator over TCP and over RTU framing."""

from __future__ import annotations

import asyncio
import struct

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from servers import free_port

from device_profiles import load
from device_profiles.schema import Profile
from edge.acquire.modbus.bus import Bus
from edge.acquire.modbus.errors import ModbusExceptionResponse, NoAnswer
from edge.acquire.modbus.poller import DevicePoller
from edge.acquire.modbus.rtu import RtuLine
from edge.acquire.modbus.tcp import TcpConnection, TcpHost
from edge.config import BusConfig, DeviceConfig
from simulators.clock import SimClock
from simulators.faults import Fault
from simulators.fleet import DeviceFleet, DeviceGroup
from simulators.modbus_server import ModbusServer
from simulators.registers import RegisterImage


def test_tcp_client_interoperates_with_pymodbus_server():
    async def scenario():
        device = SimDevice(
            id=3,
            simdata=(
                [
                    SimData(
                        0, values=[True, False, True, True] + [False] * 12, datatype=DataType.BITS
                    )
                ],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(8192, values=[0x4B3C, 0x614E, 7, 8], datatype=DataType.REGISTERS)],
                [SimData(0, values=[1, 2, 3], datatype=DataType.REGISTERS)],
            ),
        )
        port = free_port()
        server = ModbusTcpServer(device, address=("127.0.0.1", port))
        task = asyncio.create_task(server.serve_forever())
        try:
            for _ in range(100):
                try:
                    conn = await TcpConnection.open("127.0.0.1", port, 1.0)
                    break
                except Exception:
                    await asyncio.sleep(0.05)
            # f32 ABCD golden vector: 4B 3C 61 4E is 12345678.0
            data = await conn.read(3, 3, 8192, 4, 1.0)
            assert struct.unpack(">f", data[:4])[0] == 12345678.0
            assert await conn.read(3, 4, 0, 3, 1.0) == bytes.fromhex("000100020003")
            assert await conn.read(3, 1, 0, 4, 1.0) == bytes([0b1101])
            with pytest.raises(ModbusExceptionResponse) as exc:
                await conn.read(3, 3, 9000, 2, 1.0)
            assert exc.value.code == 2
            await conn.write(3, 16, 8194, bytes.fromhex("00090010"), 2, 1.0)
            await conn.write(3, 6, 8192, 0x1234, 1, 1.0)
            assert await conn.read(3, 3, 8192, 4, 1.0) == bytes.fromhex("1234614e00090010")
            await conn.write(3, 5, 1, 0xFF00, 1, 1.0)
            assert await conn.read(3, 1, 0, 4, 1.0) == bytes([0b1111])
            conn.close()
        finally:
            await server.shutdown()
            task.cancel()

    asyncio.run(scenario())


def _fleet(profile_id: str = "chint/dtsu666", units=(1, 2)) -> DeviceFleet:
    return DeviceFleet(
        [DeviceGroup(load(profile_id), list(units))], seed=5, clock=SimClock(1_784_100_000.0, 0.0)
    )


def test_rtu_line_reads_the_simulator_through_a_serial_url():
    """RTU framing (CRC, one request at a time) over socket://, as a serial converter would."""

    async def scenario():
        fleet = _fleet()
        server = fleet.server("rtu")
        port = await server.start("127.0.0.1", 0)
        line = RtuLine(f"socket://127.0.0.1:{port}", baudrate=115200)
        try:
            data = await line.read(2, 3, 0x2006, 2, 1.0)
            volts = struct.unpack(">f", data)[0] * 0.1
            assert volts == pytest.approx(fleet.meters[2].values()["voltage_l1"], rel=1e-6)
            with pytest.raises(ModbusExceptionResponse):
                await line.read(2, 3, 0x3000, 2, 1.0)
            with pytest.raises(NoAnswer):
                await line.read(9, 3, 0x2006, 2, 0.3)  # nobody at unit 9
        finally:
            line.close()
            await server.close()

    asyncio.run(scenario())


def test_late_answer_is_never_taken_for_the_next_request():
    async def scenario():
        fleet = _fleet()
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        host = TcpHost("127.0.0.1", port, max_connections=1)
        try:
            fleet.faults.set(1, Fault("slow", delay=0.4))
            async with host.connection() as conn:
                with pytest.raises(NoAnswer):
                    await conn.read(1, 3, 0x101E, 2, 0.1)  # energy, answered too late
            fleet.faults.clear(1)
            await asyncio.sleep(0.5)  # the late energy answer is now in the socket buffer
            async with host.connection() as conn:
                data = await conn.read(1, 3, 0x2006, 2, 1.0)  # voltage
            volts = struct.unpack(">f", data)[0] * 0.1
            assert volts == pytest.approx(fleet.meters[1].values()["voltage_l1"], rel=1e-6)
            assert host.connects == 1  # the connection survived the timeout
        finally:
            host.close()
            await server.close()

    asyncio.run(scenario())


def _device(profile: Profile, unit: int = 1, interval: float = 1.0) -> DeviceConfig:
    return DeviceConfig(f"dev-{unit}", "b", unit, profile, interval, {}, tuple(profile.points))


def test_device_refusing_gap_reads_is_replanned_without_gaps():
    """The profile claims holes are readable, the device says ILLEGAL DATA ADDRESS: the
    poller finds that every point reads alone and stops filling gaps."""
    loose = Profile.model_validate(
        {
            "id": "test/loose",
            "vendor": "T",
            "model": "M",
            "kind": "meter",
            "verified": False,
            "quirks": {"max_gap": 20},
            "points": {
                "voltage_l1": {"table": "holding", "address": 100, "type": "f32", "unit": "V"},
                "frequency": {"table": "holding", "address": 110, "type": "f32", "unit": "Hz"},
            },
        }
    )
    strict = loose.model_copy(update={"quirks": loose.quirks.model_copy(update={"max_gap": 0})})
    values = {"voltage_l1": 231.5, "frequency": 50.02}

    async def scenario():
        server = ModbusServer({1: RegisterImage(strict, lambda: values)})
        port = await server.start("127.0.0.1", 0)
        host = TcpHost("127.0.0.1", port)
        poller = DevicePoller(_device(loose), timeout=1.0, retries=0)
        assert len(poller.plan) == 1
        try:
            async with host.connection() as conn:
                first = await poller.poll(conn, 1.0)
                second = await poller.poll(conn, 2.0)
        finally:
            host.close()
            await server.close()
        return poller, first, second

    poller, first, second = asyncio.run(scenario())
    assert [e.code for e in first.events] == ["modbus.gaps_refused"]
    assert {r.point: r.value for r in first.readings} == pytest.approx(values, rel=1e-6)
    assert len(poller.plan) == 2 and not poller.quarantined
    assert all(r.quality == "good" for r in second.readings)
    assert poller.stats.errors == {"exception_2": 1}


def _bus(port: int, devices: list[DeviceConfig], timeout: float, backoff_cap: float = 60.0):
    cfg = BusConfig.model_validate(
        {
            "id": "b",
            "tcp": {"host": "127.0.0.1", "port": port},
            "timeout": timeout,
            "retries": 0,
            "backoff_cap": backoff_cap,
        }
    )
    samples, events = [], []
    return Bus(cfg, devices, samples.append, events.append), samples, events


def test_slow_device_is_never_polled_twice_at_once_and_overruns_are_counted():
    async def scenario():
        fleet = _fleet(units=(1,))
        fleet.faults.set(1, Fault("slow", delay=0.6))  # answers, but each read takes 0.6 s
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        profile = load("chint/dtsu666")
        bus, samples, _ = _bus(port, [_device(profile, 1, interval=0.25)], timeout=2.0)
        task = asyncio.create_task(bus.run())
        await asyncio.sleep(3.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
        return bus, samples, server

    bus, samples, server = asyncio.run(scenario())
    stats = bus.pollers[0].stats
    reads_per_poll = len(bus.pollers[0].plan)
    # A poll is reads_per_poll x 0.6 s, so only a few polls fit in 3 s, not 12.
    assert 1 <= stats.polls <= int(3.0 / (0.6 * reads_per_poll)) + 1
    assert server.requests[1] <= reads_per_poll * (stats.polls + 1)
    assert stats.overruns >= 6
    assert all(r.quality == "good" for s in samples for r in s.readings)


def test_silent_device_is_backed_off_and_reported_once():
    async def scenario():
        fleet = _fleet(units=(1, 2))
        fleet.faults.set(2, Fault("no_answer"))
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        profile = load("chint/dtsu666")
        devices = [_device(profile, 1, interval=0.2), _device(profile, 2, interval=0.2)]
        bus, _samples, events = _bus(port, devices, timeout=0.1, backoff_cap=1.6)
        task = asyncio.create_task(bus.run())
        await asyncio.sleep(4.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
        return bus, events

    bus, events = asyncio.run(scenario())
    healthy, silent = bus.pollers
    assert healthy.stats.polls >= 18  # every 0.2 s
    # Backoff 0.2, 0.4, 0.8, 1.6, 1.6 ... s: a handful of polls instead of 20.
    assert 3 <= silent.stats.polls <= 7
    offline = [e for e in events if e.code == "device.offline"]
    assert len(offline) == 1 and offline[0].source == "dev-2"
    assert "no answer within 0.1 s" in offline[0].message


def test_quarantined_point_reads_bad_once_per_poll_and_the_rest_stays_good():
    async def scenario():
        fleet = _fleet(units=(1,))
        fleet.faults.set(1, Fault("illegal_point", point="frequency"))
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        host = TcpHost("127.0.0.1", port)
        poller = DevicePoller(_device(load("chint/dtsu666")), timeout=1.0, retries=0)
        try:
            async with host.connection() as conn:
                polls = [await poller.poll(conn, float(t)) for t in range(3)]
        finally:
            host.close()
            await server.close()
        return poller, polls

    poller, polls = asyncio.run(scenario())
    assert list(poller.quarantined) == ["frequency"]
    assert [e.code for e in polls[0].events] == ["modbus.point_quarantined"]
    assert not polls[1].events and not polls[2].events  # reported once
    for result in polls:
        names = [r.point for r in result.readings]
        assert len(names) == len(set(names)) == len(poller.points)  # each point exactly once
        for r in result.readings:
            if r.point == "frequency":
                assert r.quality == "bad" and r.reason.startswith("quarantined: exception 2")
            else:
                assert r.quality == "good", r
    # The refused register is no longer asked for.
    assert all("frequency" not in [p.name for p in req.points] for req in poller.plan)


def test_fault_specs_read_ranges_splits_and_every():
    from simulators.faults import FaultTable, parse_fault

    assert parse_fault("7:slow=0.1-0.5") == ([7], Fault("slow", delay=0.1, delay_max=0.5))
    assert parse_fault("3-4:split=0.5,every=3") == ([3, 4], Fault("split", delay=0.5, every=3))
    assert parse_fault("2:no_answer,every=2")[1].describe() == "no_answer,every=2"
    for bad in ("7:split=0.1-0.5", "7:slow=0.5-0.1", "7:drop,every=0", "7:slow", "7:late=1"):
        with pytest.raises(ValueError, match="fault"):
            parse_fault(bad)
    table = FaultTable()
    table.set(5, Fault("no_answer", every=3))
    assert [table.for_request(5) is not None for _ in range(6)] == [False, False, True] * 2
    assert table.for_request(6) is None
