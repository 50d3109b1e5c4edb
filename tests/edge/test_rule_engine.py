"""RuleEngine (edge/rules/engine.py): access events and time in, wire records out, worked
by hand; and a restart (snapshot -> JSON -> restore) at any step changes nothing."""

from __future__ import annotations

import json

from edge.rules.access_events import AccessEvent
from edge.rules.door_config import DoorRulesConfig
from edge.rules.engine import RuleEngine
from edge.rules.patrol_plan import parse_plans

T0 = 1740960000.0  # 2025-03-03 00:00:00 UTC
DOORS = DoorRulesConfig.from_dict(
    {"defaults": {"held_open_s": 5, "forced_window_s": 5, "after_hours": False}}
)
# Round at 00:10:00 (T0+600), opens 60 s before; A due +0 +-20, B due +60 +-20; ends
# 30 s after B's window closes: T0+600+80+30 = T0+710.
PLANS = parse_plans(
    {
        "tz": "UTC",
        "routes": [
            {
                "route": "R",
                "starts": ["00:10:00"],
                "open_before": 60,
                "late_grace": 30,
                "checkpoints": [
                    {"id": "A", "offset": 0, "tolerance": 20},
                    {"id": "B", "offset": 60, "tolerance": 20},
                ],
            }
        ],
    }
)

STEPS = [
    ("tick", T0 + 530),  # nothing yet: the round opens at T0+540
    ("tick", T0 + 540),  # the round opens: a patrol.round result
    ("event", AccessEvent(T0 + 595, "exit.request", "btn-1", door="D1")),
    ("event", AccessEvent(T0 + 596, "door.opened", "c-1", door="D1")),  # not forced
    ("event", AccessEvent(T0 + 600, "patrol.scan", "A", credential="G1")),  # A on time
    ("tick", T0 + 602),  # held open: raised at 596 + 5 = 601
    ("tick", T0 + 681),  # B's window closed at 680: missed
    ("event", AccessEvent(T0 + 690, "door.closed", "c-1", door="D1")),  # held open clears
    ("tick", T0 + 711),  # the round ended at 710 with B missed: incomplete
]

# (step index, type, code, source, active, ts - T0): worked out from the comments above.
EXPECTED = [
    (1, "event", "patrol.round", "R", None, 540),
    (2, "event", "exit.request", "btn-1", None, 595),
    (3, "event", "door.opened", "c-1", None, 596),
    (4, "event", "patrol.scan", "A", None, 600),
    (4, "event", "patrol.round", "R", None, 600),
    (5, "alarm", "door.held_open", "D1", True, 601),
    (6, "alarm", "patrol.missed", "R:B", True, 680),
    (6, "event", "patrol.round", "R", None, 681),
    (7, "event", "door.closed", "c-1", None, 690),
    (7, "alarm", "door.held_open", "D1", False, 690),
    (8, "alarm", "patrol.incomplete", "R", True, 710),
    (8, "event", "patrol.round", "R", None, 711),
]


def _step(engine: RuleEngine, kind: str, x) -> list:
    return engine.feed(x) if kind == "event" else engine.tick(x)


def _run(restart_at: set[int]) -> list[tuple[int, dict]]:
    engine = RuleEngine(DOORS, PLANS, since=T0 + 500)
    out = []
    for i, (kind, x) in enumerate(STEPS):
        if i in restart_at:
            snap = json.loads(json.dumps(engine.snapshot()))
            engine = RuleEngine.restore(DOORS, PLANS, snap)
        out += [(i, r.wire()) for r in _step(engine, kind, x)]
    return out


def test_records_of_a_held_door_and_a_round_with_a_missed_checkpoint():
    got = _run(set())
    summary = [
        (i, w["type"], w["code"], w["source"], w.get("active"), w["ts"] - T0) for i, w in got
    ]
    assert summary == EXPECTED
    rounds = [w["data"] for _, w in got if w["code"] == "patrol.round"]
    assert [r["state"] for r in rounds] == ["running", "running", "running", "finished"]
    assert [[c["status"] for c in r["checkpoints"]] for r in rounds] == [
        ["pending", "pending"],
        ["on_time", "pending"],
        ["on_time", "missed"],
        ["on_time", "missed"],
    ]
    assert rounds[-1]["complete"] is False and rounds[-1]["start"] == T0 + 600
    opened = next(w for _, w in got if w["code"] == "door.opened")
    assert opened["data"] == {"door": "D1", "device": "c-1"}
    held = next(w for _, w in got if w["code"] == "door.held_open")
    assert held["colour"] == "yellow"


def test_a_restart_before_any_step_gives_the_same_records():
    plain = _run(set())
    for i in range(len(STEPS)):
        assert _run({i}) == plain, f"restart before step {i}"
    assert _run(set(range(len(STEPS)))) == plain


def test_a_device_message_without_an_event_counts_as_heard():
    doors = DoorRulesConfig.from_dict({"heartbeats": {"c-1": 10}})
    engine = RuleEngine(doors, [], since=T0)
    assert engine.heard("c-1", T0) == []
    assert engine.tick(T0 + 10) == []  # silent exactly 10 s: not yet past
    (offline,) = engine.tick(T0 + 11)
    assert (offline.code, offline.source, offline.active, offline.ts) == (
        "device.offline", "c-1", True, T0 + 10,
    )  # fmt: skip
    (back,) = engine.heard("c-1", T0 + 12)
    assert (back.code, back.active, back.ts) == ("device.offline", False, T0 + 12)
    assert engine.counts()["heard"] == 2
