"""Electrical load shapes for simulated buildings, generated with numpy and seeded.

A government office draws a base load around the clock, a working-hours load on weekdays
(ramping up from 07:30, down after 18:00, a dip at lunch), a fraction of that on weekends,
and an HVAC load that grows with the outdoor temperature away from a comfortable band.
Shapes are tabulated per minute of the week for every meter at once (one numpy array);
the outdoor temperature follows the season and the time of day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MINUTES_PER_WEEK = 7 * 24 * 60


def occupancy_shape() -> np.ndarray:
    """Fraction of the working-hours load present, per minute of the week (Monday 00:00 = 0)."""
    minute = np.arange(MINUTES_PER_WEEK)
    day = minute // 1440
    hour = (minute % 1440) / 60.0
    ramp_up = np.clip((hour - 7.5) / 1.5, 0.0, 1.0)
    ramp_down = np.clip((19.0 - hour) / 1.5, 0.0, 1.0)
    working = np.minimum(ramp_up, ramp_down)
    lunch = 1.0 - 0.25 * np.exp(-(((hour - 12.25) / 0.6) ** 2))
    weekday = working * lunch
    weekend_factor = np.where(day >= 5, 0.15, 1.0)
    return weekday * weekend_factor


def outdoor_temperature(epoch: float, tz_offset_hours: float = 8.0) -> float:
    """A subtropical coastal climate (hot summer, mild winter), in degrees C.

    Coldest around 20 January, warmest in late July; each day warmest at 14:30 local time.
    """
    local_days = (epoch + tz_offset_hours * 3600.0) / 86400.0
    day_of_year = local_days % 365.25
    seasonal = 17.5 - 11.5 * math.cos(2 * math.pi * (day_of_year - 20) / 365.25)
    daily = 4.0 * math.cos(2 * math.pi * ((local_days % 1.0) - 14.5 / 24))
    return seasonal + daily


def hvac_factor(outdoor_c: float) -> float:
    """0 in the comfort band, growing linearly to 1 at 35 C (cooling) or -5 C (heating)."""
    if outdoor_c > 24.0:
        return min((outdoor_c - 24.0) / 11.0, 1.2)
    if outdoor_c < 12.0:
        return min((12.0 - outdoor_c) / 17.0, 1.2) * 0.7
    return 0.0


@dataclass(frozen=True)
class LoadParams:
    rated_kw: float  # working-hours load at full occupancy, without HVAC
    base_fraction: float  # share of rated_kw drawn around the clock
    hvac_kw: float  # HVAC load at hvac_factor 1
    phase_split: tuple[float, float, float]  # share of power per phase (sums to 1)
    pf_nominal: float


class LoadBank:
    """Load shapes for a set of meters, reproducible from one seed."""

    def __init__(
        self,
        count: int,
        seed: int = 1,
        single_phase: np.ndarray | None = None,
        tz_offset_hours: float = 8.0,
    ):
        rng = np.random.default_rng(seed)
        self.count = count
        self.tz_offset = tz_offset_hours * 3600.0
        single = np.zeros(count, bool) if single_phase is None else np.asarray(single_phase, bool)
        rated = np.where(single, rng.uniform(1.0, 8.0, count), rng.uniform(15.0, 120.0, count))
        base = rng.uniform(0.15, 0.35, count)
        hvac = rated * rng.uniform(0.3, 0.7, count)
        split = rng.dirichlet([40.0, 40.0, 40.0], count)
        split[single] = (1.0, 0.0, 0.0)
        pf = rng.uniform(0.88, 0.97, count)
        self.params = [
            LoadParams(
                float(rated[i]),
                float(base[i]),
                float(hvac[i]),
                (float(split[i, 0]), float(split[i, 1]), float(split[i, 2])),
                float(pf[i]),
            )
            for i in range(count)
        ]
        # Smooth noise: a random walk per meter, low-pass filtered, +-8 % around 1.
        steps = rng.normal(0.0, 1.0, (count, MINUTES_PER_WEEK))
        kernel = np.ones(31) / 31.0
        smooth = np.array([np.convolve(row, kernel, mode="same") for row in steps])
        self.noise = 1.0 + 0.08 * smooth / (smooth.std(axis=1, keepdims=True) + 1e-9)
        self.occupancy = occupancy_shape()
        self.phase_offsets = rng.uniform(-4.0, 4.0, (count, 3))  # volts from nominal per phase
        self.start_energy = rated * rng.uniform(300.0, 6000.0, count)  # hours at rated load
        self.start_export = np.where(rng.random(count) < 0.1, rng.uniform(0.0, 500.0, count), 0.0)

    def minute_of_week(self, epoch: float) -> int:
        local = epoch + self.tz_offset
        # 1970-01-01 was a Thursday: shift so Monday 00:00 is minute 0.
        return int((local / 60.0 + 3 * 1440) % MINUTES_PER_WEEK)

    def power_kw(self, index: int, epoch: float) -> float:
        p = self.params[index]
        m = self.minute_of_week(epoch)
        occupied = self.occupancy[m]
        working = p.rated_kw * (p.base_fraction + (1 - p.base_fraction) * occupied)
        hvac = p.hvac_kw * hvac_factor(outdoor_temperature(epoch)) * (0.3 + 0.7 * occupied)
        return float((working + hvac) * self.noise[index, m])
