"""Visitor passes: booked by an operator, read by everyone with a token, pulled by each
edge as its directives (its own site and buildings only, expired ones left out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_testkit import DAY0, add_user, in_process_api, register_edge

from cloud_api.auth import hash_token
from cloud_api.store.base import EdgeIdentity
from cloud_api.store.sqlite import SqliteStore
from edge.rules.door_config import VisitorPass

HOUR = 3600


def pass_body(**changes: object) -> dict:
    return {
        "site": "civic",
        "building": "hall",
        "credential": "V-1001",
        "visitor": "Zhang Wei (auditor)",
        "valid_from": DAY0 + 9 * HOUR,
        "valid_to": DAY0 + 17 * HOUR,
        "doors": ["lobby", "room-301"],
        **changes,
    }


def register_multi(db: Path, name: str, site: str, *buildings: str) -> str:
    token = "stw_" + name + "-token-for-the-test-0123456789"
    store = SqliteStore(db)
    try:
        store.add_edge(EdgeIdentity(name, site, buildings[0], buildings[1:]), hash_token(token))
    finally:
        store.close()
    return token


@pytest.fixture
def api(tmp_path: Path):
    with in_process_api(tmp_path, now=DAY0) as running:
        running.operator = add_user(running.db, "olga", "operator")
        running.viewer = add_user(running.db, "vera", "viewer")
        yield running


def book(api, **changes: object) -> dict:
    answer = api.client.post(
        "/v1/visitor-passes", json=pass_body(**changes), headers=api.as_(api.operator)
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def directives(api, token: str) -> dict:
    answer = api.client.get("/v1/edges/self/directives", headers=api.as_(token))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_edge_gets_the_passes_of_its_own_site_and_buildings_until_they_expire(api) -> None:
    hall = register_edge(api.db, "hall-edge", "civic", "hall")
    both = register_multi(api.db, "two-edge", "civic", "hall", "annex")
    anywhere = register_edge(api.db, "site-edge", "civic")  # any building of the site
    depot = register_edge(api.db, "depot-edge", "depot", "hall")

    morning = book(api)
    annex = book(api, building="annex", credential="V-2002", doors=["annex-gate"])
    book(api, site="depot", credential="V-3003", doors=["gate"])
    evening = book(api, credential="V-4004", valid_from=DAY0 + 18 * HOUR, valid_to=DAY0 + 20 * HOUR)
    assert morning["created_by"] == "olga" and morning["expired"] is False

    def credentials(token: str) -> list[str]:
        return [p["credential"] for p in directives(api, token)["visitor_passes"]]

    assert credentials(hall) == ["V-1001", "V-4004"]
    assert credentials(both) == ["V-1001", "V-2002", "V-4004"]
    assert credentials(anywhere) == ["V-1001", "V-2002", "V-4004"]
    assert credentials(depot) == ["V-3003"]

    pulled = directives(api, hall)
    assert pulled["generated_at"] == DAY0
    assert pulled["visitor_passes"][0] == {
        "credential": "V-1001",
        "visitor": "Zhang Wei (auditor)",
        "valid_from": DAY0 + 9 * HOUR,
        "valid_to": DAY0 + 17 * HOUR,
        "doors": ["lobby", "room-301"],
    }
    # The shape the edge's door rules read.
    edge_pass = VisitorPass.from_dict(pulled["visitor_passes"][0])
    assert edge_pass.doors == frozenset({"lobby", "room-301"})

    api.now = DAY0 + 17 * HOUR  # the morning pass ends now: expired
    assert credentials(both) == ["V-4004"]
    listed = api.client.get("/v1/visitor-passes", headers=api.as_(api.viewer)).json()
    expired = {p["credential"]: p["expired"] for p in listed["visitor_passes"]}
    assert expired == {"V-1001": True, "V-2002": True, "V-3003": True, "V-4004": False}

    withdrawn = api.client.delete(
        f"/v1/visitor-passes/{evening['id']}", headers=api.as_(api.operator)
    )
    assert withdrawn.status_code == 204
    assert credentials(both) == []
    again = api.client.delete(f"/v1/visitor-passes/{evening['id']}", headers=api.as_(api.operator))
    assert again.status_code == 404
    assert annex["id"] in {
        p["id"]
        for p in api.client.get(
            "/v1/visitor-passes", params={"building": "annex"}, headers=api.as_(api.viewer)
        ).json()["visitor_passes"]
    }


def test_directives_need_an_edge_token(api) -> None:
    assert api.client.get("/v1/edges/self/directives").status_code == 401
    user = api.client.get("/v1/edges/self/directives", headers=api.as_(api.operator))
    assert user.status_code == 403 and "only an edge's own token" in user.text


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        ({"valid_to": DAY0 + 9 * 3600}, "valid_to must be after valid_from"),
        ({"valid_to": DAY0 + 8 * 3600}, "valid_to must be after valid_from"),
        ({"doors": []}, "doors"),
        ({"doors": "lobby"}, "doors"),
        ({"doors": ["lobby", "lobby"]}, "lobby listed more than once"),
        ({"doors": ["front door"]}, "doors[0]"),
        ({"credential": "V 1001"}, "credential"),
        ({"credential": ""}, "credential"),
        ({"valid_from": "tomorrow"}, "valid_from"),
        ({"visitor": ""}, "visitor"),
        ({"site": None}, "site"),
    ],
)
def test_a_bad_pass_is_422_naming_what_is_wrong_and_nothing_is_booked(
    api, changes: dict, phrase: str
) -> None:
    body = {k: v for k, v in pass_body(**changes).items() if v is not None}
    answer = api.client.post("/v1/visitor-passes", json=body, headers=api.as_(api.operator))
    assert answer.status_code == 422, answer.text
    assert phrase in answer.json()["message"]
    listed = api.client.get("/v1/visitor-passes", headers=api.as_(api.viewer)).json()
    assert listed["visitor_passes"] == []


def test_iso_times_are_accepted(api) -> None:
    booked = book(api, valid_from="2023-11-14T09:00:00+08:00", valid_to="2023-11-14T17:00:00+08:00")
    assert (booked["valid_from"], booked["valid_to"]) == (DAY0 + 1 * HOUR, DAY0 + 9 * HOUR)
