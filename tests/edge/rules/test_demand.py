"""Demand rule (edge/rules/demand.py): 15-min blocks, prediction, limit events.

Every expected figure is worked out by hand in the comments (kWh = kW x minutes / 60,
block demand = kWh / 0.25 h). Instants are built with zoneinfo, not the rule's modulo.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge.energy import LocalCalendar
from edge.model import Colour
from edge.rules.demand import DemandConfig, DemandRule

SH = ZoneInfo("Asia/Shanghai")


def at(hh: int, mm: int, ss: int = 0, day: int = 3, tz: ZoneInfo = SH) -> float:
    return datetime(2026, 12, day, hh, 0, ss, tzinfo=tz).timestamp() + 60 * mm  # mm may pass 59


def profile(minutes: range, kw_at) -> list[tuple[float, float]]:
    """A power reading each minute from 11:00 (minute m -> 11:00 + m)."""
    return [(at(11, 0) + 60 * m, kw_at(m)) for m in minutes]


def scenario_kw(m: int) -> float:
    # 11:00-11:10 at 80 kW, 11:10-11:30 at 140 kW, from 11:30 at 60 kW
    return 80.0 if m < 10 else 140.0 if m < 30 else 60.0


CFG = DemandConfig("main", limit_kw=100.0, margin_kw=5.0)


def test_block_at_exactly_the_limit_is_not_over_then_over_then_back_under() -> None:
    rule = DemandRule(CFG)
    conds = rule.feed_power(profile(range(46), scenario_kw))
    got = [(c.code, c.active, c.ts, round(c.data["kw"], 4)) for c in conds]
    assert got == [
        # 11:13: so far 10 min x 80 + 3 min x 140 = 13.3333 + 7 = 20.3333 kWh; rate over
        # 11:08-11:13 = (2 x 80 + 3 x 140) / 5 = 116 kW; (20.3333 + 116 x 2/60) / 0.25 = 96.8
        # >= 100 - 5. (At 11:12 it was (18 + 104 x 3/60) / 0.25 = 92.8: not yet.)
        ("demand.at_risk", True, at(11, 13), 96.8),
        # block 11:15-11:30 at 140 kW: 35 kWh / 0.25 h = 140 > 100
        ("demand.over", True, at(11, 30), 140.0),
        # 11:33: so far 3 x 60 / 60 = 3 kWh; rate (2 x 140 + 3 x 60) / 5 = 92 kW;
        # (3 + 92 x 12/60) / 0.25 = 85.6 < 95 (11:32 gave (2 + 108 x 13/60)/0.25 = 101.6)
        ("demand.at_risk", False, at(11, 33), 85.6),
        # block 11:30-11:45 at 60 kW: 15 kWh -> 60 kW, a complete block under the limit
        ("demand.over", False, at(11, 45), 60.0),
    ]
    over = next(c for c in conds if c.code == "demand.over")
    assert over.colour is Colour.RED and over.source == "main"
    assert conds[0].colour is Colour.YELLOW
    b0, b1, b2 = rule.blocks
    # 11:00-11:15: 10 x 80/60 + 5 x 140/60 = 13.3333 + 11.6667 = 25 kWh -> exactly 100 kW
    assert b0.label == "2026-12-03T11:00+08:00"
    assert b0.kwh == pytest.approx(25.0) and b0.demand_kw == pytest.approx(100.0)
    assert b0.over is False and b0.covered == 900
    assert (b1.demand_kw, b1.over) == (pytest.approx(140.0), True)
    assert (b2.demand_kw, b2.over) == (pytest.approx(60.0), False)
    # sliding peaks: block 11:00 has one full window (ending 11:15) = the block, 100 kW;
    # 11:30-11:45: the window ending 11:31 = (14 x 140 + 1 x 60) / 60 / 0.25 = 134.667
    assert b0.peak_sliding_kw == pytest.approx(100.0)
    assert b1.peak_sliding_kw == pytest.approx(140.0)
    assert b2.peak_sliding_kw == pytest.approx(134.0 + 2 / 3)
    # the latest window, 11:30-11:45, all at 60 kW
    assert rule.sliding_kw == pytest.approx(60.0)
    assert rule.counts["at_risk"] == 1 and rule.counts["over"] == 1
    assert rule.counts["back_under"] == 1 and rule.counts["blocks_over"] == 1
    # sliding windows over 100 kW: those ending 11:16 .. 11:37 (see the sliding test)
    assert rule.counts["windows_over"] == 22


def test_prediction_is_kwh_so_far_plus_recent_rate_times_time_left() -> None:
    rule = DemandRule(CFG)
    rule.feed_power(profile(range(13), scenario_kw))  # up to 11:12
    p = rule.prediction
    assert p is not None and p.ts == at(11, 12)
    # so far 10 x 80/60 + 2 x 140/60 = 13.3333 + 4.6667 = 18 kWh; rate over 11:07-11:12
    # (3 x 80 + 2 x 140) / 5 = 104 kW; 3 min left: (18 + 104 x 3/60) / 0.25 = 92.8
    assert p.kwh_so_far == pytest.approx(18.0)
    assert p.rate_kw == pytest.approx(104.0)
    assert p.predicted_kw == pytest.approx(92.8)


def _gap_power() -> list[tuple[float, float]]:
    r = [(at(12, m), 90.0) for m in range(0, 6)] + [(at(12, m), 90.0) for m in range(12, 16)]
    r += [(at(12, m), 600.0) for m in range(16, 19)] + [(at(12, m), 0.0) for m in range(24, 31)]
    r += [(at(12, m), 50.0) for m in range(31, 61)]
    return r


def _gap_energy() -> list[tuple[float, float]]:
    # the same load as a kWh counter: reading i = kWh used up to that instant
    power = _gap_power()
    out, total, (t0, p0) = [(power[0][0], 1000.0)], 1000.0, power[0]
    for t, p in power[1:]:
        total += p0 * (t - t0) / 3600
        out.append((t, total))
        t0, p0 = t, p
    return out


@pytest.mark.parametrize("kind", ["power", "energy"])
def test_gap_in_readings_leaves_the_block_incomplete_for_power_and_counter(
    kind: str,
) -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0))
    feed = rule.feed_power if kind == "power" else rule.feed_energy
    conds = feed(_gap_power() if kind == "power" else _gap_energy())
    b0, b1, b2, b3 = rule.blocks
    # 12:00-12:15: 12:05 -> 12:12 is a 420 s step (> max_step 300): left out. Known:
    # 5 + 3 min at 90 kW = 12 kWh over 480 s; the demand is not known.
    assert b0.kwh == pytest.approx(12.0) and b0.covered == pytest.approx(480.0)
    assert b0.demand_kw is None and b0.over is False
    # 12:15-12:30: the 12:15 reading is 90 (1 min: 1.5 kWh), 12:16-12:18 at 600 (2 min:
    # 20 kWh), 12:18 -> 12:24 is a gap (360 s), 12:24-12:30 at 0 (a flat counter: 0 kWh).
    # 21.5 kWh known over 9 min: at least 86 kW: not certainly over.
    assert b1.kwh == pytest.approx(21.5) and b1.covered == pytest.approx(540.0)
    assert b1.demand_kw is None and b1.over is False
    # 12:30-12:45: 12:30-12:31 at 0, 12:31-12:45 at 50: 14 x 50/60 = 11.6667 kWh, complete
    assert b2.demand_kw == pytest.approx(14 * 50 / 60 / 0.25)
    assert b3.demand_kw == pytest.approx(50.0)
    assert [c.code for c in conds if c.code == "demand.over"] == []
    assert rule.counts["gap"] == 2


def test_an_incomplete_block_whose_known_energy_exceeds_the_limit_is_over() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0))
    # 13:00-13:04 at 600 kW (4 min: 40 kWh >= 160 kW for the block), then silence
    conds = rule.feed_power([(at(13, m), 600.0) for m in range(5)])
    conds += rule.feed_power([(at(13, 20), 0.0), (at(13, 21), 0.0)])
    (b0,) = rule.blocks
    assert b0.kwh == pytest.approx(40.0) and b0.demand_kw is None and b0.over
    over = [c for c in conds if c.code == "demand.over"]
    assert [(c.active, c.ts, round(c.data["kw"], 6)) for c in over] == [(True, at(13, 15), 160.0)]
    # the next block 13:15-13:30 has 1 min (0 kWh) known: not a complete block, so the
    # over is not cleared on it ("back under" only on a block known to be under)
    rule.tick(at(13, 32))
    assert rule.over is True and rule.blocks[-1].demand_kw is None


def test_tick_closes_a_block_the_meter_never_reached() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0))
    rule.feed_power([(at(14, m), 50.0) for m in range(11)])
    assert rule.tick(at(14, 15) + 119) == [] and not rule.blocks
    rule.tick(at(14, 15) + 120)
    (b0,) = rule.blocks
    # 14:00-14:10 at 50 kW: 8.3333 kWh over 600 s; the rest unknown
    assert b0.kwh == pytest.approx(50 * 10 / 60) and b0.covered == 600.0
    assert b0.demand_kw is None
    # a day of silence: blocks with nothing are skipped and counted, not stored. Closable
    # by day 4 14:15 are those starting 14:15 (day 3) .. 13:45 (day 4): 23.5 h / 15 min + 1
    # = 95 (the one at 14:00 on day 4 waits until 14:17)
    rule.tick(at(14, 15, day=4))
    assert len(rule.blocks) == 1 and rule.counts["blocks_without_data"] == 95


def test_block_across_local_midnight() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0))
    # readings at :30 s past each minute; 40 kW until the 23:59:30 reading, then 200 kW
    readings = [(at(23, 44, 30) + 60 * i, 40.0) for i in range(15)]
    readings += [(at(23, 59, 30), 200.0), (at(0, 0, 30, day=4), 200.0)]
    readings += [(at(0, 0, 30, day=4) + 60 * i, 200.0) for i in range(1, 16)]
    rule.feed_power(readings)
    # (the first, 23:30-23:45, holds only the 30 s from 23:44:30)
    first, b0, b1 = rule.blocks
    assert first.kwh == pytest.approx(40 * 30 / 3600) and first.demand_kw is None
    assert b0.label == "2026-12-03T23:45+08:00" and b1.label == "2026-12-04T00:00+08:00"
    assert b0.end == LocalCalendar("Asia/Shanghai").local_midnight(datetime(2026, 12, 4).date())
    # 23:45-00:00: 40 kW for 14.5 min + 200 kW for 0.5 min = (580 + 100) / 60 = 11.3333 kWh
    assert b0.kwh == pytest.approx(680 / 60) and b0.demand_kw == pytest.approx(680 / 60 / 0.25)
    # 00:00-00:15 all at 200 kW: 50 kWh -> 200 kW, over, raised at local midnight + 15 min
    assert b1.demand_kw == pytest.approx(200.0) and b1.over


def test_blocks_follow_the_local_clock_of_a_quarter_hour_zone() -> None:
    kat = ZoneInfo("Asia/Kathmandu")  # UTC+05:45: local midnight is 18:15 UTC
    rule = DemandRule(DemandConfig("main", limit_kw=100.0, tz="Asia/Kathmandu"))
    rule.feed_power([(at(0, m, day=4, tz=kat), 20.0) for m in range(16)])
    (b0,) = rule.blocks
    assert b0.label == "2026-12-04T00:00+05:45"
    assert b0.start == datetime(2026, 12, 3, 18, 15, tzinfo=ZoneInfo("UTC")).timestamp()
    assert b0.demand_kw == pytest.approx(20.0)


def test_counter_readings_through_the_ledger_drop_a_glitch() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0))
    # +2 kWh a minute (120 kW) from 5000 kWh; the 13:07 reading is a bus-error 0
    readings = [(at(13, m), 5000.0 + 2 * m) for m in range(16)]
    readings[7] = (at(13, 7), 0.0)
    conds = rule.feed_energy(readings)
    (b0,) = rule.blocks
    # the ledger books 13:06 -> 13:08 as 4 kWh: 15 min x 2 = 30 kWh -> 120 kW
    assert b0.kwh == pytest.approx(30.0) and b0.demand_kw == pytest.approx(120.0) and b0.over
    assert [(c.code, c.active) for c in conds][-1] == ("demand.over", True)


def test_snapshot_restore_continues_exactly() -> None:
    whole = DemandRule(CFG)
    expected = whole.feed_power(profile(range(46), scenario_kw))
    first = DemandRule(CFG)
    got = first.feed_power(profile(range(13), scenario_kw))  # restart after 11:12
    again = DemandRule.restore(CFG, json.loads(json.dumps(first.snapshot())))
    got += again.feed_power(profile(range(13, 46), scenario_kw))
    assert got == expected
    assert list(again.blocks) == list(whole.blocks) and again.counts == whole.counts
    with pytest.raises(ValueError, match="version"):
        DemandRule.restore(CFG, {"version": 99})


def test_bad_input_is_named() -> None:
    rule = DemandRule(CFG)
    rule.feed_power([(at(9, 0), 10.0), (at(9, 1), float("nan")), (at(9, 0, 30), 10.0)])
    # the NaN at 9:01 starts an unknown interval; 9:00:30 is older than it: late
    assert rule.counts == {"bad_power": 1, "no_prediction": 1, "late": 1}
    with pytest.raises(ValueError, match="fed energy readings after power"):
        rule.feed_energy([(at(9, 2), 1.0)])
    with pytest.raises(ValueError, match="limit_kw"):
        DemandConfig("main", limit_kw=0.0)


def test_a_steady_load_at_exactly_the_limit_is_at_risk_but_never_over() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0))  # no margin
    # 100 kW read every 60 s: 15 x 100/60 = 25 kWh -> 100 kW (in floats 25.000000000000004,
    # which must not count as over)
    conds = rule.feed_power([(at(10, m), 100.0) for m in range(31)])
    assert [b.demand_kw for b in rule.blocks] == [pytest.approx(100.0)] * 2
    assert not any(b.over for b in rule.blocks)
    # predicted (so far + 100 kW x time left) / 0.25 = 100 >= 100: predicted to hit, from
    # 10:03, the first reading with half the 5-min rate window covered
    assert [(c.code, c.active, c.ts) for c in conds] == [("demand.at_risk", True, at(10, 3))]


def test_a_glitch_on_a_block_boundary_waits_for_the_ledger() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0))
    # +2 kWh a minute (120 kW); the reading at 13:15 exactly is a bus-error 0. The ledger
    # holds it as suspect and books 13:14 -> 13:16 (4 kWh) when 13:16 comes back in line;
    # the block 13:00-13:15 must not close on the suspect reading with 13:14-13:15 unknown.
    readings = [(at(13, m), 5000.0 + 2 * m) for m in range(31)]
    readings[15] = (at(13, 15), 0.0)
    rule.feed_energy(readings)
    b0, b1 = rule.blocks
    # 13:00-13:15: 14 x 2 + half of the 4 kWh step = 30 kWh -> 120 kW, complete
    assert b0.covered == 900.0 and b0.demand_kw == pytest.approx(120.0)
    assert b1.demand_kw == pytest.approx(120.0)


def test_hysteresis_delays_the_all_clear() -> None:
    cfg = DemandConfig("main", limit_kw=100.0, margin_kw=5.0, hysteresis_kw=10.0)
    rule = DemandRule(cfg)
    conds = rule.feed_power(profile(range(46), scenario_kw))
    cleared = [c for c in conds if c.code == "demand.at_risk" and not c.active]
    # clears below 100 - 5 - 10 = 85: 11:33 gives 85.6 (kept); 11:34: so far 4 kWh, rate
    # (1 x 140 + 4 x 60) / 5 = 76 kW, (4 + 76 x 11/60) / 0.25 = 71.7333
    assert [(c.ts, round(c.data["kw"], 4)) for c in cleared] == [(at(11, 34), 71.7333)]


def test_sliding_basis_judges_each_minutes_window() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0, margin_kw=5.0, basis="sliding"))
    conds = rule.feed_power(profile(range(46), scenario_kw))
    over = [(c.active, c.ts, round(c.data["kw"], 4)) for c in conds if c.code == "demand.over"]
    # window ending 11:15 = the block, exactly 100: not over. Ending 11:16 (11:01-11:16):
    # (9 x 80 + 6 x 140) / 15 = 1560 / 15 = 104 > 100. Ending at minute m >= 30:
    # (140 (45 - m) + 60 (m - 30)) / 15 <= 100 first at m = 38: (980 + 480) / 15 = 97.3333
    # (m = 37: (1120 + 420) / 15 = 102.6667, still over)
    assert over == [(True, at(11, 16), 104.0), (False, at(11, 38), 97.3333)]
    assert rule.counts["over"] == 1 and rule.counts["windows_over"] == 22


def test_sliding_windows_are_computed_for_every_minute_between_sparse_readings() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0, basis="sliding", max_step=300.0))
    # readings every 5 min: the window ending 11:16 is judged although no reading is there
    conds = rule.feed_power(profile(range(0, 46, 5), scenario_kw))
    over = [(c.active, c.ts, round(c.data["kw"], 4)) for c in conds if c.code == "demand.over"]
    assert over == [(True, at(11, 16), 104.0), (False, at(11, 38), 97.3333)]


def test_a_nan_counter_reading_is_counted_and_skipped() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=100.0))
    readings = [(at(13, m), 5000.0 + 2 * m) for m in range(16)]
    readings[7] = (at(13, 7), float("nan"))
    rule.feed_energy(readings)
    # 13:06 -> 13:08 booked as one 4 kWh step: 30 kWh -> 120 kW as without the NaN
    assert rule.blocks[0].demand_kw == pytest.approx(120.0)
    assert rule.counts["bad_energy"] == 1


def test_no_prediction_for_readings_behind_blocks_tick_has_closed() -> None:
    rule = DemandRule(DemandConfig("main", limit_kw=90.0))
    rule.feed_power([(at(14, m), 50.0) for m in range(17)])  # to 14:16
    rule.tick(at(14, 32))  # closes 14:15-14:30 (end + 120 s); the open block is 14:30
    conds = rule.feed_power([(at(14, 17), 50.0)])
    # predicting 14:30-14:45 from 14:17 would take 28 min left: 50 x 28/60 / 0.25 =
    # 93.3 kW > 90, a false alarm; there is nothing to predict from
    assert conds == [] and rule.prediction is None
