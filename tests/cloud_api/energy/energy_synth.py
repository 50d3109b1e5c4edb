"""Synthetic hourly energy for the baseline/budget/savings tests, with known truth.

Calendar features are computed here independently of edge.energy.calendar: one zoneinfo
conversion per hour (slow and obvious), Monday-Friday workdays, given holidays.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from simulators import loads

TZ = ZoneInfo("Asia/Shanghai")


def local_midnight(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=TZ).timestamp()


def hours(first: date, days: int) -> np.ndarray:
    start = local_midnight(first)
    end = local_midnight(first + timedelta(days=days))
    return np.arange(start, end, 3600.0)


def features(
    hour_start: np.ndarray, holidays: frozenset[date] = frozenset()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(day type 0 workday/1 weekend/2 holiday, local hour, local date ordinal) per hour."""
    day_type = np.empty(len(hour_start), dtype=np.int64)
    hour = np.empty(len(hour_start), dtype=np.int64)
    ordinal = np.empty(len(hour_start), dtype=np.int64)
    for i, ts in enumerate(hour_start):
        local = datetime.fromtimestamp(float(ts), TZ)
        d = local.date()
        day_type[i] = 2 if d in holidays else (1 if d.weekday() >= 5 else 0)
        hour[i] = local.hour
        ordinal[i] = d.toordinal()
    return day_type, hour, ordinal


def office_profile(day_type: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """True mean kWh per hour: workdays 60 from 08:00 to 18:00 else 20; weekends 30 by day
    (08-18) else 18; holidays 15 all day."""
    daytime = (hour >= 8) & (hour < 18)
    work = np.where(daytime, 60.0, 20.0)
    weekend = np.where(daytime, 30.0, 18.0)
    return np.select([day_type == 0, day_type == 1], [work, weekend], 15.0)


def outdoor_temperature(hour_start: np.ndarray, shift_k: float = 0.0) -> np.ndarray:
    """A seasonal swing (about 3 °C in January to 29 °C in July) plus a daily one of ±5 K
    peaking at 15:00 local; shift_k moves the whole year (a warmer reporting year)."""
    days = (hour_start - hour_start[0]) / 86400.0
    local_hour = ((hour_start / 3600.0) + 8.0) % 24.0
    seasonal = 16.0 - 13.0 * np.cos(2 * np.pi * (days - 15.0) / 365.0)
    daily = 5.0 * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)
    return seasonal + daily + shift_k


def hvac_load(
    temperature: np.ndarray, heat_bp: float, heat_slope: float, cool_bp: float, cool_slope: float
) -> np.ndarray:
    return heat_slope * np.maximum(heat_bp - temperature, 0.0) + cool_slope * np.maximum(
        temperature - cool_bp, 0.0
    )


def simulated_hvac(
    hour_start: np.ndarray,
    holidays: frozenset[date] = frozenset(),
    occupancy_dependent: bool = True,
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An HVAC sub-meter built as bench/energy_data.py builds it from simulators/loads.py.

    Per quarter hour (its mid-point): hvac_kw x hvac_factor(T) x (0.3 + 0.7 x occupancy)
    + an always-on 5 kW (pumps, controls); occupancy is the simulators' working-hours
    shape (ramps 07:30-09:00 and 17:30-19:00, lunch dip, weekends and holidays at 15 %),
    hvac_factor 0 between 12 and 24 °C and growing linearly outside. Without
    `occupancy_dependent` the factor is a constant 0.65 (the same yearly energy order).
    Hourly kWh is the sum of the quarters; the noise-free sum is the truth. Noise as in
    the bench: x (1 ± 5 %) per day and x (1 ± 8 %) per hour. The outdoor temperature per
    hour is the mean of the quarters' (what the API reads from a gauge).

    Returns (kwh with noise, noise-free kwh, temperature per hour).
    """
    hvac_kw = 80.0
    mid = hour_start[:, None] + np.array([450.0, 1350.0, 2250.0, 3150.0])[None, :]
    outdoor = np.vectorize(loads.outdoor_temperature)(mid)
    factor = np.vectorize(loads.hvac_factor)(outdoor)
    if occupancy_dependent:
        minute = (((mid + 8 * 3600.0) / 60 + 3 * 1440) % (7 * 1440)).astype(np.int64)
        occupancy = loads.occupancy_shape()[minute]
        day_type, _, _ = features(hour_start, holidays)
        occupancy = np.where(
            (day_type == 2)[:, None] & (minute < 5 * 1440), 0.15 * occupancy, occupancy
        )
        weight = 0.3 + 0.7 * occupancy
    else:
        weight = np.full(mid.shape, 0.65)
    truth = (hvac_kw * factor * weight + 5.0).sum(axis=1) / 4.0
    rng = np.random.default_rng(seed)
    days = ((hour_start - hour_start[0]) // 86400).astype(np.int64)
    daily = rng.normal(1.0, 0.05, days[-1] + 1)[days]
    kwh = truth * daily * rng.normal(1.0, 0.08, len(hour_start))
    return kwh, truth, outdoor.mean(axis=1)
