"""Simulated energy meters: electrical state from a load shape, served through a profile.

The meter computes canonical quantities (the names every meter profile shares) plus the
common extras vendors add (line voltages, per-phase PF and energy, totals), then the
profile decides which of them exist and at which registers. Energy counters integrate
power over simulated time, so they only ever go up.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from device_profiles.schema import Profile
from simulators.loads import LoadBank

SQRT3 = math.sqrt(3.0)


def is_single_phase(profile: Profile) -> bool:
    return "voltage_l2" not in profile.points and "current_l2" not in profile.points


class SimulatedMeter:
    def __init__(
        self, unit: int, profile: Profile, bank: LoadBank, index: int, clock: Callable[[], float]
    ):
        self.unit = unit
        self.profile = profile
        self.bank = bank
        self.index = index
        self.clock = clock
        self.single_phase = is_single_phase(profile)
        self._energy = float(bank.start_energy[index])
        self._export = float(bank.start_export[index])
        self._last_t: float | None = None
        self._cache_t: float | None = None
        self._cache: dict[str, float] = {}

    def values(self) -> dict[str, float]:
        """Every quantity this meter knows, at the simulator's current time."""
        t = self.clock()
        if t == self._cache_t:
            return self._cache
        p_total = self.bank.power_kw(self.index, t)
        if self._last_t is not None and t > self._last_t:
            self._integrate(self._last_t, t)
        self._last_t = t
        params = self.bank.params[self.index]
        split = params.phase_split
        offsets = self.bank.phase_offsets[self.index]
        pf = min(0.999, params.pf_nominal + 0.02 * math.sin(t / 1800.0))
        tan_phi = math.tan(math.acos(pf))
        v: dict[str, float] = {
            "active_power": p_total,
            "power_factor": pf,
            "frequency": 50.0 + 0.03 * math.sin(t / 97.0),
            "energy_import": self._energy,
            "energy_export": self._export,
            "energy_total": self._energy + self._export,
            "reactive_power": p_total * tan_phi,
            "apparent_power": p_total / pf,
            "active_power_demand": p_total,
        }
        phases = (1,) if self.single_phase else (1, 2, 3)
        currents = []
        volts = []
        for n in phases:
            share = split[n - 1] if not self.single_phase else 1.0
            volt = 230.0 + float(offsets[n - 1]) + 0.5 * math.sin(t / 300.0 + n)
            power = p_total * share
            current = power * 1000.0 / (volt * pf)
            v[f"voltage_l{n}"] = volt
            v[f"current_l{n}"] = current
            v[f"active_power_l{n}"] = power
            v[f"reactive_power_l{n}"] = power * tan_phi
            v[f"apparent_power_l{n}"] = power / pf
            v[f"power_factor_l{n}"] = pf
            v[f"energy_import_l{n}"] = self._energy * share
            v[f"energy_export_l{n}"] = self._export * share
            volts.append(volt)
            currents.append(current)
        v["voltage_avg"] = sum(volts) / len(volts)
        v["current_avg"] = sum(currents) / len(currents)
        if not self.single_phase:
            for a, b in ((1, 2), (2, 3), (3, 1)):
                v[f"voltage_l{a}_l{b}"] = SQRT3 * (v[f"voltage_l{a}"] + v[f"voltage_l{b}"]) / 2
            v["voltage_ll_avg"] = (
                sum(v[f"voltage_l{a}_l{b}"] for a, b in ((1, 2), (2, 3), (3, 1))) / 3
            )
            v["current_neutral"] = abs(currents[0] - currents[1]) * 0.1
        self._cache_t = t
        self._cache = v
        return v

    def _integrate(self, t0: float, t1: float) -> None:
        # Trapezoids of at most one simulated minute: the load shape is tabulated per minute.
        power = self.bank.power_kw
        step = 60.0
        a = t0
        pa = power(self.index, a)
        while a < t1:
            b = min(a + step, t1)
            pb = power(self.index, b)
            self._energy += (pa + pb) / 2 * (b - a) / 3600.0
            a, pa = b, pb
