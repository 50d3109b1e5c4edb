"""Interlocks, case by case, with the expected values worked out by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from device_profiles.catalog import load
from edge.control.interlocks import Bounds, Interlocks, ProposedWrite, ZoneHistory, record

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
IL = Interlocks.from_profile(load("steward/hvac-zone"))


def cool(value, shed=False):
    return ProposedWrite("z1", "cooling_setpoint", value, shed)


def test_bounds_come_from_the_hvac_zone_profile():
    assert IL.bounds == {
        "cooling_setpoint": Bounds(16.0, 32.0),
        "heating_setpoint": Bounds(10.0, 30.0),
        "mode": Bounds(0.0, 3.0),
        "fan_speed": Bounds(0.0, 3.0),
        "on_off": Bounds(0.0, 1.0),
    }


@pytest.mark.parametrize(
    ("current", "wanted", "allowed", "why"),
    [
        (26.0, 26.5, 26.5, "within step, above floor: as asked"),
        (26.0, 28.0, 26.5, "step: 26 + 0.5"),
        (26.5, 25.0, 26.0, "floor 26 beats step window [26.0, 27.0] lower end"),
        (31.8, 33.0, 32.0, "profile max 32 inside step window [31.3, 32.3]"),
    ],
)
def test_cooling_setpoint_is_clamped_into_every_limit(current, wanted, allowed, why):
    d = IL.check(cool(wanted), ZoneHistory(values={"cooling_setpoint": current}), T0)
    assert d.value == allowed, why
    assert (d.reasons == ()) == (allowed == wanted)


def test_cooling_setpoint_below_floor_by_more_than_a_step_is_refused():
    # step window [24.0, 25.0] and floor [26, inf) do not meet: no safe value exists
    d = IL.check(cool(26.0), ZoneHistory(values={"cooling_setpoint": 24.5}), T0)
    assert d.refused and "cooling floor [26, inf]" in d.reasons[0]


def test_heating_ceiling_20():
    h = ZoneHistory(values={"heating_setpoint": 19.8})
    d = IL.check(ProposedWrite("z1", "heating_setpoint", 21.0), h, T0)
    assert d.value == 20.0  # ceiling 20 inside step window [19.3, 20.3]


def test_site_can_move_the_floor():
    site = Interlocks.from_profile(load("steward/hvac-zone"), cooling_floor_c=25.0)
    d = site.check(cool(25.0), ZoneHistory(values={"cooling_setpoint": 25.5}), T0)
    assert d.value == 25.0


def test_unknown_current_value_refuses():
    assert IL.check(cool(26.5), ZoneHistory(), T0).refused


def test_one_write_per_zone_per_5_minutes():
    h = ZoneHistory(values={"cooling_setpoint": 26.0}, last_write_at=T0)
    assert IL.check(cool(26.5), h, T0 + 5 * MIN - timedelta(seconds=1)).refused
    assert IL.check(cool(26.5), h, T0 + 5 * MIN).value == 26.5


def test_shed_at_most_2_h_then_released_15_min():
    h = ZoneHistory(values={"cooling_setpoint": 26.0})
    h = record(h, cool(26.5, shed=True), IL.check(cool(26.5, True), h, T0), T0)
    assert h.shed_since == T0
    t = T0 + 119 * MIN
    assert IL.check(cool(27.0, True), h, t).value == 27.0  # 1 h 59 min: still allowed
    assert not IL.must_release(h, t)
    t = T0 + 120 * MIN
    assert IL.must_release(h, t)
    d = IL.check(cool(27.0, True), h, t)
    assert d.refused and d.reasons[0].startswith("max shed")
    release = cool(26.0)  # the release itself is allowed
    h = record(h, release, IL.check(release, h, t), t)
    assert h.shed_since is None and h.released_at == t
    assert IL.check(cool(26.5, True), h, t + 14 * MIN).refused  # min release 15 min
    assert IL.check(cool(26.5, True), h, t + 15 * MIN).value == 26.5


def test_compressor_min_on_and_off():
    on = ProposedWrite("z1", "on_off", 1)
    off = ProposedWrite("z1", "on_off", 0)
    h = ZoneHistory(values={"on_off": 0.0}, on_off_changed_at=T0)
    assert IL.check(on, h, T0 + 4 * MIN).refused  # off for 4 min < 5
    h = record(h, on, IL.check(on, h, T0 + 5 * MIN), T0 + 5 * MIN)
    assert h.on_off_changed_at == T0 + 5 * MIN and h.values["on_off"] == 1.0
    assert IL.check(off, h, T0 + 9 * MIN).refused  # rate limit and min on both say no
    assert IL.check(off, h, T0 + 10 * MIN).value == 0.0
    assert IL.check(ProposedWrite("z1", "on_off", 1), ZoneHistory({"on_off": 0.0}), T0).refused


@pytest.mark.parametrize(
    ("point", "value", "ok"),
    [("mode", 3, True), ("mode", 4, False), ("fan_speed", 1.5, False), ("on_off", 2, False)],
)
def test_enumerations_are_refused_not_clamped(point, value, ok):
    h = ZoneHistory(values={"on_off": 1.0}, on_off_changed_at=T0 - 10 * MIN)
    d = IL.check(ProposedWrite("z1", point, value), h, T0)
    assert d.value == (float(value) if ok else None)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "26", True])
def test_bad_values_and_unknown_points_are_refused(value):
    h = ZoneHistory(values={"cooling_setpoint": 26.0})
    assert IL.check(cool(value), h, T0).refused
    assert IL.check(ProposedWrite("z1", "zone_temperature", 20.0), h, T0).refused


def test_naive_time_is_an_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        IL.check(cool(26.0), ZoneHistory(), datetime(2026, 7, 1, 9))


def test_compressor_min_on_and_off_are_separate_settings():
    site = Interlocks.from_profile(
        load("steward/hvac-zone"), compressor_min_on=7 * MIN, compressor_min_off=10 * MIN
    )
    was_off = ZoneHistory(values={"on_off": 0.0}, on_off_changed_at=T0)
    was_on = ZoneHistory(values={"on_off": 1.0}, on_off_changed_at=T0)
    on, off = ProposedWrite("z1", "on_off", 1), ProposedWrite("z1", "on_off", 0)
    assert site.check(on, was_off, T0 + 10 * MIN - timedelta(seconds=1)).refused
    assert site.check(on, was_off, T0 + 10 * MIN).value == 1.0
    assert site.check(off, was_on, T0 + 7 * MIN - timedelta(seconds=1)).refused
    assert site.check(off, was_on, T0 + 7 * MIN).value == 0.0
    assert site.check(on, was_on, T0).value == 1.0  # no change, no compressor start
