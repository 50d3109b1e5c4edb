"""Local calendars (edge/energy/calendar.py): local days, DST days, 调休, hour features.

Oracles are written out by hand (epoch arithmetic in the comments) or come from an
independent per-hour loop over `datetime` (not the vectorised offsets under test).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edge.energy.calendar import DAY_TYPES, DayType, LocalCalendar

# 2024-01-01T00:00Z = 1704067200; 2024-03-31T00:00Z = that + 90 days x 86400 = 1711843200.
JAN1_UTC = 1704067200
MAR31_UTC = 1711843200


def test_asia_shanghai_local_midnight_is_16_00_utc_the_day_before() -> None:
    cal = LocalCalendar()
    start, end = cal.day_bounds(date(2024, 1, 1))
    assert start == JAN1_UTC - 8 * 3600 == 1704038400  # 2023-12-31T16:00Z
    assert end - start == 86400
    assert cal.day_of(start - 1) == date(2023, 12, 31)
    assert cal.day_of(start) == date(2024, 1, 1)
    # February 2024 has 29 days: [2024-01-31T16:00Z, 2024-02-29T16:00Z); 2024-02-01T00:00Z
    # is January 1 + 31 days.
    m0, m1 = cal.month_bounds(2024, 2)
    assert m0 == JAN1_UTC + 31 * 86400 - 8 * 3600
    assert m1 - m0 == 29 * 86400
    y0, y1 = cal.year_bounds(2024)
    assert (y0, y1 - y0) == (1704038400, 366 * 86400)


def test_berlin_dst_days_are_23_and_25_hours() -> None:
    cal = LocalCalendar("Europe/Berlin")
    # 2024-03-31: local midnight is still CET (+1): 2024-03-30T23:00Z; the next midnight is
    # CEST (+2): 2024-03-31T22:00Z. 23 hours, and local 02:00 never happens.
    start, end = cal.day_bounds(date(2024, 3, 31))
    assert (start, end) == (MAR31_UTC - 3600, MAR31_UTC + 22 * 3600)
    hours = cal.hours(start, end)
    assert len(hours) == 23
    local_hour, _kind, ordinal = cal.hour_features(hours)
    assert local_hour.tolist() == [0, 1, *range(3, 24)]
    assert set(ordinal.tolist()) == {date(2024, 3, 31).toordinal()}
    # 2024-10-27: 25 hours, local 02:00 happens twice.
    start, end = cal.day_bounds(date(2024, 10, 27))
    assert end - start == 25 * 3600
    local_hour, _, _ = cal.hour_features(cal.hours(start, end))
    assert local_hour.tolist() == [0, 1, 2, 2, *range(3, 24)]


def test_a_zone_whose_clocks_jump_at_midnight_starts_the_day_at_the_jump() -> None:
    # America/Santiago, 2024-09-08: 00:00 (-04) becomes 01:00 (-03) = 2024-09-08T04:00Z.
    cal = LocalCalendar("America/Santiago")
    start, end = cal.day_bounds(date(2024, 9, 8))
    sep8_utc = MAR31_UTC + (30 + 31 + 30 + 31 + 31 + 8) * 86400  # April..August + 8 days
    assert start == sep8_utc + 4 * 3600
    assert end - start == 23 * 3600
    assert cal.day_of(start - 1) == date(2024, 9, 7)


def test_hours_of_a_half_hour_zone_start_at_half_past_utc() -> None:
    # Asia/Kolkata is +05:30: local hours begin at hh:30 UTC; 00:30Z is 06:00 local.
    cal = LocalCalendar("Asia/Kolkata")
    assert cal.hours(0, 7200).tolist() == [1800.0, 5400.0]
    hour, _, _ = cal.hour_features(np.array([1800.0, 5400.0]))
    assert hour.tolist() == [6, 7]
    assert cal.hours(5, 5).size == 0


def test_make_up_workdays_and_holidays_of_spring_festival_2024() -> None:
    # State Council 2024: holiday Feb 10-17; Sunday Feb 4 and Sunday Feb 18 are worked.
    holidays = [date(2024, 2, 10) + timedelta(days=i) for i in range(8)]
    cal = LocalCalendar(holidays=holidays, workdays=[date(2024, 2, 4), date(2024, 2, 18)])
    assert cal.day_type(date(2024, 2, 3)) is DayType.WEEKEND  # Saturday
    assert cal.day_type(date(2024, 2, 4)) is DayType.WORKDAY  # Sunday, 调休
    assert cal.day_type(date(2024, 2, 5)) is DayType.WORKDAY  # Monday
    assert cal.day_type(date(2024, 2, 12)) is DayType.HOLIDAY  # Monday in the holiday
    assert cal.day_type(date(2024, 2, 17)) is DayType.HOLIDAY  # Saturday in the holiday
    assert cal.day_type(date(2024, 2, 18)) is DayType.WORKDAY
    # The vectorised index agrees, at local 00:00 and 23:00 of Feb 4 (UTC: the day before).
    start, end = cal.day_bounds(date(2024, 2, 4))
    _, kind, _ = cal.hour_features(np.array([start, end - 3600, end]))
    assert [DAY_TYPES[k] for k in kind] == [DayType.WORKDAY, DayType.WORKDAY, DayType.WORKDAY]
    _, kind, _ = cal.hour_features(np.array([start - 3600]))  # Sat Feb 3, 23:00 local
    assert DAY_TYPES[kind[0]] is DayType.WEEKEND


def test_hour_features_match_a_per_hour_datetime_loop_over_a_dst_year() -> None:
    holidays = [date(2024, 12, 25), date(2024, 12, 26), date(2024, 5, 1)]
    workdays = [date(2024, 6, 1)]  # a Saturday
    cal = LocalCalendar("Europe/Berlin", holidays, workdays)
    hours = cal.hours(*cal.year_bounds(2024))
    assert len(hours) == 366 * 24  # one 23 h and one 25 h day
    hour, kind, ordinal = cal.hour_features(hours)
    zone = ZoneInfo("Europe/Berlin")
    for i, ts in enumerate(hours.tolist()):
        local = datetime.fromtimestamp(ts, zone)
        assert (local.minute, local.second) == (0, 0)
        d = local.date()
        want = 2 if d in holidays else 0 if d in workdays else 1 if d.isoweekday() >= 6 else 0
        assert (hour[i], kind[i], ordinal[i]) == (local.hour, want, d.toordinal()), local


def test_rollup_keys_use_local_dates_and_iso_weeks() -> None:
    cal = LocalCalendar()
    # 2024-12-29T16:30Z is Monday 2024-12-30 00:30 in Shanghai: ISO week 1 of 2025, while
    # the UTC date (a Sunday) is still in 2024-W52.
    ts = datetime(2024, 12, 29, 16, 30, tzinfo=UTC).timestamp()
    assert cal.day_key(ts) == "2024-12-30"
    assert cal.week_key(ts) == "2025-W01"
    assert cal.month_key(ts) == "2024-12"
    w0, w1 = cal.week_bounds(2025, 1)
    assert w0 == datetime(2024, 12, 29, 16, 0, tzinfo=UTC).timestamp()
    assert w1 - w0 == 7 * 86400


def test_bad_calendars_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Asia/Shanghia'"):
        LocalCalendar("Asia/Shanghia")
    with pytest.raises(ValueError, match="both a holiday and a make-up workday: 2024-02-04"):
        LocalCalendar(holidays=[date(2024, 2, 4)], workdays=[date(2024, 2, 4)])
    with pytest.raises(ValueError, match="finite"):
        LocalCalendar().hour_features(np.array([0.0, np.nan]))
