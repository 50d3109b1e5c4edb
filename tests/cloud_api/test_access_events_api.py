"""/v1/access-events over HTTP: access events as the edge sends them (type "event", code
= the kind, data = door, credential, reason, device and the event's own details), read
back by door, credential, kind and time. Expected lists are written out by hand."""

from __future__ import annotations

import pytest
from security_testkit import T0, Central, access, alarm, central, patrol_round, round_result


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    with central(tmp_path_factory.mktemp("access")) as hub:
        hub.send(
            access(0, T0, "access.granted", "lobby-reader", door="D1", credential="C100"),
            access(0, T0 + 1, "door.opened", "lobby-contact", door="D1"),
            alarm(0, T0 + 2, "door.forced", "D9", True, "red"),  # an alarm: not an access event
            access(
                0,
                T0 + 60,
                "access.denied",
                "side-reader",
                door="D2",
                credential="C200",
                reason="expired",
            ),
            access(
                0,
                T0 + 61,
                "access.denied",
                "side-reader",
                door="D2",
                credential="C200",
                reason="unknown card",
            ),
            access(
                0,
                T0 + 120,
                "access.granted",
                "gate-reader",
                door="G1",
                credential="A12345",
                plate="A12345",
                direction="in",
            ),
            access(0, T0 + 120, "exit.request", "lobby-rex", door="D1"),
            patrol_round(
                0, T0 + 150, round_result("north", T0, "2023-11-17", "running", ["pending"])
            ),
            access(0, T0 + 200, "access.granted", "lobby-reader", door="D1", credential="C200"),
        )
        hub.send(
            access(0, T0 + 130, "access.granted", "b2-reader", door="D1", credential="C100"),
            building="b2",
        )
        yield hub


def seen(api: Central, **params: object) -> list[tuple]:
    answer = api.get("/v1/access-events", **params)
    assert answer.status_code == 200, answer.text
    return [
        (e["ts"] - T0, e["kind"], e["building"], e["door"], e["credential"])
        for e in answer.json()["events"]
    ]


def test_by_door_newest_first_over_buildings(api: Central) -> None:
    assert seen(api, door="D1") == [
        (200, "access.granted", "b1", "D1", "C200"),
        (130, "access.granted", "b2", "D1", "C100"),
        (120, "exit.request", "b1", "D1", None),
        (1, "door.opened", "b1", "D1", None),
        (0, "access.granted", "b1", "D1", "C100"),
    ]
    assert len(seen(api, door="D1", building="b1")) == 4


def test_by_credential_and_kind(api: Central) -> None:
    assert seen(api, credential="C200") == [
        (200, "access.granted", "b1", "D1", "C200"),
        (61, "access.denied", "b1", "D2", "C200"),
        (60, "access.denied", "b1", "D2", "C200"),
    ]
    denied = api.get("/v1/access-events", kind="access.denied").json()["events"]
    assert [e["reason"] for e in denied] == ["unknown card", "expired"]
    both = seen(api, kind=["door.opened", "exit.request"])
    assert [k for _, k, *_ in both] == ["exit.request", "door.opened"]


def test_by_time_from_inclusive_to_exclusive(api: Central) -> None:
    assert seen(api, **{"from": T0 + 60, "to": T0 + 130}) == [
        (120, "exit.request", "b1", "D1", None),  # same ts as the gate: stored after it
        (120, "access.granted", "b1", "G1", "A12345"),
        (61, "access.denied", "b1", "D2", "C200"),
        (60, "access.denied", "b1", "D2", "C200"),
    ]
    assert seen(api, **{"from": "2023-11-17T00:03:20Z"}) == [
        (200, "access.granted", "b1", "D1", "C200")
    ]


def test_an_event_carries_its_device_and_own_details(api: Central) -> None:
    (gate,) = api.get("/v1/access-events", door="G1").json()["events"]
    assert gate == {
        "ts": T0 + 120,
        "site": "s1",
        "building": "b1",
        "kind": "access.granted",
        "device": "gate-reader",
        "door": "G1",
        "credential": "A12345",
        "reason": None,
        "data": {"plate": "A12345", "direction": "in"},
    }


def test_pages_hold_every_access_event_once(api: Central) -> None:
    everything = api.get("/v1/access-events").json()["events"]
    assert len(everything) == 8  # not the alarm, not the patrol round
    collected, body = [], api.get("/v1/access-events", limit=3).json()
    while True:
        collected += body["events"]
        if body["next"] is None:
            break
        body = api.get(body["next"]).json()
    assert collected == everything


def test_bad_queries_are_refused_by_name(api: Central) -> None:
    bad_kind = api.get("/v1/access-events", kind="door.slammed")
    assert bad_kind.status_code == 422 and "kind" in bad_kind.text
    backwards = api.get("/v1/access-events", **{"from": T0 + 10, "to": T0})
    assert backwards.status_code == 400 and "from must be before to" in backwards.text
    assert api.get("/v1/access-events", cursor="x").status_code == 400
    assert api.get("/v1/access-events", limit=0).status_code == 400
    assert api.get("/v1/access-events", who=None).status_code == 401
