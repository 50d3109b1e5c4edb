"""The hazard loop ("three-colour" closed loop), pure: states, actions, audit, colour.

    found --assign--> assigned --start--> rectifying --submit--> submitted
    submitted --verify--> verified --close--> closed
    submitted --reject (note required)--> rectifying
    assign again while assigned or rectifying: a new assignee, the state stays

Severity follows the national grading of hidden dangers (domain-facts §D.3); the grade's
own colour is for display, the ledger colour is colour():

    major   重大 (red)    serious 较大 (orange)    general 一般 (yellow)    low 低 (blue)

colour() is the closed loop's traffic light: green once verified or closed; red while
open and overdue (now > deadline) or of severity major; yellow otherwise. It is computed
at read time, so a hazard turns red when its deadline passes without any write.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HazardState(StrEnum):
    FOUND = "found"
    ASSIGNED = "assigned"
    RECTIFYING = "rectifying"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    CLOSED = "closed"


class Severity(StrEnum):
    MAJOR = "major"
    SERIOUS = "serious"
    GENERAL = "general"
    LOW = "low"


class Action(StrEnum):
    ASSIGN = "assign"
    START = "start"
    SUBMIT = "submit"
    VERIFY = "verify"
    REJECT = "reject"
    CLOSE = "close"


# The grade's name and display colour in the national grading (domain-facts §D.3).
SEVERITY_GRADES: dict[Severity, tuple[str, str]] = {
    Severity.MAJOR: ("重大", "red"),
    Severity.SERIOUS: ("较大", "orange"),
    Severity.GENERAL: ("一般", "yellow"),
    Severity.LOW: ("低", "blue"),
}

_S = HazardState
# action -> {state it may be taken in: state it leads to}
TRANSITIONS: dict[Action, dict[HazardState, HazardState]] = {
    Action.ASSIGN: {_S.FOUND: _S.ASSIGNED, _S.ASSIGNED: _S.ASSIGNED, _S.RECTIFYING: _S.RECTIFYING},
    Action.START: {_S.ASSIGNED: _S.RECTIFYING},
    Action.SUBMIT: {_S.RECTIFYING: _S.SUBMITTED},
    Action.VERIFY: {_S.SUBMITTED: _S.VERIFIED},
    Action.REJECT: {_S.SUBMITTED: _S.RECTIFYING},
    Action.CLOSE: {_S.VERIFIED: _S.CLOSED},
}
DONE = frozenset({_S.VERIFIED, _S.CLOSED})


class InvalidTransition(Exception):
    """An action the hazard's state does not allow; names the state and what is allowed."""

    def __init__(self, state: HazardState, action: str) -> None:
        self.state = state
        self.allowed = allowed_actions(state)
        allowed = ", ".join(self.allowed) if self.allowed else "none (the loop is closed)"
        super().__init__(f"a hazard in state {state} cannot {action}; allowed: {allowed}")


class HazardInputError(ValueError):
    """An action without what it needs (reject without a note, assign without a name)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Transition:
    """One audited step: who did what, when, from which state to which, and why."""

    action: str
    by: str
    ts: float
    from_state: HazardState | None  # None: the hazard was created (found)
    to_state: HazardState
    note: str | None = None
    assignee: str | None = None

    def to_dict(self) -> dict:
        return {
            "action": self.action,
            "by": self.by,
            "ts": self.ts,
            "from": self.from_state,
            "to": self.to_state,
            "note": self.note,
            "assignee": self.assignee,
        }


def allowed_actions(state: HazardState) -> list[str]:
    return [action.value for action, moves in TRANSITIONS.items() if state in moves]


def found(by: str, now: float, note: str | None = None) -> Transition:
    """The record of a hazard being registered."""
    return Transition("create", by, now, None, HazardState.FOUND, note)


def transition(
    state: HazardState,
    action: Action | str,
    by: str,
    now: float,
    note: str | None = None,
    assignee: str | None = None,
) -> Transition:
    """The step `action` takes from `state`; InvalidTransition when the state does not
    allow it, HazardInputError when the action lacks its note or assignee."""
    try:
        action = Action(action)
    except ValueError:
        raise InvalidTransition(state, str(action)) from None
    moves = TRANSITIONS[action]
    if state not in moves:
        raise InvalidTransition(state, action.value)
    note = note.strip() if note and note.strip() else None
    if action is Action.REJECT and note is None:
        raise HazardInputError("note", "a rejection needs a note saying what is still wrong")
    if action is Action.ASSIGN:
        if assignee is None or not assignee.strip():
            raise HazardInputError("assignee", "assign needs the name of who rectifies it")
        assignee = assignee.strip()
    else:
        assignee = None
    return Transition(action.value, by, now, state, moves[state], note, assignee)


def colour(severity: Severity | str, deadline: float, state: HazardState | str, now: float) -> str:
    """green when verified or closed; red when open and overdue, or open and major;
    yellow otherwise."""
    if HazardState(state) in DONE:
        return "green"
    if now > deadline or Severity(severity) is Severity.MAJOR:
        return "red"
    return "yellow"
