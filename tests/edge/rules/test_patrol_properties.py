"""Patrol engine properties over random scan/tick streams (hypothesis).

- nothing raises, whatever the order, guard, tag or time (late arrivals included);
- every checkpoint of every finished round ends in exactly one of on_time, late, early,
  missed; once time is far past the last round, no round is left running;
- conditions per (code, source) alternate raise, clear, raise... (emitted on change);
- a snapshot -> JSON -> restore at any point changes nothing;
- for a stream in time order, where the ticks fall changes no condition (a missed
  checkpoint is dated by its window, not by when the clock was advanced).
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.rules.access_events import AccessEvent
from edge.rules.conditions import Condition
from edge.rules.patrol import PatrolEngine
from edge.rules.patrol_plan import PatrolPlan, parse_plans
from edge.rules.patrol_round import FINAL

TZ = ZoneInfo("Asia/Shanghai")
SINCE = dt.datetime(2024, 3, 1, 21, 50, tzinfo=TZ).timestamp()
HORIZON = 5 * 3600.0  # covers the 22:00 and the 02:00 rounds
PLANS = parse_plans(
    {
        "routes": [
            {
                "route": "route-a",
                "ordered": True,
                "starts": ["22:00", "02:00"],
                "guards": ["G1", "G2"],
                "open_before": 60,
                "late_grace": 120,
                "guard_inactive_after": 150,
                "checkpoints": [
                    {"id": "cp1", "tag": "T1", "offset": 0, "tolerance": 30},
                    {"id": "cp2", "tag": "T2", "offset": 200, "tolerance": 60},
                    {"id": "cp3", "tag": "T3", "offset": 200, "tolerance": 20},
                    {"id": "cp4", "tag": "T4", "offset": 500, "tolerance": 30},
                ],
            },
            {
                "route": "route-b",
                "ordered": False,
                "starts": ["22:03"],
                "open_before": 0,
                "late_grace": 0,
                "checkpoints": [
                    {"id": "b1", "tag": "B1", "offset": 100, "tolerance": 50},
                    {"id": "b2", "tag": "T4", "offset": 100, "tolerance": 0},
                ],
            },
        ]
    }
)

step = st.one_of(
    st.tuples(
        st.just("scan"),
        st.floats(-120, 400),  # time step; negative: a late-arriving scan
        st.sampled_from(["T1", "T2", "T3", "T4", "B1", "TX", ""]),
        st.sampled_from(["G1", "G2", "G9", None]),
    ),
    st.tuples(st.just("tick"), st.floats(0, 900), st.none(), st.none()),
)


def _inputs(raw: list[tuple]) -> list[tuple[str, object]]:
    t, out = SINCE, []
    for kind, delta, tag, guard in raw:
        if kind == "tick":
            t += delta
            out.append(("tick", t))
        else:
            ts = t + delta
            t = max(t, ts)
            out.append(("event", AccessEvent(ts, "patrol.scan", tag, credential=guard)))
    return out


def _run(engine: PatrolEngine, inputs: list[tuple[str, object]]) -> list[Condition]:
    out: list[Condition] = []
    for kind, x in inputs:
        out += engine.feed(x) if kind == "event" else engine.tick(x)  # type: ignore[arg-type]
    return out


def _fresh(plans: list[PatrolPlan] = PLANS) -> PatrolEngine:
    return PatrolEngine(plans, since=SINCE)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=60), st.integers(0, 60))
def test_random_streams_never_raise_and_every_checkpoint_ends_in_one_status(
    raw: list[tuple], cut: int
) -> None:
    inputs = _inputs(raw)
    engine = _fresh()
    got = _run(engine, inputs)
    got += engine.tick(SINCE + HORIZON + 2 * 86400)  # two more days: every round is over
    rounds = engine.rounds()
    assert rounds, "the 22:00 round at least was opened"
    for r in rounds:
        assert r["state"] == "finished", r
        for cp in r["checkpoints"]:
            assert cp["status"] in FINAL, cp
            assert (cp["status"] == "missed") == (cp["scanned_at"] is None), cp
        assert r["complete"] == (r["counts"]["missed"] == 0)
    last: dict[tuple[str, str], bool] = {}
    for c in got:
        assert last.get((c.code, c.source), False) != c.active, c
        last[(c.code, c.source)] = c.active
        json.dumps(c.data)

    # a restart anywhere gives the same conditions
    k = min(cut, len(inputs))
    first = _fresh()
    part = _run(first, inputs[:k])
    second = PatrolEngine.restore(PLANS, json.loads(json.dumps(first.snapshot())))
    part += _run(second, inputs[k:])
    part += second.tick(SINCE + HORIZON + 2 * 86400)
    assert part == got
    assert second.rounds() == rounds


@settings(max_examples=100, deadline=None)
@given(st.lists(step, max_size=60))
def test_where_the_ticks_fall_changes_no_condition_for_an_ordered_stream(raw: list[tuple]) -> None:
    ordered = [(k, abs(d), tag, g) for k, d, tag, g in raw]  # no late arrivals
    inputs = _inputs(ordered)
    end = SINCE + HORIZON + 2 * 86400
    engine = _fresh()
    with_ticks = _run(engine, inputs) + engine.tick(end)
    engine = _fresh()
    without = _run(engine, [x for x in inputs if x[0] == "event"]) + engine.tick(end)

    def key(c: Condition) -> tuple:
        return (c.ts, c.code, c.source, c.active)

    assert sorted(map(key, with_ticks)) == sorted(map(key, without))
