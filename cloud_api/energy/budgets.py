"""A budget's status at an instant: used so far, forecast to the period's end, colour.

The forecast is the scope's baseline model (baseline.py: a day-typed time-of-week model,
with an outdoor-temperature term when the building has a temperature series) fitted on
up to a year of measured hours before the period starts, predicted for the period's
remaining hours. Fitting on the time before the period keeps the forecast what the
building normally does: a month that runs hot does not teach the model to expect it.
Converted into the budget's unit hour by hour (the coal factor of the day, the tariff's
price of the hour), so a kgce or cost budget sees the same kWh as a kWh budget.

A model that does not fit (too little data, CV(RMSE) or NMBE past ASHRAE Guideline 14's
hourly limits) forecasts nothing: the status says why and takes its colour from what
was used only.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from cloud_api.energy.baseline import Baseline, fit_hourly
from cloud_api.energy.budget_status import BudgetStatus, budget_status
from cloud_api.energy.service import (
    HOUR,
    ROLLUPS_BY_SERIES,
    Hourly,
    Scope,
    factor_dict,
    first_reading,
    hourly_cost,
    hourly_energy,
    per_hour,
    quarter_energy,
    require_whole_hours,
    scope_meters,
    versions_used,
)

Period = Literal["month", "year"]
Unit = Literal["kWh", "kgce", "cost"]
TRAINING_DAYS = 365
MIN_TRAINING_DAYS = 14
TEMPERATURE_FORECAST_DAYS = 14  # future hours get the mean of this many days' same hour


@dataclass(frozen=True)
class Budget:
    id: str
    site: str
    building: str | None
    tags: dict[str, str]
    period: Period
    amount: float
    unit: Unit
    threshold: float = 0.9
    name: str = ""

    @property
    def scope(self) -> Scope:
        return Scope(self.site, self.building, self.tags)

    @classmethod
    def from_body(cls, budget_id: str, body: dict[str, Any]) -> Budget:
        return cls(
            budget_id,
            body["site"],
            body.get("building"),
            dict(body.get("meters") or {}),
            body["period"],
            float(body["amount"]),
            body["unit"],
            float(body.get("threshold", 0.9)),
            body.get("name", ""),
        )


def period_bounds(calendar, period: Period, at: float) -> tuple[date, float, float]:
    """The local month or year holding `at`: (its first day, start, end) in epoch s."""
    day = calendar.day_of(at)
    if period == "month":
        start, end = calendar.month_bounds(day.year, day.month)
        return date(day.year, day.month, 1), start, end
    start, end = calendar.year_bounds(day.year)
    return date(day.year, 1, 1), start, end


@dataclass
class FitCache:
    """Fitted models by (meters, training window): a period's forecasts all use the
    same fit, refitted after `ttl` seconds so late data still arrives in it. One per app
    (app.state.fit_cache): series ids mean nothing across store files."""

    ttl: float = 600.0
    _fits: dict[tuple, tuple[float, Baseline]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple) -> Baseline | None:
        with self._lock:
            hit = self._fits.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return None
        return hit[1]

    def put(self, key: tuple, model: Baseline) -> None:
        with self._lock:
            if len(self._fits) > 256:
                self._fits.clear()
            self._fits[key] = (time.monotonic(), model)


@dataclass(frozen=True)
class Evaluation:
    budget: Budget
    period_first_day: date
    period_start: float
    period_end: float
    at: float
    status: BudgetStatus
    model: Baseline | None
    model_reason: str | None
    meters: list[dict]
    used_kwh: float
    held_out_kwh: float
    factors: list[dict]


def evaluate(
    db: sqlite3.Connection,
    config,
    budget: Budget,
    at: float,
    fits: FitCache | None = None,
    period_at: float | None = None,
) -> Evaluation:
    """The budget's status at `at`, for the period holding `period_at` (default `at`; a
    period that has ended is evaluated at its end, which is the next period's start);
    `fits` keeps fitted models between calls."""
    calendar = config.calendar(budget.site)
    first_day, p_start, p_end = period_bounds(
        calendar, budget.period, at if period_at is None else period_at
    )
    require_whole_hours(calendar, p_start - TRAINING_DAYS * 86400.0, p_end)
    meters = scope_meters(db, budget.scope)
    ids = [m.series_id for m in meters]
    now_h = min(max(p_start, float(int(at // HOUR) * HOUR)), p_end)
    used = hourly_energy(db, ids, p_start, now_h)
    used_factor, factors = _unit_per_kwh(config, calendar, budget.unit, used.hour_start)
    used_amount = used.kwh * used_factor
    if budget.unit == "cost":  # what was paid: 15-min buckets where the tariff needs them
        quarters = quarter_energy(db, config, ids, p_start, now_h)
        used_amount = hourly_cost(config.tariffs, calendar, used.hour_start, used.kwh, quarters)

    model, reason = _model(db, config, calendar, budget, ids, p_start, fits or FitCache())
    forecast = None
    if model is not None and model.ok:
        hours = np.arange(now_h, p_end, HOUR, dtype=np.float64)
        kwh, sigma, note = _predict(db, config, calendar, budget, model, hours, now_h)
        if kwh is None:
            reason = note
        else:
            factor, more = _unit_per_kwh(config, calendar, budget.unit, hours)
            factors += [f for f in more if f not in factors]
            forecast = (hours, kwh * factor, sigma * factor)
            reason = note
    day_bounds = [(calendar.day_of(s), s, e) for s, e in _days(calendar, p_start, p_end)]
    status = budget_status(
        period_start=p_start,
        period_end=p_end,
        now=now_h,
        day_bounds=day_bounds,
        used_by_hour=(used.hour_start, used_amount),
        forecast_by_hour=forecast,
        budget=budget.amount,
        threshold=budget.threshold,
        model_verdict=reason or (model.verdict if model is not None else "no baseline model"),
        unit=budget.unit,
        degrees_of_freedom=(
            max(model.n_days - model.p_days, 1) if forecast is not None else np.inf
        ),
    )
    return Evaluation(
        budget,
        first_day,
        p_start,
        p_end,
        at,
        status,
        model,
        reason,
        [{"series_id": m.series_id, "building": m.building, "device": m.device} for m in meters],
        float(used.kwh.sum()),
        used.held_out,
        [factor_dict(f) for f in factors],
    )


def _days(calendar, start: float, end: float) -> list[tuple[float, float]]:
    out = []
    day = calendar.day_of(start)
    while True:
        s, e = calendar.day_bounds(day)
        if s >= end:
            return out
        out.append((s, e))
        day += timedelta(days=1)


def _model(
    db: sqlite3.Connection,
    config,
    calendar,
    budget: Budget,
    ids: list[int],
    p_start: float,
    fits: FitCache,
) -> tuple[Baseline | None, str | None]:
    if not ids:
        return None, f"no meters in {budget.scope.describe()}"
    first = first_reading(db, ids)
    if first is None or first >= p_start:
        return None, "no history before the period: nothing to forecast from"
    t_start = max(first, p_start - TRAINING_DAYS * 86400.0)
    days = (p_start - t_start) / 86400.0
    if days < MIN_TRAINING_DAYS:
        return None, (
            f"{days:.1f} days of history before the period; a forecast needs at least"
            f" {MIN_TRAINING_DAYS}"
        )
    temp_key = temperature_series(db, config, budget.site, budget.building)
    key = (tuple(ids), t_start, p_start, temp_key, budget.site)
    model = fits.get(key)
    if model is None:
        history = hourly_energy(db, ids, t_start, p_start)
        model = fit_model(calendar, history, hourly_temperature(db, temp_key, history.hour_start))
        fits.put(key, model)
    return model, None if model.ok else model.verdict


def fit_model(calendar, history: Hourly, temperature: np.ndarray | None) -> Baseline:
    hod, day_type, _ = calendar.hour_features(history.hour_start)
    kwh = np.where(history.measured, history.kwh, np.nan)
    return fit_hourly(history.hour_start, kwh, day_type, hod, temperature)


def temperature_series(
    db: sqlite3.Connection, config, site: str, building: str | None
) -> int | None:
    """The id of the building's outdoor temperature series (energy configuration
    `temperature: {device, point}`), or None."""
    if building is None:
        return None
    info = config.building(site, building)
    where = getattr(info, "temperature", None) if info is not None else None
    if where is None:
        return None
    row = db.execute(
        "SELECT id FROM series WHERE site=? AND device=? AND point=? ORDER BY id LIMIT 1",
        (site, where.device, where.point),
    ).fetchone()
    return None if row is None else row[0]


def hourly_temperature(
    db: sqlite3.Connection, series_id: int | None, hours: np.ndarray
) -> np.ndarray | None:
    """Hourly mean outdoor temperature (NaN where none), or None without a series."""
    if series_id is None or not len(hours):
        return None
    out = np.full(len(hours), np.nan)
    first = hours[0]
    rows = db.execute(
        f"SELECT bucket_start, sum / count FROM {ROLLUPS_BY_SERIES} WHERE step={HOUR}"
        " AND series_id=? AND bucket_start >= ? AND bucket_start < ?",
        (series_id, first, hours[-1] + HOUR),
    ).fetchall()
    if rows:
        table = np.array(rows, dtype=np.float64)
        out[((table[:, 0] - first) // HOUR).astype(np.int64)] = table[:, 1]
    return out


def _predict(
    db: sqlite3.Connection,
    config,
    calendar,
    budget: Budget,
    model: Baseline,
    hours: np.ndarray,
    now: float,
) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """The model's kWh and sigma for `hours`, or (None, None, why not).

    There is no weather forecast here: with a temperature model each future hour gets
    the mean of the same local hour over the last TEMPERATURE_FORECAST_DAYS days, and the
    note says so."""
    hod, day_type, _ = calendar.hour_features(hours)
    temperature = None
    note = None
    if model.uses_temperature:
        series = temperature_series(db, config, budget.site, budget.building)
        past = np.arange(now - TEMPERATURE_FORECAST_DAYS * 86400.0, now, HOUR)
        temps = hourly_temperature(db, series, past)
        means = np.full(24, np.nan)
        if temps is not None and len(past):
            past_hod = calendar.hour_features(past)[0]
            for h in range(24):
                values = temps[(past_hod == h) & ~np.isnan(temps)]
                if len(values):
                    means[h] = values.mean()
        temperature = means[hod] if len(hours) else np.zeros(0)
        if np.isnan(temperature).any():
            return (
                None,
                None,
                (
                    f"no forecast: the model uses outdoor temperature and the last"
                    f" {TEMPERATURE_FORECAST_DAYS} days lack it for some hours of the day"
                ),
            )
        note = (
            f"forecast assumes each hour as warm as its mean over the last"
            f" {TEMPERATURE_FORECAST_DAYS} days"
        )
    kwh, sigma = model.predict(day_type, hod, temperature)
    if np.isnan(kwh).any():
        return (
            None,
            None,
            "no forecast: the model has not seen some hours of the period's day types",
        )
    return kwh, sigma, note


def _unit_per_kwh(config, calendar, unit: Unit, hours: np.ndarray) -> tuple[np.ndarray, list]:
    """What one kWh is in `unit`, hour by hour, and the factor versions used."""
    if unit == "kWh":
        return np.ones(len(hours)), []
    if unit == "kgce":
        return per_hour(config.coal, calendar, hours)
    if config.tariffs is None:
        raise NoTariffError("a cost budget needs a tariff: the energy configuration has none")
    try:
        # per kWh, hour by hour (an hour split by a window: its quarters' mean price)
        price = hourly_cost(config.tariffs, calendar, hours, np.ones(len(hours)))
    except LookupError as exc:
        raise NoTariffError(f"a cost budget needs a tariff for every hour: {exc}") from None
    return price, versions_used(config.tariffs, calendar, hours)


class NoTariffError(ValueError):
    """Cost asked for where no tariff is configured."""


def local_iso(calendar, ts: float) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(calendar.tz)).isoformat()
