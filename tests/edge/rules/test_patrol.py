"""Patrol rules (edge/rules/patrol.py): scenario folders worked out by hand, restarts.

testcases/patrol/<name>/ holds plan.json (the routes, plus "since": when the engine
starts watching), events.json (scans: local time, tag, guard), ticks.json (times the
clock is advanced to) and expected.json: the conditions in emission order with the
time each is about ("at") and the input that produced it ("by"), every time in the
site's local time, with a "why" giving the arithmetic. Inputs at the same instant run
events first, then the tick.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.model import Colour
from edge.rules.access_events import AccessEvent
from edge.rules.conditions import Condition
from edge.rules.patrol import PatrolEngine
from edge.rules.patrol_plan import parse_plans

CASES_DIR = Path(__file__).parent / "testcases" / "patrol"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())

Step = tuple[str, Any]  # ("event", AccessEvent) or ("tick", now)


def _local(text: str, tz: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def _load(name: str) -> tuple[dict, float, list[tuple[float, Step]], dict]:
    case = CASES_DIR / name
    plan = json.loads((case / "plan.json").read_text())
    tz = plan.get("tz", "Asia/Shanghai")
    since = _local(plan.pop("since"), tz)
    steps: list[tuple[float, int, Step]] = []
    for ev in json.loads((case / "events.json").read_text()):
        ts = _local(ev["at"], tz)
        e = AccessEvent(ts, "patrol.scan", ev["tag"], credential=ev.get("guard"))
        steps.append((ts, 0, ("event", e)))
    ticks_file = case / "ticks.json"
    if ticks_file.exists():
        for t in json.loads(ticks_file.read_text()):
            steps.append((_local(t, tz), 1, ("tick", _local(t, tz))))
    steps.sort(key=lambda s: (s[0], s[1]))
    expected = json.loads((case / "expected.json").read_text())
    return plan, since, [(s[0], s[2]) for s in steps], expected


def _run(engine: PatrolEngine, steps: list[tuple[float, Step]]) -> list[tuple[float, Condition]]:
    out = []
    for at, (kind, x) in steps:
        got = engine.feed(x) if kind == "event" else engine.tick(x)
        out.extend((at, c) for c in got)
    return out


@pytest.mark.parametrize("name", CASES)
def test_patrol_scenario_yields_the_hand_worked_conditions(name: str) -> None:
    plan, since, steps, expected = _load(name)
    tz = plan.get("tz", "Asia/Shanghai")
    engine = PatrolEngine(parse_plans(plan), since=since)
    got = _run(engine, steps)
    want = [
        (e["code"], e["source"], e["active"], _local(e["at"], tz), _local(e["by"], tz))
        for e in expected["conditions"]
    ]
    assert [(c.code, c.source, c.active, c.ts, by) for by, c in got] == want
    for c in (c for _, c in got if c.active):
        assert c.message and c.data["route"], c
        red = c.code in ("patrol.missed", "patrol.incomplete", "patrol.guard_inactive")
        assert c.colour == (Colour.RED if red else Colour.YELLOW)
    rounds = engine.rounds()
    assert len(rounds) == len(expected["rounds"])
    for r, w in zip(rounds, expected["rounds"], strict=True):
        assert r["state"] == "finished" and r["day"] == w["day"]
        assert {c["checkpoint"]: c["status"] for c in r["checkpoints"]} == w["statuses"]
        ooo = [c["checkpoint"] for c in r["checkpoints"] if c["out_of_order"]]
        assert ooo == w.get("out_of_order", [])
        if "scans" in w:
            assert {c["checkpoint"]: c["scans"] for c in r["checkpoints"]} == w["scans"]
    for reason, n in expected.get("counters", {}).items():
        assert engine.counters.get(reason, 0) == n, (reason, engine.counters)


@pytest.mark.parametrize("name", CASES)
def test_snapshot_restore_at_any_point_yields_the_same_conditions(name: str) -> None:
    plan, since, steps, _ = _load(name)
    plans = parse_plans(plan)
    whole_engine = PatrolEngine(plans, since=since)
    whole = _run(whole_engine, steps)
    for k in range(len(steps) + 1):
        first = PatrolEngine(plans, since=since)
        part = _run(first, steps[:k])
        snap = json.loads(json.dumps(first.snapshot()))
        second = PatrolEngine.restore(plans, snap)
        part += _run(second, steps[k:])
        assert part == whole, f"restart after step {k}"
        assert second.rounds() == whole_engine.rounds()
        assert second.counters == whole_engine.counters


def test_round_is_judged_in_the_site_time_zone() -> None:
    """02:00 Asia/Shanghai on 2024-03-02 is 2024-03-01 18:00 UTC (UTC+8, no DST)."""
    plans = parse_plans({"routes": [_route(starts=["02:00"])]})
    since = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    engine = PatrolEngine(plans, since=since)
    engine.tick(dt.datetime(2024, 3, 1, 18, 0, tzinfo=dt.UTC).timestamp())
    (r,) = engine.rounds()
    assert r["start"] == dt.datetime(2024, 3, 1, 18, 0, tzinfo=dt.UTC).timestamp()
    assert r["day"] == "2024-03-02" and r["state"] == "running"


def _route(**kw: Any) -> dict:
    route = {
        "route": "route-a",
        "starts": ["22:00"],
        "open_before": 60,
        "late_grace": 120,
        "checkpoints": [
            {"id": "cp1", "tag": "T1", "offset": 0, "tolerance": 30},
            {"id": "cp2", "tag": "T2", "offset": 300, "tolerance": 30},
        ],
    }
    route.update(kw)
    return route


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"starts": ["25:00"]}, "route-a starts: start time '25:00'"),
        ({"checkpoints": []}, "route-a: 'checkpoints' must be a non-empty list"),
        (
            {"checkpoints": [{"id": "cp1", "offset": 0, "tolerance": -1}]},
            "route-a checkpoint #1 (cp1) tolerance",
        ),
        (
            {"checkpoints": [{"id": "cp1", "offset": 0}, {"id": "cp1", "offset": 5}]},
            "checkpoint id 'cp1' appears twice",
        ),
        (
            {"checkpoints": [{"id": "a", "offset": 10}, {"id": "b", "offset": 5}]},
            "ordered route, but checkpoint b is due before a",
        ),
        ({"starts": ["22:00", "22:05"]}, "rounds would overlap"),
        ({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"late_grace": "10m"}, "route-a late_grace: expected seconds as a number"),
        ({"colour": "red"}, "unknown field(s) ['colour']"),
    ],
)
def test_bad_plan_is_refused_naming_route_and_field(change: dict, words: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_plans({"routes": [_route(**change)]})
    assert words in str(err.value)
