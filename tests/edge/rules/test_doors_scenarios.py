"""Door rule scenarios: each folder under testcases/doors holds config.json, events.json and
expected.json, the expected conditions worked out by hand (Telegraf-style).

events.json: a list of access events ({"ts", "kind", "device", "door", "credential",
"reason", "data"}) and ticks ({"tick": ts}); times are ISO 8601 with offset or Unix seconds.
expected.json: the conditions in order ({"code", "source", "active", "ts", "colour"?}).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from edge.rules.access_events import AccessEvent
from edge.rules.door_config import DoorRulesConfig, passes_from
from edge.rules.doors import DoorRules

CASES = Path(__file__).parent / "testcases" / "doors"
TOL = 0.001


def _t(v: str | float) -> float:
    return dt.datetime.fromisoformat(v).timestamp() if isinstance(v, str) else float(v)


def load(case: Path) -> tuple[DoorRulesConfig, list, list[dict], list[dict]]:
    cfg = json.loads((case / "config.json").read_text())
    config = DoorRulesConfig.from_dict(cfg.get("rules"))
    passes = passes_from(cfg.get("passes", []))
    steps = json.loads((case / "events.json").read_text())
    expected = json.loads((case / "expected.json").read_text())
    return config, passes, steps, expected


def step(rules: DoorRules, item: dict) -> list:
    if "tick" in item:
        return rules.tick(_t(item["tick"]))
    ev = dict(item)
    ev["ts"] = _t(ev["ts"])
    return rules.feed(AccessEvent(**ev))


def run(config: DoorRulesConfig, passes, steps: list[dict]) -> list:
    rules = DoorRules(config, passes)
    return [c for item in steps for c in step(rules, item)]


def assert_matches(got: list, expected: list[dict]) -> None:
    brief = [(c.code, c.source, c.active, c.ts, str(c.colour)) for c in got]
    assert len(got) == len(expected), f"got {brief}"
    for c, e in zip(got, expected, strict=True):
        assert (c.code, c.source, c.active) == (e["code"], e["source"], e["active"]), brief
        assert abs(c.ts - _t(e["ts"])) <= TOL, (c, e["ts"])
        if "colour" in e:
            assert str(c.colour) == e["colour"], c


SCENARIOS = sorted(p for p in CASES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_door_scenario_yields_exactly_the_hand_worked_conditions(case: Path) -> None:
    config, passes, steps, expected = load(case)
    assert_matches(run(config, passes, steps), expected)


def test_every_door_alarm_code_has_a_scenario() -> None:
    codes = set()
    for case in SCENARIOS:
        codes |= {e["code"] for e in json.loads((case / "expected.json").read_text())}
    assert codes == {
        "door.forced",
        "door.held_open",
        "door.tamper",
        "door.tailgate",
        "access.denied_burst",
        "access.after_hours",
        "access.passback",
        "access.duress",
        "access.visitor_outside_pass",
        "device.offline",
    }
    assert any(json.loads((c / "expected.json").read_text()) == [] for c in SCENARIOS), (
        "a quiet day with no alarm"
    )


@pytest.mark.parametrize("case", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_snapshot_and_restore_midway_gives_the_same_conditions(case: Path) -> None:
    config, passes, steps, _ = load(case)
    whole = run(config, passes, steps)
    for cut in range(len(steps) + 1):
        rules = DoorRules(config, passes)
        got = [c for item in steps[:cut] for c in step(rules, item)]
        snap = json.loads(json.dumps(rules.snapshot()))  # as it would be saved to disk
        rules = DoorRules.restore(config, snap)
        got += [c for item in steps[cut:] for c in step(rules, item)]
        assert got == whole, f"restart after step {cut}"
