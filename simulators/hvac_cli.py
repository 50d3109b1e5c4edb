"""`steward-sim hvac`: HVAC zones on the steward/hvac-zone profile and the meter above them.

The meter (default chint/dtsu666, unit 100) measures every zone plus a constant base load
of its own (--base-kw): its power is base + the sum of the zones' active_power, its energy
grows by base * hours + the zones' energy, so a setpoint written to a zone moves the
meter's power at once and its energy and 15-minute demand from then on (the zone model is
in simulators/hvac.py). --outdoor-offset K makes the day K degrees hotter than the
climate, so the zones work harder and demand can exceed a limit.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import datetime

from device_profiles import load
from device_profiles.addressing import parse_units
from simulators.clock import SimClock
from simulators.faults import FAULT_FILE_HELP, FAULT_HELP
from simulators.fleet import DeviceFleet, DeviceGroup, Feed, unit_ranges
from simulators.serve import serve_fleet

ZONE_PROFILE = "steward/hvac-zone"


def _epoch(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time, e.g. 2026-07-15T14:00+08:00"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5021)
    parser.add_argument("--zones", type=int, default=None, help="number of zones (default 6)")
    parser.add_argument(
        "--zone-units", default=None, help="the zones' unit ids, e.g. 1-6 (default 1..ZONES)"
    )
    parser.add_argument("--meter-unit", type=int, default=100, help="the meter's unit id")
    parser.add_argument(
        "--meter-profile", default="chint/dtsu666", help="the meter's profile (a meter kind)"
    )
    parser.add_argument(
        "--base-kw",
        type=float,
        default=20.0,
        help="the meter's own constant load besides the zones, kW (default 20)",
    )
    parser.add_argument(
        "--zone-kw",
        type=float,
        default=None,
        help="every zone's rated electrical input at full duty, kW"
        " (default: drawn per zone from the seed, 8 to 40 kW)",
    )
    parser.add_argument(
        "--outdoor-offset",
        type=float,
        default=0.0,
        metavar="K",
        help="add K degrees to the simulated outdoor temperature (a hot day), default 0",
    )
    parser.add_argument("--seed", type=int, default=1, help="zone parameters seed")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (0 freezes)"
    )
    parser.add_argument("--start", type=_epoch, default=None, help="simulated start (ISO 8601)")
    parser.add_argument(
        "--framing",
        choices=("tcp", "rtu"),
        default="tcp",
        help="tcp: Modbus TCP (MBAP); rtu: RTU frames over TCP, like a serial converter",
    )
    parser.add_argument("--fault", action="append", default=[], help=FAULT_HELP)
    parser.add_argument("--fault-file", metavar="PATH", default=None, help=FAULT_FILE_HELP)
    parser.add_argument("-v", "--verbose", action="store_true")


def zone_units(zones: int | None, units: str | None) -> list[int]:
    """--zones and --zone-units: the zones' unit ids (they must agree when both are given)."""
    if zones is not None and zones < 1:
        raise ValueError(f"--zones {zones}: give 1 or more")
    if units is None:
        return list(range(1, (zones or 6) + 1))
    chosen = parse_units(units)
    if zones is not None and zones != len(chosen):
        raise ValueError(f"--zones {zones} but --zone-units {units} names {len(chosen)} units")
    return chosen


def hvac_fleet(
    zones: Sequence[int],
    meter_unit: int = 100,
    meter_profile: str = "chint/dtsu666",
    base_kw: float = 20.0,
    seed: int = 1,
    clock: SimClock | None = None,
    zone_kw: float | None = None,
    outdoor_offset: float = 0.0,
) -> DeviceFleet:
    """The zones and one meter measuring them plus its constant base_kw."""
    meter = load(meter_profile)
    if meter.kind != "meter":
        raise ValueError(f"--meter-profile {meter_profile}: a {meter.kind} profile, not a meter")
    if not base_kw >= 0:
        raise ValueError(f"--base-kw {base_kw}: give 0 kW or more")
    if meter_unit in zones:
        raise ValueError(f"--meter-unit {meter_unit} is also a zone's unit")
    groups = [DeviceGroup(load(ZONE_PROFILE), list(zones)), DeviceGroup(meter, [meter_unit])]
    return DeviceFleet(
        groups,
        seed=seed,
        clock=clock,
        feeds=[Feed(meter_unit, tuple(zones), base_kw=base_kw)],
        zone_kw=zone_kw,
        outdoor_offset=outdoor_offset,
    )


async def serve_hvac(args: argparse.Namespace) -> None:
    zones = zone_units(args.zones, args.zone_units)
    fleet = hvac_fleet(
        zones,
        args.meter_unit,
        args.meter_profile,
        args.base_kw,
        args.seed,
        SimClock(args.start, args.speed),
        args.zone_kw,
        args.outdoor_offset,
    )
    server = fleet.server(args.framing)

    def banner(port: int) -> list[str]:
        kind = "Modbus TCP" if args.framing == "tcp" else "Modbus RTU over TCP"
        lines = [
            f"steward-sim: {len(zones)} HVAC zones and 1 meter on {args.host}:{port} ({kind});"
            f" speed x{args.speed:g}, outdoor offset {args.outdoor_offset:+g} K"
        ]
        for unit in zones:
            zone = fleet.zones[unit]
            lines.append(
                f"steward-sim: unit {unit} zone {ZONE_PROFILE}, rated {zone.rated_kw:.1f} kW"
                f" (fan {0.08 * zone.rated_kw:.1f} kW), at {zone.zone_t:.1f} degC"
            )
        lines.append(
            f"steward-sim: unit {args.meter_unit} meter {args.meter_profile} measures zones"
            f" {unit_ranges(zones)} plus a constant {args.base_kw:g} kW of its own"
        )
        return lines

    await serve_fleet(fleet, server, args.host, args.port, banner, args.fault, args.fault_file)


def run_hvac(args: argparse.Namespace) -> int:
    asyncio.run(serve_hvac(args))
    return 0
