"""steward-edge: check a site file, or run the edge agent."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

import orjson

from device_profiles import ConfigError
from device_profiles.schema import parse_duration
from edge.acquire.modbus.linetime import describe as describe_line
from edge.acquire.modbus.linetime import line_time
from edge.acquire.modbus.plan import plan_requests, summarize
from edge.config import SiteConfig, load_site
from edge.model import Sample
from edge.pause import clear_pause, read_pause, write_pause

log = logging.getLogger("steward.edge")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="steward-edge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="validate a site file and print each device's request plan")
    c.add_argument("site", help="site YAML file")
    c.add_argument("--verbose", "-v", action="store_true", help="list every request and point")
    c.add_argument(
        "--probe",
        action="store_true",
        help="read every device once and print what it answers (commissioning)",
    )
    c.add_argument(
        "--device",
        dest="probe_device",
        action="append",
        help="with --probe: only this device (repeatable)",
    )
    st = sub.add_parser("status", help="what the outbox holds and what the agent last reported")
    st.add_argument("site", help="site YAML file")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    pa = sub.add_parser("pause", help="planned outage: stop sending (the outbox keeps accepting)")
    pa.add_argument("site", help="site YAML file")
    pa.add_argument(
        "--for",
        dest="duration",
        type=parse_duration,
        default=None,
        help="lift the pause by itself after this long, e.g. 2h (default: never)",
    )
    pa.add_argument("--reason", default="", help="shown in status and in the agent's log")
    rs = sub.add_parser("resume", help="end a pause: send the backlog")
    rs.add_argument("site", help="site YAML file")
    rh = sub.add_parser(
        "release-held",
        help="send records held for the clock in an earlier boot as stamped (you vouch "
        "that the clock was right then)",
    )
    rh.add_argument("site", help="site YAML file")
    rh.add_argument(
        "--as-stamped",
        action="store_true",
        help="do it; without this flag, only say what is held",
    )
    rp = sub.add_parser(
        "replay",
        help="run the site's demand and control rules over stored history (writes nothing)",
    )
    rp.add_argument("site", help="site YAML file")
    rp.add_argument(
        "--from", dest="start", required=True, help="ISO 8601 (default zone: the site's)"
    )
    rp.add_argument("--to", dest="end", required=True, help="ISO 8601, exclusive")
    rp.add_argument("--api", default=None, help="central API URL (default: the site's uplink.url)")
    tok = rp.add_mutually_exclusive_group(required=True)
    tok.add_argument("--token-file", help="file holding a user token with the viewer role")
    tok.add_argument("--token-env", help="environment variable holding that token")
    rp.add_argument(
        "--kw-per-k",
        type=float,
        default=None,
        help="estimate: kW a shed zone saves per K of setup (default: --share-per-k of its"
        " recorded active_power)",
    )
    rp.add_argument(
        "--share-per-k",
        type=float,
        default=0.25,
        help="estimate: share of a zone's recorded power saved per K of setup (default 0.25)",
    )
    r = sub.add_parser("run", help="run the edge agent")
    r.add_argument("site", help="site YAML file")
    r.add_argument("--stdout", action="store_true", help="print readings as JSON lines")
    r.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    r.add_argument("--stats-json", default=None, help="write final statistics to this file")
    r.add_argument("--status-every", type=float, default=30.0, help="seconds between status lines")
    r.add_argument("--sim-clock", default=None, help=argparse.SUPPRESS)
    r.add_argument("--verbose", "-v", action="store_true")
    return parser


def print_plan(site: SiteConfig, verbose: bool, out=sys.stdout) -> None:
    print(
        f"site {site.site} / building {site.building}: {len(site.devices)} devices, "
        f"{len(site.buses)} buses -- configuration OK",
        file=out,
    )
    total_requests = 0
    per_second = 0.0
    rtu_plans: dict[str, list] = {}  # bus id -> (device, interval, plan) for line times
    for d in site.devices:
        points = {n: d.profile.points[n] for n in d.points}
        plan = plan_requests(points, d.profile.quirks)
        if site.buses[d.bus].rtu is not None:
            rtu_plans.setdefault(d.bus, []).append((d.id, d.interval, plan))
        s = summarize(plan)
        total_requests += s.requests
        per_second += s.requests / d.interval
        print(
            f"  {d.id:<24} {d.profile.id:<20} bus {d.bus} unit {d.unit:<3} every {d.interval:g} s: "
            f"{s.points} points in {s.requests} requests, {s.registers_read} registers read, "
            f"{s.registers_used} used",
            file=out,
        )
        if verbose:
            for req in plan:
                print(f"      {req.describe()}", file=out)
    print(f"total: {total_requests} requests per cycle, {per_second:.1f} requests/s", file=out)
    for bus_id, plans in rtu_plans.items():
        for line in describe_line(line_time(site.buses[bus_id], plans), verbose):
            print(line, file=out)


async def probe(site: SiteConfig, only: list[str] | None, out=sys.stdout) -> int:
    """One poll of each device, printed point by point: what commissioning checks against
    the meter's display (e.g. a DTSU666's voltage_l1 near 220 V, energy as on the LCD)."""
    from edge.acquire.modbus.bus import open_link
    from edge.acquire.modbus.errors import TransactionError
    from edge.acquire.modbus.poller import DevicePoller

    devices = [d for d in site.devices if not only or d.id in only]
    if only and len(devices) != len(set(only)):
        missing = set(only) - {d.id for d in devices}
        print(
            f"steward-edge: no device(s) {', '.join(sorted(missing))} in {site.path}",
            file=sys.stderr,
        )
        return 2
    failed = 0
    links = {
        bus_id: open_link(cfg)
        for bus_id, cfg in site.buses.items()
        if any(d.bus == bus_id for d in devices)
    }
    try:
        for d in devices:
            bus = site.buses[d.bus]
            poller = DevicePoller(d, bus.timeout, bus.retries)
            print(f"\n{d.id} ({d.profile.id}, bus {d.bus}, unit {d.unit}):", file=out)
            try:
                async with links[d.bus].session() as session:
                    result = await poller.poll(session)
            except TransactionError as exc:
                print(f"  cannot reach the device: {exc}", file=out)
                failed += 1
                continue
            for r in result.readings:
                value = (
                    "-"
                    if r.value is None
                    else f"{r.value:g}"
                    if isinstance(r.value, float)
                    else r.value
                )
                note = "" if r.quality == "good" else f"  [{r.quality}: {r.reason}]"
                print(f"  {r.point:<24} {value:>14} {r.unit:<5}{note}", file=out)
            for e in result.events:
                print(f"  ! {e.message}", file=out)
            if not result.reachable or any(r.quality != "good" for r in result.readings):
                failed += 1
    finally:
        for link in links.values():
            link.close()
    print(
        f"\nprobe: {len(devices) - failed} of {len(devices)} devices answered every point", file=out
    )
    return 0 if failed == 0 else 1


def pause_or_resume(site: SiteConfig, args: argparse.Namespace) -> int:
    if site.outbox is None or site.uplink is None:
        print(f"steward-edge: {site.path} has no uplink: nothing to pause", file=sys.stderr)
        return 2
    outbox = site.path.parent / site.outbox.path
    if args.command == "pause":
        pause = write_pause(outbox, args.duration, args.reason)
        print(
            f"uplink {pause.describe(time.time())}; the agent follows within seconds, "
            "and readings keep collecting in the outbox"
        )
    elif clear_pause(outbox):
        print("uplink resumed; the backlog goes out within seconds")
    else:
        print("the uplink was not paused")
    return 0


def release_held(site: SiteConfig, as_stamped: bool) -> int:
    """Records held for the clock in an earlier boot cannot be proven by the edge; an
    operator who knows the clock was right then (an RTC, NTP logs) releases them."""
    import getpass
    import sqlite3

    from edge.clock_hold import held_summary, release_as_stamped

    if site.outbox is None:
        print(f"steward-edge: {site.path} has no outbox: section", file=sys.stderr)
        return 2
    path = site.path.parent / site.outbox.path
    if not path.exists():
        print(f"steward-edge: no outbox at {path}", file=sys.stderr)
        return 1
    db = sqlite3.connect(path, timeout=30)
    try:
        held = held_summary(db)
        unprovable = {lane: h["unprovable"] for lane, h in held.items() if h["unprovable"]}
        if not unprovable:
            print("no records are held that the edge cannot prove; nothing to release")
            return 0
        if not as_stamped:
            for lane, n in unprovable.items():
                print(f"{n:,} {lane} records held for the clock cannot be proven")
            print(
                "steward-edge: nothing released; add --as-stamped if the clock was right when "
                "they were stamped",
                file=sys.stderr,
            )
            return 1
        who = f"{getpass.getuser()} at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}"
        released = release_as_stamped(db, who)
    finally:
        db.close()
    for lane, n in released.items():
        print(f"{n:,} {lane} records will be sent as stamped when the agent next starts")
    log.warning("release-held: %s released %s as stamped", who, released)
    return 0


def print_status(site: SiteConfig, as_json: bool, out=sys.stdout) -> int:
    """Backlog straight from the outbox file (works while the agent runs, or after it
    died), plus the agent's last snapshot of rates and errors."""
    from edge.agent import status_path
    from edge.clock_hold import held_summary
    from edge.outbox import Outbox

    if site.outbox is None:
        print(
            f"steward-edge: {site.path} has no outbox: section; nothing to report", file=sys.stderr
        )
        return 2
    path = site.path.parent / site.outbox.path
    if not path.exists():
        print(f"steward-edge: no outbox at {path} yet (has the agent run?)", file=sys.stderr)
        return 1
    with Outbox(path) as outbox:
        backlog = {lane: b for lane, b in outbox.backlog().items()}
        held = held_summary(outbox._db)
    snapshot_file = status_path(path)
    snapshot = json.loads(snapshot_file.read_text()) if snapshot_file.exists() else None
    now = time.time()
    if as_json:
        lanes = {
            lane: {k: getattr(b, k) for k in b.__dataclass_fields__} for lane, b in backlog.items()
        }
        print(
            json.dumps(
                {"outbox": str(path), "backlog": lanes, "held_for_clock": held, "agent": snapshot},
                indent=1,
            ),
            file=out,
        )
        return 0
    print(f"edge {site.edge}: outbox {path}", file=out)
    for lane, b in backlog.items():
        age = f", oldest {now - b.oldest_ts:.0f} s old" if b.oldest_ts else ""
        reasons = ", ".join(f"{k} {v:,}" for k, v in b.drops.items())
        print(
            f"  {lane:<9} {b.records:,} records ({b.points:,} points) waiting{age}; "
            f"dropped {b.dropped_records:,} records; quarantined {b.quarantined:,}"
            + (f"; drops by reason: {reasons}" if reasons else ""),
            file=out,
        )
    for lane, h in held.items():
        if h["waiting"]:
            print(
                f"  held for the clock: {h['waiting']:,} {lane} records waiting for the "
                "API's time to prove their timestamps",
                file=out,
            )
        if h["unprovable"]:
            print(
                f"  held for the clock: {h['unprovable']:,} {lane} records that cannot be "
                "re-stamped (stamped by a wrong clock in an earlier boot, or refused by "
                "the API for their timestamp); kept, not sent",
                file=out,
            )
    pause = read_pause(path)
    if pause is not None and pause.active(now):
        print(f"  uplink {pause.describe(now)}", file=out)
    if snapshot is None:
        print("  agent: no snapshot yet (written every status interval)", file=out)
        return 0
    print(
        f"  agent (snapshot {now - snapshot['written_at']:.0f} s old): "
        f"{snapshot.get('points_per_s', 0):,.0f} points/s, {snapshot['errors']:,} errors, "
        f"{snapshot['overruns']:,} overruns, {snapshot['quarantined']} quarantined points, "
        f"{snapshot['offline']} devices not answering",
        file=out,
    )
    for bus_id, b in snapshot.get("buses", {}).items():
        print("  " + _bus_status(bus_id, b, now), file=out)
    if snapshot.get("clock"):
        print(f"  clock {snapshot['clock']['describe']}", file=out)
    up = snapshot.get("uplink")
    if up:
        last_ok = up.get("last_success_at")
        ok = f"last delivery {now - last_ok:.0f} s ago" if last_ok else "nothing delivered yet"
        errors = ", ".join(f"{k} {v}" for k, v in up["errors"].items()) or "none"
        print(
            f"  uplink {up['state']}{' (paused)' if up['paused'] else ''}: "
            f"{up['rate']['points_per_s']:,.0f} points/s, {ok}; errors: {errors}",
            file=out,
        )
        if up.get("last_error"):
            print(f"    last error: {up['last_error']}", file=out)
    if snapshot.get("access"):
        from edge.access_agent import status_lines

        for line in status_lines(snapshot["access"], now):
            print("  " + line, file=out)
    if snapshot.get("directives"):
        from edge.access_agent import directives_lines

        for line in directives_lines(snapshot["directives"], now):
            print("  " + line, file=out)
    if snapshot.get("control"):
        from edge.control.status import status_lines as control_lines

        for line in control_lines(snapshot["control"], now):
            print("  " + line, file=out)
    return 0


