"""Main meter against sub-meters (issue 8, Build 3): the balance and its alarm.

Building "hq" in Asia/Shanghai: a main meter and sub-meters tagged by system, one of them
(a chiller's pump) under the HVAC meter. Each meter draws a constant power per local day,
read every 15 min, so each day's kWh is power x 24 by hand:

             day 1 (2026-03-02)    day 2 (2026-03-03)
  main           100 kW                100 kW
  lighting        30 kW                 30 kW
  hvac            30 kW                 30 kW   (its pump: 10 kW, inside hvac's 30)
  power           25 kW                 35 kW
  -> subs         85 kW  (15 % unaccounted: past 10 %, yellow)
                                        95 kW  (5 %: green)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from api_testkit import add_user, in_process_api, post_batch, register_edge

TZ = ZoneInfo("Asia/Shanghai")
DAY1 = date(2026, 3, 2)
METERS = {  # device: (tags, kW on day 1, kW on day 2)
    "main": ({"system": "main"}, 100.0, 100.0),
    "lighting": ({"system": "lighting-sockets"}, 30.0, 30.0),
    "hvac": ({"system": "hvac"}, 30.0, 30.0),
    "hvac-pump": ({"parent": "hvac"}, 10.0, 10.0),
    "power": ({"system": "power"}, 25.0, 35.0),
}


def midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).timestamp()


@pytest.fixture
def api(tmp_path):
    with in_process_api(tmp_path, now=midnight(DAY1 + timedelta(days=3))) as running:
        token = register_edge(running.db, "edge-hq", "s1", "hq")
        records, seq = [], 0
        energy = dict.fromkeys(METERS, 0.0)
        t = midnight(DAY1)
        for step in range(2 * 96 + 1):  # readings at 00:00 of day 1 .. 00:00 of day 3
            ts = t + 900 * step
            for device, (tags, kw1, kw2) in METERS.items():
                if step:
                    energy[device] += (kw1 if step <= 96 else kw2) / 4
                seq += 1
                records.append({
                    "seq": seq, "ts": ts, "device": device, "tags": tags,
                    "points": [{"point": "energy_import", "value": energy[device],
                                "unit": "kWh", "kind": "counter"}],
                })  # fmt: skip
        running.client.headers.update(running.as_(token))
        r = post_batch(running.client, {"site": "s1", "building": "hq", "lane": "readings",
                                        "records": records})  # fmt: skip
        assert r.status_code == 200, r.text
        running.client.headers.update(running.as_(add_user(running.db, "vic", "viewer")))
        yield running


def test_balance_of_a_day_by_hand(api) -> None:
    r = api.client.get("/v1/energy/balance", params={"site": "s1", "building": "hq",
                                                      "from": "2026-03-02"})  # fmt: skip
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["main"] == "main" and b["main_kwh"] == pytest.approx(2400)
    # the pump is inside hvac: not counted again
    assert {s["device"] for s in b["sub_meters"]} == {"lighting", "hvac", "power"}
    assert b["accounted_kwh"] == pytest.approx((30 + 30 + 25) * 24)
    assert b["unaccounted_kwh"] == pytest.approx(15 * 24)
    assert b["share"] == pytest.approx(0.15)
    assert b["colour"] == "yellow"
    assert b["by_system"] == pytest.approx(
        {"lighting-sockets": 720.0, "hvac": 720.0, "power": 600.0}
    )
    day2 = api.client.get("/v1/energy/balance", params={"site": "s1", "building": "hq",
                                                         "from": "2026-03-03"}).json()  # fmt: skip
    assert day2["share"] == pytest.approx(0.05) and day2["colour"] == "green"


def test_unaccounted_energy_raises_then_clears_an_alarm(api) -> None:
    evaluator = api.app.state.energy_evaluator

    def balance_alarm() -> dict | None:
        alarms = api.client.get("/v1/alarms", params={"code": "energy.unaccounted"}).json()
        found = [a for a in alarms["alarms"] if a["source"] == "balance:main"]
        return found[0] if found else None

    api.now = midnight(DAY1 + timedelta(days=1)) + 3600  # day 1 is yesterday: 15 %
    evaluator.run_once()
    alarm = balance_alarm()
    assert alarm is not None and alarm["active"] is True and alarm["building"] == "hq"
    evaluator.run_once()  # the same day again: no second raise
    assert balance_alarm()["raise_count"] == 1
    api.now = midnight(DAY1 + timedelta(days=2)) + 3600  # day 2 is yesterday: 5 %
    evaluator.run_once()
    assert balance_alarm()["active"] is False


def test_a_tree_without_a_main_meter_says_so_and_raises_nothing(api) -> None:
    r = api.client.get("/v1/energy/balance", params={"site": "s1", "building": "nowhere",
                                                      "from": "2026-03-02"})  # fmt: skip
    assert r.status_code == 200
    assert r.json()["colour"] is None and "no main meter" in r.json()["note"]


def test_a_sub_meter_counting_in_wh_is_converted_to_kwh(tmp_path) -> None:
    # main 100 kW in kWh; one sub-meter 80 kW counting in Wh (80,000 Wh an hour): by hand
    # 2,400 kWh and 1,920 kWh a day, 20 % unaccounted, not 1,920,000 "kWh".
    with in_process_api(tmp_path, now=midnight(DAY1 + timedelta(days=2))) as api:
        token = register_edge(api.db, "edge-wh", "s1", "wh")
        records, seq = [], 0
        for step in range(97):
            ts = midnight(DAY1) + 900 * step
            for device, tags, value, unit in (
                ("main", {"system": "main"}, 25.0 * step, "kWh"),
                ("plant", {"system": "power"}, 20_000.0 * step, "Wh"),
            ):
                seq += 1
                records.append({"seq": seq, "ts": ts, "device": device, "tags": tags,
                                "points": [{"point": "energy_import", "value": value,
                                            "unit": unit, "kind": "counter"}]})  # fmt: skip
        api.client.headers.update(api.as_(token))
        batch = {"site": "s1", "building": "wh", "lane": "readings", "records": records}
        assert post_batch(api.client, batch).status_code == 200
        api.client.headers.update(api.as_(add_user(api.db, "vic", "viewer")))
        where = {"site": "s1", "building": "wh", "from": "2026-03-02", "to": "2026-03-03"}
        b = api.client.get("/v1/energy/balance", params=where).json()
        assert b["accounted_kwh"] == pytest.approx(1920.0)
        assert b["share"] == pytest.approx(0.2)
        power = api.client.get("/v1/energy", params={**where, "system": "power"}).json()
        assert power["total"]["kwh"] == pytest.approx(1920.0)


def test_a_zone_off_utc_by_half_an_hour_is_refused_not_misattributed(tmp_path) -> None:
    # The figures are built from UTC hours: in Asia/Kolkata (UTC+5:30) each local day would
    # take half an hour of the next. A clear 422 naming the zone, not wrong days.
    energy = tmp_path / "energy.yaml"
    energy.write_text("sites:\n  s1:\n    timezone: Asia/Kolkata\n")
    with in_process_api(
        tmp_path, now=midnight(DAY1 + timedelta(days=2)), energy_config=energy
    ) as api:
        api.client.headers.update(api.as_(add_user(api.db, "vic", "viewer")))
        where = {"site": "s1", "building": "hq", "from": "2026-03-02", "to": "2026-03-03"}
        for path in ("/v1/energy", "/v1/energy/balance"):
            r = api.client.get(path, params=where)
            assert r.status_code == 422, (path, r.text)
            assert "Asia/Kolkata" in r.json()["detail"] and "whole" in r.json()["detail"]
