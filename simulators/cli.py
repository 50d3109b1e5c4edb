"""steward-sim: hardware stand-ins (meters and HVAC zones over Modbus, access devices over
MQTT) and the one-command demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from datetime import datetime

from device_profiles import ConfigError, ProfileNotFound
from simulators.clock import SimClock
from simulators.faults import FAULT_FILE_HELP, FAULT_HELP
from simulators.fleet import DeviceFleet, groups_from_args, parse_feed, unit_ranges
from simulators.serve import serve_fleet

log = logging.getLogger("steward.sim")


def _epoch(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date-time, e.g. 2026-07-15T10:00"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steward-sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("meters", help="serve simulated meters and HVAC zones over Modbus TCP")
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=5020)
    m.add_argument(
        "--profile",
        action="append",
        required=True,
        help="profile id, e.g. chint/dtsu666 (repeat with --units for mixed models)",
    )
    m.add_argument("--units", action="append", required=True, help="unit ids, e.g. 1-50")
    m.add_argument("--seed", type=int, default=1, help="load-shape seed (same seed, same building)")
    m.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (0 freezes time)",
    )
    m.add_argument(
        "--feeds",
        action="append",
        default=[],
        metavar="UNIT:UNITS[:unmetered=SHARE]",
        help="the meter at UNIT also measures the devices at UNITS (a distribution board's"
        " meter: its own load plus theirs); with unmetered=SHARE it has no load of its own"
        " and SHARE of what it measures is on no sub-meter (a main incomer), e.g."
        " 1:2-15:unmetered=0.05",
    )
    m.add_argument("--start", type=_epoch, default=None, help="simulated start time (ISO 8601)")
    m.add_argument(
        "--framing",
        choices=("tcp", "rtu"),
        default="tcp",
        help="tcp: Modbus TCP (MBAP); rtu: RTU frames over TCP, like a serial converter",
    )
    m.add_argument("--fault", action="append", default=[], help=FAULT_HELP)
    m.add_argument("--fault-file", metavar="PATH", default=None, help=FAULT_FILE_HELP)
    m.add_argument(
        "--idle-close",
        type=float,
        default=None,
        metavar="SECONDS",
        help="close connections idle this long, as many gateways do",
    )
    m.add_argument(
        "--idle-reset",
        action="store_true",
        help="with --idle-close: reset idle connections instead of closing them cleanly",
    )
    m.add_argument("-v", "--verbose", action="store_true")

    a = sub.add_parser(
        "access", help="play an access scenario (doors, badges, patrols) onto an MQTT broker"
    )
    from simulators.access_cli import add_arguments as add_access_arguments

    add_access_arguments(a)

    h = sub.add_parser(
        "hvac", help="serve HVAC zones (RC thermal model) and the meter that measures them"
    )
    from simulators.hvac_cli import add_arguments as add_hvac_arguments

    add_hvac_arguments(h)

    d = sub.add_parser("demo", help="simulated building + edge agent + central API on loopback")
    from simulators.demo import add_arguments

    add_arguments(d)
    return parser


async def serve_meters(args: argparse.Namespace) -> None:
    fleet = DeviceFleet(
        groups_from_args(args.profile, args.units),
        seed=args.seed,
        clock=SimClock(args.start, args.speed),
        feeds=[parse_feed(spec) for spec in args.feeds],
    )
    server = fleet.server(args.framing)
    if args.idle_close is not None and args.idle_close <= 0:
        raise ValueError(f"--idle-close {args.idle_close:g}: give a number of seconds above 0")
    server.idle_close = args.idle_close
    server.idle_reset = args.idle_reset

    def banner(port: int) -> list[str]:
        kind = "Modbus TCP" if args.framing == "tcp" else "Modbus RTU over TCP"
        lines = [
            f"steward-sim: {len(fleet.images)} devices on {args.host}:{port} ({kind}): "
            f"{fleet.describe()}; speed x{args.speed:g}"
        ]
        for feed in fleet.feeds:
            extra = "" if feed.unmetered is None else f" (+{feed.unmetered:.0%} unmetered)"
            lines.append(
                f"steward-sim: unit {feed.unit} measures units {unit_ranges(list(feed.fed))}{extra}"
            )
        if args.idle_close:
            how = "reset" if args.idle_reset else "closed"
            lines.append(f"steward-sim: connections idle {args.idle_close:g} s are {how}")
        return lines

    await serve_fleet(fleet, server, args.host, args.port, banner, args.fault, args.fault_file)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise
    try:
        if args.command == "meters":
            asyncio.run(serve_meters(args))
        elif args.command == "hvac":
            from simulators.hvac_cli import run_hvac

            return run_hvac(args)
        elif args.command == "access":
            from simulators.access_cli import run_access

            return run_access(args)
        elif args.command == "demo":
            from simulators.demo import run_demo

            return run_demo(args)
    except (ValueError, ProfileNotFound, ConfigError, OSError) as exc:
        print(f"steward-sim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            print("steward-sim: interrupted", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
