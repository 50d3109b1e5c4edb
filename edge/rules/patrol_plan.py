"""Patrol plans (GA/T 644, GB 50348 electronic patrol): routes, checkpoints, schedule.

A plan is data from the site file. Every duration is in seconds (floats), so a night's
round can be compressed into minutes in a test. Start times are local wall-clock times
in the site time zone (default Asia/Shanghai) and become Unix times through zoneinfo,
so a 02:00 round belongs to the next calendar day after a 22:00 one.

Timing of one round that starts at S (all offsets from S):
  opens   S - open_before         scans from here on belong to the round
  window  [S + offset - tolerance, S + offset + tolerance] per checkpoint
          (a scan before it is early, inside it on time, after it late)
  missed  raised when the window closes with no scan (driven by time, not by a scan)
  ends    S + max(offset + tolerance) + late_grace: the round is over, incomplete if
          any checkpoint is missing
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Shanghai"
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: str  # the name operators read; sources are "<route>:<id>"
    tag: str  # what the checkpoint's reader reports as AccessEvent.device
    offset: float  # expected seconds after the round's start
    tolerance: float  # +- seconds around the expected time that count as on time

    def window(self, start: float) -> tuple[float, float]:
        due = start + self.offset
        return due - self.tolerance, due + self.tolerance


@dataclass(frozen=True, slots=True)
class PatrolPlan:
    route: str
    checkpoints: tuple[Checkpoint, ...]
    starts: tuple[dt.time, ...]  # daily local start times, e.g. 22:00 and 02:00
    tz: str = DEFAULT_TZ
    ordered: bool = True  # checkpoints must be visited in the listed order
    guards: frozenset[str] = frozenset()  # badge credentials; empty: any badge
    open_before: float = 300.0  # a round accepts scans this long before its start
    late_grace: float = 600.0  # after the last window closes, late scans still count
    guard_inactive_after: float | None = None  # seconds without a scan; None: off

    @property
    def span(self) -> float:
        """Seconds from a round's start to its end."""
        return max(c.offset + c.tolerance for c in self.checkpoints) + self.late_grace

    def by_tag(self) -> dict[str, int]:
        return {c.tag: i for i, c in enumerate(self.checkpoints)}

    def round_starts(self, t_from: float, t_to: float) -> list[float]:
        """Unix start times of the rounds starting in [t_from, t_to], ascending."""
        zone = ZoneInfo(self.tz)
        day = dt.datetime.fromtimestamp(t_from, zone).date() - dt.timedelta(days=1)
        last = dt.datetime.fromtimestamp(t_to, zone).date() + dt.timedelta(days=1)
        out: list[float] = []
        while day <= last:
            for t in self.starts:
                ts = dt.datetime.combine(day, t, tzinfo=zone).timestamp()
                if t_from <= ts <= t_to:
                    out.append(ts)
            day += dt.timedelta(days=1)
        return sorted(out)

    def next_start(self, after: float) -> float:
        """The first round start at or after `after` (Unix seconds)."""
        found = self.round_starts(after, after + 2 * DAY)
        if not found:  # cannot happen with at least one start time a day
            raise ValueError(f"patrol route {self.route}: no round start after {after}")
        return found[0]

    def local_day(self, start: float) -> str:
        """The local calendar day a round belongs to (its start's date), ISO format."""
        return dt.datetime.fromtimestamp(start, ZoneInfo(self.tz)).date().isoformat()


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected seconds as a number, got {value!r}")
    f = float(value)
    if not math.isfinite(f) or f < 0:
        raise ValueError(f"{where}: seconds must be finite and >= 0, got {value!r}")
    return f


