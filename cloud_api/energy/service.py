"""From the store to the energy maths: which meters a scope means, their hourly energy,
and the conversions of kWh into kgce, CO2 and cost. The routers call this; the maths
itself is in edge.energy (ledger, factors, tariffs, calendar) and this package
(baseline, budget_status, savings).

A scope is a site, optionally one building, optionally a meter group named by tags
(`{"system": "hvac"}`). Its meters are the devices' `energy_import` counter series:
- a whole building: its main meters (tag `system: main`); without one, every meter
  that no other meter of the building feeds (`parent` absent or not a meter here);
- a group: the meters whose tags match, less those fed by another matching meter (a
  sub-meter's energy is already in its parent's).
So no kWh is counted twice.

Hourly energy comes from the ledger's 1-hour buckets (`energy`, step 3600): what was
booked, spread over the hours between readings. An hour is *measured* when every meter
of the scope has a reading in it or booked energy not spread over a gap; the baseline
models fit on measured hours only, while totals count everything booked (energy spread
over a gap was used; only when it was used is uncertain).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from edge.energy import Flag

ENERGY_POINT = "energy_import"
HOUR = 3600
KWH_PER_UNIT = {"Wh": 0.001, "kWh": 1.0, "MWh": 1000.0}  # an energy meter's unit in kWh
# A scope's rows are a few series' buckets over a span of time. The tables' primary keys
# are time-major (ingest writes every series' current bucket side by side), so without a
# hint SQLite walks every series' buckets of the span (350,000 rows for a year of 40
# series, to keep 8,760) instead of the per-series index: measured 86 -> ~40 ms for one
# series. For many series the index costs a sort for the GROUP BY and the time-major scan
# wins (30 of 40 series: 166 ms plain, 393 ms with the hint, bench/README.md): hint only
# for scopes of up to FEW_SERIES.
ENERGY_BY_SERIES = "energy INDEXED BY energy_by_series"
ROLLUPS_BY_SERIES = "rollups INDEXED BY rollups_by_series"
FEW_SERIES = 8
_SPREAD_OVER_GAP = int(Flag.GAP | Flag.GAP_HELD)
_FLAGS_UNION = " | ".join(f"MAX(flags & {int(bit)})" for bit in Flag)
QUARTER = 900


class UnsupportedZoneError(ValueError):
    """The site's time zone is not a whole number of hours from UTC somewhere in the
    interval: the energy figures are built from UTC hours, so a local day would take
    half an hour of the next (answered 422, naming the zone)."""


def require_whole_hours(calendar, start: float, end: float) -> None:
    """Refuse an interval in which the site's zone is off UTC by a part of an hour."""
    zone = ZoneInfo(calendar.tz)
    # Offsets change at most a few times a year: look at each day's start and the end.
    for ts in (*np.arange(start, end, 86400.0), end):
        offset = datetime.fromtimestamp(float(ts), zone).utcoffset()
        if offset is not None and offset.total_seconds() % HOUR:
            raise UnsupportedZoneError(
                f"time zone {calendar.tz} is UTC{offset.total_seconds() / HOUR:+g} h on"
                f" {datetime.fromtimestamp(float(ts), zone).date()}: Steward's energy figures"
                " are built from whole UTC hours and need a zone whose offset is whole hours"
            )


@dataclass(frozen=True)
class Scope:
    site: str
    building: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        where = self.site if self.building is None else f"{self.site}/{self.building}"
        if self.tags:
            where += " " + ",".join(f"{k}={v}" for k, v in sorted(self.tags.items()))
        return where


@dataclass(frozen=True)
class Meter:
    series_id: int
    building: str
    device: str
    tags: Mapping[str, str]


