"""steward-sim hvac: zones on the steward/hvac-zone profile and the meter measuring them,
read and written over real Modbus TCP with the edge's own client and poller.

The zone model (simulators/hvac.py) for a cooling zone:
    duty  = min(1, max(0.2, (T - sp + 0.5) / 2))
    power = duty * rated + 0.08 * rated          (fan, while on)
and the meter (simulators/hvac_cli.py): power = base + sum of the zones' power, energy
grows by base * hours + the zones' energy. The figures below are worked from those by
hand, not by calling the model.
"""

from __future__ import annotations

import asyncio
import os
from io import StringIO
from pathlib import Path

import pytest

from device_profiles import load
from edge.acquire.modbus.errors import NoAnswer
from edge.acquire.modbus.poller import DevicePoller
from edge.acquire.modbus.tcp import TcpConnection, TcpHost
from edge.config import DeviceConfig
from simulators.clock import SimClock
from simulators.fault_file import FaultFile
from simulators.faults import Fault, FaultTable, parse_fault
from simulators.hvac_cli import hvac_fleet, zone_units
from tests.support.servers import free_port, python_module, running

T0 = 1_784_098_800.0  # 15:00 on 15 July (UTC+8): a hot afternoon, the zones cool
ZONE = load("steward/hvac-zone")
METER = load("chint/dtsu666")
METER_UNIT = 100


async def _read(conn: TcpConnection, unit: int, points: tuple[str, ...]) -> dict[str, float]:
    """The points of one device, decoded by the edge's poller (what the edge would see)."""
    profile = ZONE if unit != METER_UNIT else METER
    device = DeviceConfig(f"u{unit}", "b", unit, profile, 1.0, {}, points)
    result = await DevicePoller(device, timeout=1.0, retries=0).poll(conn, 0.0)
    assert all(r.quality == "good" for r in result.readings), result.readings
    return {r.point: r.value for r in result.readings}


def _serve(fleet, scenario):
    async def run():
        server = fleet.server()
        port = await server.start("127.0.0.1", 0)
        host = TcpHost("127.0.0.1", port)
        try:
            async with host.connection() as conn:
                return await scenario(conn)
        finally:
            host.close()
            await server.close()

    return asyncio.run(run())


def test_raising_a_cooling_setpoint_half_a_kelvin_drops_zone_and_meter_power_at_once():
    # Frozen clock: the zone temperature cannot move between the reads, so any change in
    # power comes from the write alone. Two 20 kW zones, a 20 kW base on the meter.
    fleet = hvac_fleet([1, 2], METER_UNIT, base_kw=20.0, clock=SimClock(T0, 0.0), zone_kw=20.0)
    zone_points = ("zone_temperature", "cooling_setpoint", "running_state", "active_power")

    async def scenario(conn):
        before = await _read(conn, 1, zone_points)
        other = await _read(conn, 2, ("active_power",))
        meter_before = await _read(conn, METER_UNIT, ("active_power",))
        await conn.write(1, 6, 100, 265, 1, 1.0)  # cooling setpoint 26.5 degC (raw x0.1)
        after = await _read(conn, 1, zone_points)
        meter_after = await _read(conn, METER_UNIT, ("active_power",))
        return before, other, meter_before, after, meter_after

    before, other, meter_before, after, meter_after = _serve(fleet, scenario)
    t, sp = before["zone_temperature"], before["cooling_setpoint"]
    # T reads 26.7 (0.1 K resolution), sp 26.0, cooling: duty = (26.7 - 26 + 0.5) / 2 = 0.6,
    # power = 0.6 * 20 + 0.08 * 20 = 13.6 kW; T is really 26.66 or so: +-0.05 K on T is
    # +-0.5 kW on power.
    assert (t, sp, before["running_state"]) == pytest.approx((26.7, 26.0, 1))
    assert before["active_power"] == pytest.approx(13.6, abs=0.5)
    # After sp 26.5: duty = (T - 26.5 + 0.5) / 2 = 0.25 less, still inside 0.2..1 since
    # T - 26.5 >= 0.1 -> 0.3; power falls by exactly 0.25 * 20 = 5.000 kW (W resolution).
    assert after["cooling_setpoint"] == pytest.approx(26.5) and after["zone_temperature"] == t
    assert before["active_power"] - after["active_power"] == pytest.approx(5.0, abs=0.002)
    # The meter: 20 kW base + both zones, before and after; it drops by the same 5 kW.
    assert meter_before["active_power"] == pytest.approx(
        20.0 + before["active_power"] + other["active_power"], abs=0.003
    )
    assert meter_before["active_power"] - meter_after["active_power"] == pytest.approx(
        5.0, abs=0.002
    )


