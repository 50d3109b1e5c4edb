"""A site's local calendar: local days, day types (workday, weekend, holiday, 调休) and hours.

Every interface takes and returns epoch seconds (UTC); local dates are `datetime.date`.
The vectorised parts work from the zone's UTC offsets: once the offset at an instant is
known, its local date and clock time follow by arithmetic, so a year of hours needs a few
hundred `zoneinfo` look-ups (cached per UTC day), not one per hour.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

DAY = 86400
HOUR = 3600
# date.toordinal() of 1970-01-01: local-naive epoch seconds // DAY + this = local date ordinal.
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class DayType(StrEnum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"


# The day-type index hour_features returns: position in this tuple.
DAY_TYPES: tuple[DayType, ...] = (DayType.WORKDAY, DayType.WEEKEND, DayType.HOLIDAY)


class LocalCalendar:
    """The calendar of one site: its IANA time zone, public holidays and make-up workdays.

    `workdays` are weekend dates worked in exchange for a longer holiday (调休); a date may
    not be both a holiday and a make-up workday.
    """

    def __init__(
        self,
        tz: str = "Asia/Shanghai",
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
    ) -> None:
        try:
            self._zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {tz!r}: give an IANA name such as 'Asia/Shanghai'"
            ) from exc
        self.tz = tz
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(
                "a date cannot be both a holiday and a make-up workday: "
                + ", ".join(d.isoformat() for d in both)
            )
        self._holiday_ordinals = np.array(sorted(d.toordinal() for d in self.holidays), np.int64)
        self._workday_ordinals = np.array(sorted(d.toordinal() for d in self.workdays), np.int64)
        self._offsets: dict[int, tuple[tuple[int, int], ...]] = {}  # UTC day -> (start, offset)

    def __repr__(self) -> str:
        return (
            f"LocalCalendar({self.tz!r}, {len(self.holidays)} holidays, "
            f"{len(self.workdays)} make-up workdays)"
        )

    # -- single values -------------------------------------------------------------------

    def day_of(self, ts: float) -> date:
        """The local date of an instant."""
        return datetime.fromtimestamp(ts, self._zone).date()

    def local_midnight(self, d: date) -> float:
        """The first instant of local date d (where midnight does not exist because the
        clocks jump at 00:00, the instant of the jump)."""
        return datetime.combine(d, time(0), self._zone).timestamp()

    def day_bounds(self, d: date) -> tuple[float, float]:
        """[start, end) of local date d in epoch seconds: 24 h, or 23 h / 25 h on a DST day."""
        return self.local_midnight(d), self.local_midnight(d + timedelta(days=1))

    def month_bounds(self, year: int, month: int) -> tuple[float, float]:
        """[start, end) of a local calendar month."""
        nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return self.local_midnight(date(year, month, 1)), self.local_midnight(nxt)

    def year_bounds(self, year: int) -> tuple[float, float]:
        """[start, end) of a local calendar year."""
        return self.local_midnight(date(year, 1, 1)), self.local_midnight(date(year + 1, 1, 1))

    def week_bounds(self, iso_year: int, iso_week: int) -> tuple[float, float]:
        """[start, end) of an ISO week (Monday to Monday, local)."""
        monday = date.fromisocalendar(iso_year, iso_week, 1)
        return self.local_midnight(monday), self.local_midnight(monday + timedelta(days=7))

    def day_type(self, d: date) -> DayType:
        """Holiday if declared; workday if a declared make-up day; else by weekday."""
        if d in self.holidays:
            return DayType.HOLIDAY
        if d in self.workdays:
            return DayType.WORKDAY
        return DayType.WEEKEND if d.weekday() >= 5 else DayType.WORKDAY

    def day_key(self, ts: float) -> str:
        """Rollup key of the local day: '2024-03-31'."""
        return self.day_of(ts).isoformat()

    def week_key(self, ts: float) -> str:
        """Rollup key of the local ISO week: '2024-W13' (ISO year, which may differ from the
        calendar year in the first and last days of a year)."""
        iso = self.day_of(ts).isocalendar()
        return f"{iso.year}-W{iso.week:02d}"

    def month_key(self, ts: float) -> str:
        """Rollup key of the local month: '2024-03'."""
        d = self.day_of(ts)
        return f"{d.year}-{d.month:02d}"

    # -- vectorised ----------------------------------------------------------------------

    def hours(self, start: float, end: float) -> np.ndarray:
        """Epoch of each local-hour start in [start, end) (a DST day has 23 or 25)."""
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ValueError("hours: start and end must be finite epoch seconds")
        if end <= start:
            return np.empty(0, np.float64)
        seg_start, seg_off = self._segments(start, end)
        out = []
        bounds = [*seg_start[1:].tolist(), end]
        for lo, hi, off in zip(seg_start.tolist(), bounds, seg_off.tolist(), strict=True):
            lo, hi = max(lo, start), min(hi, end)
            if hi <= lo:
                continue
            # Instants whose local clock (ts + off) is on the hour.
            first = math.ceil((lo + off) / HOUR) * HOUR - off
            out.append(np.arange(first, hi, HOUR, dtype=np.float64))
        return np.concatenate(out) if out else np.empty(0, np.float64)

    def local_clock(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(local date ordinal, seconds since local midnight by the wall clock) per instant."""
        ts = np.asarray(ts, dtype=np.float64)
        if ts.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        if not np.all(np.isfinite(ts)):
            raise ValueError("local_clock: every instant must be a finite epoch second")
        seg_start, seg_off = self._segments(float(ts.min()), float(ts.max()) + 1)
        off = seg_off[np.searchsorted(seg_start, ts, side="right") - 1]
        naive = ts + off
        day = np.floor(naive / DAY)
        return day.astype(np.int64) + _EPOCH_ORDINAL, naive - day * DAY

    def day_type_index(self, ordinal: np.ndarray) -> np.ndarray:
        """Index into DAY_TYPES (0 workday, 1 weekend, 2 holiday) of each local date ordinal."""
        ordinal = np.asarray(ordinal, dtype=np.int64)
        # date.fromordinal(1) is a Monday, so (ordinal - 1) % 7 is date.weekday().
        kind = np.where((ordinal - 1) % 7 >= 5, 1, 0).astype(np.int8)
        kind[np.isin(ordinal, self._workday_ordinals)] = 0
        kind[np.isin(ordinal, self._holiday_ordinals)] = 2
        return kind

    def hour_features(self, hour_start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(local hour of day 0..23, day-type index 0 workday/1 weekend/2 holiday, local date
        ordinal) of each instant, e.g. of each hour from hours()."""
        ordinal, clock = self.local_clock(hour_start)
        hour = (clock // HOUR).astype(np.int8)
        return hour, self.day_type_index(ordinal), ordinal

    # -- the zone's offsets --------------------------------------------------------------

    def _offset(self, ts: int) -> int:
        off = datetime.fromtimestamp(ts, self._zone).utcoffset()
        assert off is not None  # a ZoneInfo always gives one
        return int(off.total_seconds())

    def _day_offsets(self, utc_day: int) -> tuple[tuple[int, int], ...]:
        """(start, offset) pieces of one UTC day: one, or two when the offset changes in it."""
        cached = self._offsets.get(utc_day)
        if cached is not None:
            return cached
        lo, hi = utc_day * DAY, utc_day * DAY + DAY - 1
        first, last = self._offset(lo), self._offset(hi)
        pieces: tuple[tuple[int, int], ...] = ((lo, first),)
        if first != last:
            # Bisect to the first second carrying the new offset (zones change on the second).
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._offset(mid) == first:
                    lo = mid
                else:
                    hi = mid
            pieces = ((utc_day * DAY, first), (hi, last))
        self._offsets[utc_day] = pieces
        return pieces

    def _segments(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """Sorted starts and offsets of constant-offset stretches covering [start, end]."""
        starts: list[int] = []
        offsets: list[int] = []
        for utc_day in range(math.floor(start / DAY), math.floor(end / DAY) + 1):
            for piece_start, off in self._day_offsets(utc_day):
                if not offsets or offsets[-1] != off:
                    starts.append(piece_start)
                    offsets.append(off)
        # The first stretch reaches back to any earlier instant asked about.
        starts[0] = min(starts[0], math.floor(start))
        return np.array(starts, np.float64), np.array(offsets, np.float64)