def scope_meters(db: sqlite3.Connection, scope: Scope) -> list[Meter]:
    """The meters whose energy makes up `scope`, none counted twice (see the module doc)."""
    sql = (
        "SELECT id, building, device, tags FROM series WHERE site=? AND point=? AND kind='counter'"
    )
    args: list = [scope.site, ENERGY_POINT]
    if scope.building is not None:
        sql += " AND building=?"
        args.append(scope.building)
    rows = db.execute(sql + " ORDER BY building, device", args).fetchall()
    meters = [Meter(r[0], r[1], r[2], orjson.loads(r[3])) for r in rows]
    by_building: dict[str, list[Meter]] = {}
    for m in meters:
        by_building.setdefault(m.building, []).append(m)
    chosen: list[Meter] = []
    for group in by_building.values():
        chosen.extend(_pick(group, scope.tags))
    return chosen


def _pick(meters: list[Meter], tags: Mapping[str, str]) -> list[Meter]:
    devices = {m.device: m for m in meters}
    if tags:
        matched = [m for m in meters if all(m.tags.get(k) == v for k, v in tags.items())]
        names = {m.device for m in matched}
        return [m for m in matched if not _fed_by(m, names, devices)]
    mains = [m for m in meters if m.tags.get("system") == "main"]
    if mains:
        return mains
    return [m for m in meters if m.tags.get("parent") not in devices]


def _fed_by(meter: Meter, names: set[str], devices: Mapping[str, Meter]) -> bool:
    """Whether a meter among `names` feeds `meter`, directly or further up."""
    seen: set[str] = set()
    parent = meter.tags.get("parent")
    while parent is not None and parent not in seen:
        if parent in names:
            return True
        seen.add(parent)
        up = devices.get(parent)
        parent = None if up is None else up.tags.get("parent")
    return False


@dataclass(frozen=True)
class Hourly:
    """Energy of a scope per hour over [start, end): every hour present, in order."""

    hour_start: np.ndarray  # float64 epoch seconds
    kwh: np.ndarray  # booked, 0 where nothing was booked
    measured: np.ndarray  # bool: every meter read in the hour, nothing spread over a gap
    held_out: float  # kWh seen but not booked (implausible jumps, long gaps): for review
    flags: int  # edge.energy.Flag bits seen in the interval

    def __len__(self) -> int:
        return len(self.hour_start)


