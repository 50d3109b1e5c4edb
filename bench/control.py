"""Control: one simulated summer weekday of a building with and without demand limiting.

    python bench/control.py [--date 2026-07-15] [--zones 6] [--limit-kw KW] [--step 30]

The building is `steward-sim hvac`'s (simulators/hvac_cli.py hvac_fleet): N RC-model HVAC
zones of 20 kW each and a main meter measuring them plus a constant 20 kW base. Time is
stepped by hand (SimClock frozen and moved `--step` simulated seconds at a time), with
no sockets: every step reads each zone and the meter straight from the simulator objects
as one Sample each (all of its profile's points), feeds them to the site's ControlLoop
(edge/control/loop.py, the pure step the edge runs), runs `plan(now)`, applies each write
with `zone.apply_writes({point: value})` and hands the value read back from
`zone.values()` to `loop.done`.

Two runs of the same day from the same start state:
- **without control**: the building alone; its samples are then fed to a ControlLoop
  with the `demand:` section only (the demand rule: blocks, alarms; no zones);
- **with control**: the ControlLoop of a site file with `demand:` and `control:` (mode
  control; settings as in tests/support/control_site.py), loaded with edge.config.
The limit (default: 90 % of the uncontrolled day's peak 15-min demand) is the same in
both.

Printed per run: peak 15-minute demand (kW and block) from the meter's energy counter
differences per block (independent of the demand rule), and the demand rule's own peak
block (they must agree); energy (kWh) for the day; blocks over the limit (both ways);
comfort cost in degree-hours outside the band [20, 27] degC in occupied hours (weekday
08:00-18:00 local), summed over zones; writes (total and the most to one zone); sheds,
releases, futile zones; the rules' CPU per reading: time.process_time() spent in
loop.take + loop.plan + loop.done over the readings fed (points, not samples), in us.
Exit status 0; 1 when the two peak computations disagree.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.config import load_site
from edge.control.loop import ControlLoop
from edge.model import Reading, Sample
from simulators.clock import SimClock
from simulators.fleet import DeviceFleet
from simulators.hvac_cli import hvac_fleet

TZ = ZoneInfo("Asia/Shanghai")
BLOCK = 900
METER_UNIT = 100
METER = "main"
COMFORT_LOW, COMFORT_HIGH = 20.0, 27.0  # degC, occupied hours only
OCCUPIED = (8, 18)  # local hours, weekdays
AGREE_KW = 0.01  # the demand rule's blocks and the counter differences agree within this


def zone_id(unit: int) -> str:
    return f"ahu-{unit}"


def site_text(zones: int, limit_kw: float) -> str:
    """The site file of the controlled run (the bus is never opened: no sockets here)."""
    rows = "\n".join(f"    - {{device: {zone_id(u)}, priority: {u}}}" for u in range(1, zones + 1))
    return f"""site: bench
building: hall
outbox: {{path: outbox.sqlite}}  # required with control:; never opened here
buses:
  - {{id: hv, tcp: {{host: 127.0.0.1, port: 5021}}}}
devices:
  - {{id: 'ahu-{{unit}}', bus: hv, profile: steward/hvac-zone, units: '1-{zones}', interval: 30s}}
  - {{id: {METER}, bus: hv, profile: chint/dtsu666, unit: {METER_UNIT}, interval: 30s}}
demand:
  meter: {METER}
  limit_kw: {limit_kw:.3f}
  margin_kw: 3
