"""GET /v1/cockpit/overview and /buildings: each figure against the API's own endpoint for
it AND against a figure worked out by hand.

Everything goes through POST /v1/ingest (readings and events of one edge of site s1). The
API's clock: 2026-04-10 14:00 in Asia/Shanghai (UTC+8), so "today" is 2026-04-10.

hq: two main meters read every 15 minutes from 00:00 to 14:00 local:
    main-a  10 kW 00-08, 40 kW 08-14  ->  8 x 10 + 6 x 40 = 80 + 240 = 320 kWh
    main-b   4 kW 00-14               ->  14 x 4              =  56 kWh
    today = 376 kWh
    kgce  = 376 x 0.1229 (GB/T 2589-2020 calorific equivalent) = 46.2104
    CO2   = 376 x 0.5306 (MEE-NBS national average 2023)       = 199.5056 kg
    cost (valley 00-08 at 0.3, flat at 0.6 CNY/kWh):
          main-a 80 x 0.3 + 240 x 0.6 = 24 + 144 = 168; main-b 32 x 0.3 + 24 x 0.6 =
          9.6 + 14.4 = 24; together 192 CNY
    measured: the hours 00 .. 14 hold readings (the last at 14:00 sharp), the other 9 of
          the day none: 15 / 24 = 0.625
  An AHU sub-meter (system hvac, parent main-a) is a system, not part of the total.
  Power: the latest active power readings (interval 900 s, at 14:00) 40 + 4 = 44 kW.
  Demand blocks 13:30 (80 kW) and 13:45 (95 kW, limit 90, over): the last is 13:45.
  Alarms: door.forced D1 (red, unack), door.held_open D2 (yellow, unack), device.offline
  r9 raised and cleared before anyone acked (yellow, rtn_unack), patrol.late p1 acked then
  cleared (normal), and budget.over (red) that the evaluator raises for the budget
  hq-tight (100 kWh a month, 376 used): 4 open, red 2, yellow 2.
  Patrol rounds today: north finished [on_time, on_time, late, missed], south running
  [on_time, early, pending, pending]; a round of yesterday does not count: 2 rounds, 8
  checkpoints, on time 3, late 1, early 1, missed 1, pending 2, compliance 3 / 6 = 0.5.
annex: its main meter's active power (interval 60 s) last read at 10:00: stale four
  hours later, so power_kw is null.
gate: doors and alarms only, no meter: no energy ("no meters match"), no power.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from api_testkit import add_user, in_process_api, register_edge
from energy_apikit import counter_readings, day_profile, local_epoch, write_config
from security_testkit import alarm, event_batch, patrol_round, round_result

from cloud_api.energy.evaluator import evaluate_budgets

TODAY = date(2026, 4, 10)
NOW = local_epoch(TODAY, 14)
COAL, CO2 = 0.1229, 0.5306
Q = 900.0

CONFIG = """
timezone: Asia/Shanghai
sites:
  s1:
    buildings:
      hq: {area_m2: 1000, occupants: 50}
      annex: {area_m2: 200}
factors:
  coal: [{version: gb2589-2020-equivalent}]
  co2: [{version: mee-nbs-2023}]
tariffs:
  - version: test-tou-2026
    valid_from: 2026-01-01
    currency: CNY
    source: round prices for the test's hand sums, not a bill
    prices: {valley: 0.3, flat: 0.6}
    default_period: flat
    seasons:
      - {name: all year, months: [1,2,3,4,5,6,7,8,9,10,11,12],
         windows: [["00:00", "08:00", valley]]}
