"""The ISA-18.2 alarm-load figures (cloud_api/reports/alarm_load.py) on cases worked by hand.

The period is 10 hours from t = 0 (60 ten-minute intervals) unless a test says otherwise.
"""

from __future__ import annotations

import pytest

from cloud_api.reports.alarm_load import Raise, Standing, alarm_load

H = 3600.0
START, END = 0.0, 10 * H


def raises(times, code: str = "c", source: str = "s") -> list[Raise]:
    return [Raise(float(t), code, source) for t in times]


def load(rs, standing=(), start=START, end=END, day_ends=(END,), operators=1):
    return alarm_load(rs, list(standing), start, end, list(day_ends), operators)


def test_the_rate_per_operator_hour_and_day() -> None:
    # 30 alarms spread over the 10 hours: 3 an hour, 72 a day; two operators share them.
    rs = raises([i * 1200 + 5 for i in range(30)])
    one = load(rs)
    assert (one.raised, one.hours) == (30, 10.0)
    assert one.per_operator_hour == 3.0 and one.per_operator_day == 72.0
    assert load(rs, operators=2).per_operator_hour == 1.5
    # outside [start, end) does not count
    assert load([*rs, Raise(-1.0, "c", "s"), Raise(END, "c", "s")]).raised == 30


def test_a_flood_is_more_than_ten_in_a_ten_minute_interval_and_adjacent_ones_join() -> None:
    # interval 1 [600, 1200): 11 alarms; 2 [1200, 1800): 10 (not a flood: "more than 10");
    # 3 [1800, 2400): 12; 4 [2400, 3000): 15. Floods: [600, 1200) with 11 and
    # [1800, 3000) with 27; 3 of 60 intervals, 1800 s of 36,000: 5 % of the time.
    rs = (
        raises([600 + i for i in range(11)])
        + raises([1200 + i for i in range(10)])
        + raises([1800 + i * 30 for i in range(12)])
        + raises([2400 + i * 30 for i in range(15)])
    )
    result = load(rs)
    assert result.intervals == 60 and result.flood_intervals == 3
    assert [(f.start, f.end, f.raised) for f in result.floods] == [
        (600.0, 1200.0, 11),
        (1800.0, 3000.0, 27),
    ]
    assert result.flood_interval_share == pytest.approx(3 / 60)
    assert result.flood_time_share == pytest.approx(1800 / 36000)
    assert (result.peak_10min, result.peak_10min_start) == (15, 2400.0)
    # Two operators: 15 / 2 = 7.5 in the busiest interval, no flood at all.
    shared = load(rs, operators=2)
    assert shared.floods == [] and shared.flood_intervals == 0
    assert shared.peak_10min_per_operator == 7.5
    met = {target.figure: ok for target, _, ok in result.verdicts()}
    assert met["peak_10min_per_operator"] is False  # 15 > 10
    assert met["flood_time_share"] is False  # 5 % >= 1 %
    assert {t.figure: ok for t, _, ok in shared.verdicts()}["peak_10min_per_operator"] is True


def test_a_flood_cut_by_the_periods_end_counts_only_the_time_inside() -> None:
    # A period of 25 minutes: intervals [0, 600), [600, 1200), [1200, 1500): 3.
    rs = raises([1200 + i for i in range(11)])
    result = load(rs, end=1500.0, day_ends=(1500.0,))
    assert result.intervals == 3
    assert [(f.start, f.end) for f in result.floods] == [(1200.0, 1500.0)]
    assert result.flood_time_share == pytest.approx(300 / 1500)


def test_chattering_is_three_raises_of_one_alarm_within_sixty_seconds() -> None:
    rs = (
        raises([100, 130, 159], "door.forced", "D1")  # 3 within 59 s
        + raises([0, 61, 122, 183], "door.held", "D2")  # never 3 within 60 s
        + raises([1000, 1030, 1060], "door.forced", "D3")  # exactly 60 s: within
        + raises([5000, 5010, 5020, 9000, 9005, 9010, 9015], "patrol.missed", "P1")
        + raises([7000, 7020], "door.forced", "D1")  # D1 again, alone
        + raises([150, 155], "door.held", "D1")  # another code at D1: its own alarm
    )
    result = load(rs)
    found = {(c.code, c.source): (c.raised, c.most_in_window, c.bursts) for c in result.chattering}
    assert found == {
        ("patrol.missed", "P1"): (7, 4, 2),
        ("door.forced", "D1"): (5, 3, 1),
        ("door.forced", "D3"): (3, 3, 1),
    }
    # most raised first, then by code and source
    assert [(c.code, c.source) for c in result.chattering] == [
        ("patrol.missed", "P1"),
        ("door.forced", "D1"),
        ("door.forced", "D3"),
    ]
    assert result.chattering_alarms == 3


