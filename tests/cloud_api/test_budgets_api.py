"""PUT/GET /v1/budgets and /status through the API (issue 8, Build 7).

Building hq of site s1 (Asia/Shanghai) has one main meter at a constant 10 kW from
2026-03-01 00:00 local, read every 15 minutes; the API's clock is 2026-03-11 00:00, so
March has used 10 x 24 x 10 = 2,400 kWh = 294.96 kgce (x 0.1229, GB/T 2589-2020). There
is no history before March, so there is no forecast: the status says why and takes its
colour from the use alone. The energy configuration has no tariff, so a cost budget is
refused.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from api_testkit import add_user, in_process_api, register_edge
from energy_apikit import Sender, counter_readings, local_epoch, write_config

COAL = 0.1229
START, NOW = date(2026, 3, 1), date(2026, 3, 11)
USED_KWH = 10 * 24 * 10  # 2,400

CONFIG = """
sites:
  s1:
    buildings:
      hq: {area_m2: 1000}
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("budgets-api")
    with in_process_api(
        directory,
        now=local_epoch(NOW),
        energy_config=write_config(directory, CONFIG),
        energy_evaluate_seconds=0,
    ) as api:
        send = Sender(api, register_edge(api.db, "edge-s1", "s1"))
        quarters = (NOW - START).days * 96
        send.counter(
            "hq",
            "main",
            counter_readings(local_epoch(START), [10.0] * quarters),
            {"system": "main"},
        )
        api.users = {
            role: add_user(api.db, name, role)
            for name, role in (
                ("vic", "viewer"),
                ("otto", "operator"),
                ("mei", "energy_manager"),
                ("ada", "admin"),
            )
        }
        yield api


def budget(**more) -> dict:
    return {
        "site": "s1",
        "building": "hq",
        "period": "month",
        "amount": 300.0,
        "unit": "kgce",
        **more,
    }


def put(api, budget_id: str, body: dict, role: str = "energy_manager"):
    return api.client.put(f"/v1/budgets/{budget_id}", json=body, headers=api.as_(api.users[role]))


def status(api, budget_id: str) -> dict:
    r = api.client.get(f"/v1/budgets/{budget_id}/status", headers=api.as_(api.users["viewer"]))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": -5}, "amount"),
        ({"amount": 0}, "amount"),
        ({"unit": "MWh"}, "unit"),
        ({"unit": "tce"}, "unit"),
        ({"threshold": 1.2}, "threshold"),
        ({"threshold": 0}, "threshold"),
        ({"meters": {f"tag{i}": "x" for i in range(9)}}, "meters"),
        ({"period": "week"}, "period"),
        ({"site": None}, "site"),
        ({"colour": "green"}, "colour"),
    ],
)
def test_a_bad_budget_is_a_422_naming_the_field(api, change: dict, field: str) -> None:
    r = put(api, "bad", budget(**change))
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert message.startswith(field) or f"{field}:" in message, message


def test_a_missing_period_or_amount_is_named(api) -> None:
    body = budget()
    del body["period"], body["amount"]
    r = put(api, "bad", body)
    assert r.status_code == 422
    message = r.json()["message"]
    assert "period" in message and "amount" in message, message


def test_a_cost_budget_without_a_tariff_is_a_422(api) -> None:
    r = put(api, "cost", budget(unit="cost", amount=1000))
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("unit: a cost budget needs a tariff")
    assert (
        api.client.get("/v1/budgets/cost", headers=api.as_(api.users["viewer"])).status_code == 404
    )


def test_a_kgce_budget_counts_kwh_times_the_coal_factor(api) -> None:
    assert put(api, "hq-kgce", budget()).status_code == 200
    s = status(api, "hq-kgce")
    assert s["unit"] == "kgce"
    assert s["used_kwh"] == pytest.approx(USED_KWH)
    assert s["used"] == pytest.approx(USED_KWH * COAL)  # 2,400 x 0.1229 = 294.96
    assert s["period"]["first_day"] == "2026-03-01"
    assert s["period"]["timezone"] == "Asia/Shanghai"
    assert [m["device"] for m in s["meters"]] == ["main"]
    assert {f["kind"]: f["version"] for f in s["factors"]} == {"coal": "gb2589-2020-equivalent"}


