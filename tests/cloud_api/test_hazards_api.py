"""The hazard loop over HTTP (the real app and SQLite file, in process, its clock set by
the test): every transition audited with the user's name, invalid ones refused with 409,
an overdue hazard red without any write, hazards raised from an alarm."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import orjson
import pytest
from api_testkit import DAY0, add_user, in_process_api

from edge.model import Colour
from edge.rules.alarms import Alarm, State

HOUR, DAY = 3600, 86400

# The walk through the loop, and the state after each step (written out by hand).
WALK = [
    ("assign", {"assignee": "wang"}, "assigned"),
    ("start", None, "rectifying"),
    ("submit", {"note": "extinguisher replaced"}, "submitted"),
    ("verify", None, "verified"),
    ("close", None, "closed"),
]
ALLOWED_IN = {
    "found": ["assign"],
    "assigned": ["assign", "start"],
    "rectifying": ["assign", "submit"],
    "submitted": ["verify", "reject"],
    "verified": ["close"],
    "closed": [],
}
BODY = {
    "site": "civic",
    "building": "hall",
    "location": "B1 corridor, fire door 3",
    "description": "extinguisher expired",
    "severity": "general",
}


@pytest.fixture
def api(tmp_path: Path):
    with in_process_api(tmp_path) as running:
        running.operator = add_user(running.db, "olga", "operator")
        running.viewer = add_user(running.db, "vera", "viewer")
        yield running


def create(api, **changes: object) -> dict:
    body = {**BODY, "deadline": api.now + 3 * DAY, **changes}
    answer = api.client.post("/v1/hazards", json=body, headers=api.as_(api.operator))
    assert answer.status_code == 201, answer.text
    return answer.json()


def act(api, hazard_id: int, action: str, body: dict | None = None):
    return api.client.post(
        f"/v1/hazards/{hazard_id}/{action}", json=body, headers=api.as_(api.operator)
    )


def test_the_whole_loop_with_a_rejection_and_a_reassignment_is_audited(api) -> None:
    hazard = create(api)
    assert (hazard["state"], hazard["colour"], hazard["created_by"]) == ("found", "yellow", "olga")
    assert (hazard["severity_grade"], hazard["severity_colour"]) == ("一般", "yellow")
    steps = [
        ("assign", {"assignee": "wang"}, "assigned"),
        ("start", None, "rectifying"),
        ("assign", {"assignee": "li", "note": "wang is on leave"}, "rectifying"),
        ("submit", None, "submitted"),
        ("reject", {"note": "the seal is missing"}, "rectifying"),
        ("submit", {"note": "sealed"}, "submitted"),
        ("verify", None, "verified"),
        ("close", None, "closed"),
    ]
    for i, (action, body, state) in enumerate(steps):
        api.now = DAY0 + (i + 1) * HOUR
        answer = act(api, hazard["id"], action, body)
        assert answer.status_code == 200, (action, answer.text)
        assert answer.json()["state"] == state
    final = api.client.get(f"/v1/hazards/{hazard['id']}", headers=api.as_(api.viewer)).json()
    assert final["assignee"] == "li" and final["colour"] == "green" and final["allowed"] == []
    fields = ("action", "by", "ts", "from", "to", "note")
    history = [tuple(h[f] for f in fields) for h in final["history"]]
    assert history == [
        ("create", "olga", DAY0, None, "found", None),
        ("assign", "olga", DAY0 + HOUR, "found", "assigned", None),
        ("start", "olga", DAY0 + 2 * HOUR, "assigned", "rectifying", None),
        ("assign", "olga", DAY0 + 3 * HOUR, "rectifying", "rectifying", "wang is on leave"),
        ("submit", "olga", DAY0 + 4 * HOUR, "rectifying", "submitted", None),
        ("reject", "olga", DAY0 + 5 * HOUR, "submitted", "rectifying", "the seal is missing"),
        ("submit", "olga", DAY0 + 6 * HOUR, "rectifying", "submitted", "sealed"),
        ("verify", "olga", DAY0 + 7 * HOUR, "submitted", "verified", None),
        ("close", "olga", DAY0 + 8 * HOUR, "verified", "closed", None),
    ]
    assert [h["assignee"] for h in final["history"] if h["action"] == "assign"] == ["wang", "li"]


def test_every_invalid_action_in_every_state_gets_409_and_changes_nothing(api) -> None:
    hazard = create(api)
    states = ["found"] + [state for _, _, state in WALK]
    for i, state in enumerate(states):
        if i:
            action, body, _ = WALK[i - 1]
            assert act(api, hazard["id"], action, body).status_code == 200
        before = api.client.get(f"/v1/hazards/{hazard['id']}", headers=api.as_(api.viewer))
        for action in ("assign", "start", "submit", "verify", "reject", "close"):
            if action in ALLOWED_IN[state]:
                continue
            refused = act(api, hazard["id"], action, {"note": "n", "assignee": "wang"})
            assert refused.status_code == 409, (state, action)
            body = refused.json()
            assert body["state"] == state and body["allowed"] == ALLOWED_IN[state]
            assert (
                f"hazard {hazard['id']}: a hazard in state {state} cannot {action}"
                in (body["detail"])
            )
        after = api.client.get(f"/v1/hazards/{hazard['id']}", headers=api.as_(api.viewer))
        assert after.json() == before.json()  # not a line of history more


def test_reject_without_a_note_is_422_and_the_hazard_stays_submitted(api) -> None:
    hazard = create(api)
    for action, body, _ in WALK[:3]:
        assert act(api, hazard["id"], action, body).status_code == 200
    for body in (None, {}, {"note": "  "}):
        refused = act(api, hazard["id"], "reject", body)
        assert refused.status_code == 422
        assert "note" in refused.text
    state = api.client.get(f"/v1/hazards/{hazard['id']}", headers=api.as_(api.viewer)).json()
    assert state["state"] == "submitted" and len(state["history"]) == 4


def test_an_overdue_hazard_turns_red_without_any_write_and_green_once_verified(api) -> None:
    deadline = DAY0 + 2 * DAY
    late = create(api, deadline=deadline)
    major = create(api, severity="major", deadline=deadline + 30 * DAY)
    on_time = create(api, severity="low", deadline=deadline + 30 * DAY)

    def ledger(**query: str) -> dict[int, str]:
        answer = api.client.get("/v1/hazards", params=query, headers=api.as_(api.viewer))
        assert answer.status_code == 200, answer.text
        return {h["id"]: h["colour"] for h in answer.json()["hazards"]}

    api.now = deadline
    assert ledger() == {late["id"]: "yellow", major["id"]: "red", on_time["id"]: "yellow"}
    api.now = deadline + 1  # one second past the deadline, nothing written since
    assert ledger() == {late["id"]: "red", major["id"]: "red", on_time["id"]: "yellow"}
    assert set(ledger(colour="red")) == {late["id"], major["id"]}
    assert set(ledger(colour="yellow")) == {on_time["id"]}
    for action, body, _ in WALK[:4]:
        assert act(api, late["id"], action, body).status_code == 200
    assert ledger(colour="green") == {late["id"]: "green"}
    assert set(ledger(state="found")) == {major["id"], on_time["id"]}
    detail = api.client.get(f"/v1/hazards/{late['id']}", headers=api.as_(api.viewer)).json()
    assert detail["overdue"] is False and detail["state"] == "verified"


def test_the_ledger_filters_by_site_and_building(api) -> None:
    a = create(api)
    b = create(api, building="annex")
    c = create(api, site="depot", building="yard")
    ids = lambda **q: [  # noqa: E731
        h["id"]
        for h in api.client.get("/v1/hazards", params=q, headers=api.as_(api.viewer)).json()[
            "hazards"
        ]
    ]
    assert ids() == [c["id"], b["id"], a["id"]]  # newest first
    assert ids(site="civic") == [b["id"], a["id"]]
    assert ids(site="civic", building="annex") == [b["id"]]
    assert ids(state="closed") == []


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        ({"severity": "critical"}, "severity"),
        ({"deadline": "next week"}, "deadline: "),
        ({"site": None}, "site: required"),
        ({"location": ""}, "location"),
        ({"photo_url": "not a url"}, "photo_url"),
        ({"colour": "red"}, "colour"),  # an unknown field
        ({"alarm_id": 7}, "alarm_id: there is no alarm 7"),
    ],
)
def test_a_bad_hazard_is_422_naming_the_field(api, changes: dict, phrase: str) -> None:
    body = {**BODY, "deadline": DAY0 + DAY, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    answer = api.client.post("/v1/hazards", json=body, headers=api.as_(api.operator))
    assert answer.status_code == 422, answer.text
    assert phrase in answer.text
    listed = api.client.get("/v1/hazards", headers=api.as_(api.viewer)).json()["hazards"]
    assert listed == []


def test_iso_deadline_and_photo_link(api) -> None:
    hazard = create(
        api, deadline="2023-11-16T08:00:00+08:00", photo_url="https://photos.example/h1.jpg"
    )
    assert hazard["deadline"] == DAY0 + 2 * DAY  # 08:00 in Shanghai is 00:00 UTC
    assert hazard["photo_url"] == "https://photos.example/h1.jpg"


def test_unknown_hazard_and_action(api) -> None:
    assert act(api, 999, "start").status_code == 404
    hazard = create(api)
    unknown = act(api, hazard["id"], "approve")
    assert unknown.status_code == 422 and "action" in unknown.text


def _alarms_table(db: Path) -> None:
    """Alarm 12 in the alarms table (cloud_api/store/sqlite_alarms.py), as its row."""
    snapshot = Alarm("door.forced", "D2", State.UNACK, True, Colour.RED, raised_at=DAY0)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "INSERT INTO alarms(id, site, building, edge, code, source, state, colour, active,"
            " raised_at, updated_at, snapshot) VALUES(12, 'civic', 'hall', 'e1', 'door.forced',"
            " 'D2', 'unack', 'red', 1, ?, ?, ?)",
            (DAY0, DAY0, orjson.dumps(snapshot.to_dict()).decode()),
        )


def test_a_hazard_raised_from_an_alarm_takes_its_place(api) -> None:
    _alarms_table(api.db)
    body = {"alarm_id": 12, "severity": "serious", "deadline": DAY0 + DAY}
    answer = api.client.post("/v1/hazards", json=body, headers=api.as_(api.operator))
    assert answer.status_code == 201, answer.text
    hazard = answer.json()
    assert (hazard["site"], hazard["building"], hazard["location"]) == ("civic", "hall", "D2")
    assert hazard["description"] == "door.forced at D2" and hazard["alarm_id"] == 12
    own = {**body, "location": "the loading bay door", "description": "lock broken"}
    answer = api.client.post("/v1/hazards", json=own, headers=api.as_(api.operator))
    assert answer.json()["location"] == "the loading bay door"

    missing = {**body, "alarm_id": 13}
    answer = api.client.post("/v1/hazards", json=missing, headers=api.as_(api.operator))
    assert answer.status_code == 422 and "alarm_id: there is no alarm 13" in answer.text
    elsewhere = {**body, "site": "depot"}
    answer = api.client.post("/v1/hazards", json=elsewhere, headers=api.as_(api.operator))
    assert answer.status_code == 422
    assert "site: 'depot' differs from alarm 12's site 'civic'" in answer.text
