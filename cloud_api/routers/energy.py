"""Energy by local day or month: kWh, kgce, CO2, cost, per m2 and per person.

GET /v1/energy?site&building&system&from&to&step=day|week|month
- site (required), building (default: every building of the site), system (a meter group:
  the meters tagged `system: <value>`; default: the building's main meters, see
  cloud_api/energy/service.py for how no kWh is counted twice);
- from, to: local dates (YYYY-MM-DD) in the site's time zone, `to` excluded; default: the
  local month so far;
- step: day (default), week (ISO, Monday first) or month.
A scope no meter matches (a misspelt building, a system without sub-meters) is a 404:
its energy is unknown, not 0 kWh.
Each row says how much of it was measured (`measured_share`: hours in which every meter
read and nothing was spread over a gap) and whether it is still running (`complete`).
The answer names the factor versions used (coal, CO2, tariff) and the meters summed.
Energy held out by the counter ledger (an implausible jump waiting for review) is not in
the figures; `held_out_kwh` says how much.

GET /v1/energy/balance?site&building&from&to
- the main meter against its sub-meters (tags `system`, `parent`): accounted and
  unaccounted kWh, the share, by system, green/yellow against `balance_threshold`
  (default: yesterday, local).

GET /v1/dual-control?site&building&year
- the building's yearly total (kgce) and its intensities (kgce/m2, kWh/m2) against the
  configured quotas, each with its colour (see cloud_api/energy/dual_control.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from cloud_api.auth import require_permission
from cloud_api.body_types import FIRST_DAY, LAST_DAY, Name
from cloud_api.clock import request_now
from cloud_api.energy.balance import building_balance
from cloud_api.energy.dual_control import dual_control
from cloud_api.energy.service import (
    Scope,
    currency_of,
    factor_dict,
    require_whole_hours,
    scope_meters,
    span_energy,
)
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["energy"], dependencies=[Depends(require_permission("read"))])
MAX_DAYS = 3 * 366


def _local_date(name: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            422, detail=f"{name}: expected a local date YYYY-MM-DD, got {text!r}"
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise HTTPException(422, detail=f"{name}: {day} is outside {FIRST_DAY} .. {LAST_DAY}")
    return day


@router.get("/v1/energy", summary="Energy by local day or month")
def energy(
    request: Request,
    site: Name,
    building: Name | None = None,
    system: Name | None = None,
    from_: Annotated[str | None, Query(alias="from", description="local date")] = None,
    to: Annotated[str | None, Query(description="local date, excluded")] = None,
    step: Literal["day", "week", "month"] = "day",
) -> JSONResponse:
    config = request.app.state.energy_config
    calendar = config.calendar(site)
    now = request_now(request)
    today = calendar.day_of(now)
    first = _local_date("from", from_) or today.replace(day=1)
    last = _local_date("to", to) or today + timedelta(days=1)
    if last <= first:
        raise HTTPException(422, detail=f"to ({last}) must be after from ({first})")
    if (last - first).days > MAX_DAYS:
        raise HTTPException(
            422, detail=f"from .. to spans {(last - first).days} days; at most {MAX_DAYS}"
        )
    start, end = calendar.day_bounds(first)[0], calendar.day_bounds(last)[0]
    require_whole_hours(calendar, start, end)
    scope = Scope(site, building, {"system": system} if system else {})
    with sqlite_store(request.app.state.store).reading() as db:
        meters = scope_meters(db, scope)
        if not meters:  # nothing measures it: unknown, not 0 kWh
            raise HTTPException(404, detail=f"no meters match {scope.describe()}")
        hourly, figures = span_energy(
            db, config, calendar, [m.series_id for m in meters], start, end
        )
    ordinals = calendar.hour_features(hourly.hour_start)[2] if len(hourly) else np.zeros(0, int)
    keys, labels = _buckets(ordinals, first, last, step)
    n = len(labels)

    def total(values: np.ndarray | None) -> np.ndarray | None:
        if values is None:
            return None
        return np.bincount(keys, weights=values, minlength=n)

    kwh, kgce, co2, cost = (
        total(v) for v in (figures.kwh, figures.kgce, figures.co2, figures.cost)
    )
    hours = np.bincount(keys, minlength=n)
    measured = np.bincount(keys, weights=hourly.measured.astype(float), minlength=n)
    info = _place(config, site, building, {m.building for m in meters})
    rows = []
    for i, (label, (_, b_end)) in enumerate(labels):
        row = {
            "start": label,
            "kwh": float(kwh[i]),
            "kgce": float(kgce[i]),
            "co2_kg": float(co2[i]),
            "cost": None if cost is None else float(cost[i]),
            "measured_share": float(measured[i] / hours[i]) if hours[i] else 0.0,
            "complete": calendar.day_bounds(b_end)[0] <= now,
        }
        row.update(_intensity(info, row))
        rows.append(row)
    totals = {
        "kwh": float(kwh.sum()),
        "kgce": float(kgce.sum()),
        "co2_kg": float(co2.sum()),
        "cost": None if cost is None else float(cost.sum()),
    }
    totals.update(_intensity(info, totals))
    return JSONResponse(
        {
            "site": site,
            "building": building,
            "system": system,
            "timezone": calendar.tz,
            "step": step,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "area_m2": info[0],
            "occupants": info[1],
            "rows": rows,
            "total": totals,
            "held_out_kwh": hourly.held_out,
            "factors": [factor_dict(f) for f in figures.factors],
            "currency": currency_of(config),
            "cost_note": figures.cost_note,
            "meters": [
                {"series_id": m.series_id, "building": m.building, "device": m.device}
                for m in meters
            ],
        }
    )


def _buckets(
    ordinals: np.ndarray, first: date, last: date, step: str
) -> tuple[np.ndarray, list[tuple[str, tuple[date, date]]]]:
    """Each hour's bucket index, and the buckets' labels with their [first, last) days."""
    base = first.toordinal()
    if step == "day":
        days = [first + timedelta(days=i) for i in range((last - first).days)]
        labels = [(d.isoformat(), (d, d + timedelta(days=1))) for d in days]
        return (ordinals - base).astype(np.int64), labels
    # Weeks are ISO weeks (Monday first, labelled "2026-W10"); months calendar months.
    # A bucket cut by `from` or `to` holds only the days inside them.
    spans: list[tuple[str, date, date]] = []
    if step == "week":
        d = first - timedelta(days=first.weekday())
        while d < last:
            year, week, _ = d.isocalendar()
            spans.append((f"{year:04d}-W{week:02d}", d, d + timedelta(days=7)))
            d += timedelta(days=7)
    else:
        d = first.replace(day=1)
        while d < last:
            following = (d + timedelta(days=32)).replace(day=1)
            spans.append((f"{d.year:04d}-{d.month:02d}", d, following))
            d = following
    index_of_day = np.empty((last - first).days, dtype=np.int64)
    labels = []
    for i, (label, lo, hi) in enumerate(spans):
        lo, hi = max(first, lo), min(last, hi)
        index_of_day[lo.toordinal() - base : hi.toordinal() - base] = i
        labels.append((label, (lo, hi)))
    return index_of_day[(ordinals - base).astype(np.int64)], labels


def _place(
    config, site: str, building: str | None, summed: set[str]
) -> tuple[float | None, float | None]:
    """Area and occupants of the building, or summed over the buildings whose meters are
    summed (`summed`; without meters, the site's configured buildings). None when any of
    them is unknown: a partial sum would inflate the intensity."""
    if building is not None:
        info = config.building(site, building)
        if info is None:
            return None, None
        return info.area_m2, info.occupants
    names = summed or {i.building for i in config.buildings(site)}
    if not names:
        return None, None
    infos = [config.building(site, name) for name in sorted(names)]
    areas = [None if i is None else i.area_m2 for i in infos]
    people = [None if i is None else i.occupants for i in infos]
    return (
        None if None in areas else float(sum(areas)),  # type: ignore[arg-type]
        None if None in people else float(sum(people)),  # type: ignore[arg-type]
    )


def _intensity(info: tuple[float | None, float | None], row: dict) -> dict:
    area, people = info
    out = {}
    for name, size in (("m2", area), ("person", people)):
        for what in ("kwh", "kgce"):
            out[f"{what}_per_{name}"] = row[what] / size if size else None
    return out


@router.get("/v1/dual-control", summary="A building's yearly total and intensity vs quotas")
def dual_control_status(
    request: Request,
    site: Name,
    building: Name,
    year: Annotated[int | None, Query(ge=2000, le=2099, description="default: this year")] = None,
) -> JSONResponse:
    config = request.app.state.energy_config
    calendar = config.calendar(site)
    now = request_now(request)
    at = now
    if year is not None and year != calendar.day_of(now).year:
        # a past year: as it ended; a future one has nothing to show yet
        at = min(now, calendar.year_bounds(year)[1])
        if at <= calendar.year_bounds(year)[0]:
            raise HTTPException(422, detail=f"year: {year} has not started")
    with sqlite_store(request.app.state.store).reading() as db:
        return JSONResponse(
            dual_control(
                db, config, site, building, at, fits=request.app.state.fit_cache, year=year
            )
        )


@router.get("/v1/energy/balance", summary="Main meter against its sub-meters")
def energy_balance(
    request: Request,
    site: Name,
    building: Name,
    from_: Annotated[str | None, Query(alias="from", description="local date")] = None,
    to: Annotated[str | None, Query(description="local date, excluded")] = None,
) -> JSONResponse:
    config = request.app.state.energy_config
    calendar = config.calendar(site)
    today = calendar.day_of(request_now(request))
    first = _local_date("from", from_) or today - timedelta(days=1)
    last = _local_date("to", to) or first + timedelta(days=1)
    if last <= first:
        raise HTTPException(422, detail=f"to ({last}) must be after from ({first})")
    start, end = calendar.day_bounds(first)[0], calendar.day_bounds(last)[0]
    require_whole_hours(calendar, start, end)
    with sqlite_store(request.app.state.store).reading() as db:
        out = building_balance(db, config, site, building, start, end)
    return JSONResponse({**out, "from": first.isoformat(), "to": last.isoformat()})
