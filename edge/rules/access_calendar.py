"""When a site is open: working hours per weekday, holidays and make-up working days.

Pure: a timestamp in, an answer out. The site's own time zone decides the local day and
hour (default Asia/Shanghai), so a badge at 07:59 local is after hours wherever the edge's
clock is set. China moves working days around holidays (调休): a weekend date listed in
`makeup_days` is worked with `makeup_hours`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Interval = tuple[int, int]  # minutes from local midnight, [start, end)

_OFFICE: tuple[Interval, ...] = ((8 * 60, 18 * 60),)
_WEEK: tuple[tuple[Interval, ...], ...] = (_OFFICE,) * 5 + ((),) * 2
# Search horizon for the next opening; a calendar closed this long never opens.
_MAX_DAYS = 800


class CalendarError(ValueError):
    """A calendar setting that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class Calendar:
    tz: str = "Asia/Shanghai"
    # Mon..Sun; an empty tuple is a closed day. Default: 08:00-18:00 on weekdays.
    hours: tuple[tuple[Interval, ...], ...] = _WEEK
    holidays: frozenset[dt.date] = frozenset()
    makeup_days: frozenset[dt.date] = frozenset()
    makeup_hours: tuple[Interval, ...] = _OFFICE
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"calendar.tz: unknown time zone {self.tz!r}") from exc
        object.__setattr__(self, "_zone", zone)
        if len(self.hours) != 7:
            raise CalendarError(f"calendar.hours: needs 7 weekdays, got {len(self.hours)}")

    def _intervals(self, day: dt.date) -> tuple[Interval, ...]:
        if day in self.holidays:
            return ()
        if day in self.makeup_days:
            return self.makeup_hours
        return self.hours[day.weekday()]

    def is_open(self, ts: float) -> bool:
        local = dt.datetime.fromtimestamp(ts, self._zone)
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        return any(a <= minute < b for a, b in self._intervals(local.date()))

    def next_open(self, ts: float) -> float | None:
        """The first moment after `ts` at which the site opens (None: never, in practice)."""
        day = dt.datetime.fromtimestamp(ts, self._zone).date()
        for _ in range(_MAX_DAYS):
            for start, _end in sorted(self._intervals(day)):
                at = dt.datetime(day.year, day.month, day.day, tzinfo=self._zone) + dt.timedelta(
                    minutes=start
                )
                t = at.timestamp()
                if t > ts:
                    return t
            day += dt.timedelta(days=1)
        return None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Calendar:
        """{"tz": ..., "hours": {"mon": ["08:00-18:00"], "sat": []}, "holidays": [ISO dates],
        "makeup_days": [...], "makeup_hours": ["08:00-18:00"]}; missing weekdays keep the
        default (office hours Mon-Fri, closed at weekends)."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise CalendarError(f"calendar: must be a mapping, got {type(raw).__name__}")
        unknown = set(raw) - {"tz", "hours", "holidays", "makeup_days", "makeup_hours"}
        if unknown:
            raise CalendarError(f"calendar: unknown field(s) {sorted(unknown)}")
        hours = list(_WEEK)
        raw_hours = raw.get("hours", {})
        if not isinstance(raw_hours, Mapping):
            raise CalendarError("calendar.hours: must map weekday (mon..sun) to intervals")
        for name, spans in raw_hours.items():
            if name not in WEEKDAYS:
                raise CalendarError(f"calendar.hours: unknown weekday {name!r} (use {WEEKDAYS})")
            hours[WEEKDAYS.index(name)] = _intervals(spans, f"calendar.hours.{name}")
        return cls(
            tz=str(raw.get("tz", "Asia/Shanghai")),
            hours=tuple(hours),
            holidays=_dates(raw.get("holidays", []), "calendar.holidays"),
            makeup_days=_dates(raw.get("makeup_days", []), "calendar.makeup_days"),
            makeup_hours=_intervals(
                raw.get("makeup_hours", ["08:00-18:00"]), "calendar.makeup_hours"
            ),
        )


def _minute(text: str, where: str) -> int:
    try:
        hh, mm = text.strip().split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise CalendarError(f"{where}: {text!r} is not HH:MM") from None
    if not (0 <= m < 60 and (0 <= h < 24 or (h == 24 and m == 0))):
        raise CalendarError(f"{where}: {text!r} is not a time of day")
    return h * 60 + m


def _intervals(spans: Any, where: str) -> tuple[Interval, ...]:
    if not isinstance(spans, list | tuple):
        raise CalendarError(f"{where}: must be a list like ['08:00-18:00'], got {spans!r}")
    out = []
    for span in spans:
        if not isinstance(span, str) or span.count("-") != 1:
            raise CalendarError(f"{where}: {span!r} is not 'HH:MM-HH:MM'")
        a, b = (_minute(p, where) for p in span.split("-"))
        if b <= a:
            # Why: a night shift is two spans ('22:00-24:00', '00:00-06:00'), never a wrap.
            raise CalendarError(f"{where}: {span!r} ends before it starts; split it at 24:00")
        out.append((a, b))
    return tuple(sorted(out))


def _dates(items: Any, where: str) -> frozenset[dt.date]:
    if not isinstance(items, list | tuple):
        raise CalendarError(f"{where}: must be a list of ISO dates")
    out = set()
    for item in items:
        try:
            out.add(dt.date.fromisoformat(str(item)))
        except ValueError:
            raise CalendarError(f"{where}: {item!r} is not an ISO date (YYYY-MM-DD)") from None
    return frozenset(out)
