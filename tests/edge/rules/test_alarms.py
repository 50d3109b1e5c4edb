"""The ISA-18.2 alarm lifecycle (edge/rules/alarms.py, alarm_book.py).

Data-driven cases live in testcases/alarms/<name>/{steps.json, expected.json}: a step is a
condition, a person's action or a tick; expected gives, worked out by hand, the state and
the transition records after each step (and any field worth checking).
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.model import Colour
from edge.rules import alarm_codes
from edge.rules.alarm_book import AlarmBook
from edge.rules.alarms import (
    ALARM_CODES,
    ALLOWED,
    DEFAULT_COLOURS,
    AlarmConfig,
    InvalidTransition,
    State,
    UnknownAlarm,
    default_colour,
)
from edge.rules.conditions import Condition

CASES = Path(__file__).parent / "testcases" / "alarms"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "steps.json").exists())


def _load(name: str) -> tuple[dict, list[dict]]:
    spec = json.loads((CASES / name / "steps.json").read_text())
    expected = json.loads((CASES / name / "expected.json").read_text())
    assert len(spec["steps"]) == len(expected), f"{name}: one expectation per step"
    return spec, expected


def _config(spec: dict) -> AlarmConfig:
    return AlarmConfig(**spec.get("config", {}))


def _step(book: AlarmBook, spec: dict, step: dict) -> dict:
    """Run one step; return what happened as plain data (records or the error's class)."""
    code, source = step.get("code", spec["code"]), step.get("source", spec["source"])
    try:
        if "condition" in step:
            c = step["condition"]
            cond = Condition(
                code, source, c["active"], c["ts"], Colour(c.get("colour", "yellow")),
                c.get("message", ""), c.get("data", {}),
            )  # fmt: skip
            recs = book.apply(cond)
        elif "tick" in step:
            recs = book.tick(step["tick"])
        else:
            args = {k: v for k, v in step.items() if k not in ("action", "code", "source")}
            recs = [getattr(book, step["action"])(code, source, **args)]
    except (InvalidTransition, ValueError) as exc:
        return {"error": type(exc).__name__, "message": str(exc), "records": []}
    return {"error": None, "records": [r.to_dict() for r in recs]}


def _run(spec: dict, steps: list[dict], book: AlarmBook) -> list[dict]:
    return [_step(book, spec, s) for s in steps]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_alarm_case_matches_hand_worked_states(name: str) -> None:
    spec, expected = _load(name)
    book = AlarmBook(_config(spec))
    for i, (step, exp) in enumerate(zip(spec["steps"], expected, strict=True)):
        got = _step(book, spec, step)
        where = f"{name} step {i} {step}"
        assert got["error"] == exp.get("error"), f"{where}: {got}"
        recs = [[r["action"], r["from"], r["to"]] for r in got["records"]]
        assert recs == exp["records"], where
        alarm = book.get(spec["code"], spec["source"])
        assert alarm is not None, where
        snap = alarm.to_dict()
        assert snap["state"] == exp["state"], where
        for field_name, want in exp.items():
            if field_name not in ("state", "records", "error"):
                assert snap[field_name] == want, f"{where}: {field_name}"


@pytest.mark.parametrize("name", CASE_NAMES)
def test_snapshot_restore_at_every_step_gives_the_same_records(name: str) -> None:
    """Restart equivalence: stop after k steps, JSON round-trip, go on -- identical."""
    spec, _ = _load(name)
    steps = spec["steps"]
    whole_book = AlarmBook(_config(spec))
    whole = _run(spec, steps, whole_book)
    for k in range(len(steps) + 1):
        first = AlarmBook(_config(spec))
        head = _run(spec, steps[:k], first)
        snap = json.loads(json.dumps(first.snapshot()))
        second = AlarmBook.restore(_config(spec), snap)
        tail = _run(spec, steps[k:], second)
        assert head + tail == whole, f"{name}: split at step {k}"
        assert second.snapshot() == whole_book.snapshot(), f"{name}: split at step {k}"


# Every (action, from, to) the machine has, listed by hand from the module docstring and
# ISA-18.2; the hand-worked cases together must walk each one.
_N, _U, _A, _R = "normal", "unack", "acked", "rtn_unack"
_S, _SU, _O = "shelved", "suppressed", "out_of_service"
_ALL = (_N, _U, _A, _R, _S, _SU, _O)
MACHINE = {
    ("raise", _N, _U), ("raise", _R, _U), ("raise", _S, _S), ("raise", _SU, _SU),
    ("raise", _O, _O),
    *{("update", f, f) for f in (_U, _A, _S, _SU, _O)},
    ("escalate", _A, _U),
    ("clear", _U, _R), ("clear", _A, _N), ("clear", _S, _S), ("clear", _SU, _SU),
    ("clear", _O, _O),
    ("ack", _U, _A), ("ack", _R, _N),
    *{("shelve", f, _S) for f in (_N, _U, _A, _R)},
    ("unshelve", _S, _A), ("unshelve", _S, _U), ("unshelve", _S, _N),
    ("shelve_expired", _S, _U), ("shelve_expired", _S, _N),
    *{("suppress", f, _SU) for f in (_N, _U, _A, _R, _S)},
    ("unsuppress", _SU, _U), ("unsuppress", _SU, _N),
    *{("remove_from_service", f, _O) for f in (_N, _U, _A, _R, _S, _SU)},
    ("return_to_service", _O, _U), ("return_to_service", _O, _N),
    *{("assign", f, f) for f in _ALL},
    ("chatter", _U, _U), ("chatter_end", _R, _R),
}  # fmt: skip


def test_the_hand_worked_cases_walk_every_transition_of_the_machine() -> None:
    seen = set()
    for name in CASE_NAMES:
        spec, _ = _load(name)
        for outcome in _run(spec, spec["steps"], AlarmBook(_config(spec))):
            seen |= {(r["action"], r["from"], r["to"]) for r in outcome["records"]}
    assert seen == MACHINE


# A way into each state from a fresh book (code door.forced, source door:A).
_INTO = {
    State.NORMAL: [("suppress",), ("unsuppress",)],
    State.UNACK: [("cond", True)],
    State.ACKED: [("cond", True), ("ack",)],
    State.RTN_UNACK: [("cond", True), ("cond", False)],
    State.SHELVED: [("cond", True), ("shelve",)],
    State.SUPPRESSED: [("suppress",)],
    State.OUT_OF_SERVICE: [("remove_from_service",)],
}
_PEOPLE = (
    "ack", "shelve", "unshelve", "suppress", "unsuppress", "remove_from_service",
    "return_to_service", "assign",
)  # fmt: skip


@pytest.mark.parametrize("state", list(State))
def test_every_action_a_state_does_not_allow_is_refused_and_changes_nothing(state) -> None:
    refused = [a for a in _PEOPLE if a not in ALLOWED[state]]
    for action in refused:
        book = AlarmBook()
        for step in _INTO[state]:
            if step[0] == "cond":
                book.apply(Condition("door.forced", "door:A", step[1], 100.0))
            elif step[0] == "shelve":
                book.shelve("door.forced", "door:A", "li", until=900.0, now=100.0)
            else:
                getattr(book, step[0])("door.forced", "door:A", "li", 100.0)
        before = book.snapshot()
        assert book.get("door.forced", "door:A").state is state
        kwargs: dict = {"until": 900.0} if action == "shelve" else {}
        if action == "assign":
            kwargs = {"assignee": "guard-1"}
        with pytest.raises(InvalidTransition, match=f"cannot {action} .* it is {state.value}"):
            getattr(book, action)("door.forced", "door:A", "li", now=200.0, **kwargs)
        assert book.snapshot() == before, action
    # assign is allowed everywhere; the rest are refused somewhere
    assert "assign" not in refused


def test_every_code_has_a_default_colour_and_the_red_ones_are_the_urgent_ones() -> None:
    codes = {
        "door.forced", "door.held_open", "door.tamper", "door.tailgate",
        "access.denied_burst", "access.after_hours", "access.passback", "access.duress",
        "access.visitor_outside_pass", "device.offline", "patrol.missed", "patrol.late",
        "patrol.early", "patrol.out_of_order", "patrol.unknown_checkpoint",
        "patrol.incomplete", "patrol.guard_inactive",
        "budget.at_risk", "budget.over", "energy.unaccounted",
        "demand.at_risk", "demand.over", "control.write_mismatch",
    }  # fmt: skip
    assert set(ALARM_CODES) == codes
    assert set(DEFAULT_COLOURS) == codes
    red = {c for c in codes if default_colour(c) is Colour.RED}
    assert red == {
        "door.forced", "access.duress", "budget.over", "demand.over", "control.write_mismatch"
    }  # fmt: skip
    assert default_colour("energy.something_new") is Colour.YELLOW
    assert alarm_codes.DOOR_FORCED == "door.forced"
    assert alarm_codes.PATROL_GUARD_INACTIVE == "patrol.guard_inactive"


def test_invalid_transition_names_the_alarm_its_state_and_the_allowed_ones() -> None:
    book = AlarmBook()
    book.apply(Condition("door.forced", "door:A", True, 100.0, Colour.RED))
    book.ack("door.forced", "door:A", "li", 110.0)
    with pytest.raises(InvalidTransition) as info:
        book.ack("door.forced", "door:A", "li", 111.0)
    msg = str(info.value)
    assert "door.forced" in msg and "door:A" in msg and "acked" in msg
    for allowed in ALLOWED[State.ACKED]:
        assert allowed in msg
    assert info.value.allowed == ("shelve", "suppress", "remove_from_service", "assign")


def test_acknowledging_one_alarm_never_acknowledges_another() -> None:
    """phoebus #1928: acking a latched 'disconnected' alarm acked the real one behind it."""
    book = AlarmBook()
    book.apply(Condition("device.offline", "reader:R1", True, 100.0))
    book.apply(Condition("door.forced", "door:A", True, 101.0, Colour.RED))
    book.apply(Condition("door.forced", "door:B", True, 102.0, Colour.RED))
    book.ack("device.offline", "reader:R1", "li", 110.0)
    states = {a.key: a.state for a in book.alarms()}
    assert states == {
        ("device.offline", "reader:R1"): State.ACKED,
        ("door.forced", "door:A"): State.UNACK,
        ("door.forced", "door:B"): State.UNACK,
    }
    assert [a.key for a in book.unacknowledged()] == [
        ("door.forced", "door:A"),
        ("door.forced", "door:B"),
    ]


def test_a_shelved_alarm_is_never_listed_as_unacknowledged() -> None:
    """Open MCT #5479: shelved alarms were shown as unacknowledged."""
    book = AlarmBook()
    book.apply(Condition("door.held_open", "door:A", True, 100.0))
    book.shelve("door.held_open", "door:A", "li", until=700.0, now=110.0)
    book.apply(Condition("door.held_open", "door:A", False, 120.0))
    book.apply(Condition("door.held_open", "door:A", True, 130.0, Colour.RED))
    assert book.unacknowledged() == []
    assert book.tick(699.0) == []
    assert book.unacknowledged() == []
    [rec] = book.tick(700.0)
    assert (rec.action, rec.to_state, rec.by) == ("shelve_expired", State.UNACK, "system")
    assert [a.key for a in book.unacknowledged()] == [("door.held_open", "door:A")]


def test_acting_on_an_alarm_that_does_not_exist_names_it() -> None:
    book = AlarmBook()
    with pytest.raises(UnknownAlarm, match=r"door\.forced at door:Z"):
        book.ack("door.forced", "door:Z", "li", 1.0)
    # A clear for an alarm never raised creates nothing and records nothing.
    assert book.apply(Condition("door.forced", "door:Z", False, 1.0)) == []
    assert len(book) == 0


@pytest.mark.parametrize(
    ("cond", "match"),
    [
        (Condition("", "door:A", True, 1.0), "code"),
        (Condition("door.forced", " ", True, 1.0), "source"),
        (Condition("", "door:A", False, 1.0), "code"),
        (Condition("door.forced", "door:A", True, math.nan), "ts"),
        (Condition("door.forced", "door:A", False, math.inf), "ts"),
        (Condition("door.forced", "door:A", True, 1.0, "purple"), "'purple' is not green"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_condition_is_refused_with_what_is_wrong(cond: Condition, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AlarmBook().apply(cond)


def test_bad_config_and_bad_snapshot_are_refused() -> None:
    with pytest.raises(ValueError, match="chatter_count"):
        AlarmConfig(chatter_count=0)
    with pytest.raises(ValueError, match="chatter_window_s"):
        AlarmConfig(chatter_window_s=math.inf)
    with pytest.raises(ValueError, match="version 1 expected"):
        AlarmBook.restore(None, {"alarms": []})
    with pytest.raises(ValueError, match=r"door\.forced at door:A"):
        AlarmBook.restore(
            None, {"version": 1, "alarms": [{"code": "door.forced", "source": "door:A"}]}
        )
    book = AlarmBook()
    book.apply(Condition("door.forced", "door:A", True, 1.0))
    snap = book.snapshot()
    snap["alarms"] *= 2
    with pytest.raises(ValueError, match="twice"):
        AlarmBook.restore(None, snap)


def test_chattering_is_counted_across_the_book() -> None:
    book = AlarmBook(AlarmConfig(chatter_count=2, chatter_window_s=60.0))
    for source in ("door:A", "door:B"):
        for t in (0.0, 10.0, 20.0):  # 3 raises within 60 s > 2
            book.apply(Condition("door.held_open", source, True, t))
            book.apply(Condition("door.held_open", source, False, t + 5))
    assert book.chatter_episodes() == 2
    assert all(a.chattering for a in book.alarms())


def test_alarm_modules_import_only_the_model_and_conditions() -> None:
    """Shared later by the edge and the API: no I/O, no clock, no edge internals."""
    root = Path(__file__).parents[3] / "edge" / "rules"
    allowed = {"__future__", "dataclasses", "enum", "math", "typing", "edge.model"}
    allowed |= {"edge.rules.conditions", "edge.rules.alarms", "edge.rules.alarm_codes"}
    for name in ("alarms.py", "alarm_book.py", "alarm_codes.py"):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            assert set(mods) <= allowed, f"{name} imports {mods}"


# -- property: no raise is lost, an active condition is never "normal" -------------------

_HIDDEN = (State.SHELVED, State.SUPPRESSED, State.OUT_OF_SERVICE)
# Weighted by repetition: conditions and acks drive the lifecycle, the rest is rarer.
_NAMES = ["cond"] * 8 + ["ack"] * 3 + ["tick"] * 2 + [
    "shelve", "unshelve", "suppress", "unsuppress", "remove_from_service",
    "return_to_service", "assign",
]  # fmt: skip
_op = st.tuples(
    st.sampled_from(_NAMES), st.booleans(), st.sampled_from(list(Colour)), st.floats(1.0, 120.0)
)
_steps = st.lists(
    st.tuples(st.sampled_from(["door:A", "door:A", "door:B"]), st.floats(0.0, 50.0), _op),
    min_size=10,
    max_size=60,
)
_RANK = {Colour.GREEN: 0, Colour.YELLOW: 1, Colour.RED: 2}


class _Oracle:
    """What the alarm must honour, tracked without the lifecycle's own rules."""

    def __init__(self) -> None:
        self.active = False
        self.colour: Colour | None = None
        self.pending = False  # a raise (or colour rise) that nobody has acknowledged
        self.unseen_in_shelf = False


def _act(book: AlarmBook, source: str, now: float, op: tuple) -> list:
    name, active, colour, duration = op
    code = "door.forced"
    if name == "cond":
        return book.apply(Condition(code, source, active, now, colour))
    if name == "tick":
        return book.tick(now)
    if name == "shelve":
        return [book.shelve(code, source, "li", until=now + duration, now=now)]
    if name == "assign":
        return [book.assign(code, source, "li", "guard-1" if active else None, now)]
    return [getattr(book, name)(code, source, "li", now)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_steps)
def test_an_active_condition_is_never_normal_and_no_unacknowledged_raise_is_lost(steps) -> None:
    book, twin = AlarmBook(), AlarmBook()  # twin is restored from JSON after every step
    oracles = {"door:A": _Oracle(), "door:B": _Oracle()}
    now = 1000.0
    for source, dt, op in steps:
        now += dt
        other = "door:B" if source == "door:A" else "door:A"
        before = book.get("door.forced", source)
        state_before = before.state if before else State.NORMAL
        other_before = book.get("door.forced", other)
        other_before = other_before.to_dict() if other_before else None
        expiries = {
            s: (a.state, a.shelved_until) for s, a in ((x.source, x) for x in book.alarms())
        }
        try:
            recs = _act(book, source, now, op)
        except (InvalidTransition, UnknownAlarm):
            recs = None
            assert state_before is State.NORMAL or op[0] not in ALLOWED[state_before]
        try:
            twin_recs = _act(twin, source, now, op)
        except (InvalidTransition, UnknownAlarm):
            twin_recs = None
        assert twin_recs == recs
        twin = AlarmBook.restore(None, json.loads(json.dumps(twin.snapshot())))

        o = oracles[source]
        if op[0] == "cond":
            raised = op[1] and (not o.active or _RANK[op[2]] > _RANK[o.colour])
            if raised and state_before not in _HIDDEN:
                o.pending = True
            if raised and state_before is State.SHELVED:
                o.unseen_in_shelf = True
            o.active, o.colour = op[1], (op[2] if op[1] else o.colour)
        elif recs is not None and op[0] in ("ack", "shelve", "suppress", "remove_from_service"):
            o.pending, o.unseen_in_shelf = False, False
        elif recs is not None and op[0] == "unshelve":
            o.pending, o.unseen_in_shelf = o.active and o.unseen_in_shelf, False
        elif recs is not None and op[0] in ("unsuppress", "return_to_service"):
            o.pending = o.active
        if op[0] == "tick":
            for s, (st_, until) in expiries.items():
                if st_ is State.SHELVED and now >= until:  # automatic unshelve
                    oracles[s].pending = oracles[s].active
                    oracles[s].unseen_in_shelf = False
        else:  # nothing but a tick or an action on it touches the other alarm
            after = book.get("door.forced", other)
            assert (after.to_dict() if after else None) == other_before

        for s, oo in oracles.items():
            alarm = book.get("door.forced", s)
            state = alarm.state if alarm else State.NORMAL
            if oo.active:
                assert state is not State.NORMAL, (s, op)
            if state is State.ACKED:
                assert oo.active
            if oo.pending and state not in _HIDDEN:
                assert state in (State.UNACK, State.RTN_UNACK), (s, op, state)
            if state in _HIDDEN:
                assert alarm not in book.unacknowledged()
    assert twin.snapshot() == book.snapshot()
