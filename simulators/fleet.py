"""A building's worth of simulated devices (meters, HVAC zones) on one Modbus server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from device_profiles import load
from device_profiles.schema import Profile
from simulators.clock import SimClock
from simulators.faults import FaultTable
from simulators.hvac import SimulatedZone
from simulators.loads import LoadBank
from simulators.meters import SimulatedMeter, is_single_phase
from simulators.modbus_server import ModbusServer
from simulators.registers import RegisterImage


@dataclass(frozen=True)
class DeviceGroup:
    profile: Profile
    units: list[int]


class DeviceFleet:
    """Devices of one or more models, addressed by unit id, sharing a clock and a fault table."""

    def __init__(self, groups: Sequence[DeviceGroup], seed: int = 1, clock: SimClock | None = None):
        self.clock = clock or SimClock()
        self.faults = FaultTable()
        pairs = [(g.profile, u) for g in groups for u in g.units]
        units = [u for _, u in pairs]
        if len(set(units)) != len(units):
            dup = sorted({u for u in units if units.count(u) > 1})
            raise ValueError(f"unit(s) {dup} given to more than one profile")
        for profile, unit in pairs:
            if profile.kind not in ("meter", "hvac"):
                raise ValueError(
                    f"unit {unit}: no simulator for {profile.kind} profile {profile.id}"
                )
        meters = [(p, u) for p, u in pairs if p.kind == "meter"]
        single = np.array([is_single_phase(p) for p, _ in meters], bool)
        self.bank = LoadBank(len(meters), seed=seed, single_phase=single) if meters else None
        self.meters: dict[int, SimulatedMeter] = {}
        self.zones: dict[int, SimulatedZone] = {}
        self.images: dict[int, RegisterImage] = {}
        for index, (profile, unit) in enumerate(meters):
            meter = SimulatedMeter(unit, profile, self.bank, index, self.clock)  # type: ignore[arg-type]
            self.meters[unit] = meter
            self.images[unit] = RegisterImage(profile, meter.values, self._refused(unit))
        for profile, unit in pairs:
            if profile.kind == "hvac":
                zone = SimulatedZone(unit, profile, self.clock, seed=seed)
                zone.image.refused = self._refused(unit)
                self.zones[unit] = zone
                self.images[unit] = zone.image

    def _refused(self, unit: int):
        def refused() -> frozenset[str]:
            fault = self.faults.get(unit)
            if fault is not None and fault.kind == "illegal_point":
                return frozenset({fault.point})
            return frozenset()

        return refused

    def server(self, framing: str = "tcp") -> ModbusServer:
        return ModbusServer(self.images, self.faults, framing)  # type: ignore[arg-type]

    def describe(self) -> str:
        by_profile: dict[str, list[int]] = {}
        for unit, image in sorted(self.images.items()):
            by_profile.setdefault(image.profile.id, []).append(unit)
        return ", ".join(
            f"{pid} x{len(us)} (units {_ranges(us)})" for pid, us in by_profile.items()
        )


def groups_from_args(profiles: Sequence[str], units: Sequence[str]) -> list[DeviceGroup]:
    from device_profiles.addressing import parse_units

    if len(profiles) != len(units):
        raise ValueError(
            "give --units after every --profile (pairs), e.g. --profile chint/dtsu666 --units 1-50"
        )
    return [DeviceGroup(load(p), parse_units(u)) for p, u in zip(profiles, units, strict=True)]


def _ranges(units: list[int]) -> str:
    units = sorted(units)
    out, start, prev = [], units[0], units[0]
    for u in [*units[1:], None]:  # type: ignore[list-item]
        if u is not None and u == prev + 1:
            prev = u
            continue
        out.append(f"{start}-{prev}" if prev != start else str(start))
        if u is not None:
            start = prev = u
    return ",".join(out)