"""


class Edge:
    """One edge of site s1: readings and events, each lane numbered on its own."""

    def __init__(self, api, token: str) -> None:
        self.api, self.token = api, token
        self.seq = {"readings": 0, "events": 0}

    def _post(self, batch: dict) -> None:
        answer = self.api.client.post(
            "/v1/ingest", json=batch, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert answer.status_code == 200, answer.text

    def readings(self, building: str, device: str, points: list[tuple], **extra) -> None:
        """points: (ts, point, value, unit, kind)."""
        records = []
        for ts, point, value, unit, kind in points:
            self.seq["readings"] += 1
            records.append(
                {
                    "seq": self.seq["readings"],
                    "ts": ts,
                    "device": device,
                    "points": [{"point": point, "value": value, "unit": unit, "kind": kind}],
                    **extra,
                }
            )
        for i in range(0, len(records), 2000):
            self._post(
                {
                    "site": "s1",
                    "building": building,
                    "lane": "readings",
                    "records": records[i : i + 2000],
                }
            )

    def events(self, building: str, *records: dict) -> None:
        numbered = []
        for rec in records:
            self.seq["events"] += 1
            numbered.append({**rec, "seq": self.seq["events"]})
        self._post(event_batch(numbered, building=building))


def counter(edge: Edge, building: str, device: str, kw: list[float], tags: dict) -> None:
    start = local_epoch(TODAY)
    edge.readings(
        building,
        device,
        [(ts, "energy_import", v, "kWh", "counter") for ts, v in counter_readings(start, kw)],
        tags=tags,
    )


def demand_block(start: float, kw: float, limit: float) -> dict:
    data = {
        "meter": "main-a",
        "start": start,
        "end": start + Q,
        "label": f"block at {start:.0f}",
        "kwh": kw / 4,
        "demand_kw": kw,
        "limit_kw": limit,
        "over": kw > limit,
        "peak_sliding_kw": kw,
    }
    return {"ts": start + Q + 1, "code": "demand.block", "source": "main-a", "data": data}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("cockpit-overview")
    with in_process_api(
        directory,
        now=NOW,
        energy_config=write_config(directory, CONFIG),
        energy_evaluate_seconds=0,
    ) as api:
        api.viewer = add_user(api.db, "vera", "viewer")
        api.operator = add_user(api.db, "olga", "operator")
        api.manager = add_user(api.db, "emma", "energy_manager")
        edge = Edge(api, register_edge(api.db, "edge-s1", "s1"))
        quarters = 14 * 4  # 00:00 .. 14:00
        main_a = day_profile(lambda h: 10.0 if h < 8 else 40.0)[:quarters]
        counter(edge, "hq", "main-a", main_a, {"system": "main"})
        counter(edge, "hq", "main-b", [4.0] * quarters, {"system": "main"})
        counter(edge, "hq", "ahu", [3.0] * quarters, {"system": "hvac", "parent": "main-a"})
        for device, kw in (("main-a", 40.0), ("main-b", 4.0)):
            edge.readings("hq", device, [(NOW, "active_power", kw, "kW", "gauge")], interval=900.0)
        counter(edge, "annex", "annex-main", [2.0] * 40, {"system": "main"})
        edge.readings(
            "annex",
            "annex-main",
            [(local_epoch(TODAY, 10), "active_power", 2.0, "kW", "gauge")],
            interval=60.0,
        )

        t = local_epoch(TODAY, 9)
        edge.events(
            "hq",
            alarm(0, t, "door.forced", "D1", True, "red"),
            alarm(0, t, "door.held_open", "D2", True, "yellow"),
            alarm(0, t, "device.offline", "r9", True, "yellow"),
            alarm(0, t + 60, "device.offline", "r9", False),
            alarm(0, t, "patrol.late", "p1", True, "yellow"),
            demand_block(local_epoch(TODAY, 13, 30), 80.0, 90.0),
            demand_block(local_epoch(TODAY, 13, 45), 95.0, 90.0),
        )
        edge.events("gate", alarm(0, t, "door.held_open", "G1", True, "yellow"))
        late = next(
            a["id"]
            for a in get(api, api.operator, "/v1/alarms", site="s1", building="hq")["alarms"]
            if a["code"] == "patrol.late"
        )
        acked = api.client.post(f"/v1/alarms/{late}/ack", headers=auth(api.operator))
        assert acked.status_code == 200, acked.text
        edge.events("hq", alarm(0, t + 120, "patrol.late", "p1", False))

        morning, noon = local_epoch(TODAY, 8), local_epoch(TODAY, 12)
        yesterday = local_epoch(date(2026, 4, 9), 8)
        edge.events(
            "hq",
            patrol_round(
                0,
                morning + 3000,
                round_result(
                    "north",
                    morning,
                    "2026-04-10",
                    "finished",
                    ["on_time", "on_time", "late", "missed"],
                ),
            ),
            patrol_round(
                0,
                noon + 900,
                round_result(
                    "south",
                    noon,
                    "2026-04-10",
                    "running",
                    ["on_time", "early", "pending", "pending"],
                ),
            ),
            patrol_round(
                0,
                yesterday + 3000,
                round_result("north", yesterday, "2026-04-09", "finished", ["on_time"]),
            ),
        )

        for budget_id, amount, building in (
            ("hq-roomy", 1e6, "hq"),
            ("hq-tight", 100.0, "hq"),
            ("site-wide", 1e6, None),
        ):
            body = {"site": "s1", "period": "month", "amount": amount, "unit": "kWh"}
            if building:
                body["building"] = building
            put = api.client.put(f"/v1/budgets/{budget_id}", json=body, headers=auth(api.manager))
            assert put.status_code == 200, put.text
        evaluate_budgets(api.app.state.store, api.app.state.energy_config, NOW)
        yield api


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def get(api, token: str, path: str, **params) -> dict:
    answer = api.client.get(path, params=params, headers=auth(token))
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def overview(api) -> dict:
    body = get(api, api.viewer, "/v1/cockpit/overview", site="s1")
    return {(b["site"], b["building"]): b for b in body["buildings"]}


# ---------------------------------------------------------------- energy today


def test_today_equals_the_energy_endpoint_and_the_hand_sums(api, overview) -> None:
    hq = overview[("s1", "hq")]
    assert (hq["timezone"], hq["day"], hq["today_reason"]) == ("Asia/Shanghai", "2026-04-10", None)
    today = hq["today"]
    # By hand (module doc): 376 kWh, 46.2104 kgce, 199.5056 kg CO2, 192 CNY, 15 / 24.
    assert today["kwh"] == pytest.approx(376.0, abs=1e-9)
    assert today["kgce"] == pytest.approx(376 * COAL, rel=1e-12)
    assert today["kgce"] == pytest.approx(46.2104, rel=1e-12)
    assert today["co2_kg"] == pytest.approx(199.5056, rel=1e-12)
    assert today["cost"] == pytest.approx(192.0, rel=1e-12)
    assert today["measured_share"] == 0.625
    assert today["currency"] == "CNY"
    # The energy endpoint's day row, to the last bit.
    energy = get(
        api,
        api.viewer,
        "/v1/energy",
        site="s1",
        building="hq",
        **{"from": "2026-04-10", "to": "2026-04-11"},
        step="day",
    )
    (row,) = energy["rows"]
    for field in ("kwh", "kgce", "co2_kg", "cost", "measured_share"):
        assert today[field] == row[field], field


def test_a_building_without_meters_has_no_energy_and_says_why(overview) -> None:
    gate = overview[("s1", "gate")]
    assert gate["today"] is None
    assert gate["today_reason"] == "no meters match s1/gate"
    assert gate["power_kw"] is None and "no main meter" in gate["power_reason"]
    assert gate["demand"] == {
        "kw": None,
        "limit_kw": None,
        "block_start": None,
        "over": None,
        "meter": None,
    }
    assert gate["alarms"] == {"open": 1, "by_colour": {"red": 0, "yellow": 1, "green": 0}}
    assert gate["budget"] == {"colour": None, "budgets": []}


# ---------------------------------------------------------------- power now


def test_power_is_the_sum_of_the_main_meters_latest_readings(api, overview) -> None:
    hq = overview[("s1", "hq")]
    assert (hq["power_kw"], hq["power_reason"], hq["power_ts"]) == (44.0, None, NOW)
    latest = get(api, api.viewer, "/v1/latest", site="s1", building="hq")["latest"]
    power = {r["device"]: r for r in latest if r["point"] == "active_power"}
    assert {d: (r["value"], r["stale"]) for d, r in power.items()} == {
        "main-a": (40.0, False),
        "main-b": (4.0, False),
    }


def test_a_stale_main_meter_gives_no_power(api, overview) -> None:
    annex = overview[("s1", "annex")]
    assert annex["power_kw"] is None
    assert annex["power_reason"] == "main meter annex-main: latest active_power is stale"
    (reading,) = [
        r
        for r in get(api, api.viewer, "/v1/latest", site="s1", building="annex")["latest"]
        if r["point"] == "active_power"
    ]
    assert reading["stale"] is True  # 4 h old, interval 60 s: /v1/latest says so too
    assert annex["today"]["kwh"] == pytest.approx(20.0)  # 2 kW for 10 h


# ---------------------------------------------------------------- demand, alarms, patrol


def test_demand_is_the_last_block_of_the_demand_endpoint(api, overview) -> None:
    hq = overview[("s1", "hq")]
    assert hq["demand"] == {
        "kw": 95.0,
        "limit_kw": 90.0,
        "block_start": local_epoch(TODAY, 13, 45),
        "over": True,
        "meter": "main-a",
    }
    last = get(api, api.viewer, "/v1/demand", site="s1", building="hq")["blocks"][-1]
    assert (last["demand_kw"], last["limit_kw"], last["start"], last["over"]) == (
        hq["demand"]["kw"],
        hq["demand"]["limit_kw"],
        hq["demand"]["block_start"],
        hq["demand"]["over"],
    )


NOT_NORMAL = ["unack", "acked", "rtn_unack", "shelved", "suppressed", "out_of_service"]


def test_open_alarms_are_those_the_alarms_endpoint_lists_in_a_state_not_normal(
    api, overview
) -> None:
    hq = overview[("s1", "hq")]
    assert hq["alarms"] == {"open": 4, "by_colour": {"red": 2, "yellow": 2, "green": 0}}
    listed = get(api, api.viewer, "/v1/alarms", site="s1", building="hq", state=NOT_NORMAL)[
        "alarms"
    ]
    assert len(listed) == hq["alarms"]["open"]
    for colour, n in hq["alarms"]["by_colour"].items():
        assert sum(a["colour"] == colour for a in listed) == n


def test_patrol_is_todays_rounds_summed(api, overview) -> None:
    hq = overview[("s1", "hq")]
    assert hq["patrol"] == {
        "rounds": 2,
        "checkpoints": 8,
        "on_time": 3,
        "late": 1,
        "early": 1,
        "missed": 1,
        "pending": 2,
        "compliance": 0.5,
    }
    rounds = get(api, api.viewer, "/v1/patrols/rounds", site="s1", building="hq", day="2026-04-10")[
        "rounds"
    ]
    statuses = [cp["status"] for r in rounds for cp in r["checkpoints"]]
    assert len(rounds) == hq["patrol"]["rounds"] and len(statuses) == hq["patrol"]["checkpoints"]
    for status in ("on_time", "late", "early", "missed", "pending"):
        assert statuses.count(status) == hq["patrol"][status], status
    assert overview[("s1", "annex")]["patrol"]["compliance"] is None  # nothing judged


# ---------------------------------------------------------------- budgets


def test_budget_colours_are_the_evaluated_ones_worst_first(api, overview) -> None:
    hq = overview[("s1", "hq")]
    colours = {b["id"]: b["colour"] for b in hq["budget"]["budgets"]}
    listed = {b["id"]: b.get("last_colour") for b in get(api, api.viewer, "/v1/budgets")["budgets"]}
    assert set(colours) == {"hq-roomy", "hq-tight"}  # the site-wide one is no building's
    assert colours == {k: listed[k] for k in colours}
    assert colours["hq-tight"] == "red"  # 376 kWh used of 100
    assert hq["budget"]["colour"] == "red"
    assert all(b["evaluated_at"] == NOW for b in hq["budget"]["budgets"])


def test_a_colour_of_an_earlier_period_is_not_shown_as_this_ones(api) -> None:
    api.now = local_epoch(date(2026, 5, 1), 9)  # May: the evaluator has not run yet
    try:
        body = get(api, api.viewer, "/v1/cockpit/overview", site="s1")
    finally:
        api.now = NOW
    (hq,) = [b for b in body["buildings"] if b["building"] == "hq"]
    assert hq["day"] == "2026-05-01"
    assert hq["budget"]["colour"] is None
    assert {b["colour"] for b in hq["budget"]["budgets"]} == {None}
    assert hq["today"]["kwh"] == 0.0 and hq["today"]["measured_share"] == 0.0


# ---------------------------------------------------------------- buildings


def test_buildings_list_main_power_series_systems_budgets(api) -> None:
    body = get(api, api.viewer, "/v1/cockpit/buildings")
    by_name = {b["building"]: b for b in body["buildings"]}
    assert list(by_name) == ["annex", "gate", "hq"]
    series = {
        (s["building"], s["device"], s["point"]): s["id"]
        for s in get(api, api.viewer, "/v1/series", site="s1")["series"]
    }
    assert by_name["hq"] == {
        "site": "s1",
        "building": "hq",
        "timezone": "Asia/Shanghai",
        "main_power_series": [
            series[("hq", "main-a", "active_power")],
            series[("hq", "main-b", "active_power")],
        ],
        "systems": ["hvac"],
        "budgets": ["hq-roomy", "hq-tight"],
        "contracts": [],
    }
    assert by_name["gate"]["main_power_series"] == [] and by_name["gate"]["systems"] == []


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/cockpit/overview", {"site": "a b"}, "site"),
        ("/v1/cockpit/buildings", {"site": "x" * 200}, "site"),
        ("/v1/cockpit/doors", {"building": "hq"}, "building"),
        ("/v1/cockpit/doors", {"site": "s1", "building": "a;b"}, "building"),
    ],
)
def test_bad_query_parameters_are_422_naming_the_field(api, path, params, field) -> None:
    answer = api.client.get(path, params=params, headers=auth(api.viewer))
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"].startswith(f"{field}: ")


def test_an_unknown_site_is_404_and_every_read_needs_a_user(api) -> None:
    for path in ("/v1/cockpit/overview", "/v1/cockpit/buildings"):
        answer = api.client.get(path, params={"site": "s9"}, headers=auth(api.viewer))
        assert answer.status_code == 404
        assert answer.json()["detail"] == "no building is known for site 's9'"
    for path in ("/v1/cockpit/overview", "/v1/cockpit/buildings", "/v1/cockpit/doors"):
        assert api.client.get(path).status_code == 401
