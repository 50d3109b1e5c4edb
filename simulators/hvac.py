"""Simulated HVAC zones served through the steward/hvac-zone profile.

A zone is one thermal mass: it drifts toward the outdoor temperature, gains heat from
people and equipment in working hours, and the unit pulls it toward the active setpoint
when running. Electrical power follows the work the unit does, energy integrates it.
Writes to setpoints, mode, fan and on/off change the model, as on a real controller.

The model, stepped in at most 60 simulated seconds (T zone temperature, degC):

    dT/dt  = (T_out + offset - T) / tau  +  g * occ(t)  -  s * duty * 3 K/h
    cooling (mode auto or cool, when T > sp_cool - 0.5), s = +1:
        duty = min(1, max(0.2, (T - sp_cool + 0.5) / 2))
    heating (mode auto or heat, when T < sp_heat + 0.5), s = -1:
        duty = min(1, max(0.2, (sp_heat + 0.5 - T) / 2))
    otherwise fan only (duty 0, s = 0); switched off: duty 0 and no fan
    power  = duty * rated + fan,   fan = 0.08 * rated while on      (kW)
    energy += power * dt                                            (kWh)

T_out is loads.outdoor_temperature (season and hour), offset the zone's outdoor offset
(a hotter day than the climate); occ(t) the working-hours occupancy shape (0..1). Per
zone, from the seed and the unit: rated in 8..40 kW unless given, tau 3..6 h, g
0.8..1.6 K/h. The control is re-evaluated at every step and at once after a write: a
cooling zone whose setpoint rises 0.5 K inside the proportional band draws
0.25 * rated less from that instant on (and its meter shows it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from device_profiles.schema import Profile
from simulators.loads import occupancy_shape, outdoor_temperature
from simulators.registers import RegisterImage

MODES = {0: "auto", 1: "cool", 2: "heat", 3: "fan"}


class SimulatedZone:
    def __init__(
        self,
        unit: int,
        profile: Profile,
        clock: Callable[[], float],
        seed: int = 1,
        tz_offset_hours: float = 8.0,
        rated_kw: float | None = None,
        outdoor_offset: float = 0.0,
    ):
        rng = np.random.default_rng(seed * 1000 + unit)
        self.unit = unit
        self.profile = profile
        self.clock = clock
        self.tz_offset = tz_offset_hours * 3600.0
        self.outdoor_offset = outdoor_offset  # K added to the climate's outdoor temperature
        drawn_kw = float(rng.uniform(8.0, 40.0))  # drawn anyway: the other draws stay the same
        if rated_kw is not None and not rated_kw > 0:
            raise ValueError(f"unit {unit}: rated power must be above 0 kW, got {rated_kw}")
        self.rated_kw = drawn_kw if rated_kw is None else float(rated_kw)  # input at full duty
        self.tau_s = float(rng.uniform(3.0, 6.0)) * 3600.0  # envelope time constant
        self.gain_k_per_h = float(rng.uniform(0.8, 1.6))  # internal gains when occupied
        self.occupancy = occupancy_shape()
        t = clock()
        self.zone_t = self.outdoor(t) * 0.3 + 24.0 * 0.7
        self.humidity = float(rng.uniform(45.0, 60.0))
        self.energy = float(rng.uniform(2_000.0, 40_000.0))
        self.setpoints = {"cooling_setpoint": 26.0, "heating_setpoint": 20.0}
        self.mode = 0
        self.fan = 0
        self.on = 1
        self.duty, self.state = 0.0, 0
        self.alarms = {"alarm_filter_dirty": 0, "alarm_compressor": 0, "alarm_sensor": 0}
        self._last_t = t
        self.duty, self.state = self._control()
        self.image = RegisterImage(profile, self.values)
        self.image.on_write = self.apply_writes

    def outdoor(self, t: float) -> float:
        return outdoor_temperature(t) + self.outdoor_offset

    @property
    def fan_kw(self) -> float:
        return 0.08 * self.rated_kw if self.on else 0.0

    def _occupied(self, t: float) -> float:
        minute = int(((t + self.tz_offset) / 60.0 + 3 * 1440) % len(self.occupancy))
        return float(self.occupancy[minute])

    def _advance(self, t: float) -> None:
        a = self._last_t
        while a < t:
            dt = min(60.0, t - a)
            outdoor = self.outdoor(a)
            drift = (outdoor - self.zone_t) * dt / self.tau_s
            gains = self.gain_k_per_h * self._occupied(a) * dt / 3600.0
            self.zone_t += drift + gains
            self.duty, self.state = self._control()
            # Full duty moves the zone about 3 K per hour toward the setpoint.
            direction = -1.0 if self.state == 1 else (1.0 if self.state == 2 else 0.0)
            self.zone_t += direction * self.duty * 3.0 * dt / 3600.0
            self.energy += (self.duty * self.rated_kw + self.fan_kw) * dt / 3600.0
            a += dt
        self._last_t = max(self._last_t, t)

    def _control(self) -> tuple[float, int]:
        if not self.on:
            return 0.0, 0
        cool_sp = self.setpoints["cooling_setpoint"]
        heat_sp = self.setpoints["heating_setpoint"]
        if self.mode in (0, 1) and self.zone_t > cool_sp - 0.5:
            return min(1.0, max(0.2, (self.zone_t - cool_sp + 0.5) / 2.0)), 1
        if self.mode in (0, 2) and self.zone_t < heat_sp + 0.5:
            return min(1.0, max(0.2, (heat_sp + 0.5 - self.zone_t) / 2.0)), 2
        return 0.0, 3

    def values(self) -> dict[str, float]:
        t = self.clock()
        if t > self._last_t:
            self._advance(t)
        any_alarm = int(any(self.alarms.values()))
        return {
            "zone_temperature": self.zone_t,
            "supply_air_temperature": self.zone_t - 8.0 * self.duty
            if self.state == 1
            else self.zone_t + 10.0 * self.duty,
            "outdoor_temperature": self.outdoor(t),
            "zone_humidity": self.humidity + 5.0 * math.sin(t / 7200.0),
            "running_state": float(self.state),
            "active_power": self.duty * self.rated_kw + self.fan_kw,
            "energy_import": self.energy,
            "cooling_setpoint": self.setpoints["cooling_setpoint"],
            "heating_setpoint": self.setpoints["heating_setpoint"],
            "mode": float(self.mode),
            "fan_speed": float(self.fan),
            "on_off": float(self.on),
            "alarm_any": float(any_alarm),
            **{k: float(v) for k, v in self.alarms.items()},
        }

    def apply_writes(self, written: dict[str, float]) -> None:
        self._advance(self.clock())
        for name, value in written.items():
            if name in self.setpoints:
                self.setpoints[name] = value
            elif name == "mode":
                self.mode = int(value)
            elif name == "fan_speed":
                self.fan = int(value)
            elif name == "on_off":
                self.on = int(value)
        # The thermostat acts on the new settings now, not at the next step: power moves
        # the moment a setpoint does, as the meter above this unit then shows.
        self.duty, self.state = self._control()
