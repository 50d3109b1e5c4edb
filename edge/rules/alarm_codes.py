"""The fixed alarm codes (issue 7 item 6) and their default colours.

Other tools key on these strings: never rename one. Kept apart from alarms.py so a rule
can import the codes without the lifecycle.
"""

from __future__ import annotations

from edge.model import Colour

# The fixed alarm codes (issue 7 item 6): other tools key on these strings. Default
# colours: duress and a forced door are red at once (issue 7 item 3); the rest yellow.
DOOR_FORCED = "door.forced"
DOOR_HELD_OPEN = "door.held_open"
DOOR_TAMPER = "door.tamper"
DOOR_TAILGATE = "door.tailgate"
ACCESS_DENIED_BURST = "access.denied_burst"
ACCESS_AFTER_HOURS = "access.after_hours"
ACCESS_PASSBACK = "access.passback"
ACCESS_DURESS = "access.duress"
ACCESS_VISITOR_OUTSIDE_PASS = "access.visitor_outside_pass"
DEVICE_OFFLINE = "device.offline"
PATROL_MISSED = "patrol.missed"
PATROL_LATE = "patrol.late"
PATROL_EARLY = "patrol.early"
PATROL_OUT_OF_ORDER = "patrol.out_of_order"
PATROL_UNKNOWN_CHECKPOINT = "patrol.unknown_checkpoint"
PATROL_INCOMPLETE = "patrol.incomplete"
PATROL_GUARD_INACTIVE = "patrol.guard_inactive"
# Central rules (cloud_api/energy/evaluator.py): a budget's forecast colour, meter balance.
BUDGET_AT_RISK = "budget.at_risk"
BUDGET_OVER = "budget.over"
ENERGY_UNACCOUNTED = "energy.unaccounted"
# Edge demand rule (edge/rules/demand.py): a block predicted to reach the limit, one over it.
DEMAND_AT_RISK = "demand.at_risk"
DEMAND_OVER = "demand.over"
# Edge control (edge/control/runtime.py): a write the read-back does not show.
CONTROL_WRITE_MISMATCH = "control.write_mismatch"

DEFAULT_COLOURS: dict[str, Colour] = {
    DOOR_FORCED: Colour.RED,
    DOOR_HELD_OPEN: Colour.YELLOW,
    DOOR_TAMPER: Colour.YELLOW,
    DOOR_TAILGATE: Colour.YELLOW,
    ACCESS_DENIED_BURST: Colour.YELLOW,
    ACCESS_AFTER_HOURS: Colour.YELLOW,
    ACCESS_PASSBACK: Colour.YELLOW,
    ACCESS_DURESS: Colour.RED,
    ACCESS_VISITOR_OUTSIDE_PASS: Colour.YELLOW,
    DEVICE_OFFLINE: Colour.YELLOW,
    PATROL_MISSED: Colour.YELLOW,
    PATROL_LATE: Colour.YELLOW,
    PATROL_EARLY: Colour.YELLOW,
    PATROL_OUT_OF_ORDER: Colour.YELLOW,
    PATROL_UNKNOWN_CHECKPOINT: Colour.YELLOW,
    PATROL_INCOMPLETE: Colour.YELLOW,
    PATROL_GUARD_INACTIVE: Colour.YELLOW,
    BUDGET_AT_RISK: Colour.YELLOW,
    BUDGET_OVER: Colour.RED,
    ENERGY_UNACCOUNTED: Colour.YELLOW,
    DEMAND_AT_RISK: Colour.YELLOW,
    DEMAND_OVER: Colour.RED,
    CONTROL_WRITE_MISMATCH: Colour.RED,
}
ALARM_CODES: tuple[str, ...] = tuple(DEFAULT_COLOURS)


def default_colour(code: str) -> Colour:
    """The colour a rule should give ``code`` unless its config says otherwise."""
    return DEFAULT_COLOURS.get(code, Colour.YELLOW)
