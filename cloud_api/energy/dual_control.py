"""Dual control (能耗双控): a building's yearly total and intensity against its quotas.

Three figures per building and local year, each forecast to the year's end the way a
yearly budget is (budgets.py: used so far plus the baseline model for the rest):
- total comprehensive energy use, kgce, against `total_kgce`;
- intensity kgce per m2 of floor area, against `kgce_per_m2`;
- intensity kWh per m2, against `kwh_per_m2`.
Quotas come from the energy configuration, each with the source it was taken from
(DB33/T 736-style 定额; Steward ships no quota value). A figure without a quota, or an
intensity without the building's area, is shown without a colour and says why.
Colours as for budgets: red when the forecast or the use reaches the quota, yellow at
`threshold` (90 %) of it, else green.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from cloud_api.energy.budgets import Budget, Evaluation, FitCache, evaluate


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    used: float | None  # None: an intensity without the building's area
    forecast: float | None
    quota: float | None
    colour: str | None
    reason: str | None


def dual_control(
    db: sqlite3.Connection,
    config,
    site: str,
    building: str,
    at: float,
    threshold: float = 0.9,
    fits: FitCache | None = None,
    year: int | None = None,
) -> dict:
    """The figures of `year` (default: the local year holding `at`) as they stand at `at`;
    for a year that has ended, pass its end as `at` (which is the next year's first
    instant: hence `year`)."""
    calendar = config.calendar(site)
    year = calendar.day_of(at).year if year is None else year
    year_start = calendar.year_bounds(year)[0]
    info = config.building(site, building)
    area = None if info is None else info.area_m2
    quota = config.quota(site, building, year)
    figures = []
    sources: dict[str, str | None] = {}
    by_unit: dict[str, Evaluation] = {}
    for name, unit, per_area, limit_name in (
        ("total", "kgce", False, "total_kgce"),
        ("intensity", "kgce", True, "kgce_per_m2"),
        ("intensity", "kWh", True, "kwh_per_m2"),
    ):
        given = None if quota is None else getattr(quota, limit_name, None)
        limit = None if given is None else given.value
        sources[limit_name] = None if given is None else given.source
        if unit not in by_unit:
            # The amount only decides the colour, computed here against the quota.
            probe = Budget(
                f"dual-control:{building}", site, building, {}, "year", 1.0, unit, threshold
            )  # type: ignore[arg-type]
            by_unit[unit] = evaluate(db, config, probe, at, fits, period_at=year_start)
        e = by_unit[unit]
        divide = 1.0
        reason = None
        if per_area:
            if not area:
                figures.append(
                    Figure(
                        f"{unit.lower()}_per_m2",
                        f"{unit}/m2",
                        None,
                        None,
                        limit,
                        None,
                        "the building's area_m2 is not configured",
                    )
                )
                continue
            divide = area
        used = e.status.used / divide
        forecast = None if e.status.forecast is None else e.status.forecast / divide
        if limit is None:
            colour, reason = None, f"no {limit_name} quota configured for {year}"
        else:
            worst = max(used, forecast if forecast is not None else used)
            colour = (
                "red" if worst >= limit else "yellow" if worst >= threshold * limit else "green"
            )
            if forecast is None:
                reason = f"colour from use only: {e.model_reason or 'no forecast'}"
        label = "total_kgce" if name == "total" else f"{unit.lower()}_per_m2"
        figures.append(
            Figure(
                label,
                unit if name == "total" else f"{unit}/m2",
                used,
                forecast,
                limit,
                colour,
                reason,
            )
        )
    kgce = by_unit["kgce"]
    return {
        "site": site,
        "building": building,
        "year": year,
        "area_m2": area,
        "quota_sources": sources,
        "figures": [f.__dict__ for f in figures],
        "fit": None
        if kgce.model is None
        else {
            "ok": kgce.model.ok,
            "verdict": kgce.model.verdict,
            "cv_rmse": kgce.model.cv_rmse,
            "nmbe": kgce.model.nmbe,
        },
        "factors": kgce.factors,
    }
