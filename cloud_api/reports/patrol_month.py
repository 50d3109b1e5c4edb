"""The patrol compliance report's figures for one building and local month: per route and
per day, the rounds and their checkpoints by final status, from the rounds the edge
reported (GET /v1/patrols/rounds: cloud_api/store/sqlite_patrols.py).

compliance = on time / (checkpoints - pending): the share of the checkpoints that have a
status (pending ones are still open) that were scanned within their window; None when
none has one. The round's local day is the one the edge computed in the plan's time zone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from cloud_api.reports.periods import Month, require_started
from cloud_api.store import sqlite_patrols

STATUSES = ("on_time", "late", "early", "missed", "pending")


@dataclass
class Tally:
    """Rounds and checkpoints of a route on a day, of a route, or of the whole month."""

    route: str  # "" for the month's total
    day: str  # "" for a route's (or the month's) total
    rounds: int = 0
    complete_rounds: int = 0
    checkpoints: int = 0
    on_time: int = 0
    late: int = 0
    early: int = 0
    missed: int = 0
    pending: int = 0
    out_of_order: int = 0

    @property
    def compliance(self) -> float | None:
        settled = self.checkpoints - self.pending
        return self.on_time / settled if settled else None

    def add(self, result: dict) -> None:
        self.rounds += 1
        self.complete_rounds += bool(result.get("complete"))
        for cp in result.get("checkpoints", ()):
            self.checkpoints += 1
            status = cp.get("status")
            if status in STATUSES:
                setattr(self, status, getattr(self, status) + 1)
            else:  # a status this report does not know is not counted as settled
                self.pending += 1
            self.out_of_order += bool(cp.get("out_of_order"))


@dataclass(frozen=True)
class PatrolMonth:
    site: str
    building: str
    month: str
    generated_at: float
    by_route_day: list[Tally] = field(default_factory=list)  # route, then day
    by_route: list[Tally] = field(default_factory=list)
    total: Tally | None = None  # None: no rounds in the month


def tally(rounds: Iterable[dict]) -> tuple[list[Tally], list[Tally], Tally | None]:
    """(per route and day, per route, total) of round results."""
    per_day: dict[tuple[str, str], Tally] = {}
    per_route: dict[str, Tally] = {}
    total = Tally("", "")
    for result in rounds:
        route, day = result["route"], result["day"]
        per_day.setdefault((route, day), Tally(route, day)).add(result)
        per_route.setdefault(route, Tally(route, "")).add(result)
        total.add(result)
    return (
        [per_day[k] for k in sorted(per_day)],
        [per_route[k] for k in sorted(per_route)],
        total if total.rounds else None,
    )


def patrol_month(
    db: sqlite3.Connection, config, site: str, building: str, month: Month, now: float
) -> PatrolMonth:
    require_started(month, config.calendar(site), now)
    rounds = sqlite_patrols.list_rounds(
        db,
        site=site,
        building=building,
        days=(month.first_day.isoformat(), month.next_first_day.isoformat()),
    )
    by_day, by_route, total = tally(rounds)
    return PatrolMonth(site, building, month.label, now, by_day, by_route, total)
