"""The periods reports cover: a local calendar month ("2026-11") or a span of local dates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from cloud_api.body_types import FIRST_DAY, LAST_DAY
from cloud_api.reports.errors import ReportInputError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
HOUR = 3600.0


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first_day(self) -> date:
        return date(self.year + (self.month == 12), self.month % 12 + 1, 1)

    @property
    def days(self) -> int:
        return (self.next_first_day - self.first_day).days

    def bounds(self, calendar) -> tuple[float, float]:
        """[start, end) in epoch seconds of the month in the calendar's local time."""
        return calendar.month_bounds(self.year, self.month)

    def a_year_before(self) -> Month:
        return Month(self.year - 1, self.month)

    def local_days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range(self.days)]


def parse_month(text: str | None, field: str = "month") -> Month:
    """A month written YYYY-MM, or ReportInputError naming the field and what was given."""
    if text is None:
        raise ReportInputError(field, "required, as YYYY-MM (e.g. 2026-11)")
    found = _MONTH.match(text.strip())
    if not found:
        raise ReportInputError(field, f"expected YYYY-MM (e.g. 2026-11), got {text!r}")
    year, month = int(found[1]), int(found[2])
    if not 1 <= month <= 12:
        raise ReportInputError(field, f"month {month:02d} of {text!r} is not 01 to 12")
    if not FIRST_DAY <= date(year, month, 1) < LAST_DAY:
        raise ReportInputError(field, f"{text} is outside {FIRST_DAY:%Y-%m} .. {LAST_DAY:%Y-%m}")
    return Month(year, month)


def parse_day(text: str | None, field: str) -> date | None:
    """A local date YYYY-MM-DD (None stays None), or ReportInputError naming the field."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ReportInputError(field, f"expected a local date YYYY-MM-DD, got {text!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ReportInputError(field, f"{day} is outside {FIRST_DAY} .. {LAST_DAY}")
    return day


def require_started(month: Month, calendar, now: float) -> None:
    """A month that has not begun has nothing to report: say so rather than show zeros."""
    start, _ = month.bounds(calendar)
    if start >= now:
        today = calendar.day_of(now)
        raise ReportInputError(
            "month", f"{month.label} has not started (today is {today} in {calendar.tz})"
        )


def figures_until(start: float, end: float, now: float) -> float:
    """The end of a period's figures: its end, or for a running period the hour after now
    (the hour in progress counts what it has so far)."""
    if now >= end:
        return end
    return min(end, max(start, (now // HOUR + 1) * HOUR))