def test_the_top_ten_sources_in_order_with_their_shares() -> None:
    # Twelve sources s01..s12 raising 12, 11, ..., 1 times (78 in all), and s13 tying
    # s03 at 10: the ties go by name, so s13 is 4th and the last two (2 and 1) fall out.
    rs = []
    t = 0.0
    for i in range(12):
        for _ in range(12 - i):
            rs.append(Raise(t, f"code{i % 2}", f"s{i + 1:02d}"))
            t += 60
    rs += [Raise(t + 60 * k, "code9", "s13") for k in range(10)]
    result = load(rs)
    total = 78 + 10
    assert result.raised == total
    assert [(s.source, s.raised) for s in result.top] == [
        ("s01", 12),
        ("s02", 11),
        ("s03", 10),
        ("s13", 10),
        ("s04", 9),
        ("s05", 8),
        ("s06", 7),
        ("s07", 6),
        ("s08", 5),
        ("s09", 4),
    ]
    assert result.top[0].share == pytest.approx(12 / total)
    assert result.top_ten_share == pytest.approx(
        (12 + 11 + 10 + 10 + 9 + 8 + 7 + 6 + 5 + 4) / total
    )
    assert result.top[0].codes == {"code0": 12}


def test_busy_hours_have_more_than_thirty_alarms() -> None:
    rs = raises([i * 10 for i in range(31)]) + raises([H + i * 10 for i in range(30)])
    result = load(rs)
    assert result.busy_hours == 1 and result.busy_hour_share == pytest.approx(1 / 10)


def test_stale_alarms_and_the_most_present_on_one_day() -> None:
    # A three-day period; day ends at 24 h, 48 h, 72 h.
    end = 72 * H
    standing = [
        Standing("a", "A", 0.0, 30 * H),  # stood 30 h: stale, back on day 2
        Standing("b", "B", 10 * H, None),  # still standing at the end: 62 h
        Standing("c", "C", 0.0, 20 * H),  # 20 h: not stale
        Standing("d", "D", 40 * H, 64.5 * H),  # 24.5 h: stale, during day 3
        Standing("e", "E", -100 * H, 2 * H),  # from before the period: 102 h, stale
        Standing("f", "F", 80 * H, None),  # after the period: not in it
    ]
    result = load([], standing, end=end, day_ends=(24 * H, 48 * H, 72 * H))
    assert [(s.source, s.until, round(s.hours, 1)) for s in result.stale] == [
        ("E", 2 * H, 102.0),
        ("A", 30 * H, 30.0),
        ("B", None, 62.0),
        ("D", 64.5 * H, 24.5),
    ]
    # End of day 1 (24 h): A stood 24 h (not more), E was back at 2 h: 0 stale.
    # Day 2 (48 h): A back at 30 h; B stood 38 h: 1. Day 3 (72 h): B; D back at 64.5: 1.
    assert result.stale_max_per_day == 1
    # Counted at 64 h, D has stood exactly 24 h (not more): still 1; at 64.25 h, 2.
    at_64 = load([], standing, end=end, day_ends=(24 * H, 48 * H, 64 * H, 72 * H))
    assert at_64.stale_max_per_day == 1
    at_64_15 = load([], standing, end=end, day_ends=(24 * H, 48 * H, 64.25 * H, 72 * H))
    assert at_64_15.stale_max_per_day == 2  # B (54.25 h) and D (24.25 h)


def test_two_stale_alarms_present_at_one_days_end() -> None:
    standing = [Standing("a", "A", 0.0, None), Standing("b", "B", 10 * H, None)]
    result = load([], standing, end=48 * H, day_ends=(24 * H, 48 * H))
    assert result.stale_max_per_day == 2  # at 48 h: A 48 h, B 38 h
    assert load([], standing, end=30 * H, day_ends=(24 * H, 48 * H)).stale_max_per_day == 1


def test_no_alarms_give_zero_counts_and_no_shares_of_nothing() -> None:
    result = load([])
    assert result.raised == 0 and result.per_operator_hour == 0.0
    assert result.top == [] and result.top_ten_share is None
    assert result.floods == [] and result.chattering == [] and result.stale == []


@pytest.mark.parametrize(
    ("start", "end", "operators", "words"),
    [
        (0.0, 0.0, 1, "end (0.0) must be after start"),
        (0.0, 10.0, 0, "operators must be a whole number >= 1"),
        (0.0, 10.0, 1.5, "operators must be a whole number >= 1"),
    ],
)
def test_bad_arguments_are_named(start, end, operators, words) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        alarm_load([], [], start, end, [end], operators)
