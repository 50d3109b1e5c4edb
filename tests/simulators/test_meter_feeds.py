"""A feeding meter measures the devices below it: the demo's main incomer is its sub-meters
plus 5 % no sub-meter sees, and its chiller plant's meter its own load plus the HVAC zones
it supplies. Checked against the same devices simulated without feeds (an independent
run: same seed, same clock), so the balance the demo shows is the one the tags promise."""

from __future__ import annotations

import pytest

from device_profiles import load
from simulators.clock import SimClock
from simulators.fleet import DeviceFleet, DeviceGroup, Feed, parse_feed

T0 = 1_784_098_800.0  # 15:00 on 15 July (UTC+8): the zones cool, the loads are at work


def _fleet(feeds=()) -> tuple[DeviceFleet, SimClock]:
    clock = SimClock(T0, 0.0)
    groups = [
        DeviceGroup(load("chint/dtsu666"), [1, 2, 3]),  # 1: main incomer; 2, 3: floors
        DeviceGroup(load("schneider/iem3xxx"), [4]),  # the chiller plant's board
        DeviceGroup(load("steward/hvac-zone"), [20, 21]),
    ]
    return DeviceFleet(groups, seed=3, clock=clock, feeds=feeds), clock


def _energy(fleet: DeviceFleet, unit: int) -> float:
    return float(fleet.images[unit].values()["energy_import"])


def _power(fleet: DeviceFleet, unit: int) -> float:
    return float(fleet.images[unit].values()["active_power"])


def test_main_incomer_is_its_sub_meters_plus_the_unmetered_share_and_the_board_its_zones():
    feeds = [Feed(4, (20, 21)), Feed(1, (2, 3, 4), 0.05)]
    fed, fed_clock = _fleet(feeds)
    alone, alone_clock = _fleet()
    start = {u: (_energy(fed, u), _energy(alone, u)) for u in (1, 2, 3, 4, 20, 21)}
    for t in (T0 + 900, T0 + 3 * 3600, T0 + 26 * 3600):  # across a local midnight
        fed_clock.freeze_at(t)
        alone_clock.freeze_at(t)
        delta = {u: _energy(fed, u) - start[u][0] for u in start}
        own = {u: _energy(alone, u) - start[u][1] for u in start}
        # Devices that feed nothing read as they do without feeds.
        for u in (2, 3, 20, 21):
            assert delta[u] == pytest.approx(own[u], rel=1e-9), u
        # The board: its own load (as simulated alone) plus the two zones.
        assert delta[4] == pytest.approx(own[4] + own[20] + own[21], rel=1e-9)
        # The main: the top-level meters 2, 3, 4 are 95 % of it, so 5 % is unaccounted.
        top = own[2] + own[3] + delta[4]
        assert delta[1] == pytest.approx(top / 0.95, rel=1e-9)
        assert (delta[1] - top) / delta[1] == pytest.approx(0.05, abs=1e-9)
        assert _power(fed, 1) == pytest.approx(
            (_power(alone, 2) + _power(alone, 3) + _power(fed, 4)) / 0.95, rel=1e-9
        )
        assert own[2] > 0 and own[20] > 0  # something was used: the sums are not 0 = 0


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ([Feed(20, (2,))], "unit 20 is not a simulated meter"),
        ([Feed(1, (9,))], "unit 9 is not simulated"),
        ([Feed(1, (2,)), Feed(4, (2,))], "unit 2 is fed by unit 1 already"),
        ([Feed(1, (4,)), Feed(4, (1,))], "feeds form a cycle: 1 -> 4 -> 1"),
    ],
)
def test_feeds_that_cannot_be_wired_are_refused_naming_the_units(feeds, message):
    with pytest.raises(ValueError, match=message):
        _fleet(feeds)


def test_feed_specs_parse_or_say_how_to_write_them():
    assert parse_feed("14:20-23") == Feed(14, (20, 21, 22, 23))
    assert parse_feed("1:2-7,14:unmetered=0.05") == Feed(1, (2, 3, 4, 5, 6, 7, 14), 0.05)
    for bad in ("14", "1-2:3", "1:2:unmetered=1.5", "1:2:spare=0.1"):
        with pytest.raises(ValueError, match=r"e\.g\. 14:20-23"):
            parse_feed(bad)
