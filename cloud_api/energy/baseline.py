"""Hourly baseline: a day-typed time-of-week model with optional heating/cooling degree terms.

    kwh(h) = μ[day type, local hour] + b_h(occ) · max(T_h − T, 0) + b_c(occ) · max(T − T_c, 0)

μ is one mean per (day type × local hour): 3 × 24 = 72 cells, fewer when a cell has no data.
The degree terms join only when a temperature series covers the hours well enough, and a
term is kept only if it helps. Each slope may be one for every hour or one for occupied and
one for unoccupied hours (occ: a working-hours schedule, e.g. workdays 08-18, the one that
fits best), CalTRACK-style; the selection, balance points and occupancy are described in
degree_terms.py.

Fit figures follow ASHRAE Guideline 14 (n − p in both denominators):
    CV(RMSE) = sqrt(Σ (y − ŷ)² / (n − p)) / ȳ,     NMBE = Σ (y − ŷ) / ((n − p) · ȳ)
with p = the cells with data + each kept slope + each kept balance point (+ 2 for the
occupancy schedule's start and end when a slope depends on it).
(NMBE of a least-squares fit with cell means is 0 by construction; it is reported anyway,
and it is not 0 for the same figures over other hours.) Limits for hourly data: CV(RMSE)
≤ 30 %, |NMBE| ≤ 10 %. Data sufficiency is CalTRACK-style: at most 10 % of hours missing.
A zero-kWh hour is a measurement here, not a missing one (CalTRACK counts 0 as missing for
whole-building electricity, but an HVAC sub-meter is legitimately 0 at night).

The uncertainty of predicted sums comes from the DAILY residuals (uncertainty.py): the
hourly residuals summed per local day over the days whose every hour was fitted, with
RMSE_day = sqrt(Σ d² / (n_days − p_day)). p_day counts what constrains the daily sums:
one per day type seen (its 24 cell means force that day type's residuals to sum to 0
over its hours, which is one constraint on its days' sums, not 24) + each kept slope
+ each kept balance point (+ 2 for the occupancy schedule). With n_days − p_day < 2
there is no uncertainty (sigma NaN, and a note says why) rather than a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from cloud_api.energy.degree_terms import (
    SCHEDULE_PARAMETERS,
    degree_terms,
    select_degree_terms,
)
from cloud_api.energy.temperature import fill_short_gaps
from cloud_api.energy.uncertainty import (
    HOURS_PER_DAY,
    daily_residuals,
    effective_n,
    g14_sigma,
    lag1_autocorrelation,
    lag1_autocorrelation_days,
)

DAY_TYPES = ("workday", "weekend", "holiday")
N_CELLS = len(DAY_TYPES) * 24
MAX_MISSING_SHARE = 0.10
CV_RMSE_LIMIT = 0.30
NMBE_LIMIT = 0.10
MIN_DAILY_DOF = 2


@dataclass(frozen=True, eq=False)
class Baseline:
    """A fitted (or refused) hourly baseline. `ok` False: `verdict` says why, predict raises.

    slopes (kWh per K): "heating" / "cooling" for a slope in every hour, or
    "heating_occupied", "heating_unoccupied", ... per occupancy (degree_terms.py); a term
    with only an occupied slope is 0 in unoccupied hours.
    """

    ok: bool
    verdict: str
    n: int
    p: int
    missing_share: float
    cv_rmse: float | None = None
    nmbe: float | None = None
    rmse: float | None = None
    mean_kwh: float | None = None
    uses_temperature: bool = False
    balance_points: Mapping[str, float] = field(default_factory=dict)
    slopes: Mapping[str, float] = field(default_factory=dict)
    autocorrelation: float | None = None
    n_effective: float | None = None
    # Daily-resolution uncertainty (module text): complete days, their parameters, the
    # daily residuals' RMSE and lag-1 ρ, and σ of one predicted day; sigma_hour is
    # sigma_day / sqrt(24), each hour's share for summing (never one hour's uncertainty).
    n_days: int = 0
    p_days: int = 0
    rmse_day: float | None = None
    autocorrelation_day: float | None = None
    sigma_day: float | None = None
    sigma_hour: float | None = None
    notes: tuple[str, ...] = ()
    cell_means: np.ndarray = field(default_factory=lambda: np.full(N_CELLS, np.nan))
    # Per cell: fitted hours (0: the baseline never saw it, even where cell_means borrows
    # the weekend's for holidays) and occupancy (which slope a split degree term uses).
    cell_hours: np.ndarray = field(default_factory=lambda: np.zeros(N_CELLS, dtype=np.int64))
    occupied: np.ndarray = field(default_factory=lambda: np.zeros(N_CELLS, dtype=bool))

    def predict(
        self,
        day_type_idx: np.ndarray,
        hour_of_day: np.ndarray,
        temperature: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(kwh, sigma) per hour. sigma is each hour's share of the G14 daily uncertainty
        (see uncertainty.py): the 1-σ uncertainty of a sum of hours is sqrt(Σ sigma²), a
        whole day's is sigma_day. sigma is NaN everywhere when the baseline has too few
        complete days to say (see notes).

        NaN where the model cannot say: a cell the baseline never saw, or (temperature
        models) an hour without temperature. A temperature model needs `temperature`; with
        no weather forecast, pass a stand-in (e.g. the same days a year earlier) — the
        model does not invent one.
        """
        if not self.ok:
            raise ValueError(f"this baseline does not forecast: {self.verdict}")
        dt, hod = _features(day_type_idx, hour_of_day, len(np.asarray(day_type_idx)))
        cell = dt * 24 + hod
        kwh = self.cell_means[cell]
        if self.uses_temperature:
            if temperature is None:
                raise ValueError(
                    "this baseline uses outdoor temperature: pass temperature per hour "
                    "(e.g. the same days a year earlier when there is no weather forecast)"
                )
            temp = _float_array("temperature", temperature, len(kwh))
            kwh = kwh + degree_terms(temp, self.occupied[cell], self.balance_points, self.slopes)
        sigma_hour = np.nan if self.sigma_hour is None else self.sigma_hour
        sigma = np.where(np.isnan(kwh), np.nan, sigma_hour)
        return kwh, sigma