control:
  mode: control
  lease: 10min
  link_timeout: 3min
  limiter: {{hold: 10min, stagger: 2min}}
  zones:
{rows}
"""


def load_loop(zones: int, limit_kw: float, with_control: bool) -> ControlLoop:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "site.yaml"
        path.write_text(site_text(zones, limit_kw))
        site = load_site(path)
    return ControlLoop(site.demand, site.control if with_control else None)


def sample(ts: float, device: str, profile, values: dict) -> Sample:
    points = profile.points
    return Sample(
        ts,
        device,
        [
            Reading(ts, device, name, float(v), points[name].unit or "")
            for name, v in values.items()
            if name in points
        ],
    )


@dataclass
class Run:
    name: str
    energy_at: dict[float, float] = field(default_factory=dict)  # block edge -> meter kWh
    comfort_kh: float = 0.0
    rule_blocks: list[dict] = field(default_factory=list)
    writes: Counter = field(default_factory=Counter)
    readings: int = 0
    rule_cpu: float = 0.0
    sim_cpu: float = 0.0
    loop: ControlLoop | None = None

    def blocks(self) -> list[tuple[float, float]]:
        """(block start, kW) from the meter's counter differences."""
        edges = sorted(self.energy_at)
        e = self.energy_at
        return [(a, (e[b] - e[a]) * 3600 / BLOCK) for a, b in itertools.pairwise(edges)]

    def energy_kwh(self) -> float:
        edges = sorted(self.energy_at)
        return self.energy_at[edges[-1]] - self.energy_at[edges[0]]


def occupied(ts: float) -> bool:
    local = datetime.fromtimestamp(ts, TZ)
    return local.weekday() < 5 and OCCUPIED[0] <= local.hour < OCCUPIED[1]


def building(args: argparse.Namespace, start: float) -> tuple[DeviceFleet, SimClock]:
    clock = SimClock(start, 0.0)
    fleet = hvac_fleet(
        list(range(1, args.zones + 1)),
        meter_unit=METER_UNIT,
        base_kw=args.base_kw,
        clock=clock,
        zone_kw=args.zone_kw,
        outdoor_offset=args.outdoor_offset,
    )
    return fleet, clock


def simulate(
    args: argparse.Namespace, start: float, end: float, name: str, loop: ControlLoop | None
) -> tuple[Run, list[list[Sample]]]:
    """One day: poll, feed, plan, write, every `step` s. Returns the run and its samples."""
    fleet, clock = building(args, start)
    meter = fleet.meters[METER_UNIT]
    run = Run(name, loop=loop)
    polls: list[list[Sample]] = []
    t = start
    cpu0 = time.process_time()
    while t <= end + 1e-6:
        clock.freeze_at(t)
        mv = meter.values()
        if (t - start) % BLOCK == 0:
            run.energy_at[t] = float(mv["energy_import"])
        samples = [sample(t, METER, meter.profile, mv)]
        comfort = occupied(t) and t < end
        for unit, zone in fleet.zones.items():
            zv = zone.values()
            samples.append(sample(t, zone_id(unit), zone.profile, zv))
            if comfort:
                temp = zv["zone_temperature"]
                outside = max(0.0, temp - COMFORT_HIGH) + max(0.0, COMFORT_LOW - temp)
                run.comfort_kh += outside * args.step / 3600
        if loop is None:
            polls.append(samples)
        else:
            run.readings += sum(len(s.readings) for s in samples)
            c0 = time.process_time()
            for s in samples:
                loop.take(s)
            records, intents = loop.plan(t)
            run.rule_cpu += time.process_time() - c0
            run.rule_blocks += [r.data for r in records if r.code == "demand.block"]
            for intent in intents:
                zone = fleet.zones[int(intent.device.split("-")[1])]
                zone.apply_writes({intent.point: intent.value})
                meter.forget_cache()  # the zone changed without time moving
                read_back = float(zone.values()[intent.point])
                c0 = time.process_time()
                loop.done(intent, t, read_back)
                run.rule_cpu += time.process_time() - c0
                run.writes[intent.device] += 1
        t += args.step
    run.sim_cpu = time.process_time() - cpu0 - run.rule_cpu
    return run, polls


