"""Energy-contract savings, IPMVP Option C style: avoided energy per local month.

The baseline model (baseline.py) is fitted on the baseline period and predicted on the
reporting period's conditions (its calendar and outdoor temperature): that is the adjusted
baseline. avoided = adjusted baseline − actual. Its uncertainty is G14's at daily
resolution (uncertainty.py): t · sqrt(Σ σ_h²) over the month's included hours, which is
t · σ_day · sqrt(days), t two-sided at `confidence` with the baseline's n_days − p_day
degrees of freedom (None when the baseline has too few complete days to estimate it).

Days are left out of both sides, each named with its reason, never silently (CalTRACK
dropped them without a word: peers' #125):
- meter data missing (any NaN hour that day);
- temperature missing for more than 6 hours that day, or for hours inside a gap longer than
  6 h (CalTRACK interpolates gaps up to 6 h; the rest stay missing) — when the model uses
  temperature;
- the baseline has no data for that kind of hour (a cell it never saw, or holidays when it
  saw none: the model would predict them as weekends, a guess);
- the day's mean outdoor temperature lies outside the range of the baseline's daily means
  by more than TEMPERATURE_MARGIN_K (2 K): a regression is not extrapolated to weather it
  never saw (a baseline of December to June reporting in summer claimed 22 % ± 1 pp where
  12 % was true, bench/README.md "energy"). 2 K is about the year-to-year spread of a
  season's warmest and coldest days, so a full-year baseline covers a warmer or colder
  reporting year, and a half-year baseline does not cover the other season. Checked
  whenever both periods have complete temperature for the day, whether or not the model
  uses temperature (one fitted on mild months may have found no weather response that
  the summer would show).
A baseline period shorter than 365 days is named in the verdict and the notes: IPMVP
Option C and CalTRACK ask for a full year, so that every season is in it.
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
    uncertainty: float | None  # half-width of the interval at Savings.confidence
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
    notes: tuple[str, ...] = ()


TEMPERATURE_MARGIN_K = 2.0
FULL_YEAR_DAYS = 365


def contract_savings(
    baseline: HourlySeries, reporting: HourlySeries, confidence: float = 0.9
) -> Savings:
    """Avoided energy per local month of the reporting period against the baseline period.

    Raises ValueError for malformed input (the periods overlap, arrays differ in length).
    A baseline that does not fit gives ok=False with its verdict and no figures.
    """
    rep = _checked("reporting", reporting)
    baseline = _checked("baseline", baseline)
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

    notes = []
    span = int(np.max(baseline.day_ordinal) - np.min(baseline.day_ordinal)) + 1
    if span < FULL_YEAR_DAYS:
        notes.append(
            f"the baseline period is {span} days, shorter than the full year IPMVP and "
            "CalTRACK ask for: it has not seen every season, so reporting days outside its "
            "temperatures are excluded, and the rest may still carry a seasonal bias"
        )
    base_range = _daily_temperature_range(baseline)
    if base_range is None and rep.temperature is not None:
        notes.append(
            "the baseline period has no day with complete outdoor temperature: reporting "
            "days are not checked against its weather"
        )
    excluded = _excluded_days(rep, model, temperature, base_range)
    keep = ~np.isin(rep.day_ordinal, [d.day.toordinal() for d in excluded])
    t = t_quantile(confidence, max(model.n_days - model.p_days, 1))
    months: list[SavingsRow] = []
    month_of = np.array([_month_label(int(o)) for o in rep.day_ordinal])
    for label in sorted(set(month_of[keep].tolist())):
        months.append(_row(label, keep & (month_of == label), rep, predicted, sigma, t))
    total = _row("total", keep, rep, predicted, sigma, t) if keep.any() else None
    n_days = len(np.unique(rep.day_ordinal[keep]))
    tail = "".join(f"; {note}" for note in notes)
    if total is None:
        verdict = (
            f"no savings: all {len(excluded)} reporting days excluded; baseline "
            f"{model.verdict}{tail}"
        )
        return Savings(False, verdict, model, [], None, excluded, confidence, tuple(notes))
    verdict = (
        f"savings over {n_days} days in {len(months)} months, {len(excluded)} days excluded; "
        f"baseline {model.verdict}{tail}"
    )
    return Savings(True, verdict, model, months, total, excluded, confidence, tuple(notes))


def _daily_temperature_range(series: HourlySeries) -> tuple[float, float] | None:
    """(lowest, highest) daily mean outdoor temperature over the days whose every hour has
    a temperature (gaps up to 6 h filled) and that have meter data; None without any."""
    if series.temperature is None:
        return None
    means = _daily_means(series.hour_start, series.day_ordinal, series.temperature)
    days, index = np.unique(series.day_ordinal, return_inverse=True)
    metered = np.bincount(index, weights=np.isfinite(series.kwh), minlength=len(days)) > 0
    usable = np.isfinite(means) & metered
    if not usable.any():
        return None
    return float(means[usable].min()), float(means[usable].max())


def _daily_means(hour_start: np.ndarray, day_ordinal: np.ndarray, temp: np.ndarray) -> np.ndarray:
    """Mean filled temperature per day (np.unique order of day_ordinal); NaN for a day with
    any hour still missing."""
    filled = fill_short_gaps(hour_start, temp)
    _, index = np.unique(day_ordinal, return_inverse=True)
    hours = np.bincount(index)
    sums = np.bincount(index, weights=np.nan_to_num(filled))
    complete = np.bincount(index, weights=np.isnan(filled)) == 0
    return np.where(complete, sums / hours, np.nan)


def _excluded_days(
    rep: HourlySeries,
    model: Baseline,
    filled: np.ndarray | None,
    base_range: tuple[float, float] | None,
) -> list[ExcludedDay]:
    days, index = np.unique(rep.day_ordinal, return_inverse=True)

    def per_day(mask: np.ndarray) -> np.ndarray:
        return np.bincount(index, weights=mask.astype(np.float64), minlength=len(days))

    cell = rep.day_type.astype(np.int64) * 24 + rep.hour_of_day.astype(np.int64)
    unseen_hour = model.cell_hours[cell] == 0
    meter = per_day(np.isnan(rep.kwh))
    unseen = per_day(unseen_hour)
    raw_gap = per_day(np.isnan(rep.temperature)) if filled is not None else np.zeros(len(days))
    long_gap = per_day(np.isnan(filled)) if filled is not None else np.zeros(len(days))
    day_temp = (
        _daily_means(rep.hour_start, rep.day_ordinal, rep.temperature)
        if rep.temperature is not None and base_range is not None
        else np.full(len(days), np.nan)
    )
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
            kinds = sorted({DAY_TYPES[int(k)] for k in rep.day_type[(index == i) & unseen_hour]})
            reasons.append(f"the baseline has no data for {' / '.join(kinds)} hours like these")
        if base_range is not None and np.isfinite(day_temp[i]):
            lo, hi = base_range
            if not lo - TEMPERATURE_MARGIN_K <= day_temp[i] <= hi + TEMPERATURE_MARGIN_K:
                reasons.append(
                    f"daily mean outdoor temperature {day_temp[i]:.1f} °C is outside the "
                    f"baseline's {lo:.1f} to {hi:.1f} °C by more than "
                    f"{TEMPERATURE_MARGIN_K:g} K"
                )
        if reasons:
            out.append(ExcludedDay(date.fromordinal(int(ordinal)), "; ".join(reasons)))
    return out


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
        uncertainty=None if np.isnan(sigma[mask]).any() else t * _sum_sigma(sigma[mask]),
        fraction=(adjusted - actual) / adjusted if adjusted > 0 else None,
        days=len(np.unique(rep.day_ordinal[mask])),
        hours=int(mask.sum()),
    )


def _sum_sigma(sigma: np.ndarray) -> float:
    return float(np.sqrt(np.sum(sigma**2)))


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