def _time(value: Any, where: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: start time {value!r} is not HH:MM[:SS]") from None


def parse_plan(raw: Mapping[str, Any], tz: str = DEFAULT_TZ) -> PatrolPlan:
    """One route from the site file; a clear error names the route and field at fault."""
    route = raw.get("route")
    if not isinstance(route, str) or not route:
        raise ValueError(f"patrol plan: 'route' must be a non-empty string, got {route!r}")
    where = f"patrol route {route}"
    known = {
        "route", "checkpoints", "starts", "tz", "ordered", "guards",
        "open_before", "late_grace", "guard_inactive_after",
    }  # fmt: skip
    extra = sorted(set(raw) - known)
    if extra:
        raise ValueError(f"{where}: unknown field(s) {extra}")
    zone = raw.get("tz", tz)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{where}: unknown time zone {zone!r}") from None
    cps_raw = raw.get("checkpoints")
    if not isinstance(cps_raw, list) or not cps_raw:
        raise ValueError(f"{where}: 'checkpoints' must be a non-empty list")
    cps: list[Checkpoint] = []
    for n, c in enumerate(cps_raw, 1):
        cw = f"{where} checkpoint #{n}"
        if not isinstance(c, Mapping) or not isinstance(c.get("id"), str) or not c["id"]:
            raise ValueError(f"{cw}: needs a non-empty string 'id'")
        cw = f"{cw} ({c['id']})"
        tag = c.get("tag", c["id"])
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"{cw}: 'tag' must be a non-empty string")
        cps.append(
            Checkpoint(
                id=c["id"],
                tag=tag,
                offset=_seconds(c.get("offset"), f"{cw} offset"),
                tolerance=_seconds(c.get("tolerance", 0.0), f"{cw} tolerance"),
            )
        )
    for attr in ("id", "tag"):
        seen: set[str] = set()
        for c in cps:
            v = getattr(c, attr)
            if v in seen:
                raise ValueError(f"{where}: checkpoint {attr} {v!r} appears twice")
            seen.add(v)
    ordered = raw.get("ordered", True)
    if not isinstance(ordered, bool):
        raise ValueError(f"{where}: 'ordered' must be true or false")
    if ordered:
        for a, b in itertools.pairwise(cps):
            if b.offset < a.offset:
                raise ValueError(
                    f"{where}: ordered route, but checkpoint {b.id} is due before {a.id}"
                )
    starts_raw = raw.get("starts")
    if not isinstance(starts_raw, list) or not starts_raw:
        raise ValueError(f"{where}: 'starts' must be a non-empty list of HH:MM times")
    starts = tuple(sorted({_time(s, f"{where} starts") for s in starts_raw}))
    guards = raw.get("guards", [])
    if not isinstance(guards, list) or not all(isinstance(g, str) and g for g in guards):
        raise ValueError(f"{where}: 'guards' must be a list of badge credentials")
    inactive = raw.get("guard_inactive_after")
    plan = PatrolPlan(
        route=route,
        checkpoints=tuple(cps),
        starts=starts,
        tz=zone,
        ordered=ordered,
        guards=frozenset(guards),
        open_before=_seconds(raw.get("open_before", 300.0), f"{where} open_before"),
        late_grace=_seconds(raw.get("late_grace", 600.0), f"{where} late_grace"),
        guard_inactive_after=(
            None if inactive is None else _seconds(inactive, f"{where} guard_inactive_after")
        ),
    )
    if plan.guard_inactive_after == 0:
        raise ValueError(f"{where}: guard_inactive_after must be > 0 (or absent)")
    # Rounds of one route must not overlap: a scan then could belong to two of them.
    gaps = _start_gaps(starts)
    need = plan.open_before + plan.span
    if need >= min(gaps):
        raise ValueError(
            f"{where}: a round lasts {need:g} s (open_before + last window + late_grace) "
            f"but starts are only {min(gaps):g} s apart; rounds would overlap"
        )
    return plan


def _start_gaps(starts: Sequence[dt.time]) -> list[float]:
    secs = [t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6 for t in starts]
    if len(secs) == 1:
        return [DAY]
    return [b - a for a, b in itertools.pairwise(secs)] + [secs[0] + DAY - secs[-1]]


def parse_plans(raw: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> list[PatrolPlan]:
    """`{"tz": ..., "routes": [...]}` or a bare list of routes; route names are unique."""
    if isinstance(raw, Mapping):
        tz = raw.get("tz", DEFAULT_TZ)
        routes = raw.get("routes")
        if not isinstance(routes, list):
            raise ValueError("patrol plans: 'routes' must be a list")
    else:
        tz, routes = DEFAULT_TZ, list(raw)
    plans = [parse_plan(r, tz) for r in routes]
    names = [p.route for p in plans]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"patrol plans: route(s) {dup} defined twice")
    return plans