def feed_demand_only(run: Run, loop: ControlLoop, polls: list[list[Sample]]) -> None:
    """The uncontrolled building's samples through the demand rule alone."""
    run.loop = loop
    for samples in polls:
        t = samples[0].ts
        run.readings += sum(len(s.readings) for s in samples)
        c0 = time.process_time()
        for s in samples:
            loop.take(s)
        records, _ = loop.plan(t)
        run.rule_cpu += time.process_time() - c0
        run.rule_blocks += [r.data for r in records if r.code == "demand.block"]


def label(ts: float) -> str:
    return datetime.fromtimestamp(ts, TZ).strftime("%H:%M")


def summary(run: Run, limit: float, start: float, end: float) -> dict:
    blocks = run.blocks()
    peak_t, peak_kw = max(blocks, key=lambda b: b[1])
    rule = [b for b in run.rule_blocks if start <= b["start"] < end and b["demand_kw"] is not None]
    rule_peak = max(rule, key=lambda b: b["demand_kw"]) if rule else None
    by_start = {b["start"]: b["demand_kw"] for b in rule}
    worst = max((abs(by_start[t] - kw) for t, kw in blocks if t in by_start), default=None)
    counts = run.loop.counts if run.loop is not None else Counter()
    return {
        "peak": (peak_kw, peak_t),
        "rule_peak": None if rule_peak is None else (rule_peak["demand_kw"], rule_peak["start"]),
        "rule_blocks": len(rule),
        "blocks": len(blocks),
        "worst_diff": worst,
        "energy": run.energy_kwh(),
        "over": sum(kw > limit for _, kw in blocks),
        "rule_over": sum(bool(b["over"]) for b in rule),
        "comfort": run.comfort_kh,
        "writes": sum(run.writes.values()),
        "max_zone": max(run.writes.values(), default=0),
        "sheds": counts["shed"],
        "releases": counts["release"],
        "futile": counts["futile"],
        "cpu_us": 1e6 * run.rule_cpu / run.readings if run.readings else float("nan"),
        "readings": run.readings,
    }


