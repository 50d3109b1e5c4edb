"""Time-of-use tariffs (edge/energy/tariffs.py): cost across period boundaries, a holiday,
a version change, 15-min windows and a DST day, against sums written out by hand.

Prices of the Zhejiang-shaped tariff below, base 0.60: sharp 0.60 x 2.05 = 1.23, peak
0.60 x 1.85 = 1.11, flat 0.60, valley 0.60 x 0.4 = 0.24, deep valley 0.60 x 0.2 = 0.12.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edge.energy.calendar import LocalCalendar
from edge.energy.tariffs import (
    HolidayRule,
    Season,
    Tariff,
    TariffTable,
    Window,
    cost,
    parse_hhmm,
    step_needed,
)

SHANGHAI = LocalCalendar()
PRICES = {"sharp": 1.23, "peak": 1.11, "flat": 0.60, "valley": 0.24, "deep_valley": 0.12}


def _w(*spec: tuple[str, str, str]) -> tuple[Window, ...]:
    return tuple(Window.of(*s) for s in spec)


VALLEYS = (("00:00", "07:00", "valley"), ("11:00", "14:00", "valley"))
ZHEJIANG = Tariff(
    version="zj-2026-07",
    valid_from=date(2026, 7, 1),
    currency="CNY",
    prices=PRICES,
    default_period="flat",
    seasons=(
        Season(frozenset({2, 3, 4, 5, 6, 9, 10, 11}), _w(*VALLEYS, ("16:00", "23:00", "peak"))),
        Season(
            frozenset({1, 7, 8, 12}),
            _w(
                *VALLEYS,
                ("16:00", "18:00", "peak"),
                ("18:00", "22:00", "sharp"),
                ("22:00", "23:00", "peak"),
            ),
        ),
    ),
    holiday_rules=(
        HolidayRule(
            _w(("00:00", "09:00", "valley"), ("09:00", "15:00", "deep_valley")),
            annual=frozenset({(5, 1), (5, 2), (5, 3), (10, 1), (10, 2), (10, 3)}),
        ),
    ),
)


def _local_hours(day: date, first: int, last: int, cal: LocalCalendar = SHANGHAI) -> np.ndarray:
    start, _ = cal.day_bounds(day)
    return start + 3600.0 * np.arange(first, last)


def test_summer_evening_crosses_flat_peak_sharp_peak() -> None:
    table = TariffTable([ZHEJIANG])
    hours = _local_hours(date(2026, 7, 15), 15, 23)  # 15:00..22:00 local, 8 hours
    got = cost(SHANGHAI, table, hours, np.full(8, 10.0), 3600)
    # 15-16 flat, 16-18 peak x2, 18-22 sharp x4, 22-23 peak:
    # 10 x (0.60 + 3 x 1.11 + 4 x 1.23) = 10 x (0.60 + 3.33 + 4.92) = 88.50
    assert got.total == pytest.approx(88.50)
    assert got.by_period == {
        "flat": pytest.approx((10.0, 6.00)),
        "peak": pytest.approx((30.0, 33.30)),
        "sharp": pytest.approx((40.0, 49.20)),
    }
    assert (got.versions, got.currency, got.missing) == (("zj-2026-07",), "CNY", 0)


def test_national_day_holiday_rule_then_the_season() -> None:
    table = TariffTable([ZHEJIANG])
    kwh = np.full(9, 5.0)
    # 2026-10-01, 08:00..16:00: 08-09 valley, 09-15 deep valley x6, then October's season:
    # 15-16 flat, 16-17 peak. 5 x (0.24 + 6 x 0.12 + 0.60 + 1.11) = 5 x 2.67 = 13.35
    got = cost(SHANGHAI, table, _local_hours(date(2026, 10, 1), 8, 17), kwh, 3600)
    assert got.total == pytest.approx(13.35)
    assert got.by_period["deep_valley"] == pytest.approx((30.0, 3.60))
    # The same hours a week later (no holiday): 08-11 flat x3, 11-14 valley x3, 14-16 flat
    # x2, 16-17 peak. 5 x (5 x 0.60 + 3 x 0.24 + 1.11) = 5 x 4.83 = 24.15
    got = cost(SHANGHAI, table, _local_hours(date(2026, 10, 8), 8, 17), kwh, 3600)
    assert got.total == pytest.approx(24.15)
    assert "deep_valley" not in got.by_period


def test_a_version_change_at_local_midnight_and_missing_hours() -> None:
    flat = Tariff("flat-2026", date(2026, 1, 1), "CNY", {"flat": 0.5}, (), "flat")
    table = TariffTable([ZHEJIANG, flat])
    hours = np.array(
        [_local_hours(date(2026, 6, 30), 23, 24)[0], *_local_hours(date(2026, 7, 1), 0, 2)]
    )
    # 2026-06-30 23:00 at 0.5 (old version), 07-01 00:00 and 01:00 valley 0.24 (new version).
    got = cost(SHANGHAI, table, hours, np.array([2.0, 3.0, 4.0]), 3600)
    assert got.total == pytest.approx(2 * 0.5 + 7 * 0.24)  # 1.00 + 1.68 = 2.68
    assert got.versions == ("flat-2026", "zj-2026-07")
    got = cost(SHANGHAI, table, hours, np.array([2.0, np.nan, 4.0]), 3600)
    assert (got.total, got.missing) == (pytest.approx(1.0 + 0.96), 1)
    with pytest.raises(LookupError, match="no tariff is valid on 2025-12-31"):
        cost(SHANGHAI, table, _local_hours(date(2025, 12, 31), 0, 1), np.ones(1), 3600)


def test_a_boundary_at_half_past_needs_quarter_hour_buckets() -> None:
    ev = Tariff(
        "ev",
        date(2026, 1, 1),
        "CNY",
        PRICES,
        (Season(frozenset(range(1, 13)), _w(("10:30", "13:30", "valley"))),),
        "flat",
    )
    table = TariffTable([ev])
    assert step_needed(table) == 900
    assert step_needed(TariffTable([ZHEJIANG])) == 3600
    with pytest.raises(ValueError, match="step 900"):
        cost(SHANGHAI, table, _local_hours(date(2026, 3, 2), 10, 11), np.ones(1), 3600)
    start = _local_hours(date(2026, 3, 2), 10, 11)[0]
    quarters = start + 900.0 * np.arange(4)
    # 10:00, 10:15 flat; 10:30, 10:45 valley: 2 x 0.60 + 2 x 0.24 = 1.68
    assert cost(SHANGHAI, table, quarters, np.ones(4), 900).total == pytest.approx(1.68)
    with pytest.raises(ValueError, match="does not start on a local quarter hour"):
        cost(SHANGHAI, table, quarters + 60, np.ones(4), 900)


def test_a_repeated_dst_hour_is_priced_twice_at_its_clock_time() -> None:
    berlin = LocalCalendar("Europe/Berlin")
    night = Tariff(
        "night",
        date(2024, 1, 1),
        "EUR",
        {"day": 0.3, "peak": 1.0},
        (Season(frozenset(range(1, 13)), _w(("02:00", "03:00", "peak"))),),
        "day",
    )
    table = TariffTable([night])
    start, end = berlin.day_bounds(date(2024, 10, 27))
    hours = berlin.hours(start, end)
    got = cost(berlin, table, hours, np.ones(25), 3600)
    # 25 hours; local 02:00 happens twice: 2 peak kWh at 1.0 + 23 at 0.3 = 2 + 6.9 = 8.9
    assert got.by_period == {"day": pytest.approx((23.0, 6.9)), "peak": pytest.approx((2.0, 2.0))}


def test_period_at_wrapping_windows_and_price_per_hour() -> None:
    wrap = Tariff(
        "w",
        date(2024, 1, 1),
        "CNY",
        {"night": 0.2, "day": 0.8},
        (Season(frozenset(range(1, 13)), _w(("22:00", "06:00", "night"))),),
        "day",
    )
    table = TariffTable([wrap])
    zone = ZoneInfo("Asia/Shanghai")
    assert table.period_at(datetime(2024, 5, 5, 23, 59, tzinfo=zone)) == "night"
    assert table.period_at(datetime(2024, 5, 5, 5, 45, tzinfo=zone)) == "night"
    assert table.period_at(datetime(2024, 5, 5, 6, 0, tzinfo=zone)) == "day"
    price, period = table.price_per_hour(SHANGHAI, _local_hours(date(2024, 5, 5), 5, 7))
    assert price.tolist() == [0.2, 0.8]
    assert [table.periods[i] for i in period] == ["night", "day"]


def test_bad_tariffs_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="write 'HH:MM' in quotes"):
        parse_hhmm(420)  # type: ignore[arg-type]  # what YAML makes of an unquoted 07:00
    with pytest.raises(ValueError, match="quarter hour"):
        parse_hhmm("07:10")
    with pytest.raises(ValueError, match="only the end of a window may be '24:00'"):
        Window.of("24:00", "01:00", "x")
    with pytest.raises(ValueError, match="windows 00:00-07:00 valley and 06:00-08:00 peak overlap"):
        Tariff(
            "t",
            date(2024, 1, 1),
            "CNY",
            PRICES,
            (Season(frozenset({1}), _w(("00:00", "07:00", "valley"), ("06:00", "08:00", "peak"))),),
            "flat",
        )
    with pytest.raises(ValueError, match="no price for period\\(s\\) shoulder"):
        Tariff(
            "t",
            date(2024, 1, 1),
            "CNY",
            PRICES,
            (Season(frozenset({1}), _w(("00:00", "07:00", "shoulder"))),),
            "flat",
        )
    with pytest.raises(ValueError, match="month 3 is in both"):
        Tariff(
            "t",
            date(2024, 1, 1),
            "CNY",
            PRICES,
            (Season(frozenset({3}), ()), Season(frozenset({3, 4}), ())),
            "flat",
        )
    with pytest.raises(ValueError, match="one currency"):
        TariffTable([ZHEJIANG, Tariff("e", date(2020, 1, 1), "EUR", {"flat": 1.0}, (), "flat")])


def test_a_year_of_hourly_cost_matches_a_per_hour_datetime_loop() -> None:
    """Independent method: look up each hour's period by its local datetime, one by one."""
    # A holiday of the site's calendar does not change the tariff: its rules carry their
    # own dates (Feb 8 is priced as the ordinary Monday it is for the tariff).
    cal = LocalCalendar(holidays=[date(2027, 2, 8)])
    table = TariffTable([ZHEJIANG])
    hours = cal.hours(*cal.year_bounds(2027))
    kwh = (np.arange(len(hours)) % 7 + 1).astype(float)
    got = cost(cal, table, hours, kwh, 3600)
    zone = ZoneInfo("Asia/Shanghai")
    want: dict[str, list[float]] = {}
    for ts, k in zip(hours.tolist(), kwh.tolist(), strict=True):
        period = ZHEJIANG.period_at(datetime.fromtimestamp(ts, zone))
        acc = want.setdefault(period, [0.0, 0.0])
        acc[0] += k
        acc[1] += k * PRICES[period]
    assert got.by_period == {p: pytest.approx(tuple(v)) for p, v in want.items()}
    assert got.total == pytest.approx(sum(v[1] for v in want.values()))