def _bus_status(bus_id: str, b: dict, now: float) -> str:
    state = "answering"
    if b["offline"]:
        since = b.get("offline_since")
        state = "NOT ANSWERING" + (f" for {now - since:.0f} s" if since else "")
    of = "its line's time" if b["kind"] == "rtu" else "one connection's time"
    silent = ", ".join(
        f"{d} {share * 100:.1f}%"
        for d, share in sorted(b["timeout_share_by_device"].items(), key=lambda kv: -kv[1])
    )
    waiting = f" ({silent})" if silent else ""
    return (
        f"bus {bus_id} ({b['where']}): {state}, {b['outages']} outages; "
        f"{b['timeout_share'] * 100:.1f}% of {of} waiting on timeouts{waiting}"
    )


def _stdout_sink(sample: Sample) -> None:
    write = sys.stdout.buffer.write
    for r in sample.readings:
        write(orjson.dumps(r.as_dict()))
        write(b"\n")
    sys.stdout.buffer.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise
    try:
        site = load_site(args.site)
    except ConfigError as exc:
        print(f"steward-edge: invalid configuration\n{exc}", file=sys.stderr)
        return 2
    if args.command == "replay":
        from edge.replay_cli import run_replay

        return run_replay(site, args)
    if args.command == "check":
        try:
            print_plan(site, args.verbose)
            if site.uplink is not None:
                site.uplink.resolve_token(site.path.parent)
                print(f"uplink: {site.uplink.url}, token found", file=sys.stdout)
        except ValueError as exc:
            print(f"steward-edge: {site.path}: {exc}", file=sys.stderr)
            return 2
        if args.probe:
            return asyncio.run(probe(site, args.probe_device))
        return 0
    if args.command == "status":
        return print_status(site, args.json)
    if args.command in ("pause", "resume"):
        return pause_or_resume(site, args)
    if args.command == "release-held":
        return release_held(site, args.as_stamped)
    from edge.agent import Agent, run_until_signalled

    sinks = [_stdout_sink] if args.stdout else []
    if not sinks and site.outbox is None:
        log.warning("no outbox: section and no --stdout: readings are counted, not kept")
    try:
        agent = Agent.from_site(
            site,
            sample_sinks=sinks,
            status_every=args.status_every,
            clock=_clock(args.sim_clock),
            check_clock=not args.sim_clock,  # a simulated clock is off on purpose
        )
    except ValueError as exc:
        print(f"steward-edge: {site.path}: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run_until_signalled(agent, args.duration))
        stats = agent.stats()
    finally:
        agent.close()
    log.info(
        "stopped: %d points in %d samples, %d requests, %d errors, %d overruns",
        stats["points"],
        stats["samples"],
        stats["requests"],
        stats["errors"],
        stats["overruns"],
    )
    if args.stats_json:
        with open(args.stats_json, "w") as fh:
            json.dump(stats, fh, indent=1, default=str)
    return 0


def _clock(spec: str | None):
    """--sim-clock START:ANCHOR:SPEED (the demo): timestamps follow the simulator's time."""
    if not spec:
        return time.time
    start, anchor, speed = (float(x) for x in spec.split(":"))
    return lambda: start + (time.time() - anchor) * speed


if __name__ == "__main__":
    sys.exit(main())
