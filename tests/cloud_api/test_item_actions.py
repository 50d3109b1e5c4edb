"""`actions` on alarm and hazard answers: what the caller may do now, its state allowing it
AND their role holding the permission. The expected lists are written out by hand from
ISA-18.2 as edge/rules/alarms.py implements it (the API's alarm routes: ack, shelve,
unshelve, assign) and from the hazard loop (cloud_api/hazards.py); roles from
cloud_api/auth.py: operators, energy managers and admins act on alarms and hazards,
viewers only read."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_testkit import add_user
from security_testkit import T0, Central, alarm, central

ALARM_ACTIONS = {  # an actor's, by state
    "unack": ["ack", "shelve", "assign"],
    "acked": ["shelve", "assign"],
    "rtn_unack": ["ack", "shelve", "assign"],
    "normal": ["shelve", "assign"],
    "shelved": ["unshelve", "assign"],
}
HAZARD_ACTIONS = {
    "found": ["assign"],
    "assigned": ["assign", "start"],
    "rectifying": ["assign", "submit"],
    "submitted": ["verify", "reject"],
    "verified": ["close"],
    "closed": [],
}
ACTORS = ("alice", "manager", "admin")  # operator, energy_manager, admin


@pytest.fixture
def api(tmp_path: Path):
    with central(tmp_path) as hub:
        hub.tokens["manager"] = add_user(hub.db, "emma", "energy_manager")
        hub.tokens["admin"] = add_user(hub.db, "adam", "admin")
        yield hub


def alarm_actions(api: Central, alarm_id: int) -> dict[str, tuple[list, list, str]]:
    """Per user: (actions in the list, actions in the one-alarm read, state)."""
    out = {}
    for who in ("viewer", *ACTORS):
        (listed,) = api.get("/v1/alarms", who=who).json()["alarms"]
        one = api.get(f"/v1/alarms/{alarm_id}", who=who).json()
        assert listed["state"] == one["state"]
        out[who] = (listed["actions"], one["actions"], one["state"])
    return out


def expect_alarm(api: Central, alarm_id: int, state: str) -> None:
    seen = alarm_actions(api, alarm_id)
    assert seen["viewer"] == ([], [], state)
    for who in ACTORS:
        assert seen[who] == (ALARM_ACTIONS[state], ALARM_ACTIONS[state], state), who


def test_alarm_actions_by_state_and_role(api: Central) -> None:
    api.send(alarm(0, T0, "door.forced", "D1", True, "red"))
    (raised,) = api.get("/v1/alarms").json()["alarms"]
    alarm_id = raised["id"]
    expect_alarm(api, alarm_id, "unack")

    acked = api.post(f"/v1/alarms/{alarm_id}/ack")  # alice, an operator
    assert acked.status_code == 200
    assert acked.json()["actions"] == ALARM_ACTIONS["acked"]  # the answer to the action too
    expect_alarm(api, alarm_id, "acked")

    api.send(alarm(0, T0 + 10, "door.forced", "D1", False))
    expect_alarm(api, alarm_id, "normal")
    api.send(alarm(0, T0 + 20, "door.forced", "D1", True, "red"))
    api.send(alarm(0, T0 + 30, "door.forced", "D1", False))
    expect_alarm(api, alarm_id, "rtn_unack")

    shelved = api.post(f"/v1/alarms/{alarm_id}/shelve", {"duration_s": 3600}, who="manager")
    assert shelved.status_code == 200
    assert shelved.json()["actions"] == ALARM_ACTIONS["shelved"]
    expect_alarm(api, alarm_id, "shelved")
    # What the list says an actor may do, they may: unshelve works, ack is refused.
    assert api.post(f"/v1/alarms/{alarm_id}/ack", who="admin").status_code == 409
    assert api.post(f"/v1/alarms/{alarm_id}/unshelve", who="admin").status_code == 200
    # And a viewer, offered nothing, is refused everything.
    assert (
        api.post(f"/v1/alarms/{alarm_id}/shelve", {"duration_s": 60}, who="viewer").status_code
        == 403
    )


WALK = [
    ("assign", {"assignee": "wang"}, "assigned"),
    ("start", None, "rectifying"),
    ("submit", None, "submitted"),
    ("verify", None, "verified"),
    ("close", None, "closed"),
]


def test_hazard_actions_by_state_and_role(api: Central) -> None:
    body = {
        "site": "s1",
        "building": "b1",
        "location": "B1 corridor",
        "description": "extinguisher expired",
        "severity": "general",
        "deadline": T0 + 86400,
    }
    created = api.post("/v1/hazards", body)
    assert created.status_code == 201, created.text
    assert created.json()["actions"] == HAZARD_ACTIONS["found"]
    hazard_id = created.json()["id"]
    states = ["found", *(state for _, _, state in WALK)]
    for i, state in enumerate(states):
        if i:
            action, step_body, _ = WALK[i - 1]
            moved = api.post(f"/v1/hazards/{hazard_id}/{action}", step_body, who="manager")
            assert moved.status_code == 200, moved.text
            assert moved.json()["actions"] == HAZARD_ACTIONS[state]
        for who in ("viewer", *ACTORS):
            (listed,) = api.get("/v1/hazards", who=who).json()["hazards"]
            one = api.get(f"/v1/hazards/{hazard_id}", who=who).json()
            want = [] if who == "viewer" else HAZARD_ACTIONS[state]
            assert (listed["state"], listed["actions"], one["actions"]) == (state, want, want), (
                who,
                state,
            )
            assert one["allowed"] == HAZARD_ACTIONS[state]  # what the state allows, anyone
