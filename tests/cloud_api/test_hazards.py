"""The hazard loop, pure: every allowed step, every refused one, and the colour rule.

The expectations are written out by hand from the issue (found -> assigned -> rectifying
-> submitted -> verified -> closed; reject sends a submission back; assign again
reassigns), not derived from the module's table."""

from __future__ import annotations

import pytest

from cloud_api.hazards import (
    HazardInputError,
    HazardState,
    InvalidTransition,
    colour,
    transition,
)

STATES = ["found", "assigned", "rectifying", "submitted", "verified", "closed"]
ACTIONS = ["assign", "start", "submit", "verify", "reject", "close"]

# (state, action) -> state after; every pair not listed is refused.
ALLOWED = {
    ("found", "assign"): "assigned",
    ("assigned", "assign"): "assigned",
    ("rectifying", "assign"): "rectifying",
    ("assigned", "start"): "rectifying",
    ("rectifying", "submit"): "submitted",
    ("submitted", "verify"): "verified",
    ("submitted", "reject"): "rectifying",
    ("verified", "close"): "closed",
}
ALLOWED_IN = {
    "found": ["assign"],
    "assigned": ["assign", "start"],
    "rectifying": ["assign", "submit"],
    "submitted": ["verify", "reject"],
    "verified": ["close"],
    "closed": [],
}


@pytest.mark.parametrize(("state", "action"), sorted(ALLOWED))
def test_each_allowed_step_leads_where_the_loop_says_and_is_audited(
    state: str, action: str
) -> None:
    step = transition(
        HazardState(state), action, by="olga", now=1000.0, note="why", assignee="wang"
    )
    assert (step.from_state, step.to_state) == (state, ALLOWED[(state, action)])
    assert (step.by, step.ts, step.note, step.action) == ("olga", 1000.0, "why", action)
    assert step.to_dict()["from"] == state and step.to_dict()["to"] == ALLOWED[(state, action)]
    assert step.assignee == ("wang" if action == "assign" else None)


REFUSED = [(s, a) for s in STATES for a in ACTIONS if (s, a) not in ALLOWED]


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_each_other_step_is_refused_naming_the_state_and_what_is_allowed(
    state: str, action: str
) -> None:
    with pytest.raises(InvalidTransition) as refused:
        transition(HazardState(state), action, by="olga", now=1.0, note="n", assignee="wang")
    assert refused.value.state == state
    assert refused.value.allowed == ALLOWED_IN[state]
    message = str(refused.value)
    assert f"state {state}" in message and action in message
    for allowed in ALLOWED_IN[state]:
        assert allowed in message
    if state == "closed":
        assert "none" in message


def test_an_unknown_action_is_refused_like_an_invalid_one() -> None:
    with pytest.raises(InvalidTransition, match="cannot approve; allowed: verify, reject"):
        transition(HazardState.SUBMITTED, "approve", by="olga", now=1.0)


@pytest.mark.parametrize("note", [None, "", "   "])
def test_a_rejection_needs_a_note(note: str | None) -> None:
    with pytest.raises(HazardInputError, match=r"^note: a rejection needs a note"):
        transition(HazardState.SUBMITTED, "reject", by="olga", now=1.0, note=note)


def test_assign_needs_an_assignee() -> None:
    with pytest.raises(HazardInputError, match=r"^assignee: "):
        transition(HazardState.FOUND, "assign", by="olga", now=1.0)


DEADLINE = 10_000.0
# (severity, state, now) -> colour, by the rule: green once verified/closed; red when open
# and past the deadline or major; yellow otherwise.
COLOURS = [
    ("general", "found", DEADLINE - 1, "yellow"),
    ("general", "found", DEADLINE, "yellow"),  # at the deadline: not yet overdue
    ("general", "rectifying", DEADLINE + 1, "red"),  # overdue
    ("low", "submitted", DEADLINE + 86400, "red"),
    ("serious", "assigned", DEADLINE - 3600, "yellow"),
    ("major", "found", DEADLINE - 86400, "red"),  # major while open
    ("major", "submitted", DEADLINE - 1, "red"),
    ("major", "verified", DEADLINE + 1, "green"),
    ("general", "verified", DEADLINE + 1, "green"),  # verified late: the loop is closed
    ("low", "closed", DEADLINE + 10**6, "green"),
]


@pytest.mark.parametrize(("severity", "state", "now", "expected"), COLOURS)
def test_colour(severity: str, state: str, now: float, expected: str) -> None:
    assert colour(severity, DEADLINE, state, now) == expected
