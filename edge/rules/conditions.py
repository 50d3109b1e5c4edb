from __future__ import annotations

from dataclasses import dataclass, field

from edge.model import Colour


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's verdict on one (code, source): active (raise or update) or not (clear).
    Rules emit a Condition only when something changes; the alarm lifecycle
    (edge/rules/alarms.py) turns conditions into one alarm per (code, source)."""

    code: str  # a fixed alarm code, e.g. "door.forced", "patrol.missed"
    source: str  # what it is about: a door id, "route:checkpoint", a reader id
    active: bool  # True: raise (or update colour/message); False: clear (return to normal)
    ts: float  # event time it became true/false (from the data or `now`)
    colour: Colour = Colour.YELLOW
    message: str = ""  # for an operator, in English, names the door/guard/checkpoint
    data: dict = field(default_factory=dict)  # JSON-able details (credential, expected time, ...)