def print_table(a: dict, b: dict, limit: float, args: argparse.Namespace) -> None:
    def kw_at(v: tuple | None) -> str:
        return "-" if v is None else f"{v[0]:.1f} kW at {label(v[1])}"

    dpeak = b["peak"][0] - a["peak"][0]
    rows = [
        ("peak 15-min demand (meter counter)", kw_at(a["peak"]), kw_at(b["peak"]),
         f"{dpeak:+.1f} kW ({dpeak / a['peak'][0] * 100:+.1f} %)"),
        ("peak 15-min demand (demand rule)", kw_at(a["rule_peak"]), kw_at(b["rule_peak"]), ""),
        ("  rule vs counter, worst block", f"{a['worst_diff']:.4f} kW", f"{b['worst_diff']:.4f} kW",
         f"{a['rule_blocks']}/{a['blocks']} and {b['rule_blocks']}/{b['blocks']} blocks"),
        ("energy for the day", f"{a['energy']:.1f} kWh", f"{b['energy']:.1f} kWh",
         f"{b['energy'] - a['energy']:+.1f} kWh ({(b['energy'] / a['energy'] - 1) * 100:+.1f} %)"),
        ("blocks over the limit (counter / rule)", f"{a['over']} / {a['rule_over']}",
         f"{b['over']} / {b['rule_over']}", f"{b['over'] - a['over']:+d}"),
        ("comfort cost (degree-hours)", f"{a['comfort']:.2f} K.h", f"{b['comfort']:.2f} K.h",
         f"{b['comfort'] - a['comfort']:+.2f} K.h"),
        ("writes (most to one zone)", f"{a['writes']} ({a['max_zone']})",
         f"{b['writes']} ({b['max_zone']})", ""),
        ("sheds / releases / futile", f"{a['sheds']} / {a['releases']} / {a['futile']}",
         f"{b['sheds']} / {b['releases']} / {b['futile']}", ""),
        ("rules' CPU per reading", f"{a['cpu_us']:.2f} us", f"{b['cpu_us']:.2f} us",
         f"{a['readings']:,} / {b['readings']:,} readings"),
    ]  # fmt: skip
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in [*rows, ("", "without control")])
    w2 = max(len(r[2]) for r in [*rows, ("", "", "with control")])
    print(f"{'':{w0}}  {'without control':>{w1}}  {'with control':>{w2}}  difference")
    for r in rows:
        print(f"{r[0]:{w0}}  {r[1]:>{w1}}  {r[2]:>{w2}}  {r[3]}")


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--date", default="2026-07-15", help="the local day (default a summer "
                    "weekday, 2026-07-15, Asia/Shanghai)")  # fmt: skip
    ap.add_argument("--zones", type=int, default=6)
    ap.add_argument("--zone-kw", type=float, default=20.0, help="each zone's rated kW")
    ap.add_argument("--base-kw", type=float, default=20.0, help="the meter's own constant load")
    ap.add_argument("--outdoor-offset", type=float, default=0.0, help="K hotter than the climate")
    ap.add_argument("--limit-kw", type=float, default=None,
                    help="the 15-min limit (default: 90 %% of the uncontrolled peak)")  # fmt: skip
    ap.add_argument("--step", type=float, default=30.0, help="simulated s between polls")
    ap.add_argument("--hours", type=float, default=24.0, help="simulated span from 00:00")
    args = ap.parse_args()
    if not (args.zones >= 1 and args.step > 0 and BLOCK % args.step == 0 and args.hours > 0):
        ap.error("--zones >= 1, --hours > 0 and --step dividing 900 s are needed")
    day = datetime.fromisoformat(args.date).replace(tzinfo=TZ)
    start = day.timestamp()
    end = (day + timedelta(hours=args.hours)).timestamp()
    end = start + (end - start) // BLOCK * BLOCK

    wall0, cpu0 = time.perf_counter(), time.process_time()
    off, polls = simulate(args, start, end, "without control", None)
    peak = max(kw for _, kw in off.blocks())
    limit = args.limit_kw if args.limit_kw is not None else round(0.9 * peak, 1)
    feed_demand_only(off, load_loop(args.zones, limit, with_control=False), polls)
    on, _ = simulate(args, start, end, "with control", load_loop(args.zones, limit, True))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    a, b = summary(off, limit, start, end), summary(on, limit, start, end)
    print(
        f"{day:%Y-%m-%d %a} {label(start)}..{label(end) if args.hours < 24 else '24:00'} "
        f"(+08:00), {args.zones} zones x {args.zone_kw:g} kW + {args.base_kw:g} kW base, "
        f"outdoor offset {args.outdoor_offset:+g} K, poll every {args.step:g} s"
    )
    print(
        f"limit {limit:.1f} kW"
        + (" (90 % of the uncontrolled peak)" if args.limit_kw is None else "")
        + ", margin 3 kW; control: lease 10 min, hold 10 min, stagger 2 min, other settings"
        " default (0.5 K steps, 2 K max setup, half the zones at most, 26 degC floor)"
    )
    print(
        f"comfort band {COMFORT_LOW:g}-{COMFORT_HIGH:g} degC, occupied = weekday "
        f"{OCCUPIED[0]:02d}:00-{OCCUPIED[1]:02d}:00 local; degree-hours summed over zones"
    )
    print()
    print_table(a, b, limit, args)
    print()
    print(
        f"CPU: {cpu:.1f} s in all ({wall:.1f} s wall), simulator "
        f"{off.sim_cpu + on.sim_cpu:.1f} s, rules {off.rule_cpu + on.rule_cpu:.2f} s"
    )
    ok = all(s["worst_diff"] is not None and s["worst_diff"] <= AGREE_KW for s in (a, b))
    if not ok:
        print(f"the demand rule's blocks and the meter's counter differ by more than {AGREE_KW} kW")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
