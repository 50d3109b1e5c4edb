"""`steward-sim access`: play an access scenario onto a broker, or print its site sections."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import time
from pathlib import Path

import yaml

from simulators.access import load_scenario, play, render_passes, render_site, shipped


def _broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: give HOST:PORT, e.g. 127.0.0.1:1883")
    return host, int(port)


def _start(text: str) -> str:
    if text != "now":
        try:
            t = dt.datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: give now or an ISO time with its offset, e.g. 2026-12-02T22:00:00+08:00"
            ) from None
        if t.tzinfo is None:
            raise argparse.ArgumentTypeError(f"{text!r}: needs a UTC offset, e.g. +08:00")
    return text


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number above 0")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", type=_broker, default=("127.0.0.1", 1883), help="HOST:PORT")
    parser.add_argument(
        "--scenario",
        required=True,
        help="a scenario file, or a shipped one by name (compressed-night, building-day)",
    )
    parser.add_argument("--speed", type=_positive, default=1.0, help="scenario seconds per second")
    parser.add_argument(
        "--start",
        type=_start,
        default="now",
        help="real time of scenario second 0: now (the next whole second + 1) or ISO 8601",
    )
    parser.add_argument("--loops", type=int, default=1, help="play the scenario N times")
    parser.add_argument(
        "--junk-every",
        type=int,
        default=0,
        metavar="K",
        help="after every K-th event send junk (random, truncated, wrong types, ...)",
    )
    parser.add_argument("--junk-burst", type=int, default=1, help="junk messages each time")
    parser.add_argument("--junk-seed", type=int, default=1)
    parser.add_argument(
        "--print-site",
        action="store_true",
        help="print the site sections (mqtt, doors, patrol) and passes as YAML, then exit",
    )


def _scenario_path(text: str) -> Path:
    path = Path(text)
    return path if path.suffix in (".yaml", ".yml") or path.exists() else shipped(text)


def run_access(args: argparse.Namespace) -> int:
    scenario = load_scenario(_scenario_path(args.scenario))
    if args.loops < 1 or args.junk_every < 0 or args.junk_burst < 0:
        raise ValueError("--loops must be >= 1; --junk-every and --junk-burst >= 0")
    start = (
        math.ceil(time.time()) + 1.0
        if args.start == "now"
        else dt.datetime.fromisoformat(args.start).timestamp()
    )
    iso = dt.datetime.fromtimestamp(start, dt.UTC).astimezone(scenario.start.tzinfo).isoformat()
    if args.print_site:
        site = render_site(scenario, start, args.broker, args.speed, args.loops)
        passes = render_passes(scenario, start, args.speed, args.loops)
        print(f"# steward-sim access: scenario {scenario.name}, start {iso}, speed "
              f"x{args.speed:g}, {args.loops} loop(s).")  # fmt: skip
        print(f"# Play it with: --start {iso} --speed {args.speed:g} --loops {args.loops}")
        print(yaml.safe_dump(site, sort_keys=False, allow_unicode=True), end="")
        if passes:
            print("# Visitor passes to book (POST /v1/visitor-passes, add site and building):")
            for p in passes:
                print(f"#   {json.dumps(p, ensure_ascii=False)}")
        return 0
    host, port = args.broker
    total = scenario.length * args.loops / args.speed
    print(
        f"steward-sim: scenario {scenario.name} onto {host}:{port} from {iso}, "
        f"speed x{args.speed:g}, {args.loops} loop(s), about {total:.0f} s",
        flush=True,
    )
    report = asyncio.run(
        play(
            scenario,
            args.broker,
            start,
            speed=args.speed,
            junk_every=args.junk_every,
            junk_seed=args.junk_seed,
            junk_burst=args.junk_burst,
            loops=args.loops,
        )
    )
    print(f"steward-sim: {report.summary()}", flush=True)
    return 0