def test_without_history_the_status_says_why_there_is_no_forecast(api) -> None:
    assert put(api, "hq-kgce", budget()).status_code == 200
    s = status(api, "hq-kgce")
    assert s["forecast"] is None and s["forecast_low"] is None and s["forecast_high"] is None
    assert s["fit"] is None
    assert s["reason"] == (
        "no forecast: no history before the period: nothing to forecast from;"
        " used 295.0 kgce of budget 300.0 kgce"
    )
    # colour from use only: 294.96 of 300 kgce is 98 %, past the 90 % threshold, but
    # without a forecast only reaching the budget turns it red
    assert s["colour"] == "green"
    assert s["crosses_on"] is None
    assert put(api, "hq-kgce-290", budget(amount=290.0)).status_code == 200
    assert status(api, "hq-kgce-290")["colour"] == "red"  # 294.96 >= 290
    assert put(api, "hq-kwh", budget(unit="kWh", amount=2400.0)).status_code == 200
    assert status(api, "hq-kwh")["colour"] == "red"  # used exactly the budget


def test_a_meter_group_without_meters_says_so(api) -> None:
    assert put(api, "hq-hvac", budget(meters={"system": "hvac"})).status_code == 200
    s = status(api, "hq-hvac")
    assert s["used"] == 0.0 and s["meters"] == []
    assert s["reason"].startswith("no forecast: no meters in s1/hq system=hvac;"), s["reason"]
    # nothing measured is not "green": no colour, and the evaluator raises nothing for it
    assert s["colour"] is None
    changes = api.app.state.energy_evaluator.run_once()
    assert "hq-hvac" not in {c.budget for c in changes}


def test_roles(api) -> None:
    for role, expected in (
        ("viewer", 403),
        ("operator", 403),
        ("energy_manager", 200),
        ("admin", 200),
    ):
        r = put(api, "roles", budget(), role)
        assert r.status_code == expected, (role, r.text)
        if expected == 403:
            assert "energy.write" in r.json()["detail"]
    assert api.client.put("/v1/budgets/roles", json=budget()).status_code == 401
    # everyone reads
    for role in ("viewer", "operator"):
        assert (
            api.client.get("/v1/budgets/roles", headers=api.as_(api.users[role])).status_code == 200
        )


def test_the_history_keeps_every_version_with_who_and_when(api) -> None:
    at = [local_epoch(NOW, 9), local_epoch(NOW, 10), local_epoch(NOW, 11)]
    for when, role, amount in zip(
        at, ("energy_manager", "admin", "energy_manager"), (300, 320, 310), strict=True
    ):
        api.now = when
        r = put(api, "hist", budget(amount=amount, name=f"hq at {amount}"), role)
        assert r.status_code == 200, r.text
    api.now = local_epoch(NOW)
    body = api.client.get("/v1/budgets/hist", headers=api.as_(api.users["viewer"])).json()
    assert (body["version"], body["amount"], body["updated_by"], body["updated_at"]) == (
        3,
        310,
        "mei",
        at[2],
    )
    assert [(h["version"], h["by"], h["at"], h["body"]["amount"]) for h in body["history"]] == [
        (1, "mei", at[0], 300),
        (2, "ada", at[1], 320),
        (3, "mei", at[2], 310),
    ]
    listed = api.client.get("/v1/budgets", headers=api.as_(api.users["viewer"])).json()["budgets"]
    assert next(b for b in listed if b["id"] == "hist")["version"] == 3
    # a refused PUT is no version
    assert put(api, "hist", budget(amount=-1)).status_code == 422
    again = api.client.get("/v1/budgets/hist", headers=api.as_(api.users["viewer"])).json()
    assert len(again["history"]) == 3


def test_an_unknown_budget_is_a_404(api) -> None:
    for path in ("/v1/budgets/nope", "/v1/budgets/nope/status"):
        r = api.client.get(path, headers=api.as_(api.users["viewer"]))
        assert r.status_code == 404
        assert r.json()["detail"] == "there is no budget 'nope'"


def test_a_bad_budget_id_is_a_422(api) -> None:
    r = put(api, "-starts-with-a-dash", budget())
    assert r.status_code == 422
    assert "budget_id" in r.json()["message"]


def test_a_budget_that_fails_to_evaluate_does_not_stop_the_others(api, monkeypatch) -> None:
    """The evaluator raises and clears budget alarms for every budget each run; one budget
    whose evaluation fails (here made to fail) is logged and skipped, not the end of the run."""
    from cloud_api.energy import evaluator as module

    real = module.evaluate

    def failing(db, config, budget, at, *more, **named):
        if budget.id == "a-broken":
            raise ValueError("made to fail")
        return real(db, config, budget, at, *more, **named)

    monkeypatch.setattr(module, "evaluate", failing)
    assert put(api, "a-broken", budget()).status_code == 200  # listed first (by id)
    assert put(api, "z-over", budget(unit="kWh", amount=1000.0)).status_code == 200
    changes = {c.budget: c.after for c in api.app.state.energy_evaluator.run_once()}
    assert changes.get("z-over") == "red"  # 2,400 kWh used of 1,000
    assert "a-broken" not in changes
