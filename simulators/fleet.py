"""A building's worth of simulated devices (meters, HVAC zones) on one Modbus server.

Feeds (Feed, parse_feed) make a meter measure other devices too: the main incomer the
whole building, a distribution board's meter the units it supplies (simulators/meters.py).
"""

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


@dataclass(frozen=True)
class Feed:
    """The meter at `unit` measures the devices at `fed` too (see SimulatedMeter.feed_from)."""

    unit: int
    fed: tuple[int, ...]
    unmetered: float | None = None
    base_kw: float | None = None  # the meter's own load: this constant, not its load shape


FEED_USAGE = (
    "write UNIT:UNITS or UNIT:UNITS:unmetered=SHARE, e.g. 14:20-23 or 1:2-15:unmetered=0.05"
)


def parse_feed(spec: str) -> Feed:
    """'1:2-15:unmetered=0.05' -> Feed(1, (2, ..., 15), 0.05)."""
    from device_profiles.addressing import parse_units

    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"feed {spec!r}: {FEED_USAGE}")
    unmetered = None
    if len(parts) == 3:
        key, _, value = parts[2].partition("=")
        try:
            unmetered = float(value) if key.strip() == "unmetered" else None
        except ValueError:
            unmetered = None
        if unmetered is None or not 0.0 <= unmetered < 1.0:
            raise ValueError(f"feed {spec!r}: unmetered is a share from 0 to below 1; {FEED_USAGE}")
    units = parse_units(parts[0])
    if len(units) != 1:
        raise ValueError(f"feed {spec!r}: one meter feeds, not {parts[0]!r}; {FEED_USAGE}")
    return Feed(units[0], tuple(parse_units(parts[1])), unmetered)


class DeviceFleet:
    """Devices of one or more models, addressed by unit id, sharing a clock and a fault table."""

    def __init__(
        self,
        groups: Sequence[DeviceGroup],
        seed: int = 1,
        clock: SimClock | None = None,
        feeds: Sequence[Feed] = (),
        zone_kw: float | None = None,
        outdoor_offset: float = 0.0,
    ):
        """zone_kw: every HVAC zone's rated input (default: drawn per zone from the seed);
        outdoor_offset: K added to the zones' outdoor temperature (a hotter day)."""
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
                zone = SimulatedZone(
                    unit,
                    profile,
                    self.clock,
                    seed=seed,
                    rated_kw=zone_kw,
                    outdoor_offset=outdoor_offset,
                )
                zone.image.refused = self._refused(unit)
                zone.image.on_write = self._written(zone)
                self.zones[unit] = zone
                self.images[unit] = zone.image
        self.feeds = tuple(feeds)
        self._connect(self.feeds)

    def _connect(self, feeds: Sequence[Feed]) -> None:
        """Give each feeding meter its devices; a device hangs under one meter at most,
        and no meter under itself."""
        parent: dict[int, int] = {}
        for feed in feeds:
            if feed.unit not in self.meters:
                raise ValueError(f"feed {feed.unit}: unit {feed.unit} is not a simulated meter")
            for unit in feed.fed:
                if unit not in self.images:
                    raise ValueError(f"feed {feed.unit}: unit {unit} is not simulated")
                if unit in parent:
                    raise ValueError(
                        f"feed {feed.unit}: unit {unit} is fed by unit {parent[unit]} already"
                    )
                parent[unit] = feed.unit
        for feed in feeds:
            seen, up = [feed.unit], parent.get(feed.unit)
            while up is not None:
                if up in seen:
                    raise ValueError(f"feeds form a cycle: {' -> '.join(map(str, [*seen, up]))}")
                seen.append(up)
                up = parent.get(up)
        for feed in feeds:
            devices = [self.meters.get(u) or self.zones[u] for u in feed.fed]
            self.meters[feed.unit].feed_from(devices, feed.unmetered, feed.base_kw)  # type: ignore[arg-type]

    def _written(self, zone: SimulatedZone):
        def written(values: dict[str, float]) -> None:
            zone.apply_writes(values)
            for meter in self.meters.values():  # a meter may measure this zone: not stale
                meter.forget_cache()

        return written

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
            f"{pid} x{len(us)} (units {unit_ranges(us)})" for pid, us in by_profile.items()
        )


def groups_from_args(profiles: Sequence[str], units: Sequence[str]) -> list[DeviceGroup]:
    from device_profiles.addressing import parse_units

    if len(profiles) != len(units):
        raise ValueError(
            "give --units after every --profile (pairs), e.g. --profile chint/dtsu666 --units 1-50"
        )
    return [DeviceGroup(load(p), parse_units(u)) for p, u in zip(profiles, units, strict=True)]


def unit_ranges(units: list[int]) -> str:
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
