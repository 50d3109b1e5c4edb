"""Control when the field misbehaves (issue 9 "Done when"), real edge process against the
HVAC simulator over Modbus TCP, simulated time at x120:
- a zone that silently ignores writes (hand mode): the read-back shows it, an alarm rises;
- a zone whose link is lost: its leases are released after the timeout, and it gets its
  default back when it answers again;
- kill -9 with active commands: a quick restart finds them (live leases stand); a restart
  after their leases ended releases them, and every zone ends on its default.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from simulators.faults import Fault
from tests.support.control_site import (
    ZONES,
    building,
    edge,
    meter_kw,
    outbox_events,
    site_yaml,
    wait_for,
)
from tests.support.servers import stop
from tests.support.sim_thread import SimulatorThread

pytestmark = pytest.mark.slow
SPEED = 120.0


def setpoint(fleet, unit: int) -> float:
    return round(fleet.zones[unit].setpoints["cooling_setpoint"], 2)


def writes_to(outbox: Path, device: str) -> list[dict]:
    return [
        e["data"]
        for e in outbox_events(outbox, "control.write")
        if e["code"] == "control.write" and e["source"] == device
    ]


def test_a_write_the_zone_ignores_raises_write_mismatch_and_the_zone_is_shed_no_more(
    tmp_path: Path,
) -> None:
    fleet, anchor = building(SPEED)
    fleet.faults.set(1, Fault("ignore_writes"))  # ahu-1, the first zone shed, in hand mode
    outbox = tmp_path / "outbox.sqlite"
    with SimulatorThread(fleet) as sim:
        site = site_yaml(tmp_path / "site.yaml", sim.port, round(meter_kw(fleet) - 8, 1), "control")
        with edge(site, anchor, SPEED, tmp_path / "edge.log"):

            def futile() -> list[dict]:
                return [
                    e for e in outbox_events(outbox, "control.futile") if e["source"] == "ahu-1"
                ]

            wait_for(futile, 60, what="ahu-1 found futile")
            assert setpoint(fleet, 1) == 26.0  # nothing ever moved
    alarms = outbox_events(outbox, "control.write_mismatch")
    # Raised once, at the first ignored write, and still raised: the zone never showed a
    # write landing (a futility release is not proof that the zone listens again).
    assert [a["active"] for a in alarms] == [True]
    (raised,) = alarms
    assert raised["source"] == "ahu-1/cooling_setpoint"
    assert raised["colour"] == "red"
    assert raised["data"] == {"written": 26.5, "read_back": 26.0, "owner": "demand"}
    ignored = [w for w in writes_to(outbox, "ahu-1") if w["verified"] is False]
    assert ignored and ignored[0]["read_back"] == 26.0 and ignored[0]["value"] == 26.5
    # The other zones took the shed instead.
    others = [
        w
        for w in outbox_events(outbox, "control.write")
        if w["code"] == "control.write" and w["source"] != "ahu-1"
    ]
    assert others and all(w["data"]["verified"] for w in others)


def test_link_loss_releases_the_zones_leases_and_it_gets_its_default_when_back(
    tmp_path: Path,
) -> None:
    fleet, anchor = building(SPEED)
    outbox = tmp_path / "outbox.sqlite"
    with SimulatorThread(fleet) as sim:
        site = site_yaml(tmp_path / "site.yaml", sim.port, round(meter_kw(fleet) - 8, 1), "control")
        with edge(site, anchor, SPEED, tmp_path / "edge.log"):
            wait_for(lambda: setpoint(fleet, 1) > 26.0, 60, what="ahu-1 shed")
            shed_at = setpoint(fleet, 1)
            fleet.faults.set(1, Fault("no_answer"))
            lost = wait_for(
                lambda: [
                    e["data"]
                    for e in outbox_events(outbox, "control.command")
                    if e["data"]["device"] == "ahu-1" and e["data"]["state"] == "link_lost"
                ],
                60,
                what="ahu-1's commands released for the lost link",
            )
            assert setpoint(fleet, 1) == shed_at  # the zone still holds the shed value
            n_writes = len(writes_to(outbox, "ahu-1"))
            fleet.faults.clear(1)
            back = wait_for(
                lambda: writes_to(outbox, "ahu-1")[n_writes:], 60, what="a write after the link"
            )
    assert {c["slot"] for c in lost} == {10}
    assert all(c["value"] is None for c in lost)
    first = back[0]
    assert (first["owner"], first["target"], first["before"]) == ("default", 26.0, shed_at)
    assert first["value"] == max(26.0, shed_at - 0.5) and first["verified"]


def test_kill_9_with_active_commands_a_restart_finds_them_and_releases_ended_leases(
    tmp_path: Path,
) -> None:
    fleet, anchor = building(SPEED)
    outbox = tmp_path / "outbox.sqlite"
    log = tmp_path / "edge.log"
    with SimulatorThread(fleet) as sim:
        site = site_yaml(tmp_path / "site.yaml", sim.port, round(meter_kw(fleet) - 8, 1), "control")
        with edge(site, anchor, SPEED, log) as proc:
            wait_for(lambda: setpoint(fleet, 1) > 26.0, 60, what="ahu-1 shed")
            stop(proc, signal.SIGKILL)
        # A quick restart (leases of 10 simulated minutes, ~1 minute passes): they stand.
        held = {u: setpoint(fleet, u) for u in ZONES}
        n_commands = len(outbox_events(outbox, "control.command"))
        with edge(site, anchor, SPEED, log) as proc:
            wait_for(lambda: "control resumed from" in log.read_text(), 30, what="the restart")
            time.sleep(1.0)  # a few steps
            after = outbox_events(outbox, "control.command")[n_commands:]
            assert [c for c in after if c["data"]["state"] == "expired"] == []
            assert all(setpoint(fleet, u) >= held[u] for u in ZONES if held[u] > 26.0)
            stop(proc, signal.SIGKILL)
        active = {
            (c["data"]["device"], c["data"]["slot"]): c["data"]["state"]
            for c in outbox_events(outbox, "control.command")
        }
        live = {k for k, state in active.items() if state == "active"}
        assert live, "commands were active at the kill"
        # Down for 30 simulated minutes while the weather cools: the leases end meanwhile.
        for zone in fleet.zones.values():
            zone.outdoor_offset = -12.0
        time.sleep(15.0)
        n_commands = len(outbox_events(outbox, "control.command"))
        with edge(site, anchor, SPEED, log):
            wait_for(
                lambda: all(setpoint(fleet, u) == 26.0 for u in ZONES), 90, what="every default"
            )
            time.sleep(1.0)
            # Before the clean stop (which releases everything anyway): none orphaned.
            final: dict[tuple, str] = {}
            for c in outbox_events(outbox, "control.command"):
                final[(c["data"]["device"], c["data"]["slot"])] = c["data"]["state"]
            assert [k for k, state in final.items() if state == "active"] == []
        after = [c["data"] for c in outbox_events(outbox, "control.command")[n_commands:]]
    expired = {(c["device"], c["slot"]) for c in after if c["state"] == "expired"}
    assert live <= expired, (live, expired)  # every lease that ended was released, and said
