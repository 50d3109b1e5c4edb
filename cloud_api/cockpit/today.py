"""A building's energy of one local day, as GET /v1/energy gives it for that day.

The same steps as routers/energy.py, through the same functions of
cloud_api/energy/service.py (the main meters, the ledger's 1-hour buckets, the tariff's
15-min buckets when it needs them, the conversions), summed the way its day rows are
summed, so the cockpit's figure is the energy endpoint's to the last bit.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from cloud_api.energy.service import (
    Meter,
    Scope,
    UnsupportedZoneError,
    currency_of,
    require_whole_hours,
    span_energy,
)


@dataclass(frozen=True)
class DayEnergy:
    figures: dict | None  # kwh, kgce, co2_kg, cost, measured_share, currency, cost_note
    reason: str | None  # why figures is None


def _total(values: np.ndarray) -> float:
    # /v1/energy sums a day's hours with np.bincount: the same here gives the same float
    # (np.sum adds pairwise, which may differ in the last bit).
    return float(np.bincount(np.zeros(len(values), np.int64), weights=values, minlength=1)[0])


def day_energy(
    db: sqlite3.Connection, config, site: str, building: str, meters: list[Meter], day: date
) -> DayEnergy:
    """The building's energy over the local `day` (`meters`: its main meters, as
    scope_meters(Scope(site, building)) chose them)."""
    if not meters:  # /v1/energy answers 404 here: unknown, not 0 kWh
        return DayEnergy(None, f"no meters match {Scope(site, building).describe()}")
    calendar = config.calendar(site)
    start = calendar.day_bounds(day)[0]
    end = calendar.day_bounds(day + timedelta(days=1))[0]
    try:
        require_whole_hours(calendar, start, end)
    except UnsupportedZoneError as exc:
        return DayEnergy(None, str(exc))
    hourly, converted = span_energy(db, config, calendar, [m.series_id for m in meters], start, end)
    hours = len(hourly)
    measured = _total(hourly.measured.astype(float))
    return DayEnergy(
        {
            "kwh": _total(converted.kwh),
            "kgce": _total(converted.kgce),
            "co2_kg": _total(converted.co2),
            "cost": None if converted.cost is None else _total(converted.cost),
            "measured_share": measured / hours if hours else 0.0,
            "currency": currency_of(config),
            "cost_note": converted.cost_note,
        },
        None,
    )
