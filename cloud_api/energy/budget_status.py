"""Budget status: what is used, what the baseline forecasts to the period end, and the colour.

forecast = used + Σ predicted hours from now to the period end (the projected total), with
a 90 % interval forecast ± t · sqrt(Σ σ_h²) (t two-sided with the model's daily degrees of
freedom; σ_h is each hour's share of the model's G14 daily uncertainty, so the sum is
σ_day · sqrt(days left), a partial day counting as its share: see uncertainty.py); the
low end never goes below `used`, as future use cannot be negative. Without σ (a model with
too few complete days to estimate it) there is a forecast and no interval.
Colour: red when used or forecast >= budget; yellow when forecast >= threshold × budget;
else green. Without a model there is no forecast and the colour comes from `used` alone
(red when used >= budget, else green).

Missing hours of use (NaN) count as 0 and are reported: the use shown is then a lower bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from cloud_api.energy.uncertainty import t_quantile
from edge.model import Colour

HOUR = 3600.0
INTERVAL = 0.90


@dataclass(frozen=True)
class BudgetStatus:
    used: float
    forecast: float | None
    forecast_low: float | None
    forecast_high: float | None
    colour: Colour
    crosses_on: date | None
    reason: str
    missing_used_hours: int = 0


def budget_status(
    *,
    period_start: float,
    period_end: float,
    now: float,
    day_bounds: Sequence[tuple[date, float, float]],
    used_by_hour: tuple[np.ndarray, np.ndarray],
    forecast_by_hour: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    budget: float,
    threshold: float = 0.9,
    model_verdict: str = "no baseline model",
    unit: str = "",
    degrees_of_freedom: float = np.inf,
) -> BudgetStatus:
    """Status of one budget at `now` (epoch s) for the period [period_start, period_end).

    day_bounds: the period's local days as (date, start, end), in order. used_by_hour:
    (hour_start, amount) of the hours before now; forecast_by_hour: (hour_start, amount,
    sigma) of the hours from now to the period end, or None when there is no model (then
    `model_verdict` says why); sigma all NaN: no interval. degrees_of_freedom: the
    model's, for the t of the interval. Amounts are in the budget's unit (`unit` names it in the
    reason). crosses_on: the first local day by whose end used + forecast-so-far reaches
    the budget (a past day when the use already has).
    """
    if not period_start < period_end:
        raise ValueError(f"period_start {period_start} must be before period_end {period_end}")
    if not budget > 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    used_hs, used_amount = _pair("used_by_hour", used_by_hour)
    _inside("used_by_hour", used_hs, period_start, period_end)
    late = np.flatnonzero(used_hs >= now)
    if len(late):
        raise ValueError(f"used_by_hour[{late[0]}] starts at {used_hs[late[0]]}, not before now")
    missing = int(np.isnan(used_amount).sum())
    used_amount = np.nan_to_num(used_amount, nan=0.0)
    used = float(used_amount.sum())
    u = f" {unit}" if unit else ""
    gap_note = f"; {missing} hours of use missing (counted as 0)" if missing else ""

    if forecast_by_hour is None:
        crosses = _crossing(day_bounds, used_hs, used_amount, budget)
        colour = Colour.RED if used >= budget else Colour.GREEN
        return BudgetStatus(
            used=used,
            forecast=None,
            forecast_low=None,
            forecast_high=None,
            colour=colour,
            crosses_on=crosses,
            reason=f"no forecast: {model_verdict}; used {used:.1f}{u} of budget "
            f"{budget:.1f}{u}{gap_note}",
            missing_used_hours=missing,
        )

    f_hs, f_amount, f_sigma = _triple("forecast_by_hour", forecast_by_hour)
    _inside("forecast_by_hour", f_hs, period_start, period_end)
    early = np.flatnonzero(f_hs + HOUR <= now)
    if len(early):
        raise ValueError(f"forecast_by_hour[{early[0]}] ends before now ({f_hs[early[0]]})")
    both = np.intersect1d(used_hs, f_hs)
    if len(both):
        raise ValueError(f"hour {both[0]} is in both used_by_hour and forecast_by_hour")
    no_sigma = bool(np.isnan(f_sigma).all()) and len(f_sigma) > 0
    for name, arr in (("amount", f_amount), ("sigma", f_sigma)):
        if name == "sigma" and no_sigma:
            continue
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise ValueError(
                f"forecast_by_hour {name}[{bad[0]}] is {arr[bad[0]]} (hour {f_hs[bad[0]]}): "
                "a forecast needs every hour to the period end"
            )
    forecast = used + float(f_amount.sum())
    half = (
        None
        if no_sigma
        else t_quantile(INTERVAL, degrees_of_freedom) * float(np.sqrt(np.sum(f_sigma**2)))
    )
    crosses = _crossing(
        day_bounds,
        np.concatenate([used_hs, f_hs]),
        np.concatenate([used_amount, f_amount]),
        budget,
    )
    if used >= budget:
        colour, why = Colour.RED, f"used {used:.1f}{u} ≥ budget {budget:.1f}{u}"
    elif forecast >= budget:
        colour, why = Colour.RED, f"forecast {forecast:.1f}{u} ≥ budget {budget:.1f}{u}"
    elif forecast >= threshold * budget:
        colour, why = (
            Colour.YELLOW,
            f"forecast {forecast:.1f}{u} ≥ {threshold:.0%} of budget {budget:.1f}{u}",
        )
    else:
        colour, why = (
            Colour.GREEN,
            f"forecast {forecast:.1f}{u} < {threshold:.0%} of budget {budget:.1f}{u}",
        )
    if crosses is not None:
        why += f", reached on {crosses.isoformat()}"
    return BudgetStatus(
        used=used,
        forecast=forecast,
        forecast_low=None if half is None else max(used, forecast - half),
        forecast_high=None if half is None else forecast + half,
        colour=colour,
        crosses_on=crosses,
        reason=why + gap_note,
        missing_used_hours=missing,
    )


def _crossing(
    day_bounds: Sequence[tuple[date, float, float]],
    hour_start: np.ndarray,
    amount: np.ndarray,
    budget: float,
) -> date | None:
    order = np.argsort(hour_start, kind="stable")
    hs, cumulative = hour_start[order], np.cumsum(amount[order])
    for day, _start, end in day_bounds:
        k = int(np.searchsorted(hs, end, side="left"))
        if k and cumulative[k - 1] >= budget:
            return day
    return None


def _pair(name: str, value: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    hs, amount = (np.asarray(v, dtype=np.float64) for v in value)
    if hs.shape != amount.shape or hs.ndim != 1:
        raise ValueError(
            f"{name}: hour_start and amount differ in shape {hs.shape}, {amount.shape}"
        )
    return hs, amount


def _triple(
    name: str, value: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hs, amount, sigma = (np.asarray(v, dtype=np.float64) for v in value)
    if not hs.shape == amount.shape == sigma.shape or hs.ndim != 1:
        raise ValueError(
            f"{name}: hour_start, amount and sigma differ in shape "
            f"{hs.shape}, {amount.shape}, {sigma.shape}"
        )
    return hs, amount, sigma


def _inside(name: str, hs: np.ndarray, start: float, end: float) -> None:
    out = np.flatnonzero((hs < start) | (hs >= end))
    if len(out):
        raise ValueError(
            f"{name}[{out[0]}] starts at {hs[out[0]]}, outside the period [{start}, {end})"
        )
