"""The hazard ledger (隐患台账) of a site or building: the hazards registered in a span of
local dates, each as it stands now (state, colour, overdue: cloud_api/hazards.py's rules,
as GET /v1/hazards shows them) with when it was verified and closed (its audit log).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date

from cloud_api.reports.errors import ReportInputError
from cloud_api.store import sqlite_hazards


@dataclass(frozen=True)
class LedgerRow:
    hazard: dict  # HazardRow.to_dict(now)
    verified_at: float | None
    closed_at: float | None
    rejections: int


@dataclass(frozen=True)
class HazardLedger:
    site: str
    building: str | None  # None: every building of the site
    first_day: date | None  # registered on or after (None: from the first)
    last_day: date | None  # registered before (None: up to now)
    timezone: str
    generated_at: float
    rows: list[LedgerRow] = field(default_factory=list)  # oldest first

    def count(self, key: str, value: object) -> int:
        return sum(1 for r in self.rows if r.hazard[key] == value)


def hazard_ledger(
    db: sqlite3.Connection,
    config,
    site: str,
    building: str | None,
    first_day: date | None,
    last_day: date | None,
    now: float,
) -> HazardLedger:
    """The hazards registered in [first_day, last_day) local dates of the site."""
    if first_day is not None and last_day is not None and last_day <= first_day:
        raise ReportInputError("to", f"{last_day} must be after from ({first_day})")
    calendar = config.calendar(site)
    start = None if first_day is None else calendar.day_bounds(first_day)[0]
    end = None if last_day is None else calendar.day_bounds(last_day)[0]
    rows = []
    for hazard in reversed(sqlite_hazards.list_hazards(db, None, site, building)):
        if (start is not None and hazard.created_at < start) or (
            end is not None and hazard.created_at >= end
        ):
            continue
        steps = sqlite_hazards.history(db, hazard.id)
        rows.append(
            LedgerRow(
                hazard.to_dict(now),
                _last(steps, "verify"),
                _last(steps, "close"),
                sum(1 for s in steps if s["action"] == "reject"),
            )
        )
    return HazardLedger(site, building, first_day, last_day, calendar.tz, now, rows)


def _last(steps: list[dict], action: str) -> float | None:
    times = [s["ts"] for s in steps if s["action"] == action]
    return times[-1] if times else None
