"""Simulated energy meters: electrical state from a load shape, served through a profile.

The meter computes canonical quantities (the names every meter profile shares) plus the
common extras vendors add (line voltages, per-phase PF and energy, totals), then the
profile decides which of them exist and at which registers. Energy counters integrate
power over simulated time, so they only ever go up.

A meter may feed others (feed_from): a main incomer or a distribution board's meter then
measures the devices below it too, so that its energy is theirs plus its own load, or,
with an `unmetered` share, theirs divided by (1 - unmetered), as when a share of the
building's load sits on no sub-meter. The meter tree of a demo then balances as the
tags say it does. With `base_kw` its own load is that constant instead of the load shape
(the HVAC simulator's meter: its energy is the zones' plus base_kw * hours, by hand).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from device_profiles.schema import Profile
from simulators.loads import LoadBank

SQRT3 = math.sqrt(3.0)


class Metered(Protocol):
    """A simulated device with an electrical input: a meter or an HVAC zone."""

    def values(self) -> Mapping[str, float | str]: ...


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
        self._fed: tuple[Metered, ...] = ()
        self._fed_scale = 1.0
        self._own_load = True
        self._base_kw: float | None = None  # a constant own load instead of the shape
        self._fed_start = 0.0

    def feed_from(
        self,
        devices: Sequence[Metered],
        unmetered: float | None = None,
        base_kw: float | None = None,
    ) -> None:
        """Measure `devices` too, from now on: their power and energy are added to this
        meter's own load; with `unmetered` (a share, 0 <= s < 1) this meter has no load of
        its own and measures theirs / (1 - unmetered): `unmetered` of what it measures is
        load that none of them sees. With `base_kw` the meter's own load is that constant
        (kW) instead of its load shape."""
        if unmetered is not None and not 0.0 <= unmetered < 1.0:
            raise ValueError(f"unit {self.unit}: unmetered must be in [0, 1), got {unmetered}")
        if base_kw is not None and (unmetered is not None or not base_kw >= 0.0):
            raise ValueError(
                f"unit {self.unit}: base_kw is a load of 0 kW or more, without unmetered;"
                f" got {base_kw} (unmetered {unmetered})"
            )
        self.values()  # the own counter up to now, before the feed changes what it counts
        self._fed = tuple(devices)
        self._base_kw = base_kw
        self._own_load = unmetered is None
        self._fed_scale = 1.0 if unmetered is None else 1.0 / (1.0 - unmetered)
        self._fed_start = sum(float(d.values()["energy_import"]) for d in self._fed)
        self._cache_t = None

    def forget_cache(self) -> None:
        """A fed device changed without time moving (a write): recompute on the next read."""
        self._cache_t = None

    def _own_kw(self, t: float) -> float:
        if not self._own_load:
            return 0.0
        return self._base_kw if self._base_kw is not None else self.bank.power_kw(self.index, t)

    def values(self) -> dict[str, float]:
        """Every quantity this meter knows, at the simulator's current time."""
        t = self.clock()
        if t == self._cache_t:
            return self._cache
        p_total = self._own_kw(t)
        if self._last_t is not None and t > self._last_t and self._own_load:
            self._integrate(self._last_t, t)
        self._last_t = t
        energy = self._energy
        if self._fed:
            fed = [d.values() for d in self._fed]
            p_total += self._fed_scale * sum(float(v["active_power"]) for v in fed)
            fed_energy = sum(float(v["energy_import"]) for v in fed) - self._fed_start
            energy += self._fed_scale * fed_energy
        params = self.bank.params[self.index]
        split = params.phase_split
        offsets = self.bank.phase_offsets[self.index]
        pf = min(0.999, params.pf_nominal + 0.02 * math.sin(t / 1800.0))
        tan_phi = math.tan(math.acos(pf))
        v: dict[str, float] = {
            "active_power": p_total,
            "power_factor": pf,
            "frequency": 50.0 + 0.03 * math.sin(t / 97.0),
            "energy_import": energy,
            "energy_export": self._export,
            "energy_total": energy + self._export,
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
            v[f"energy_import_l{n}"] = energy * share
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
        if self._base_kw is not None:
            self._energy += self._base_kw * (t1 - t0) / 3600.0
            return
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
