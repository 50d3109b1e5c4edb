"""Outdoor temperature series: short gaps filled as CalTRACK does.

CalTRACK (methods.rst §2.2) interpolates temperature gaps of up to 6 consecutive hours;
longer gaps stay missing, and the hours or days that need them are left out with a reason.
"""

from __future__ import annotations

import numpy as np

HOUR = 3600.0
MAX_FILLED_GAP_HOURS = 6


def fill_short_gaps(
    hour_start: np.ndarray, temperature: np.ndarray, max_gap_hours: int = MAX_FILLED_GAP_HOURS
) -> np.ndarray:
    """Linear interpolation across runs of at most `max_gap_hours` missing (NaN) hours.

    A run is filled only when a measured hour bounds it on both sides and the hours between
    are consecutive (no jump in hour_start); everything else stays NaN. Returns a new array.
    """
    hs = np.asarray(hour_start, dtype=np.float64)
    temp = np.array(temperature, dtype=np.float64)
    missing = np.isnan(temp)
    if not missing.any():
        return temp
    # Runs of NaN: starts where missing turns on, ends (exclusive) where it turns off.
    edges = np.diff(np.concatenate(([0], missing.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    for a, b in zip(starts, ends, strict=True):
        if b - a > max_gap_hours or a == 0 or b == len(temp):
            continue
        before, after = a - 1, b
        if hs[after] - hs[before] != (after - before) * HOUR:
            continue  # the grid jumps inside the gap: the gap is longer than it looks
        frac = (hs[a:b] - hs[before]) / (hs[after] - hs[before])
        temp[a:b] = temp[before] + frac * (temp[after] - temp[before])
    return temp
