"""/v1/control/* over HTTP: commands (each slot's latest state) and the audit log filed from
the edge's control events at ingest, and operator overrides (set, listed, pulled by the
edges of their building as directives, released, audited)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import orjson
import pytest
from api_testkit import DAY0, add_user, count, in_process_api, register_edge
from security_testkit import event_batch

NOW = DAY0 + 86400
T = DAY0 + 3600  # when the edge's events happened


def command(ts: float, state: str, value: float | None, lease_until: float | None, **more) -> dict:
    data = {
        "device": "zone-1",
        "point": "cooling_setpoint",
        "slot": 10,
        "slot_name": "demand_limit",
        "owner": "demand:main",
        "value": value,
        "lease_until": lease_until,
        "reason": "demand at risk: 104 kW predicted, limit 100 kW",
        "state": state,
        **more,
    }
    return {"ts": ts, "code": "control.command", "source": "zone-1/cooling_setpoint", "data": data}


def write(ts: float, value: object = 26.5, device: str = "zone-1", **more) -> dict:
    data = {
        "device": device,
        "point": "cooling_setpoint",
        "mode": "control",
        "value": value,
        "before": 26.0,
        "read_back": 26.5,
        "verified": True,
        "slot": 10,
        "owner": "demand:main",
        "reason": "shed step 1",
        "clamped": [],
        **more,
    }
    return {"ts": ts, "code": "control.write", "source": device, "data": data}


def shed(ts: float, zone: str = "zone-1") -> dict:
    data = {"zone": zone, "setup_k": 0.5, "reason": "at risk", "state": "curtail"}
    return {"ts": ts, "code": "control.shed", "source": zone, "data": data}


class Edge:
    def __init__(self, api, token: str, building: str) -> None:
        self.api, self.token, self.building, self.seq = api, token, building, 0

    def send(self, *records: dict):
        numbered = [{**r, "seq": self.seq + 1 + i} for i, r in enumerate(records)]
        self.seq += len(records)
        batch = event_batch(numbered, building=self.building)
        answer = self.api.client.post("/v1/ingest", json=batch, headers=self.api.as_(self.token))
        assert answer.status_code == 200, answer.text
        return answer.json()

    def directives(self) -> dict:
        answer = self.api.client.get("/v1/edges/self/directives", headers=self.api.as_(self.token))
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def api(tmp_path: Path):
    with in_process_api(tmp_path, now=NOW, energy_evaluate_seconds=0) as running:
        running.viewer = add_user(running.db, "vera", "viewer")
        running.operator = add_user(running.db, "olga", "operator")
        running.other = add_user(running.db, "otto", "operator")
        running.b1 = Edge(running, register_edge(running.db, "edge-b1", "s1", "b1"), "b1")
        running.b2 = Edge(running, register_edge(running.db, "edge-b2", "s1", "b2"), "b2")
        yield running


def get(api, path: str, **params: object) -> dict:
    answer = api.client.get(path, params=params or None, headers=api.as_(api.viewer))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_slots_latest_command_is_its_state(api) -> None:
    api.b1.send(command(T, "active", 26.5, NOW + 600))
    (active,) = get(api, "/v1/control/commands")["commands"]
    assert (active["state"], active["value"], active["lease_until"]) == ("active", 26.5, NOW + 600)
    assert active["expires_in_s"] == 600.0  # lease_until - the API's now
    assert (active["slot"], active["slot_name"], active["owner"]) == (
        10,
        "demand_limit",
        "demand:main",
    )
    assert (active["edge"], active["building"], active["device"]) == ("edge-b1", "b1", "zone-1")

    api.b1.send(command(T + 900, "released", None, None, reason="demand back under the limit"))
    # An older event arriving late does not bring the released command back.
    api.b1.send(command(T + 300, "active", 27.0, NOW + 900))
    assert get(api, "/v1/control/commands")["commands"] == []
    (released,) = get(api, "/v1/control/commands", state="all")["commands"]
    assert (released["state"], released["value"], released["expires_in_s"]) == (
        "released",
        None,
        None,
    )
    assert released["reason"] == "demand back under the limit"
    assert count(api.db, "SELECT count(*) FROM control_commands") == 1


def test_the_audit_log_newest_first_paged_and_by_device(api) -> None:
    api.b1.send(write(T), shed(T + 1), command(T + 2, "active", 26.5, T + 3600))
    api.b1.send(write(T + 300, 27.0, device="zone-2", mode="advise", verified=None))
    entries = get(api, "/v1/control/audit")["entries"]
    assert [(e["kind"], e["device"]) for e in entries] == [
        ("control.write", "zone-2"),
        ("control.command", "zone-1"),
        ("control.shed", "zone-1"),
        ("control.write", "zone-1"),
    ]
    advice = entries[0]
    assert (advice["mode"], advice["value"], advice["verified"]) == ("advise", 27.0, None)
    first = entries[-1]
    assert (first["before"], first["read_back"], first["verified"], first["slot"]) == (
        26.0,
        26.5,
        True,
        10,
    )
    assert first["edge"] == "edge-b1" and first["data"]["clamped"] == []
    assert entries[2]["data"]["setup_k"] == 0.5
    assert [e["ts"] for e in get(api, "/v1/control/audit", device="zone-1")["entries"]] == [
        T + 2,
        T + 1,
        T,
    ]
    page = get(api, "/v1/control/audit", limit=3)
    assert len(page["entries"]) == 3 and page["next"] is not None
    rest = api.client.get(page["next"], headers=api.as_(api.viewer)).json()
    assert [e["ts"] for e in rest["entries"]] == [T] and rest["next"] is None
    window = get(api, "/v1/control/audit", **{"from": T + 1, "to": T + 300})
    assert [e["ts"] for e in window["entries"]] == [T + 2, T + 1]


def test_a_control_event_with_bad_data_stays_an_event_is_counted_and_the_rest_is_filed(
    api,
) -> None:
    ack = api.b1.send(write(T, value="high"), write(T + 1), command(T + 2, "active", None, None))
    assert ack["accepted"] == 3
    assert count(api.db, "SELECT count(*) FROM events WHERE code LIKE 'control.%'") == 3
    body = get(api, "/v1/control/audit")
    assert [e["ts"] for e in body["entries"]] == [T + 1]
    assert body["skipped"] == 2
    assert get(api, "/v1/control/commands", state="all")["commands"] == []
    with contextlib.closing(sqlite3.connect(api.db)) as db:
        reasons = {r for (r,) in db.execute("SELECT reason FROM derived_skipped")}
    assert reasons == {
        "data.value must be a finite number, got 'high'",  # the write
        "data.value must be a finite number, got None",  # an active command without value
    }


OVERRIDE = {
    "site": "s1",
    "building": "b1",
    "device": "zone-1",
    "point": "cooling_setpoint",
    "value": 27.0,
    "minutes": 90,
    "reason": "meeting room empty all afternoon",
}


def create(api, token: str, **changes: object):
    return api.client.post(
        "/v1/control/overrides", json={**OVERRIDE, **changes}, headers=api.as_(token)
    )


def test_an_override_is_set_pulled_by_its_buildings_edge_released_and_audited(api) -> None:
    answer = create(api, api.operator)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["until"] == NOW + 90 * 60 and made["by"] == "olga"
    assert (made["state"], made["expires_in_s"]) == ("active", 5400.0)

    expected = {
        "id": made["id"],
        "device": "zone-1",
        "point": "cooling_setpoint",
        "value": 27.0,
        "until": NOW + 5400,
        "reason": "meeting room empty all afternoon",
        "by": "olga",
    }
    assert api.b1.directives()["overrides"] == [expected]
    assert api.b2.directives()["overrides"] == []  # another building's edge
    listed = get(api, "/v1/control/commands")["overrides"]
    assert [o["id"] for o in listed] == [made["id"]]

    api.now = NOW + 60
    gone = api.client.delete(f"/v1/control/overrides/{made['id']}", headers=api.as_(api.other))
    assert gone.status_code == 200, gone.text
    assert (gone.json()["state"], gone.json()["released_by"]) == ("released", "otto")
    assert api.b1.directives()["overrides"] == []
    assert get(api, "/v1/control/commands")["overrides"] == []
    (listed,) = get(api, "/v1/control/overrides")["overrides"]
    assert (listed["state"], listed["released_at"]) == ("released", NOW + 60)

    again = api.client.delete(f"/v1/control/overrides/{made['id']}", headers=api.as_(api.operator))
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"override {made['id']} was already released at 2023-11-15T00:01:00Z by otto"
    )
    audit = get(api, "/v1/control/audit", device="zone-1")["entries"]
    assert [(e["kind"], e["owner"], e["ts"], e["edge"]) for e in audit] == [
        ("override.release", "otto", NOW + 60, None),
        ("override.create", "olga", NOW, None),
    ]
    assert audit[1]["data"] == {
        "override": made["id"],
        "until": NOW + 5400,
        "minutes": 90,
        "created_by": "olga",
    }


def test_an_expired_override_leaves_the_directives_and_cannot_be_released(api) -> None:
    made = create(api, api.operator, minutes=1).json()
    api.now = NOW + 60  # until is NOW + 60: no longer active
    assert api.b1.directives()["overrides"] == []
    (listed,) = get(api, "/v1/control/overrides")["overrides"]
    assert (listed["state"], listed["expires_in_s"]) == ("expired", None)
    late = api.client.delete(f"/v1/control/overrides/{made['id']}", headers=api.as_(api.operator))
    assert late.status_code == 409
    assert late.json()["detail"] == (
        f"override {made['id']} (set by olga) expired at 2023-11-15T00:01:00Z; nothing to release"
    )
    missing = api.client.delete("/v1/control/overrides/999", headers=api.as_(api.operator))
    assert missing.status_code == 404


def test_a_viewer_cannot_set_or_release_an_override(api) -> None:
    denied = create(api, api.viewer)
    assert denied.status_code == 403 and "control.write" in denied.json()["detail"]
    made = create(api, api.operator).json()
    denied = api.client.delete(f"/v1/control/overrides/{made['id']}", headers=api.as_(api.viewer))
    assert denied.status_code == 403
    assert get(api, "/v1/control/overrides")["overrides"][0]["state"] == "active"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"minutes": 0}, "minutes"),
        ({"minutes": 1441}, "minutes"),
        ({"reason": "   "}, "reason"),
        ({"reason": None}, "reason"),
        ({"point": "cooling setpoint"}, "point"),
        ({"point": "zone/../x"}, "point"),
        ({"value": "warm"}, "value"),
        ({"valve": 1}, "valve"),
    ],
)
def test_a_bad_override_is_a_422_naming_the_field(api, change: dict, field: str) -> None:
    answer = create(api, api.operator, **change)
    assert answer.status_code == 422, answer.text
    assert field in answer.text
    assert get(api, "/v1/control/overrides")["overrides"] == []


def test_a_value_that_is_not_finite_is_a_422(api) -> None:
    body = orjson.dumps(OVERRIDE).replace(b"27.0", b"NaN")
    answer = api.client.post(
        "/v1/control/overrides",
        content=body,
        headers={**api.as_(api.operator), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert "value" in answer.text and "finite" in answer.text
