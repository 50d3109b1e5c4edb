"""Rules benchmark: access events per second through the door and patrol rules and the
alarm lifecycle, on one core, in one process (issue 7's target: >= 20,000 events/s).

A synthetic working day of one building: 200 doors with a badge reader and a contact each,
staff badging in and out (grant, open, close), a few denials, doors held open, forced
doors, and guard rounds over 3 routes of 20 checkpoints every 2 hours. Every rule output
goes through the AlarmBook, as it will in the agent. Ticks run once per simulated second
of event time, as the agent's clock loop will. Prints events/s, conditions and alarms.

The other half of issue 7's benchmark, the latency from an MQTT publish to the alarm
committed in the outbox and to the alarm visible in GET /v1/alarms at 1,000 events/s
(broker, edge and API as processes), is bench/access_latency.py.

    python bench/rules.py [--events 200000] [--doors 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from edge.rules.access_events import AccessEvent
from edge.rules.alarm_book import AlarmBook
from edge.rules.door_config import DoorRulesConfig
from edge.rules.doors import DoorRules
from edge.rules.patrol import PatrolEngine
from edge.rules.patrol_plan import parse_plans

TZ = ZoneInfo("Asia/Shanghai")
TARGET = 20_000.0


def plans(routes: int, checkpoints: int) -> list:
    return parse_plans(
        {
            "tz": "Asia/Shanghai",
            "routes": [
                {
                    "route": f"route-{r}",
                    "ordered": True,
                    "starts": [f"{h:02d}:{10 * r:02d}" for h in range(0, 24, 2)],
                    "guards": [f"G{r}"],
                    "open_before": 60,
                    "late_grace": 300,
                    "checkpoints": [
                        {"id": f"cp{c}", "tag": f"T{r}-{c}", "offset": 60 * c, "tolerance": 30}
                        for c in range(checkpoints)
                    ],
                }
                for r in range(routes)
            ],
        }
    )


def synthetic_day(n: int, doors: int, start: float, rng: random.Random) -> list[AccessEvent]:
    """About n access events in event-time order, with patrol scans on schedule."""
    out: list[AccessEvent] = []
    t = start
    step = 86_400 / n
    while len(out) < n:
        t += rng.expovariate(1 / step) * 3  # three events per badge-in on average
        d = rng.randrange(doors)
        door, reader, contact = f"D{d}", f"R{d}", f"S{d}"
        card = f"C{rng.randrange(5000)}"
        roll = rng.random()
        if roll < 0.03:  # denied (bursts now and then)
            for k in range(rng.choice((1, 1, 1, 4))):
                out.append(AccessEvent(t + k, "access.denied", reader, door, card, "unknown card"))
            continue
        if roll < 0.035:  # forced: opened with no grant
            out.append(AccessEvent(t, "door.opened", contact, door))
            out.append(AccessEvent(t + 8, "door.closed", contact, door))
            continue
        held = 45 if roll < 0.04 else rng.uniform(2, 8)  # a few held open past 30 s
        out.append(AccessEvent(t, "access.granted", reader, door, card))
        out.append(AccessEvent(t + 0.5, "door.opened", contact, door))
        out.append(AccessEvent(t + 0.5 + held, "door.closed", contact, door))
    out.sort(key=lambda e: e.ts)
    return out[:n]


def patrol_scans(engine_plans: list, start: float, end: float) -> list[AccessEvent]:
    scans = []
    for plan in engine_plans:
        guard = next(iter(plan.guards))
        for round_start in plan.round_starts(start, end):
            for cp in plan.checkpoints:
                scans.append(
                    AccessEvent(round_start + cp.offset + 5, "patrol.scan", cp.tag, None, guard)
                )
    return scans


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--doors", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    start = datetime(2026, 12, 1, 0, 0, tzinfo=TZ).timestamp()
    engine_plans = plans(3, 20)
    events = synthetic_day(args.events, args.doors, start, rng)
    end = events[-1].ts
    # Every round is walked on time, so the patrol rules must raise nothing; the run (and
    # its ticks) ends with the last door event, before a round's unscanned tail.
    events += [e for e in patrol_scans(engine_plans, start, end) if e.ts <= end]
    events.sort(key=lambda e: e.ts)

    doors = DoorRules(DoorRulesConfig.from_dict({"defaults": {"after_hours": False}}))
    patrol = PatrolEngine(engine_plans, since=start - 3600)  # the 00:00 round opens before
    book = AlarmBook()
    conditions = transitions = 0
    next_tick = start + 1.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for event in events:
        while event.ts >= next_tick:  # the agent's once-a-second clock loop
            for cond in doors.tick(next_tick) + patrol.tick(next_tick):
                conditions += 1
                transitions += len(book.apply(cond))
            transitions += len(book.tick(next_tick))
            next_tick += 1.0
        out = patrol.feed(event) if event.kind == "patrol.scan" else doors.feed(event)
        for cond in out:
            conditions += 1
            transitions += len(book.apply(cond))
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0

    ticks = int(next_tick - start)
    rate = len(events) / cpu
    by_code: dict[str, int] = {}
    for alarm in book.alarms():
        by_code[alarm.code] = by_code.get(alarm.code, 0) + alarm.raise_count
    print(
        f"rules: {len(events):,} access events ({sum(e.kind == 'patrol.scan' for e in events):,} "
        f"patrol scans) over {(end - start) / 3600:.1f} h of event time, {args.doors} doors, "
        f"3 routes x 20 checkpoints, {ticks:,} one-second ticks"
    )
    print(
        f"  CPU {cpu:.2f} s (wall {wall:.2f} s): {rate:,.0f} events/s on one core "
        f"(target >= {TARGET:,.0f}: {'met' if rate >= TARGET else 'MISSED'})"
    )
    print(
        f"  {conditions:,} conditions, {transitions:,} alarm transitions, "
        f"{len(book)} alarms; raises by code: {dict(sorted(by_code.items()))}"
    )
    print("  latency (publish -> outbox, -> GET /v1/alarms): python bench/access_latency.py")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
