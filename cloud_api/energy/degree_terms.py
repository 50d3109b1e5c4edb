"""Heating and cooling degree terms of the hourly baseline, with occupied and unoccupied slopes.

    degree term(h) = b_h · max(T_h − T, 0) + b_c · max(T − T_c, 0)

An HVAC load reacts to the weather mostly while the building is in use (CalTRACK's hourly
method fits separate temperature coefficients for occupied and unoccupied hours, §3.7-3.10),
so each term may take one slope for every hour ("shared"), one slope per occupancy
("split"), or a slope in occupied hours only (the plant is off when the building is empty).
(Not modelled: a building whose occupied hours cross midnight.)
The balance points are shared by both occupancies.

Occupied hours: a working-hours schedule, the one that fits best — from START to END
(local hours; START 05-11, END 15-22) on workdays or on every day, 112 schedules — scored
by the SSE left with one slope per occupancy for each of the shared model's terms at its
balance points. A schedule rather than a free choice per time-of-week cell, after trying
three such choices on the simulated office's HVAC meter: cells split by load level (above
the midpoint of the cell means) called the cold nights occupied on a winter-heavy half
year; CalTRACK's rule (> 65 % under-predicted hours of a temperature-only fit) kept only
08-11 there; cells split by their own temperature response fitted noise on loads without
occupancy dependence, and nights when the shared balance points were 1 K off.

Selection, all candidates solved at once from Gram matrices of the cell-demeaned degree
columns (Frisch–Waugh; an occupancy is a set of cells, so the occupied and unoccupied
columns are orthogonal after demeaning and their Gram blocks add up to the shared one):
- every slope kept must be positive with t > 1.645 (CalTRACK keeps terms with p < 0.1);
- among the shared candidates (no term, heating, cooling, both), the smallest residual
  variance SSE / (n − p) wins, as CalTRACK's adjusted R² does;
- a candidate with per-occupancy slopes (under the best schedule) replaces it only when
  its BIC is lower, n' ln(SSE / n) + p ln n', with n' = n (1 − ρ) / (1 + ρ) the effective
  number of hours (G14's, ρ the lag-1 autocorrelation of the shared model's residuals:
  correlated hourly residuals inflate the SSE drop of any extra slope by about
  (1 + ρ) / (1 − ρ)). Each extra parameter must cut the SSE by about ln(n') / n', 0.1 %
  for a year of white noise. (A smaller SSE / (n − p) alone would keep two useless
  extra slopes whenever their F > 1, about 37 % of the time.)
So a load whose weather response does not depend on occupancy keeps the simpler model, or
one of the same quality: of 30 simulated years of such an HVAC meter, 2 got a split with
slopes 3 % apart (4.67 and 4.81 kWh/K) and predictions correlating 0.9998 with the truth.
Balance points: heating 8–20 °C, cooling 16–28 °C, 1 K steps, cooling ≥ heating (CalTRACK
§3.2). p counts each slope, each balance point and, with per-occupancy slopes, the
schedule's start and end (searched for, as balance points are).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cloud_api.energy.uncertainty import effective_n, lag1_autocorrelation

HEATING_GRID = np.arange(8.0, 21.0)
COOLING_GRID = np.arange(16.0, 29.0)
T_KEEP = 1.645
KINDS = ("heating", "cooling")
# Occupancy schedules tried: occupied from START to END (local hours, END exclusive) on
# workdays, or on every day; the other cells are unoccupied.
SCHEDULE_STARTS = range(5, 12)
SCHEDULE_ENDS = range(15, 23)
SCHEDULE_DAYS = {"workdays": (0,), "every day": (0, 1, 2)}
SCHEDULE_PARAMETERS = 2  # start and end, counted in p as balance points are
OCCUPANCIES = ("occupied", "unoccupied")

# A column of the regression: (kind, hours it applies to). "all" is the shared slope.
_Column = tuple[str, str]
_TERM_OPTIONS: dict[str, tuple[tuple[_Column, ...], ...]] = {
    kind: ((), ((kind, "all"),), ((kind, "occupied"),), ((kind, "occupied"), (kind, "unoccupied")))
    for kind in KINDS
}
_BLOCKS = {"all": OCCUPANCIES, "occupied": ("occupied",), "unoccupied": ("unoccupied",)}


@dataclass(frozen=True)
class Schedule:
    """Occupied hours: from `start` to `end` (local hours, end exclusive) on `days`."""

    days: str
    start: int
    end: int

    def cells(self, n_cells: int) -> np.ndarray:
        """Occupied per cell (day type × 24 + local hour)."""
        out = np.zeros(n_cells, dtype=bool)
        for day_type in SCHEDULE_DAYS[self.days]:
            if (day_type + 1) * 24 <= n_cells:
                out[day_type * 24 + self.start : day_type * 24 + self.end] = True
        return out

    def describe(self) -> str:
        return f"{self.days} {self.start:02d}-{self.end:02d}"


SCHEDULES = tuple(
    Schedule(days, start, end)
    for days in SCHEDULE_DAYS
    for start in SCHEDULE_STARTS
    for end in SCHEDULE_ENDS
)


def best_schedule(
    cell: np.ndarray, terms: list[np.ndarray], yd: np.ndarray, n_cells: int
) -> Schedule | None:
    """The schedule under which one slope per occupancy for each term (at the shared
    model's balance points) leaves the smallest SSE. terms: the shared model's degree
    columns and yd the load, demeaned within cells. None when no schedule is solvable."""
    k = len(terms)
    per_cell_xx = np.stack(
        [
            np.stack([np.bincount(cell, weights=a * b, minlength=n_cells) for b in terms], -1)
            for a in terms
        ],
        -2,
    )  # (n_cells, k, k)
    per_cell_xy = np.stack(
        [np.bincount(cell, weights=a * yd, minlength=n_cells) for a in terms], -1
    )  # (n_cells, k)
    masks = np.array([s.cells(n_cells) for s in SCHEDULES], dtype=np.float64)
    gain = np.zeros(len(SCHEDULES))
    usable = np.ones(len(SCHEDULES), dtype=bool)
    for weights in (masks, 1.0 - masks):
        gram = np.einsum("sc,cab->sab", weights, per_cell_xx)
        rhs = np.einsum("sc,ca->sa", weights, per_cell_xy)
        diag = np.diagonal(gram, axis1=1, axis2=2)
        ok = np.all(diag > 1e-9, axis=1)
        ok &= np.linalg.det(gram) > 1e-9 * np.prod(np.where(ok[:, None], diag, 1.0), axis=1)
        gram[~ok] = np.eye(k)
        gain += np.einsum("sa,sa->s", rhs, np.linalg.solve(gram, rhs[..., None])[..., 0])
        usable &= ok
    if not usable.any():
        return None
    return SCHEDULES[int(np.flatnonzero(usable)[np.argmax(gain[usable])])]


def slope_key(kind: str, hours: str) -> str:
    """ "heating" for a shared slope, "heating_occupied" / "heating_unoccupied" otherwise."""
    return kind if hours == "all" else f"{kind}_{hours}"


def degree_terms(
    temp: np.ndarray,
    occupied: np.ndarray,
    balance: Mapping[str, float],
    slopes: Mapping[str, float],
) -> np.ndarray:
    """Σ of the terms per hour; `occupied` is the occupancy of each hour (bool)."""
    out = np.zeros(len(temp))
    for kind in KINDS:
        if kind not in balance:
            continue
        tb = balance[kind]
        degrees = np.maximum(tb - temp, 0.0) if kind == "heating" else np.maximum(temp - tb, 0.0)
        shared = slopes.get(kind, 0.0)
        slope = np.where(
            occupied,
            slopes.get(f"{kind}_occupied", shared),
            slopes.get(f"{kind}_unoccupied", shared),
        )
        out = out + slope * degrees
    return out


def select_degree_terms(
    hour_start: np.ndarray, y: np.ndarray, cell: np.ndarray, temp: np.ndarray, n_cells: int
) -> tuple[dict[str, float], dict[str, float], Schedule | None]:
    """The kept terms: (balance points by kind, slopes by slope_key, occupancy schedule).

    hour_start, y, cell (int index < n_cells), temp: the fitted hours. ({}, {}, None) when
    no term helps; the schedule is None unless a slope depends on it.
    """
    n = len(y)
    n_seen = int((np.bincount(cell, minlength=n_cells) > 0).sum())
    yd = _demean(y, cell, n_cells)
    sse0 = float(yd @ yd)
    columns = {
        "heating": _demean_columns(
            np.maximum(HEATING_GRID[None, :] - temp[:, None], 0.0), cell, n_cells
        ),
        "cooling": _demean_columns(
            np.maximum(temp[:, None] - COOLING_GRID[None, :], 0.0), cell, n_cells
        ),
    }
    shared = (sse0, n_seen, {}, {})
    stats = _block_stats(columns, yd, np.zeros(n, dtype=bool))
    for structure in _structures(split=False):
        found = _best_of_structure(structure, stats, sse0, n, n_seen)
        if found is not None and _s2(found[0], n, found[1]) < _s2(shared[0], n, shared[1]):
            shared = found
    if not shared[2]:
        return {}, {}, None
    terms = []  # the shared model's degree columns, demeaned within cells
    for kind, tb in shared[2].items():
        grid = HEATING_GRID if kind == "heating" else COOLING_GRID
        terms.append(columns[kind][:, int(np.flatnonzero(grid == tb)[0])])
    schedule = best_schedule(cell, terms, yd, n_cells)
    if schedule is None:
        return shared[2], shared[3], None
    occupied = schedule.cells(n_cells)
    stats = _block_stats(columns, yd, occupied[cell])
    split = [
        found
        for structure in _structures(split=True)
        if (found := _best_of_structure(structure, stats, sse0, n, n_seen + SCHEDULE_PARAMETERS))
        is not None
    ]
    if not split:
        return shared[2], shared[3], None
    # BIC on the effective number of hours: residuals of hourly data are autocorrelated,
    # which inflates the SSE drop of any extra slope by about (1 + ρ) / (1 − ρ).
    resid = yd - sum(shared[3][kind] * t for kind, t in zip(shared[2], terms, strict=True))
    n_eff = max(effective_n(n, lag1_autocorrelation(hour_start, resid)), 2.0)
    best = min(split, key=lambda c: _bic(c[0], n, c[1], n_eff))
    if _bic(best[0], n, best[1], n_eff) < _bic(shared[0], n, shared[1], n_eff):
        return best[2], best[3], schedule
    return shared[2], shared[3], None


def _structures(split: bool) -> list[tuple[_Column, ...]]:
    out = []
    for heating in _TERM_OPTIONS["heating"]:
        for cooling in _TERM_OPTIONS["cooling"]:
            structure = heating + cooling
            is_split = any(hours != "all" for _, hours in structure)
            if structure and is_split == split:
                out.append(structure)
    return out


def _block_stats(columns: dict[str, np.ndarray], yd: np.ndarray, occ_row: np.ndarray) -> dict:
    """Gram blocks and right-hand sides of the degree columns, per occupancy."""
    stats = {}
    for occupancy, rows in (("occupied", occ_row), ("unoccupied", ~occ_row)):
        h, c, v = columns["heating"][rows], columns["cooling"][rows], yd[rows]
        stats[occupancy] = {
            ("heating", "heating"): np.einsum("ij,ij->j", h, h),
            ("cooling", "cooling"): np.einsum("ij,ij->j", c, c),
            ("heating", "cooling"): h.T @ c,
            "heating": h.T @ v,
            "cooling": c.T @ v,
        }
    return stats


def _best_of_structure(
    columns: tuple[_Column, ...], stats: dict, sse0: float, n: int, n_cells: int
) -> tuple[float, int, dict[str, float], dict[str, float]] | None:
    """Grid search of one structure's balance points: (SSE, p, balance, slopes) of the
    valid candidate with the smallest SSE, or None when no candidate is valid."""
    kinds = [k for k in KINDS if any(kind == k for kind, _ in columns)]
    k = len(columns)
    p = n_cells + k + len(kinds)
    if n - p <= 0:
        return None
    if kinds == ["heating", "cooling"]:
        ii, jj = np.meshgrid(np.arange(len(HEATING_GRID)), np.arange(len(COOLING_GRID)))
        ii, jj = ii.ravel(), jj.ravel()
        keep = COOLING_GRID[jj] >= HEATING_GRID[ii]
        ii, jj = ii[keep], jj[keep]
    elif kinds == ["heating"]:
        ii = np.arange(len(HEATING_GRID))
        jj = np.zeros_like(ii)
    else:
        jj = np.arange(len(COOLING_GRID))
        ii = np.zeros_like(jj)
    index = {"heating": ii, "cooling": jj}
    gram = np.zeros((len(ii), k, k))
    rhs = np.zeros((len(ii), k))
    for a, (kind_a, hours_a) in enumerate(columns):
        for block in _BLOCKS[hours_a]:
            rhs[:, a] += stats[block][kind_a][index[kind_a]]
        for b, (kind_b, hours_b) in enumerate(columns):
            for block in set(_BLOCKS[hours_a]) & set(_BLOCKS[hours_b]):
                gram[:, a, b] += _gram_entry(stats[block], kind_a, kind_b, ii, jj)
    diag = np.diagonal(gram, axis1=1, axis2=2)
    usable = np.all(diag > 1e-9, axis=1)
    usable &= np.linalg.det(gram) > 1e-9 * np.prod(np.where(usable[:, None], diag, 1.0), axis=1)
    gram[~usable] = np.eye(k)
    inverse = np.linalg.inv(gram)
    beta = np.einsum("gab,gb->ga", inverse, rhs)
    sse = np.maximum(sse0 - np.einsum("ga,ga->g", beta, rhs), 0.0)
    s2 = sse / (n - p)
    se = np.sqrt(np.maximum(s2[:, None] * np.diagonal(inverse, axis1=1, axis2=2), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, beta / se, np.inf)
    valid = usable & np.all(beta > 0, axis=1) & np.all(t > T_KEEP, axis=1)
    if not valid.any():
        return None
    g = int(np.flatnonzero(valid)[np.argmin(sse[valid])])
    balance = {}
    if "heating" in kinds:
        balance["heating"] = float(HEATING_GRID[ii[g]])
    if "cooling" in kinds:
        balance["cooling"] = float(COOLING_GRID[jj[g]])
    slopes = {slope_key(kind, hours): float(beta[g, a]) for a, (kind, hours) in enumerate(columns)}
    return float(sse[g]), p, balance, slopes


def _gram_entry(
    block: dict, kind_a: str, kind_b: str, ii: np.ndarray, jj: np.ndarray
) -> np.ndarray:
    if kind_a == kind_b:
        return block[(kind_a, kind_a)][ii if kind_a == "heating" else jj]
    return block[("heating", "cooling")][ii, jj]


def _demean(v: np.ndarray, cell: np.ndarray, n_cells: int) -> np.ndarray:
    counts = np.bincount(cell, minlength=n_cells)
    sums = np.bincount(cell, weights=v, minlength=n_cells)
    means = np.divide(sums, counts, out=np.zeros(n_cells), where=counts > 0)
    return v - means[cell]


def _demean_columns(x: np.ndarray, cell: np.ndarray, n_cells: int) -> np.ndarray:
    return np.column_stack([_demean(x[:, j], cell, n_cells) for j in range(x.shape[1])])


def _s2(sse: float, n: int, p: int) -> float:
    return max(sse, 0.0) / (n - p) if n > p else np.inf


def _bic(sse: float, n: int, p: int, n_eff: float) -> float:
    return n_eff * np.log(max(sse, 1e-300) / n) + p * np.log(n_eff)
