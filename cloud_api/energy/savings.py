"""Energy-contract savings, IPMVP Option C style: avoided energy per local month.

The baseline model (baseline.py) is fitted on the baseline period and predicted on the
reporting period's conditions (its calendar and outdoor temperature): that is the adjusted
baseline. avoided = adjusted baseline − actual. Its uncertainty is G14's (uncertainty.py):
t · sqrt(Σ σ_h²) over the month's included hours, t two-sided at `confidence` with the
baseline's n − p degrees of freedom.

Days are left out of both sides, each named with its reason, never silently (CalTRACK
dropped them without a word: peers' #125):
- meter data missing (any NaN hour that day);
- temperature missing for more than 6 hours that day, or for hours inside a gap longer than
  6 h (CalTRACK interpolates gaps up to 6 h; the rest stay missing) — when the model uses
  temperature;
- the baseline has no data for that kind of hour (a cell it never saw).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from cloud_api.energy.baseline import DAY_TYPES, Baseline, fit_hourly
from cloud_api.energy.temperature import MAX_FILLED_GAP_HOURS, fill_short_gaps
from cloud_api.energy.uncertainty import t_quantile


@dataclass(frozen=True)
class HourlySeries:
    """Aligned hourly arrays of one scope: energy, calendar features and outdoor temperature."""

    hour_start: np.ndarray
    kwh: np.ndarray
    day_type: np.ndarray
    hour_of_day: np.ndarray
    day_ordinal: np.ndarray
    temperature: np.ndarray | None = None


@dataclass(frozen=True)
class ExcludedDay:
    day: date
    reason: str


@dataclass(frozen=True)
class SavingsRow:
    """One local month ("2024-05") or the whole reporting period ("total")."""

    label: str
    adjusted_baseline: float
    actual: float
    avoided: float
    uncertainty: float  # half-width of the interval at Savings.confidence
    fraction: float | None  # avoided / adjusted baseline
    days: int
    hours: int


@dataclass(frozen=True)
class Savings:
    ok: bool
    verdict: str
    baseline: Baseline
    months: list[SavingsRow]
    total: SavingsRow | None
    excluded_days: list[ExcludedDay]
    confidence: float


def contract_savings(
    baseline: HourlySeries, reporting: HourlySeries, confidence: float = 0.9
) -> Savings:
    """Avoided energy per local month of the reporting period against the baseline period.

    Raises ValueError for malformed input (the periods overlap, arrays differ in length).
    A baseline that does not fit gives ok=False with its verdict and no figures.
    """
    rep = _checked("reporting", reporting)
    _checked("baseline", baseline)
    base_hs = np.asarray(baseline.hour_start, dtype=np.float64)
    if len(base_hs) and len(rep.hour_start) and rep.hour_start[0] < base_hs[-1] + 3600.0:
        raise ValueError(
            f"the reporting period starts at {rep.hour_start[0]}, before the baseline "
            f"period ends ({base_hs[-1] + 3600.0})"
        )
    model = fit_hourly(
        baseline.hour_start,
        baseline.kwh,
        baseline.day_type,
        baseline.hour_of_day,
        baseline.temperature,
    )
    if not model.ok:
        return Savings(
            False, f"no savings: baseline {model.verdict}", model, [], None, [], confidence
        )
    temperature = None
    if model.uses_temperature:
        if rep.temperature is None:
            return Savings(
                False,
                "no savings: the baseline uses outdoor temperature and the reporting "
                "period has none",
                model,
                [],
                None,
                [],
                confidence,
            )
        temperature = fill_short_gaps(rep.hour_start, rep.temperature)
    predicted, sigma = model.predict(rep.day_type, rep.hour_of_day, temperature)

    excluded = _excluded_days(rep, model, predicted, temperature)
    keep = ~np.isin(rep.day_ordinal, [d.day.toordinal() for d in excluded])
    t = t_quantile(confidence, max(model.n - model.p, 1))
    months: list[SavingsRow] = []
    month_of = np.array([_month_label(int(o)) for o in rep.day_ordinal])
    for label in sorted(set(month_of[keep].tolist())):
        months.append(_row(label, keep & (month_of == label), rep, predicted, sigma, t))
    total = _row("total", keep, rep, predicted, sigma, t) if keep.any() else None
    n_days = len(np.unique(rep.day_ordinal[keep]))
    verdict = (
        f"savings over {n_days} days in {len(months)} months, {len(excluded)} days excluded; "
        f"baseline {model.verdict}"
    )
    return Savings(True, verdict, model, months, total, excluded, confidence)


def _excluded_days(
    rep: HourlySeries, model: Baseline, predicted: np.ndarray, filled: np.ndarray | None
) -> list[ExcludedDay]:
    days, index = np.unique(rep.day_ordinal, return_inverse=True)

    def per_day(mask: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=mask.astype(np.float64), minlength=len(days))

    meter = per_day(np.isnan(rep.kwh))
    unseen = per_day(np.isnan(predicted) & ~_temperature_gap(filled, len(predicted)))
    raw_gap = per_day(np.isnan(rep.temperature)) if filled is not None else np.zeros(len(days))
    long_gap = per_day(np.isnan(filled)) if filled is not None else np.zeros(len(days))
    out: list[ExcludedDay] = []
    for i, ordinal in enumerate(days):
        reasons = []
        if meter[i]:
            reasons.append(f"meter data missing for {int(meter[i])} h")
        if raw_gap[i] > MAX_FILLED_GAP_HOURS:
            reasons.append(
                f"temperature missing for {int(raw_gap[i])} h "
                f"(more than {MAX_FILLED_GAP_HOURS} h in the day)"
            )
        elif long_gap[i]:
            reasons.append(
                f"temperature missing for {int(long_gap[i])} h inside a gap longer than "
                f"{MAX_FILLED_GAP_HOURS} h (not interpolated)"
            )
        if unseen[i]:
            kinds = sorted(
                {DAY_TYPES[int(k)] for k in rep.day_type[(index == i) & np.isnan(predicted)]}
            )
            reasons.append(f"the baseline has no data for {' / '.join(kinds)} hours like these")
        if reasons:
            out.append(ExcludedDay(date.fromordinal(int(ordinal)), "; ".join(reasons)))
    return out


def _temperature_gap(filled: np.ndarray | None, n: int) -> np.ndarray:
    return np.isnan(filled) if filled is not None else np.zeros(n, dtype=bool)


def _row(
    label: str,
    mask: np.ndarray,
    rep: HourlySeries,
    predicted: np.ndarray,
    sigma: np.ndarray,
    t: float,
) -> SavingsRow:
    adjusted = float(predicted[mask].sum())
    actual = float(rep.kwh[mask].sum())
    return SavingsRow(
        label=label,
        adjusted_baseline=adjusted,
        actual=actual,
        avoided=adjusted - actual,
        uncertainty=t * float(np.sqrt(np.sum(sigma[mask] ** 2))),
        fraction=(adjusted - actual) / adjusted if adjusted > 0 else None,
        days=len(np.unique(rep.day_ordinal[mask])),
        hours=int(mask.sum()),
    )


def _month_label(ordinal: int) -> str:
    d = date.fromordinal(ordinal)
    return f"{d.year:04d}-{d.month:02d}"


def _checked(name: str, series: HourlySeries) -> HourlySeries:
    n = len(np.asarray(series.hour_start))
    arrays = {
        "hour_start": np.asarray(series.hour_start, dtype=np.float64),
        "kwh": np.asarray(series.kwh, dtype=np.float64),
        "day_type": np.asarray(series.day_type),
        "hour_of_day": np.asarray(series.hour_of_day),
        "day_ordinal": np.asarray(series.day_ordinal),
    }
    if series.temperature is not None:
        arrays["temperature"] = np.asarray(series.temperature, dtype=np.float64)
    for field, arr in arrays.items():
        if arr.shape != (n,):
            raise ValueError(f"{name}.{field} has shape {arr.shape}, expected ({n},)")
    return HourlySeries(**arrays)