def g14_figures(y: np.ndarray, y_hat: np.ndarray, p: int) -> tuple[float, float, float]:
    """(CV(RMSE), NMBE, RMSE) as ASHRAE Guideline 14 defines them, dividing by n − p.

    NMBE's sign: Σ (y − ŷ), positive when the model under-predicts.
    """
    y = np.asarray(y, dtype=np.float64)
    resid = y - np.asarray(y_hat, dtype=np.float64)
    dof = len(y) - p
    if dof <= 0:
        raise ValueError(f"n − p must be > 0, got n={len(y)}, p={p}")
    mean = float(np.mean(y))
    if mean <= 0:
        raise ValueError(f"mean of y is {mean}: CV(RMSE) and NMBE are undefined")
    rmse = float(np.sqrt(np.sum(resid**2) / dof))
    return rmse / mean, float(np.sum(resid)) / (dof * mean), rmse


def fit_hourly(
    hour_start: np.ndarray,
    kwh: np.ndarray,
    day_type_idx: np.ndarray,
    hour_of_day: np.ndarray,
    temperature: np.ndarray | None = None,
) -> Baseline:
    """Fit the baseline on hourly history (NaN kwh = missing hour; NaN temperature = missing).

    hour_start must increase strictly (whole local hours, epoch s); the other arrays are
    aligned with it. Never raises for data that merely do not fit: returns ok=False with
    the verdict in words. Raises ValueError for malformed arrays, naming the argument.
    """
    hs = _float_array("hour_start", hour_start, None)
    n_all = len(hs)
    if n_all == 0:
        raise ValueError("hour_start is empty: no hours to fit")
    if np.any(np.diff(hs) <= 0):
        i = int(np.flatnonzero(np.diff(hs) <= 0)[0]) + 1
        raise ValueError(f"hour_start must increase strictly; index {i} ({hs[i]}) does not")
    y = _float_array("kwh", kwh, n_all)
    dt, hod = _features(day_type_idx, hour_of_day, n_all)

    present = np.isfinite(y)
    missing_share = 1.0 - int(present.sum()) / n_all
    if missing_share > MAX_MISSING_SHARE:
        return Baseline(
            ok=False,
            verdict=f"insufficient data: {_pct(missing_share)} of hours missing "
            f"(CalTRACK-style limit {_pct(MAX_MISSING_SHARE)})",
            n=int(present.sum()),
            p=0,
            missing_share=missing_share,
        )

    notes: list[str] = []
    rows = present
    temp = None
    if temperature is not None:
        filled = fill_short_gaps(hs, _float_array("temperature", temperature, n_all))
        with_temp = present & np.isfinite(filled)
        lacking = 1.0 - int(with_temp.sum()) / int(present.sum())
        if lacking <= MAX_MISSING_SHARE:
            rows, temp = with_temp, filled
        else:
            notes.append(
                f"temperature not used: {_pct(lacking)} of metered hours have none "
                f"(limit {_pct(MAX_MISSING_SHARE)}; gaps up to 6 h are interpolated)"
            )

    cell = dt * 24 + hod
    occupied = np.zeros(N_CELLS, dtype=bool)
    balance: dict[str, float] = {}
    slopes: dict[str, float] = {}
    schedule = None
    if temp is not None:
        balance, slopes, schedule = select_degree_terms(
            hs[rows], y[rows], cell[rows], temp[rows], N_CELLS
        )
        if not balance:
            notes.append("temperature given but no degree term helps: the model ignores it")
        if schedule is not None:
            occupied = schedule.cells(N_CELLS)
            terms = "; ".join(f"{k.replace('_', ' ')} {v:.3g} kWh/K" for k, v in slopes.items())
            notes.append(
                f"occupied hours {schedule.describe()} (the schedule that fits best) have "
                f"their own temperature slopes: {terms}"
            )
    if not balance:
        rows = present  # without a temperature term every metered hour counts
    y_r, cell_r = y[rows], cell[rows]
    x_r = (
        degree_terms(temp[rows], occupied[cell_r], balance, slopes)
        if balance
        else np.zeros(len(y_r))
    )
    counts = np.bincount(cell_r, minlength=N_CELLS)
    seen = counts > 0
    cell_means = _cell_means(cell_r, y_r - x_r)
    n = len(y_r)
    p = int(seen.sum()) + len(slopes) + len(balance)
    p += SCHEDULE_PARAMETERS if schedule is not None else 0
    if n - p <= 0:
        return Baseline(
            ok=False,
            verdict=f"insufficient data: {n} hours for {p} parameters (n − p must be > 0)",
            n=n,
            p=p,
            missing_share=missing_share,
        )
    mean = float(np.mean(y_r))
    if mean <= 0:
        return Baseline(
            ok=False,
            verdict="does not fit: mean use is 0 kWh, CV(RMSE) is undefined",
            n=n,
            p=p,
            missing_share=missing_share,
        )
    y_hat = cell_means[cell_r] + x_r
    cv, nmbe, rmse = g14_figures(y_r, y_hat, p)
    rho = lag1_autocorrelation(hs[rows], y_r - y_hat)
    day_index, day_resid = daily_residuals(hs, hod, rows, y_r - y_hat)
    n_days = len(day_index)
    seen_day_types = int(seen.reshape(len(DAY_TYPES), 24).any(axis=1).sum())
    p_days = p - int(seen.sum()) + seen_day_types
    rmse_day = rho_day = sigma_day = None
    if n_days - p_days >= MIN_DAILY_DOF:
        rmse_day = float(np.sqrt(np.sum(day_resid**2) / (n_days - p_days)))
        rho_day = lag1_autocorrelation_days(day_index, day_resid)
        sigma_day = g14_sigma(rmse_day, n_days, rho_day)
    else:
        notes.append(
            f"no uncertainty: {n_days} complete days for {p_days} daily parameters "
            f"(it is estimated from daily residuals and needs n_days − p_day ≥ {MIN_DAILY_DOF})"
        )
    if not seen[48:].any() and seen[24:48].any():
        cell_means[48:] = cell_means[24:48]
        occupied[48:] = occupied[24:48]
        notes.append("no holiday hours in the baseline: holidays are predicted as weekends")

    figures = f"CV(RMSE) {_pct(cv)}, NMBE {_pct(nmbe, 1)}"
    if cv > CV_RMSE_LIMIT:
        ok, verdict = False, f"does not fit: CV(RMSE) {_pct(cv)} > {_pct(CV_RMSE_LIMIT)}"
    elif abs(nmbe) > NMBE_LIMIT:
        ok, verdict = False, f"does not fit: NMBE {_pct(nmbe, 1)} outside ±{_pct(NMBE_LIMIT)}"
    else:
        ok, verdict = (
            True,
            (
                f"fits: {figures} (ASHRAE Guideline 14 hourly limits: CV(RMSE) ≤ "
                f"{_pct(CV_RMSE_LIMIT)}, |NMBE| ≤ {_pct(NMBE_LIMIT)})"
            ),
        )
    return Baseline(
        ok=ok,
        verdict=verdict,
        n=n,
        p=p,
        missing_share=missing_share,
        cv_rmse=cv,
        nmbe=nmbe,
        rmse=rmse,
        mean_kwh=mean,
        uses_temperature=bool(balance),
        balance_points=balance,
        slopes=slopes,
        autocorrelation=rho,
        n_effective=effective_n(n, rho),
        n_days=n_days,
        p_days=p_days,
        rmse_day=rmse_day,
        autocorrelation_day=rho_day,
        sigma_day=sigma_day,
        sigma_hour=None if sigma_day is None else sigma_day / np.sqrt(HOURS_PER_DAY),
        notes=tuple(notes),
        cell_means=cell_means,
        cell_hours=counts,
        occupied=occupied,
    )


def _cell_means(cell: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of `values` per cell index; NaN for cells without hours."""
    counts = np.bincount(cell, minlength=N_CELLS)
    sums = np.bincount(cell, weights=values, minlength=N_CELLS)
    return np.divide(sums, counts, out=np.full(N_CELLS, np.nan), where=counts > 0)


def _float_array(name: str, values: np.ndarray, n: int | None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array, got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} values, expected {n} (one per hour)")
    return arr


def _features(
    day_type_idx: np.ndarray, hour_of_day: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, values, top in (("day_type_idx", day_type_idx, 2), ("hour_of_day", hour_of_day, 23)):
        arr = np.asarray(values)
        if arr.ndim != 1 or len(arr) != n:
            raise ValueError(f"{name} must be a 1-d array of {n} values, got shape {arr.shape}")
        ints = arr.astype(np.int64)
        bad = np.flatnonzero((ints != arr) | (ints < 0) | (ints > top))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"{name}[{i}] = {arr[i]}: must be an integer 0..{top}")
        out.append(ints)
    return out[0], out[1]


def _pct(share: float, decimals: int = 0) -> str:
    return f"{share * 100:.{decimals}f} %"