def test_the_meter_counts_the_zones_energy_plus_its_own_base():
    clock = SimClock(T0, 0.0)
    fleet = hvac_fleet([1, 2], METER_UNIT, base_kw=20.0, clock=clock, zone_kw=20.0)

    async def scenario(conn):
        reads = []
        for t in (T0, T0 + 3600.0):  # one simulated hour, the zones warming as they do
            clock.freeze_at(t)
            reads.append([await _read(conn, u, ("energy_import",)) for u in (1, 2, METER_UNIT)])
        return reads

    (z1a, z2a, ma), (z1b, z2b, mb) = _serve(fleet, scenario)
    zone1 = z1b["energy_import"] - z1a["energy_import"]
    zone2 = z2b["energy_import"] - z2a["energy_import"]
    meter = mb["energy_import"] - ma["energy_import"]
    # Hand sum: zones 17.1 + 17.0 kWh (as read) + base 20 kW * 1 h = 54.1 kWh. Each zone
    # counter reads in 0.1 kWh, so the sum of two differences is good to 0.2 kWh.
    assert zone1 > 10 and zone2 > 10  # both cooled: not a 0 = 0 sum
    assert meter == pytest.approx(zone1 + zone2 + 20.0, abs=0.21)


def test_ignore_writes_answers_ok_and_changes_nothing_until_cleared():
    fleet = hvac_fleet([1], METER_UNIT, clock=SimClock(T0, 0.0), zone_kw=20.0)
    fleet.faults.set(1, parse_fault("1:ignore_writes")[1])

    async def scenario(conn):
        await conn.write(1, 6, 100, 270, 1, 1.0)  # 27.0 degC: answered with the echo
        await conn.write(1, 5, 0, 0x0000, 1, 1.0)  # switch off: answered too
        ignored = await conn.read(1, 3, 100, 1, 1.0), await conn.read(1, 1, 0, 1, 1.0)
        readings = await _read(conn, 1, tuple(ZONE.points))  # every point still reads
        fleet.faults.clear(1)
        await conn.write(1, 6, 100, 270, 1, 1.0)
        taken = await conn.read(1, 3, 100, 1, 1.0)
        return ignored, readings, taken

    (setpoint, coil), readings, taken = _serve(fleet, scenario)
    assert int.from_bytes(setpoint, "big") == 260 and coil == b"\x01"  # 26.0 degC, still on
    assert readings["cooling_setpoint"] == pytest.approx(26.0) and readings["on_off"] == 1
    assert len(readings) == len(ZONE.points)
    assert int.from_bytes(taken, "big") == 270  # the same write, without the fault, lands
    assert fleet.zones[1].setpoints["cooling_setpoint"] == 27.0


def test_outdoor_offset_adds_exactly_k_to_the_outdoor_temperature_and_the_load():
    def run(offset: float):
        clock = SimClock(T0, 0.0)
        fleet = hvac_fleet([1], METER_UNIT, clock=clock, zone_kw=20.0, outdoor_offset=offset)

        async def scenario(conn):
            raw = await conn.read(1, 4, 2, 1, 1.0)  # outdoor_temperature, i16 x0.1
            start = await _read(conn, METER_UNIT, ("energy_import",))
            clock.freeze_at(T0 + 2 * 3600.0)
            end = await _read(conn, METER_UNIT, ("energy_import",))
            return int.from_bytes(raw, "big", signed=True), end["energy_import"] - start[
                "energy_import"
            ]

        return _serve(fleet, scenario)

    (normal, used), (hot, used_hot) = run(0.0), run(3.5)
    assert hot - normal == 35  # 3.5 K in 0.1 K registers, to the count
    assert used_hot > used  # the hotter zone works harder: more metered energy


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # the simulator never reads half a file


