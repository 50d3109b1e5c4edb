"""Local days of one time zone, as the store's 1-day buckets use them. Pure, no I/O.

A 1-day bucket is the site's local calendar day [local midnight, next local midnight),
keyed by the epoch of its local midnight: 24 h long, 23 h or 25 h on a DST change day.
Every real time zone's UTC offset (since 1972) is a multiple of 15 minutes, so a local
midnight always falls on a UTC 15-min boundary and a local day is a union of whole 15-min
buckets: the store derives its day buckets from its 15-min ones. A zone that breaks this
for a day the store meets is refused with an error naming the zone and the day.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"
FINE_STEP = 900  # the 15-min buckets local days are made of


def zone(name: str) -> ZoneInfo:
    """The IANA zone of that name; a clear error when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {name!r} is not an IANA time zone name (e.g. Asia/Shanghai)"
        ) from None


class LocalDays:
    """Bounds of the local days of one zone, computed once per day and kept."""

    def __init__(self, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.timezone = timezone
        self._zone = zone(timezone)
        self._starts: list[int] = []  # sorted local midnights seen so far
        self._ends: dict[int, int] = {}  # local midnight -> the next one

    def bounds(self, ts: float) -> tuple[int, int]:
        """(start, end) epoch seconds of the local day holding instant ts."""
        starts = self._starts
        i = bisect_right(starts, ts) - 1
        if i >= 0:
            start = starts[i]
            end = self._ends[start]
            if ts < end:
                return start, end
        day = datetime.fromtimestamp(ts, self._zone).date()
        start, end = self._midnight(day), self._midnight(day + timedelta(days=1))
        insort(starts, start)
        self._ends[start] = end
        return start, end

    def start_of(self, ts: float) -> int:
        """The local midnight starting the day of ts: the day bucket's key."""
        return self.bounds(ts)[0]

    def date_of(self, start: int) -> date:
        """The local date of the day that starts at `start`."""
        return datetime.fromtimestamp(start, self._zone).date()

    def _midnight(self, day: date) -> int:
        # fold=0: where a DST change skips midnight, this is the instant of the change,
        # when that local day begins.
        moment = datetime(day.year, day.month, day.day, tzinfo=self._zone).timestamp()
        if moment % FINE_STEP:
            raise ValueError(
                f"time zone {self.timezone}: local midnight of {day} is not on a 15-min UTC"
                " boundary; the store's local days cannot be made of 15-min buckets there"
            )
        return int(moment)
