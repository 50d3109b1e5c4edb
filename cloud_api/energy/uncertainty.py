"""Uncertainty of predicted sums (ASHRAE Guideline 14, Annex B) and sums per day / month.

The G14 savings-uncertainty formula (Guideline 14-2002 Annex B; Reddy & Claridge 2000) for
m reporting-period points predicted by a baseline regression fitted on n points:

    ΔE_m / E_m = t · 1.26 · CV · sqrt( (n/n') · (1 + 2/n') / m ) / F

with CV the baseline's CV(RMSE) (divided by n − p), F the fractional savings and n' the
effective number of points after lag-1 autocorrelation ρ of the residuals:
n' = n (1 − ρ) / (1 + ρ). In energy units (E_m = F · m · ȳ and CV · ȳ = RMSE) the
half-width is

    ΔE_m = t · 1.26 · RMSE · sqrt( (n/n') · (1 + 2/n') · m ).

The points here are DAYS, not hours: RMSE is that of the baseline's daily residual sums
(the hourly residuals summed per local day, over the days whose every hour was fitted),
ρ the lag-1 autocorrelation of that daily series, n the number of such days and t takes
n_days − p_day degrees of freedom (p_day: see baseline.py). At hourly resolution the
lag-1 ρ sees only hour-to-hour correlation: a day-to-day factor (a whole day 5 % high)
correlates 24 hours with each other and with no neighbour a day away, so the hourly
formula took it for short-range noise and its interval covered the true saving of a
simulated office in 2 of 12 seeds (half-year baseline). A daily residual carries the
day's whole error, whatever its hour-to-hour structure.

Each predicted hour carries σ_h = σ_day / sqrt(24), with σ_day = 1.26 · RMSE_day ·
sqrt((n/n') (1 + 2/n')), so that the uncertainty of any sum of predicted hours is
t · sqrt(Σ σ_h²) = t · σ_day · sqrt(m), m = hours / 24: a partial day counts as its share.
σ_h is not the uncertainty of one hour's prediction; it is only meant to be summed.
(Some versions of the formula write 1 + 2/n; using n' is the more cautious of the two. The
1.26 factor is G14's empirical correction; source confidence M: from memory, matching
third-party G14 code.)
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

G14_FACTOR = 1.26
HOUR = 3600.0
DAY = 86400.0
HOURS_PER_DAY = 24


def t_quantile(confidence: float, df: float) -> float:
    """Two-sided Student-t critical value: P(|T| <= t) = confidence with df degrees of freedom.

    Cornish-Fisher expansion of the t quantile around the normal one (Abramowitz & Stegun
    26.7.5), accurate to about 1e-3 for df >= 5; df = inf gives the normal value.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not df >= 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    if np.isinf(df):
        return z
    g1 = (z**3 + z) / 4.0
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96.0
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384.0
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160.0
    return float(z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4)


def lag1_autocorrelation(hour_start: np.ndarray, resid: np.ndarray) -> float:
    """ρ from pairs of consecutive hours (both fitted, one hour apart) over Σ r²."""
    denom = float(resid @ resid)
    if denom <= 0 or len(resid) < 2:
        return 0.0
    adjacent = np.diff(np.asarray(hour_start, dtype=np.float64)) == HOUR
    return float(np.sum(resid[:-1][adjacent] * resid[1:][adjacent]) / denom)


def effective_n(n: int, rho: float) -> float:
    """G14's effective number of points n' = n (1 − ρ) / (1 + ρ); ρ <= 0 leaves n as it is."""
    rho = min(max(rho, 0.0), 0.99)
    return n * (1.0 - rho) / (1.0 + rho)


def g14_sigma(rmse: float, n: int, rho: float) -> float:
    """σ per point such that t · σ · sqrt(m) is G14's ΔE_m for m points (module text)."""
    n_eff = effective_n(n, rho)
    return float(G14_FACTOR * rmse * np.sqrt((n / n_eff) * (1.0 + 2.0 / n_eff)))


def daily_residuals(
    hour_start: np.ndarray, hour_of_day: np.ndarray, fitted: np.ndarray, resid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(day index, Σ residuals) per local day whose every hour was fitted.

    hour_start, hour_of_day and fitted (bool) cover every hour of the period; resid is
    aligned with hour_start[fitted]. A day's index counts days from the first one's local
    midnight (hour_start − local hour · 3600, rounded to whole days: a DST hour of
    difference rounds away). A day is complete when it holds hours 0 and 23 and all its
    hours are fitted; a day with a missing hour would sum fewer hours' errors.
    """
    hs = np.asarray(hour_start, dtype=np.float64)
    hod = np.asarray(hour_of_day, dtype=np.int64)
    fitted = np.asarray(fitted, dtype=bool)
    if not len(hs):
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    midnight = hs - hod * HOUR
    day = np.round((midnight - midnight[0]) / DAY).astype(np.int64)
    day -= day.min()
    n_days = int(day.max()) + 1
    hours = np.bincount(day, minlength=n_days)
    fitted_hours = np.bincount(day[fitted], minlength=n_days)
    first = np.bincount(day[hod == 0], minlength=n_days) > 0
    last = np.bincount(day[hod == HOURS_PER_DAY - 1], minlength=n_days) > 0
    complete = first & last & (fitted_hours == hours)
    sums = np.bincount(day[fitted], weights=np.asarray(resid, dtype=np.float64), minlength=n_days)
    index = np.flatnonzero(complete)
    return index, sums[index]


def lag1_autocorrelation_days(day_index: np.ndarray, resid: np.ndarray) -> float:
    """ρ from pairs of consecutive days (both complete) over Σ r², as for hours."""
    denom = float(resid @ resid)
    if denom <= 0 or len(resid) < 2:
        return 0.0
    adjacent = np.diff(np.asarray(day_index)) == 1
    return float(np.sum(resid[:-1][adjacent] * resid[1:][adjacent]) / denom)


def sum_sigma(sigma: np.ndarray) -> float:
    """Standard uncertainty of a sum of predicted hours: sqrt(Σ σ_h²)."""
    return float(np.sqrt(np.sum(np.square(np.asarray(sigma, dtype=np.float64)))))


def sum_by_key(
    key: np.ndarray, amount: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum hourly amounts per key (e.g. local date ordinal, or year*12+month).

    Returns (keys sorted, sums, sigma of each sum = sqrt(Σ σ_h²) of its hours). NaN amounts
    are not skipped: a sum over a missing hour is NaN, never silently smaller.
    """
    key = np.asarray(key)
    amount = np.asarray(amount, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if not key.shape == amount.shape == sigma.shape:
        raise ValueError(
            f"key, amount and sigma must have one length, got {key.shape}, "
            f"{amount.shape}, {sigma.shape}"
        )
    keys, index = np.unique(key, return_inverse=True)
    sums = np.bincount(index, weights=amount, minlength=len(keys))
    has_nan = np.bincount(index, weights=np.isnan(amount), minlength=len(keys)) > 0
    sums[has_nan] = np.nan
    variances = np.bincount(index, weights=np.square(sigma), minlength=len(keys))
    return keys, sums, np.sqrt(variances)
