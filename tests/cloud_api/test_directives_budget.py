"""The budget colour in an edge's directives: the worst colour, for the current period, of
the budgets scoped to its building(s); null when there is none.

The API's clock is 2023-11-15T00:00Z, 08:00 in Asia/Shanghai (the default zone): the
current month began 2023-11-01T00:00+08:00 = 2023-10-31T16:00Z = 1698768000; October
began 2023-10-01T00:00+08:00 = 2023-09-30T16:00Z = 1696089600.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_testkit import DAY0, add_user, in_process_api, register_edge
from test_passes import register_multi

from cloud_api.store import sqlite_budgets
from cloud_api.store.sqlite import SqliteStore

NOW = DAY0 + 86400
NOVEMBER = 1698768000.0
OCTOBER = 1696089600.0
NO_BUDGET = {"colour": None, "budget_id": None, "as_of": None, "building": None}


@pytest.fixture
def api(tmp_path: Path):
    with in_process_api(tmp_path, now=NOW, energy_evaluate_seconds=0) as running:
        running.manager = add_user(running.db, "mei", "energy_manager")
        running.b1 = register_edge(running.db, "edge-b1", "s1", "b1")
        running.b2 = register_edge(running.db, "edge-b2", "s1", "b2")
        running.both = register_multi(running.db, "edge-both", "s1", "b1", "b2")
        yield running


def put_budget(api, budget_id: str, building: str | None) -> None:
    body = {"site": "s1", "period": "month", "amount": 1000.0, "unit": "kWh"}
    if building is not None:
        body["building"] = building
    answer = api.client.put(f"/v1/budgets/{budget_id}", json=body, headers=api.as_(api.manager))
    assert answer.status_code == 200, answer.text


def colour(api, budget_id: str, period_start: float, value: str, at: float) -> None:
    """What the evaluator saves when a budget's colour changes."""
    store = SqliteStore(api.db)
    try:
        with store.writing() as db:
            sqlite_budgets.save_colour(db, budget_id, period_start, value, at)
    finally:
        store.close()


def budget(api, token: str) -> dict:
    answer = api.client.get("/v1/edges/self/directives", headers=api.as_(token))
    assert answer.status_code == 200, answer.text
    return answer.json()["budget"]


def test_no_budget_no_colour(api) -> None:
    assert budget(api, api.b1) == NO_BUDGET


def test_the_worst_colour_of_this_period_of_the_edges_buildings(api) -> None:
    put_budget(api, "b1-month", "b1")
    # Not evaluated yet this period: which budget, but no colour.
    assert budget(api, api.b1) == {**NO_BUDGET, "budget_id": "b1-month", "building": "b1"}

    colour(api, "b1-month", NOVEMBER, "yellow", NOW - 100)
    expected = {"colour": "yellow", "budget_id": "b1-month", "as_of": NOW - 100, "building": "b1"}
    assert budget(api, api.b1) == expected

    put_budget(api, "b1-hvac", "b1")
    colour(api, "b1-hvac", NOVEMBER, "red", NOW - 50)
    red = {"colour": "red", "budget_id": "b1-hvac", "as_of": NOW - 50, "building": "b1"}
    assert budget(api, api.b1) == red  # red is worse than yellow

    # b2's only budget was last evaluated in October: that colour is not this month's.
    put_budget(api, "b2-month", "b2")
    colour(api, "b2-month", OCTOBER, "red", NOW - 30 * 86400)
    assert budget(api, api.b2) == {**NO_BUDGET, "budget_id": "b2-month", "building": "b2"}
    # A site-wide budget is no one building's.
    put_budget(api, "site", None)
    colour(api, "site", NOVEMBER, "red", NOW - 10)
    assert budget(api, api.b2)["colour"] is None

    # An edge of both buildings gets the worst of them, and which building it is.
    colour(api, "b2-month", NOVEMBER, "green", NOW - 5)
    assert budget(api, api.both) == red
    assert budget(api, api.b2) == {
        "colour": "green",
        "budget_id": "b2-month",
        "as_of": NOW - 5,
        "building": "b2",
    }


def test_the_openapi_document_shows_the_new_directive_fields(api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    assert {"generated_at", "visitor_passes", "budget", "overrides"} <= set(
        schemas["Directives"]["properties"]
    )
    assert set(schemas["DirectiveBudget"]["properties"]) == {
        "colour",
        "budget_id",
        "as_of",
        "building",
    }
    assert set(schemas["DirectiveOverride"]["properties"]) == {
        "id",
        "device",
        "point",
        "value",
        "until",
        "reason",
        "by",
    }
