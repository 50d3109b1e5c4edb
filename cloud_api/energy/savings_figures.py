"""A contract's savings as the API shows them (GET /v1/contracts/{id}/savings) and the
monthly energy report quotes them: the store's hourly energy of the contract's meters over
its baseline and reporting periods, through contract_savings (savings.py), with the
avoided kgce, CO2 and cost at each month's own factors.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from typing import Any

import numpy as np

from cloud_api.energy.budgets import hourly_temperature, temperature_series
from cloud_api.energy.savings import HourlySeries, contract_savings
from cloud_api.energy.service import (
    Scope,
    convert,
    factor_dict,
    hourly_energy,
    quarter_energy,
    require_whole_hours,
    scope_meters,
)


class NothingToReport(ValueError):
    """The contract cannot show savings yet (its reporting period has not begun, or no
    meter matches its scope); the API answers 409 with this message."""


def savings_figures(
    db: sqlite3.Connection, config, contract_id: str, body: Any, now: float
) -> dict:
    """The savings of contract `contract_id` as of `now`; `body` is the validated
    contract (routers/contracts.py ContractIn: site, building, meters, baseline and
    reporting with .first and .to)."""
    calendar = config.calendar(body.site)
    today = calendar.day_of(now)
    report_to = min(body.reporting.to or today, today + timedelta(days=1))
    if report_to <= body.reporting.first:
        raise NothingToReport(
            f"the reporting period starts {body.reporting.first}: nothing to report yet"
        )
    scope = Scope(body.site, body.building, body.meters)
    meters = scope_meters(db, scope)
    if not meters:
        raise NothingToReport(f"no meters match {scope.describe()}")
    ids = [m.series_id for m in meters]
    temp_id = temperature_series(db, config, body.site, body.building)
    periods = []
    for first, last in (
        (body.baseline.first, body.baseline.to),
        (body.reporting.first, report_to),
    ):
        start, end = calendar.day_bounds(first)[0], calendar.day_bounds(last)[0]
        require_whole_hours(calendar, start, end)
        hourly = hourly_energy(db, ids, start, end)
        hod, day_type, ordinal = calendar.hour_features(hourly.hour_start)
        temperature = hourly_temperature(db, temp_id, hourly.hour_start)
        periods.append(
            (
                hourly,
                HourlySeries(
                    hourly.hour_start,
                    np.where(hourly.measured, hourly.kwh, np.nan),
                    day_type,
                    hod,
                    ordinal,
                    temperature,
                ),
            )
        )
    quarters = quarter_energy(db, config, ids, start, end)  # the reporting period's
    result = contract_savings(periods[0][1], periods[1][1])
    reporting_hourly = periods[1][0]
    figures = convert(config, calendar, reporting_hourly.hour_start, reporting_hourly.kwh, quarters)
    month_of: dict[str, list[int]] = {}
    for i, ordinal in enumerate(periods[1][1].day_ordinal):
        d = date.fromordinal(int(ordinal))
        month_of.setdefault(f"{d.year:04d}-{d.month:02d}", []).append(i)
    rows = []
    for row in [*result.months, *([result.total] if result.total else [])]:
        idx = np.array(month_of.get(row.label, range(len(reporting_hourly))), dtype=int)
        rows.append(_row_dict(row, figures, idx))
    fit = result.baseline
    return {
        "contract": contract_id,
        "ok": result.ok,
        "verdict": result.verdict,
        "confidence": result.confidence,
        "baseline_period": {
            "from": body.baseline.first.isoformat(),
            "to": body.baseline.to.isoformat(),
        },
        "reporting_period": {
            "from": body.reporting.first.isoformat(),
            "to": report_to.isoformat(),
        },
        "fit": {
            "ok": fit.ok,
            "verdict": fit.verdict,
            "cv_rmse": fit.cv_rmse,
            "nmbe": fit.nmbe,
            "n": fit.n,
            "p": fit.p,
            "missing_share": fit.missing_share,
            "uses_temperature": fit.uses_temperature,
            "notes": list(fit.notes),
        },
        "months": rows[: len(result.months)],
        "total": rows[-1] if result.total else None,
        "excluded_days": [
            {"day": e.day.isoformat(), "reason": e.reason} for e in result.excluded_days
        ],
        "notes": list(result.notes),
        "factors": [factor_dict(f) for f in figures.factors],
        "meters": [{"series_id": m.series_id, "device": m.device} for m in meters],
    }


def _row_dict(row, figures, idx: np.ndarray) -> dict:
    """A savings row in kWh, and in kgce, CO2 and cost at the month's own factors."""
    kwh = float(figures.kwh[idx].sum()) if len(idx) else 0.0
    per_kwh = {
        name: (float(values[idx].sum()) / kwh if kwh > 0 else None)
        for name, values in (
            ("kgce", figures.kgce),
            ("co2_kg", figures.co2),
            ("cost", figures.cost),
        )
        if values is not None
    }
    out = {
        "month": row.label,
        "adjusted_baseline_kwh": row.adjusted_baseline,
        "actual_kwh": row.actual,
        "avoided_kwh": row.avoided,
        "uncertainty_kwh": row.uncertainty,
        "fraction": row.fraction,
        "days": row.days,
    }
    for name in ("kgce", "co2_kg", "cost"):
        rate = per_kwh.get(name)
        out[f"avoided_{name}"] = None if rate is None else row.avoided * rate
    return out
