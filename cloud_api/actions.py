"""What the caller may do now to an alarm or a hazard: the `actions` of their reads.

An action is listed when the item's state allows it AND the caller's role holds the
permission its route needs (cloud_api/auth.py PERMISSIONS): alarms.act for POST
/v1/alarms/{id}/{ack|shelve|unshelve|assign}, hazards.act for POST
/v1/hazards/{id}/{action}. A viewer gets []. Only actions the API has a route for are
listed (the lifecycle's suppress and remove_from_service have none).
"""

from __future__ import annotations

from cloud_api.auth import PERMISSIONS, Role
from cloud_api.hazards import HazardState, allowed_actions
from cloud_api.store.sqlite_alarms import ACTIONS as ALARM_ROUTES
from edge.rules.alarms import ALLOWED, State


def may(role: Role, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def alarm_actions(state: str, role: Role) -> list[str]:
    """The alarm actions a `role` may take on an alarm in `state`, in the lifecycle's order."""
    if not may(role, "alarms.act"):
        return []
    return [a for a in ALLOWED[State(state)] if a in ALARM_ROUTES]


def hazard_actions(state: str, role: Role) -> list[str]:
    """The hazard actions a `role` may take on a hazard in `state`."""
    if not may(role, "hazards.act"):
        return []
    return allowed_actions(HazardState(state))