def hourly_energy(
    db: sqlite3.Connection, series_ids: Sequence[int], start: float, end: float
) -> Hourly:
    """The scope's hourly energy in kWh over [start, end) (start and end on whole hours)."""
    first = int(start // HOUR) * HOUR
    hours = np.arange(first, end, HOUR, dtype=np.float64)
    kwh = np.zeros(len(hours))
    covered = np.zeros(len(hours), dtype=np.int64)
    gap = np.zeros(len(hours), dtype=bool)
    if not series_ids or not len(hours):
        return Hourly(hours, kwh, np.zeros(len(hours), dtype=bool), 0.0, 0)
    marks = ",".join("?" * len(series_ids))
    span = (first, end)
    held = 0.0
    flags = 0
    for scale, ids in by_scale(db, series_ids).items():
        group = ",".join("?" * len(ids))
        # SQLite has no bitwise-or aggregate: OR the MAX of each bit (a handful of bits).
        rows = db.execute(
            f"SELECT bucket_start, SUM(booked), SUM(held_out), {_FLAGS_UNION}"
            f" FROM {ENERGY_BY_SERIES if len(ids) <= FEW_SERIES else 'energy'}"
            f" WHERE step={HOUR} AND bucket_start >= ?"
            f" AND bucket_start < ? AND series_id IN ({group}) GROUP BY bucket_start",
            (*span, *ids),
        ).fetchall()
        if not rows:
            continue
        table = np.array(rows, dtype=np.float64)
        index = ((table[:, 0] - first) // HOUR).astype(np.int64)
        kwh[index] += table[:, 1] * scale
        held += float(table[:, 2].sum()) * scale
        bits = table[:, 3].astype(np.int64)
        flags |= int(np.bitwise_or.reduce(bits))
        gap[index] |= (bits & _SPREAD_OVER_GAP) != 0
    counts = db.execute(
        "SELECT bucket_start, COUNT(*) FROM"
        f" {ROLLUPS_BY_SERIES if len(series_ids) <= FEW_SERIES else 'rollups'} WHERE step={HOUR}"
        f" AND bucket_start >= ? AND bucket_start < ? AND series_id IN ({marks})"
        " GROUP BY bucket_start",
        (*span, *series_ids),
    ).fetchall()
    if counts:
        table = np.array(counts, dtype=np.float64)
        covered[((table[:, 0] - first) // HOUR).astype(np.int64)] = table[:, 1]
    measured = (covered >= len(series_ids)) & ~gap
    return Hourly(hours, kwh, measured, held, flags)


def by_scale(db: sqlite3.Connection, series_ids: Sequence[int]) -> dict[float, list[int]]:
    """Meters count in their own unit (Wh, kWh, MWh): the series grouped by what one of
    their units is in kWh, so each group is summed in SQL and then scaled."""
    marks = ",".join("?" * len(series_ids))
    groups: dict[float, list[int]] = {}
    for series_id, unit in db.execute(
        f"SELECT id, unit FROM series WHERE id IN ({marks})", tuple(series_ids)
    ):
        groups.setdefault(KWH_PER_UNIT.get(unit, 1.0), []).append(series_id)
    return groups


def first_reading(db: sqlite3.Connection, series_ids: Sequence[int]) -> float | None:
    """When the scope's first meter started reporting (its earliest 1-hour rollup)."""
    if not series_ids:
        return None
    marks = ",".join("?" * len(series_ids))
    (first,) = db.execute(
        f"SELECT MIN(bucket_start) FROM rollups WHERE step={HOUR} AND series_id IN ({marks})",
        tuple(series_ids),
    ).fetchone()
    return None if first is None else float(first)


def per_hour(table, calendar, hour_start: np.ndarray) -> tuple[np.ndarray, list]:
    """A dated factor table's value for each hour (the version valid on the hour's local
    date), and the versions used: FactorTable.convert of one kWh an hour."""
    days = calendar.hour_features(hour_start)[2]
    converted = table.convert(days, np.ones(len(hour_start)))
    return converted.amount, list(converted.versions)


@dataclass(frozen=True)
class Converted:
    """kWh per hour and what they are in kgce, kg CO2 and cost, with the versions used."""

    kwh: np.ndarray
    kgce: np.ndarray
    co2: np.ndarray
    cost: np.ndarray | None  # None: no tariff configured, or none valid on some hours
    factors: list  # edge.energy.factors.Factor / tariff versions, in the order first used
    cost_note: str | None = None  # why cost is None


def quarter_energy(
    db: sqlite3.Connection, config, series_ids: Sequence[int], start: float, end: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The scope's booked kWh per 15-min bucket over [start, end) (bucket start, kWh; the
    buckets with energy), for a tariff with a window boundary inside an hour; None when
    the tariff prices whole hours (or there is none)."""
    if config.tariffs is None or config.tariffs.step_needed() == HOUR:
        return None
    if not series_ids:
        return np.zeros(0), np.zeros(0)
    totals: dict[float, float] = {}
    for scale, ids in by_scale(db, series_ids).items():
        marks = ",".join("?" * len(ids))
        for bucket, booked in db.execute(
            "SELECT bucket_start, SUM(booked) FROM energy WHERE step=? AND bucket_start >= ?"
            f" AND bucket_start < ? AND series_id IN ({marks}) GROUP BY bucket_start",
            (QUARTER, start, end, *ids),
        ):
            totals[bucket] = totals.get(bucket, 0.0) + booked * scale
    buckets = sorted(totals)
    return np.array(buckets, dtype=np.float64), np.array([totals[b] for b in buckets])


def hourly_cost(
    tariffs,
    calendar,
    hours: np.ndarray,
    kwh: np.ndarray,
    quarters: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The cost of each hour's kWh (`hours`: consecutive hour starts).

    A tariff whose windows all start and end on the hour prices whole hours. One with a
    boundary inside an hour prices the hour's 15-min buckets (`quarters`, from
    quarter_energy) each at its own price; without them (a forecast: when in the hour is
    not known) the hour's kWh is taken as used evenly, at the mean of its quarters'
    prices. LookupError when no tariff version covers some day."""
    if tariffs.step_needed() == HOUR:
        return kwh * tariffs.price_per_hour(calendar, hours)[0]
    if not len(hours):
        return np.zeros(0)
    if quarters is None:
        starts = (hours[:, None] + np.arange(0, HOUR, QUARTER)).ravel()
        price = tariffs.prices_at(calendar, starts, QUARTER)[0]
        return kwh * price.reshape(-1, HOUR // QUARTER).mean(axis=1)
    q_start, q_kwh = quarters
    index = ((q_start - hours[0]) // HOUR).astype(np.int64)
    inside = (index >= 0) & (index < len(hours))
    money = q_kwh[inside] * tariffs.prices_at(calendar, q_start[inside], QUARTER)[0]
    return np.bincount(index[inside], weights=money, minlength=len(hours))


def convert(
    config,
    calendar,
    hours: np.ndarray,
    kwh: np.ndarray,
    quarters: tuple[np.ndarray, np.ndarray] | None = None,
) -> Converted:
    """kWh per hour into kgce, CO2 and cost; `quarters` (quarter_energy over the same
    hours) prices a tariff with windows off the hour exactly."""
    coal, coal_used = per_hour(config.coal, calendar, hours)
    co2, co2_used = per_hour(config.co2, calendar, hours)
    cost = None
    tariff_used: list = []
    note = None
    if config.tariffs is not None:
        try:
            cost = hourly_cost(config.tariffs, calendar, hours, kwh, quarters)
            tariff_used = versions_used(config.tariffs, calendar, hours)
        except LookupError as exc:  # no tariff version covers some of the hours
            note = f"no cost: {exc}"
    else:
        note = "no cost: the energy configuration has no tariff"
    return Converted(kwh, kwh * coal, kwh * co2, cost, [*coal_used, *co2_used, *tariff_used], note)


def versions_used(table, calendar, hours: np.ndarray) -> list:
    """The versions of a dated table (factors, tariffs) that cover `hours`, in order."""
    if not len(hours):
        return []
    days = calendar.hour_features(hours)[2]
    used: list = []
    for ordinal in range(int(days.min()), int(days.max()) + 1):
        version = table.at(date.fromordinal(ordinal))
        if not used or used[-1] is not version:
            used.append(version)
    return used


def factor_dict(f: Any) -> dict:
    """A factor or tariff version as the API shows it."""
    out = {"kind": getattr(f, "kind", "tariff"), "version": f.version}
    for name in ("value", "unit", "series", "year", "currency", "source", "example"):
        if hasattr(f, name):
            out[name] = getattr(f, name)
    if hasattr(f, "prices"):
        out["prices"] = dict(f.prices)
    if hasattr(f, "valid_from"):
        out["valid_from"] = f.valid_from.isoformat()
    return out


def span_energy(
    db: sqlite3.Connection, config, calendar, series_ids: Sequence[int], start: float, end: float
) -> tuple[Hourly, Converted]:
    """The meters' hourly energy over [start, end) and what it converts to (kgce, CO2,
    and cost with the tariff's 15-min buckets where it needs them): what /v1/energy, the
    cockpit's today and the monthly report each sum."""
    hourly = hourly_energy(db, series_ids, start, end)
    quarters = quarter_energy(db, config, series_ids, start, end)
    return hourly, convert(config, calendar, hourly.hour_start, hourly.kwh, quarters)


def currency_of(config) -> str | None:
    """The tariffs' currency, None without tariffs or when they name none."""
    return None if config.tariffs is None else getattr(config.tariffs, "currency", None)