def test_fault_file_replaces_its_faults_keeps_them_on_a_bad_line_and_clears(tmp_path):
    path = tmp_path / "faults"
    table = FaultTable()
    fixed = {2: Fault("slow", delay=0.1)}  # as from --fault 2:slow=0.1
    table.set(2, fixed[2])
    out, err = StringIO(), StringIO()
    watch = FaultFile(path, table, {1, 2, 3}, fixed, out=lambda: out, err=lambda: err)
    assert not watch.check()  # absent, as at the start: nothing read, nothing set
    _write_atomically(path, "# comment\n\n1:no_answer\n")
    assert watch.check()
    assert table.get(1) == Fault("no_answer") and table.get(2) == fixed[2]
    _write_atomically(path, "1:no_answer\n2-3:drop\n")  # the file names 2: it wins
    watch.check()
    assert table.active() == {1: Fault("no_answer"), 2: Fault("drop"), 3: Fault("drop")}
    _write_atomically(path, "3:no_answer\nbogus\n9:drop\n")
    watch.check()  # a bad line: reported with its number, nothing changes
    assert table.active() == {1: Fault("no_answer"), 2: Fault("drop"), 3: Fault("drop")}
    assert f"{path} line 2: fault 'bogus'" in err.getvalue()
    assert "faults unchanged" in err.getvalue()
    _write_atomically(path, "")  # empty: the file's faults go, --fault's slow is back
    watch.check()
    assert table.active() == {2: fixed[2]}
    assert out.getvalue().splitlines() == [
        "steward-sim: unit 1 fault no_answer",
        "steward-sim: unit 2 fault drop",
        "steward-sim: unit 3 fault drop",
        "steward-sim: unit 1 fault cleared",
        "steward-sim: unit 2 fault slow=0.1",
        "steward-sim: unit 3 fault cleared",
    ]
    _write_atomically(path, "9:drop\n")  # not simulated: a bad line too
    watch.check()
    assert "line 1: fault '9:drop': unit 9 is not simulated" in err.getvalue()


def test_zone_units_follow_zones_or_must_agree_with_them():
    assert zone_units(None, None) == [1, 2, 3, 4, 5, 6]
    assert zone_units(3, None) == [1, 2, 3]
    assert zone_units(None, "11-12") == [11, 12]
    with pytest.raises(ValueError, match="--zones 3 but --zone-units 1-2 names 2 units"):
        zone_units(3, "1-2")
    with pytest.raises(ValueError, match="is also a zone's unit"):
        hvac_fleet([1, 2], 2)


async def _answers(port: int, unit: int) -> bool:
    conn = await TcpConnection.open("127.0.0.1", port, 1.0)
    try:
        await conn.read(unit, 4, 0, 1, 0.3)
        return True
    except NoAnswer:
        return False
    finally:
        conn.close()


def _wait_until(what: str, check, timeout: float = 10.0) -> None:
    """Poll until check() holds (the simulator looks at its file every 0.5 s)."""
    loop = asyncio.new_event_loop()
    try:
        deadline = loop.time() + timeout
        while not check(loop):
            if loop.time() > deadline:
                raise AssertionError(f"not within {timeout} s: {what}")
            loop.run_until_complete(asyncio.sleep(0.1))
    finally:
        loop.close()


def test_steward_sim_hvac_process_goes_silent_and_back_through_its_fault_file(tmp_path):
    port = free_port()
    faults, log = tmp_path / "faults", tmp_path / "sim.log"
    args = python_module(
        "simulators.cli", "hvac", "--port", str(port), "--zones", "2", "--speed", "0",
        "--start", "2026-07-15T15:00+08:00", "--fault-file", str(faults),
    )  # fmt: skip
    with running(args, port, log):

        def answers(unit: int):
            return lambda loop: loop.run_until_complete(_answers(port, unit))

        def silent(unit: int):
            return lambda loop: not loop.run_until_complete(_answers(port, unit))

        _wait_until("zone 1 answers", answers(1))
        _write_atomically(faults, "1:no_answer\n")
        _wait_until("zone 1 goes silent", silent(1))
        _wait_until("zone 2 still answers", answers(2))
        _write_atomically(faults, "1:no_answer\n2:nonsense\n")
        _wait_until("the bad line is reported", lambda _: "line 2" in log.read_text())
        _wait_until("zone 1 stays silent", silent(1))
        _wait_until("zone 2 keeps answering", answers(2))
        _write_atomically(faults, "")
        _wait_until("zone 1 answers again", answers(1))
    text = log.read_text()
    assert "steward-sim: unit 1 zone steward/hvac-zone, rated" in text
    assert "steward-sim: unit 100 meter chint/dtsu666 measures zones 1-2" in text
    assert "steward-sim: unit 1 fault no_answer" in text
    assert f"{faults} line 2: fault '2:nonsense'" in text
    assert "steward-sim: unit 1 fault cleared" in text
    assert "steward-sim: stopped after" in text
