"""ControlCore: targets from leased commands, one interlocked step at a time (hand timelines)."""

from __future__ import annotations

import pytest

from device_profiles.catalog import load as load_profile
from edge.control.interlocks import Interlocks
from edge.control.priority import BUDGET, DEMAND_LIMIT, OPERATOR
from edge.control.zone_control import ControlCore, LinkDown, PointSpec

T0 = 1_780_000_000.0  # any instant; minutes below are offsets from it
MIN = 60.0


def core(default: float | None = 26.0) -> ControlCore:
    il = Interlocks.from_profile(load_profile("steward/hvac-zone"))
    c = ControlCore(il, {"z1": {"cooling_setpoint": PointSpec(default, 0.05)}})
    c.observe("z1", {"cooling_setpoint": 26.0}, T0)
    return c


def step(c: ControlCore, now: float) -> float | None:
    """Plan, 'write' what is planned and read it back as written; the value or None."""
    intents = c.plan(now)
    if not intents:
        return None
    (intent,) = intents
    assert c.wrote(intent, now, intent.value)
    return intent.value


def test_a_2k_setup_ramps_half_a_kelvin_every_five_minutes_then_holds() -> None:
    c = core()
    changes = c.command(
        "z1", "cooling_setpoint", DEMAND_LIMIT, 28.0, "demand", "why", T0 + 3600, T0
    )
    assert [(x.state, x.value, x.slot_name) for x in changes] == [("active", 28.0, "demand limit")]
    # 26 -> 26.5 at 0, 27 at 5 min, 27.5 at 10, 28 at 15; nothing in between (rate) or after.
    written = {m: step(c, T0 + m * MIN) for m in range(0, 21)}
    assert {m: v for m, v in written.items() if v is not None} == {
        0: 26.5,
        5: 27.0,
        10: 27.5,
        15: 28.0,
    }


def test_a_renewal_is_not_a_change_and_the_lease_ends_by_itself() -> None:
    c = core()
    c.command("z1", "cooling_setpoint", DEMAND_LIMIT, 26.5, "demand", "r", T0 + 10 * MIN, T0)
    assert (
        c.command(
            "z1", "cooling_setpoint", DEMAND_LIMIT, 26.5, "demand", "r", T0 + 20 * MIN, T0 + MIN
        )
        == []
    )
    assert step(c, T0) == 26.5
    assert c.expire(T0 + 19 * MIN) == []
    (gone,) = c.expire(T0 + 20 * MIN)
    assert (gone.state, gone.owner, gone.value) == ("expired", "demand", None)
    assert c.target("z1", "cooling_setpoint", T0 + 20 * MIN) == (26.0, None)
    assert step(c, T0 + 20 * MIN) == 26.0  # back to the default (0.5 K: one step)


def test_the_operator_slot_beats_demand_and_release_gives_demand_back() -> None:
    c = core()
    c.command("z1", "cooling_setpoint", DEMAND_LIMIT, 27.0, "demand", "peak", T0 + 3600, T0)
    c.command("z1", "cooling_setpoint", OPERATOR, 26.5, "operator:ann#1", "meeting", T0 + 3600, T0)
    assert c.target("z1", "cooling_setpoint", T0) == (26.5, OPERATOR)
    (rel,) = c.command(
        "z1", "cooling_setpoint", OPERATOR, None, "operator:ann#1", "done", 0, T0 + MIN
    )
    assert rel.state == "released"
    assert c.target("z1", "cooling_setpoint", T0 + MIN) == (27.0, DEMAND_LIMIT)


