"""The site file's `demand:` and `control:` sections, and their checks against the devices.

```yaml
demand:                     # the building's 15-minute demand limit
  meter: main-meter         # device id of the main meter
  limit_kw: 150
  margin_kw: 10             # demand.at_risk when the block is predicted to reach 140
  from: energy              # energy (its counter, the default) or power
control:
  mode: advise              # advise (the default: says what it would write) or control
  lease: 10min              # a rule's command lasts this long unless its reason renews it
  link_timeout: 5min        # a zone silent this long loses its commands
  zones:
    - {device: ahu-1, priority: 1, max_setup_k: 2, defaults: {cooling_setpoint: 26}}
```
Durations are event time (the data's clock), as the rules see it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from device_profiles.schema import Duration, Profile
from edge.control.interlocks import COOLING_SETPOINT, HEATING_SETPOINT, Interlocks
from edge.control.zone_control import PointSpec

Problem = Callable[[tuple, str], None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DemandSettings(_Strict):
    meter: str
    limit_kw: float = Field(gt=0)
    margin_kw: float = Field(0.0, ge=0)
    hysteresis_kw: float = Field(0.0, ge=0)
    from_: Literal["energy", "power"] = Field("energy", alias="from")
    point: str | None = None  # default: energy_import (energy) or active_power (power)
    basis: Literal["block", "sliding"] = "block"
    tz: str = "Asia/Shanghai"
    name: str | None = None  # the alarms' source; default "demand:<meter>"

    @property
    def source(self) -> str:
        return self.name or f"demand:{self.meter}"

    @property
    def point_name(self) -> str:
        return self.point or ("energy_import" if self.from_ == "energy" else "active_power")


class InterlockSettings(_Strict):
    cooling_floor_c: float = 26.0
    heating_ceiling_c: float = 20.0
    max_step_k: float = Field(0.5, gt=0, le=2.0)
    min_write_interval: Duration = 300.0
    max_shed: Duration = 7200.0
    min_release: Duration = 900.0
    compressor_min_on: Duration = 300.0
    compressor_min_off: Duration = 300.0


class LimiterSettings(_Strict):
    step_k: float = Field(0.5, gt=0)
    max_zones_per_step: int = Field(2, ge=1)
    max_shed_share: float = Field(0.5, gt=0, le=1)
    confirm: Duration = 300.0
    hold: Duration = 900.0
    stagger: Duration = 300.0
    futility_kw: float = Field(0.3, ge=0)


class BudgetSettings(_Strict):
    setup_k: float = Field(1.0, gt=0, le=2.2)  # Title 24's 4 degF is the most asked of a DR setup
    max_age: Duration = Field(900.0, gt=0)  # an older budget colour permits nothing


class ZoneSettings(_Strict):
    device: str
    priority: int = Field(ge=1)
    max_setup_k: float = Field(2.0, gt=0, le=4.0)
    defaults: dict[str, float] = Field(default_factory=dict)
    shed: bool = True  # False: only operator overrides and the budget act on this zone


class ControlSettings(_Strict):
    mode: Literal["advise", "control"] = "advise"
    tick: Duration = Field(5.0, gt=0)  # seconds between rule steps (wall time)
    lease: Duration = Field(600.0, gt=0)
    link_timeout: Duration = Field(300.0, gt=0)
    write_timeout: Duration | None = None  # default: the bus's timeout
    interlocks: InterlockSettings = InterlockSettings()
    limiter: LimiterSettings = LimiterSettings()
    budget: BudgetSettings | None = None
    zones: list[ZoneSettings] = Field(min_length=1)


@dataclass(frozen=True)
class ZonePlan:
    device: str
    priority: int
    max_setup_k: float
    shed: bool
    points: dict[str, PointSpec]


@dataclass(frozen=True)
class ControlConfig:
    settings: ControlSettings
    interlocks: Interlocks
    zones: tuple[ZonePlan, ...]


def tolerance(profile: Profile, point: str) -> float:
    """Half a register step: a read-back this close is the value written."""
    p = profile.points[point]
    if p.type == "bit":
        return 0.5
    if p.type in ("f32", "f64"):
        return 1e-3 * max(1.0, abs(p.scale))
    return abs(p.scale) / 2 + 1e-9


def check_control(
    settings: ControlSettings, profiles: dict[str, Profile], problem: Problem
) -> ControlConfig | None:
    """Cross-check zones against the site's devices: each is an HVAC device with the
    cooling and heating setpoints writable, its defaults within the interlocks."""
    zones: list[ZonePlan] = []
    interlocks: Interlocks | None = None
    seen: set[str] = set()
    il = settings.interlocks
    for i, zone in enumerate(settings.zones):
        loc = ("control", "zones", i)
        profile = profiles.get(zone.device)
        if profile is None:
            problem((*loc, "device"), f"unknown device {zone.device!r} (not in devices:)")
            continue
        if zone.device in seen:
            problem((*loc, "device"), f"zone {zone.device!r} is listed twice")
            continue
        seen.add(zone.device)
        writable = {n for n, p in profile.points.items() if p.write is not None}
        missing = [p for p in (COOLING_SETPOINT, HEATING_SETPOINT) if p not in writable]
        if missing:
            problem(
                (*loc, "device"),
                f"{zone.device} ({profile.id}) has no writable {', '.join(missing)}: "
                "a zone is an HVAC controller",
            )
            continue
        bad_bits = [n for n in writable if profile.points[n].bit is not None]
        if bad_bits:
            problem(
                (*loc, "device"),
                f"{profile.id}: bits inside registers ({', '.join(bad_bits)}) cannot be "
                "written safely (a write replaces the whole register)",
            )
            continue
        zone_il = Interlocks.from_profile(
            profile,
            cooling_floor_c=il.cooling_floor_c,
            heating_ceiling_c=il.heating_ceiling_c,
            max_step_k=il.max_step_k,
            min_write_interval=timedelta(seconds=il.min_write_interval),
            max_shed=timedelta(seconds=il.max_shed),
            min_release=timedelta(seconds=il.min_release),
            compressor_min_on=timedelta(seconds=il.compressor_min_on),
            compressor_min_off=timedelta(seconds=il.compressor_min_off),
        )
        if interlocks is not None and zone_il.bounds != interlocks.bounds:
            problem(
                (*loc, "device"),
                f"{zone.device} uses {profile.id}, whose writable points differ from the "
                "first zone's; one control section drives one HVAC profile",
            )
            continue
        interlocks = zone_il
        points: dict[str, PointSpec] = {}
        for name in sorted(
            writable, key=lambda n: (n not in (COOLING_SETPOINT, HEATING_SETPOINT), n)
        ):
            points[name] = PointSpec(zone.defaults.get(name), tolerance(profile, name))
        for name, value in zone.defaults.items():
            where = (*loc, "defaults", name)
            if name not in writable:
                problem(where, f"{profile.id} has no writable point {name!r}")
            elif not math.isfinite(value):
                problem(where, "must be a finite number")
            elif name == COOLING_SETPOINT and value < il.cooling_floor_c:
                problem(where, f"{value:g} is under the cooling floor {il.cooling_floor_c:g} degC")
            elif name == HEATING_SETPOINT and value > il.heating_ceiling_c:
                problem(
                    where, f"{value:g} is above the heating ceiling {il.heating_ceiling_c:g} degC"
                )
            else:
                b = zone_il.bounds[name]
                if (b.min is not None and value < b.min) or (b.max is not None and value > b.max):
                    problem(where, f"{value:g} is outside {profile.id}'s range [{b.min}, {b.max}]")
        zones.append(ZonePlan(zone.device, zone.priority, zone.max_setup_k, zone.shed, points))
    if interlocks is None or len(zones) != len(settings.zones):
        return None
    return ControlConfig(settings, interlocks, tuple(zones))


def check_demand(settings: DemandSettings, profiles: dict[str, Profile], problem: Problem) -> None:
    profile = profiles.get(settings.meter)
    if profile is None:
        problem(("demand", "meter"), f"unknown device {settings.meter!r} (not in devices:)")
        return
    point = profile.points.get(settings.point_name)
    if point is None:
        problem(
            ("demand", "point" if settings.point else "from"),
            f"{settings.meter} ({profile.id}) has no point {settings.point_name!r}",
        )
        return
    want = "kWh" if settings.from_ == "energy" else "kW"
    if point.unit != want:
        problem(
            ("demand", "point" if settings.point else "from"),
            f"{settings.point_name} of {profile.id} is in {point.unit or 'no unit'}; "
            f"demand from {settings.from_} needs {want}",
        )


def zone_devices(config: ControlConfig | None) -> Sequence[str]:
    return [] if config is None else [z.device for z in config.zones]