def test_link_lost_drops_every_command_and_the_default_comes_back_after() -> None:
    c = core()
    c.command("z1", "cooling_setpoint", DEMAND_LIMIT, 27.0, "demand", "peak", T0 + 3600, T0)
    c.command("z1", "cooling_setpoint", BUDGET, 27.0, "budget", "red", T0 + 3600, T0)
    assert step(c, T0) == 26.5
    lost = c.link_lost("z1", T0 + MIN, "no answer for 60 s")
    assert sorted((x.slot, x.state) for x in lost) == [(10, "link_lost"), (11, "link_lost")]
    assert c.plan(T0 + 10 * MIN) == []  # nothing is written to a zone that does not answer
    with pytest.raises(LinkDown):
        c.command(
            "z1", "cooling_setpoint", DEMAND_LIMIT, 27.0, "demand", "peak", T0 + 3600, T0 + 2 * MIN
        )
    c.observe("z1", {"cooling_setpoint": 26.5}, T0 + 10 * MIN)  # answers again, still shed
    assert c.target("z1", "cooling_setpoint", T0 + 10 * MIN) == (26.0, None)
    # A rule that sheds it again at once waits: the default comes first.
    c.command(
        "z1", "cooling_setpoint", DEMAND_LIMIT, 27.0, "demand", "peak", T0 + 3600, T0 + 10 * MIN
    )
    assert not c.may_shed("z1", T0 + 10 * MIN)
    assert c.target("z1", "cooling_setpoint", T0 + 10 * MIN) == (26.0, None)
    assert step(c, T0 + 10 * MIN) == 26.0
    assert c.returning == set()  # holds its default: rules may act on it again


def test_two_hours_of_shed_then_fifteen_minutes_released_before_the_next() -> None:
    c = core()
    c.command("z1", "cooling_setpoint", DEMAND_LIMIT, 26.5, "demand", "peak", T0 + 5 * 3600, T0)
    assert step(c, T0) == 26.5  # shed from T0
    assert step(c, T0 + 119 * MIN) is None  # on target, still shed
    # At 2 h the shed slot is ignored: the release write goes out (not a shed).
    assert c.target("z1", "cooling_setpoint", T0 + 120 * MIN) == (26.0, None)
    assert step(c, T0 + 120 * MIN) == 26.0
    # Released at 120 min: the demand command still stands, but the zone rests 15 min.
    assert step(c, T0 + 134 * MIN) is None
    assert step(c, T0 + 135 * MIN) == 26.5


def test_a_learned_default_under_the_floor_is_raised_to_it_and_said() -> None:
    il = Interlocks.from_profile(load_profile("steward/hvac-zone"))
    c = ControlCore(il, {"z1": {"cooling_setpoint": PointSpec(None)}})
    c.observe("z1", {"cooling_setpoint": 24.0}, T0)
    assert c.default("z1", "cooling_setpoint") == 26.0
    assert "outside the interlocks" in c.notes[0]
    with pytest.raises(ValueError, match="outside the interlocks"):
        ControlCore(il, {"z1": {"cooling_setpoint": PointSpec(24.0)}})


def test_stopping_releases_everything_and_writes_the_default_at_once() -> None:
    c = core()
    c.command("z1", "cooling_setpoint", DEMAND_LIMIT, 28.0, "demand", "peak", T0 + 3600, T0)
    for m in (0, 5, 10, 15):
        step(c, T0 + m * MIN)
    assert c.current("z1", "cooling_setpoint") == 28.0
    changes, intents = c.final_intents(T0 + 16 * MIN)
    assert [(x.slot, x.state) for x in changes] == [(DEMAND_LIMIT, "released")]
    assert [(i.value, i.final) for i in intents] == [(26.0, True)]


def test_a_read_back_that_differs_is_not_verified() -> None:
    c = core()
    c.command("z1", "cooling_setpoint", DEMAND_LIMIT, 26.5, "demand", "peak", T0 + 3600, T0)
    (intent,) = c.plan(T0)
    assert c.wrote(intent, T0, 26.0) is False  # the device kept 26.0
    assert c.current("z1", "cooling_setpoint") == 26.0
    assert c.plan(T0 + 4 * MIN) == []  # rate: the failed write counts
    assert [i.value for i in c.plan(T0 + 5 * MIN)] == [26.5]


def test_a_snapshot_continues_where_it_left_off() -> None:
    a = core()
    a.command("z1", "cooling_setpoint", DEMAND_LIMIT, 28.0, "demand", "peak", T0 + 3600, T0)
    step(a, T0)
    b = core(default=None)
    b.restore(a.snapshot())
    assert b.default("z1", "cooling_setpoint") == 26.0
    for m in range(1, 30):
        assert step(a, T0 + m * MIN) == step(b, T0 + m * MIN)
    assert b.current("z1", "cooling_setpoint") == 28.0
