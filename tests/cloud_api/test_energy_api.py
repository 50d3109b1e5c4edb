"""GET /v1/energy against figures computed by hand (issue 8, Build 2-4 and 10).

Everything goes through the real API: counter readings of known loads are posted to
POST /v1/ingest, the figures read back from GET /v1/energy. Site s1, Asia/Shanghai
(UTC+8: local midnight is 16:00 UTC the day before, so a UTC day would split elsewhere).

Building hq (area 1000 m2, 50 occupants), one main meter read every 15 minutes. Its load
P by local hour: 10 kW 00-08, 40 kW 08-18, 20 kW 18-24, so a whole day is
    8 x 10 + 10 x 40 + 6 x 20 = 80 + 400 + 120 = 600 kWh.
Readings run from 2026-03-30 00:00 to 2026-04-03 00:00 local, with two holes:
- Mar 31: the 08:00 reading is missing. The step 07:45 -> 08:15 rises 10/4 + 40/4 =
  12.5 kWh and the ledger spreads it evenly: 6.25 kWh in hour 07 and 6.25 in hour 08
  (where P has 2.5 and 10). The day is still 600 kWh; both hours are marked as not
  measured (spread over a gap): measured_share = 22/24.
- Apr 1 23:30 -> Apr 2 00:30: no readings between, and the counter shows 30 kWh more
  across that hour (the load there is unknown). Spread evenly, 15 kWh fall before local
  midnight and 15 after. Apr 1 = 600 - 10 (P's 23:30-24:00) + 15 = 605 kWh;
  Apr 2 = 600 - 5 (P's 00:00-00:30) + 15 = 610 kWh.

The tariff of the test (round prices): valley 00-08 at 0.3, peak 18-22 at 1.0, else flat
at 0.6 CNY/kWh; on the tariff's holiday 2026-04-02, deep 00-12 at 0.1, then the season's
periods. The factors: 0.1229 kgce/kWh (GB/T 2589-2020 calorific equivalent) and 0.5306 kg
CO2/kWh (MEE-NBS national average 2023).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from api_testkit import add_user, in_process_api, register_edge
from energy_apikit import Sender, counter_readings, day_profile, local_epoch, write_config

COAL, CO2 = 0.1229, 0.5306
FIRST, END = date(2026, 3, 30), date(2026, 4, 3)
HOLIDAY = date(2026, 4, 2)

CONFIG = """
timezone: Asia/Shanghai
sites:
  s1:
    holidays: [2026-04-02]
    buildings:
      hq: {area_m2: 1000, occupants: 50}
      annex: {area_m2: 200, occupants: 10, rated_kw: {annex-meter: 50}}
      tree: {area_m2: 500, occupants: 20}
  s2:
    buildings:
      known: {area_m2: 100, occupants: 5}
factors:
  coal: [{version: gb2589-2020-equivalent}]
  co2: [{version: mee-nbs-2023}]
tariffs:
  - version: test-tou-2026
    valid_from: 2026-01-01
    currency: CNY
    source: round prices for the test's hand sums, not a bill
    prices: {valley: 0.3, flat: 0.6, peak: 1.0, deep: 0.1}
    default_period: flat
    seasons:
      - name: all year
        months: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        windows:
          - ["00:00", "08:00", valley]
          - ["18:00", "22:00", peak]
    holidays:
      - name: the test's holiday
        dates: [2026-04-02]
        windows:
          - ["00:00", "12:00", deep]
"""


def load_p(hour: int) -> float:
    return 10.0 if hour < 8 else 40.0 if hour < 18 else 20.0


def hq_readings() -> list[tuple[float, float]]:
    """Four days of P from Mar 30 00:00, less the readings of the holes, the counter
    30 kWh (instead of P's 15) higher across Apr 1 23:30 -> Apr 2 00:30."""
    load = [kw for _ in range(4) for kw in day_profile(load_p)]
    readings = counter_readings(local_epoch(FIRST), load)
    extra = 15.0  # 30 kWh shown across the hour where P would have used 10 + 5
    midnight = local_epoch(date(2026, 4, 2))
    out = []
    for ts, value in readings:
        if ts == local_epoch(date(2026, 3, 31), 8):
            continue
        if midnight - 1800 < ts < midnight + 1800:  # 23:45, 00:00, 00:15 missing
            continue
        out.append((ts, value + (extra if ts >= midnight + 1800 else 0.0)))
    return out


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("energy-api")
    config = write_config(directory, CONFIG)
    with in_process_api(
        directory,
        now=local_epoch(date(2026, 4, 5)),
        energy_config=config,
        energy_evaluate_seconds=0,
    ) as api:
        send = Sender(api, register_edge(api.db, "edge-s1", "s1"))
        send.counter("hq", "main", hq_readings(), {"system": "main"})

        # annex: 4 kW all of Mar 30 (1 kWh a quarter), but at 12:00 the counter jumps by
        # 500 kWh and counts on from there: 501 kWh in 15 min is 2004 kW, far above the
        # meter's rated 50 kW, so the ledger holds that step out.
        annex = counter_readings(local_epoch(FIRST), [4.0] * 96)
        jump_at = local_epoch(FIRST, 12)
        send.counter(
            "annex",
            "annex-meter",
            [(ts, v + (500.0 if ts >= jump_at else 0.0)) for ts, v in annex],
            {"system": "main"},
        )

        # tree: a main meter (60 kW), an AHU sub-meter (30 kW) feeding a fan-coil
        # sub-meter (10 kW, inside the AHU's 30), a lighting sub-meter (20 kW); Mar 30.
        for device, kw, tags in (
            ("tree-main", 60.0, {"system": "main"}),
            ("ahu-1", 30.0, {"system": "hvac", "parent": "tree-main"}),
            ("fcu-1", 10.0, {"system": "hvac", "parent": "ahu-1"}),
            ("lights", 20.0, {"system": "lighting-sockets", "parent": "tree-main"}),
        ):
            send.counter("tree", device, counter_readings(local_epoch(FIRST), [kw] * 96), tags)

        # s2: a configured building (100 m2) and one the configuration does not name, 1 kW each
        send2 = Sender(api, register_edge(api.db, "edge-s2", "s2"), site="s2")
        for building in ("known", "unknown"):
            send2.counter(
                building, f"{building}-main", counter_readings(local_epoch(FIRST), [1.0] * 96)
            )
        api.viewer = add_user(api.db, "vic", "viewer")
        yield api


def get(api, **params) -> dict:
    r = api.client.get("/v1/energy", params=params, headers=api.as_(api.viewer))
    assert r.status_code == 200, r.text
    return r.json()


def rows_by_start(body: dict) -> dict[str, dict]:
    return {row["start"]: row for row in body["rows"]}


def test_daily_kwh_kgce_co2_cost_and_intensities_by_hand(api) -> None:
    body = get(api, site="s1", building="hq", **{"from": "2026-03-30", "to": "2026-04-03"})
    rows = rows_by_start(body)
    assert list(rows) == ["2026-03-30", "2026-03-31", "2026-04-01", "2026-04-02"]
    assert body["timezone"] == "Asia/Shanghai"
    assert [m["device"] for m in body["meters"]] == ["main"]

    mar30 = rows["2026-03-30"]
    assert mar30["kwh"] == pytest.approx(600.0)
    assert mar30["kgce"] == pytest.approx(73.74)  # 600 x 0.1229
    assert mar30["co2_kg"] == pytest.approx(318.36)  # 600 x 0.5306
    # valley 80 x 0.3 = 24; flat (08-18) 400 x 0.6 = 240; peak 80 x 1.0 = 80;
    # flat (22-24) 40 x 0.6 = 24: 368 CNY
    assert mar30["cost"] == pytest.approx(368.0)
    assert mar30["measured_share"] == 1.0
    assert mar30["complete"] is True
    # per m2 (1000 m2) and per person (50)
    assert mar30["kwh_per_m2"] == pytest.approx(0.6)
    assert mar30["kgce_per_m2"] == pytest.approx(0.07374)
    assert mar30["kwh_per_person"] == pytest.approx(12.0)
    assert mar30["kgce_per_person"] == pytest.approx(1.4748)  # 73.74 / 50

    assert body["area_m2"] == 1000 and body["occupants"] == 50
    assert body["held_out_kwh"] == 0
    assert body["currency"] == "CNY"


def test_the_factor_versions_used_are_named(api) -> None:
    body = get(api, site="s1", building="hq", **{"from": "2026-03-30", "to": "2026-03-31"})
    by_kind = {f["kind"]: f for f in body["factors"]}
    assert by_kind["coal"]["version"] == "gb2589-2020-equivalent"
    assert by_kind["coal"]["value"] == COAL
    assert by_kind["co2"]["version"] == "mee-nbs-2023"
    assert by_kind["co2"]["value"] == CO2
    assert by_kind["co2"]["series"] == "MEE-NBS national average"
    assert by_kind["co2"]["year"] == 2023
    assert by_kind["tariff"]["version"] == "test-tou-2026"


def test_cost_across_period_boundaries_with_a_step_spread_over_two_periods(api) -> None:
    row = rows_by_start(
        get(api, site="s1", building="hq", **{"from": "2026-03-31", "to": "2026-04-01"})
    )["2026-03-31"]
    assert row["kwh"] == pytest.approx(600.0)
    # hour 07 (valley): 7 x 10 + 7.5 (07:00-07:45) + 6.25 (half of the 12.5 spread) = 83.75
    # hours 08-17 (flat): 6.25 + 30 (08:15-09:00) + 9 x 40 = 396.25
    # 83.75 x 0.3 + 396.25 x 0.6 + 80 x 1.0 + 40 x 0.6 = 25.125 + 237.75 + 80 + 24
    assert row["cost"] == pytest.approx(366.875)
    # hours 07 and 08 hold energy spread over the gap: 22 of 24 hours measured
    assert row["measured_share"] == pytest.approx(22 / 24)


def test_a_local_midnight_splits_the_step_that_spans_it(api) -> None:
    rows = rows_by_start(
        get(api, site="s1", building="hq", **{"from": "2026-04-01", "to": "2026-04-03"})
    )
    # 30 kWh over 23:30 -> 00:30 local: 15 before midnight, 15 after
    assert rows["2026-04-01"]["kwh"] == pytest.approx(605.0)  # 600 - 10 + 15
    assert rows["2026-04-02"]["kwh"] == pytest.approx(610.0)  # 600 - 5 + 15
    assert rows["2026-04-01"]["kgce"] == pytest.approx(605 * COAL)
    assert rows["2026-04-02"]["co2_kg"] == pytest.approx(610 * CO2)
    # hour 23 of Apr 1 and hour 00 of Apr 2 hold spread energy
    assert rows["2026-04-01"]["measured_share"] == pytest.approx(23 / 24)
    assert rows["2026-04-02"]["measured_share"] == pytest.approx(23 / 24)


def test_cost_on_the_tariffs_holiday(api) -> None:
    row = rows_by_start(
        get(api, site="s1", building="hq", **{"from": "2026-04-02", "to": "2026-04-03"})
    )["2026-04-02"]
    # holiday: deep 00-12: hour 00 = 15 + 5 = 20, hours 01-07 = 70, hours 08-11 = 160:
    # 250 kWh x 0.1 = 25; then the season: flat 12-18 = 240 x 0.6 = 144; peak 18-22 =
    # 80 x 1.0 = 80; flat 22-24 = 40 x 0.6 = 24. 25 + 144 + 80 + 24 = 273 CNY
    assert row["cost"] == pytest.approx(273.0)
    # Apr 1, an ordinary day: 368 + (25 - 20) x 0.6 = 371 (hour 23 holds 25 kWh, not 20)
    apr1 = rows_by_start(
        get(api, site="s1", building="hq", **{"from": "2026-04-01", "to": "2026-04-02"})
    )
    assert apr1["2026-04-01"]["cost"] == pytest.approx(371.0)


def test_step_month(api) -> None:
    body = get(
        api, site="s1", building="hq", step="month", **{"from": "2026-03-30", "to": "2026-04-03"}
    )
    rows = rows_by_start(body)
    assert list(rows) == ["2026-03", "2026-04"]
    assert rows["2026-03"]["kwh"] == pytest.approx(1200.0)  # Mar 30 + Mar 31
    assert rows["2026-04"]["kwh"] == pytest.approx(1215.0)  # 605 + 610
    assert rows["2026-03"]["cost"] == pytest.approx(368.0 + 366.875)
    assert rows["2026-04"]["cost"] == pytest.approx(371.0 + 273.0)
    assert rows["2026-03"]["measured_share"] == pytest.approx(46 / 48)
    assert rows["2026-04"]["measured_share"] == pytest.approx(46 / 48)
    assert body["total"]["kwh"] == pytest.approx(2415.0)
    assert body["total"]["kgce"] == pytest.approx(2415 * COAL)
    assert body["total"]["cost"] == pytest.approx(368.0 + 366.875 + 371.0 + 273.0)
    assert body["total"]["kwh_per_m2"] == pytest.approx(2.415)
    assert body["total"]["kwh_per_person"] == pytest.approx(48.3)


def test_an_implausible_jump_is_held_out_not_booked(api) -> None:
    body = get(api, site="s1", building="annex", **{"from": "2026-03-30", "to": "2026-03-31"})
    # 96 quarters of 1 kWh; the step into 12:00 (1 + 500 kWh in 15 min, more than the
    # rated 50 kW allows) is held out whole: 95 kWh booked, 501 kWh held out for review
    assert body["total"]["kwh"] == pytest.approx(95.0)
    assert body["held_out_kwh"] == pytest.approx(501.0)
    assert body["total"]["kgce"] == pytest.approx(95 * COAL)


def test_meters_chosen_from_tags_count_no_kwh_twice(api) -> None:
    span = {"from": "2026-03-30", "to": "2026-03-31"}
    whole = get(api, site="s1", building="tree", **span)
    assert [m["device"] for m in whole["meters"]] == ["tree-main"]
    assert whole["total"]["kwh"] == pytest.approx(60 * 24)  # the main meter: 1440
    hvac = get(api, site="s1", building="tree", system="hvac", **span)
    # ahu-1 only: fcu-1's 10 kW is already in ahu-1's 30 kW; 30 x 24 = 720 (not 960)
    assert [m["device"] for m in hvac["meters"]] == ["ahu-1"]
    assert hvac["total"]["kwh"] == pytest.approx(720.0)
    assert hvac["system"] == "hvac"
    lights = get(api, site="s1", building="tree", system="lighting-sockets", **span)
    assert lights["total"]["kwh"] == pytest.approx(480.0)  # 20 x 24
    # site-wide hvac: the other buildings have no hvac meters
    site_hvac = get(api, site="s1", system="hvac", **span)
    assert site_hvac["total"]["kwh"] == pytest.approx(720.0)


def test_site_wide_figures_sum_the_buildings(api) -> None:
    body = get(api, site="s1", **{"from": "2026-03-30", "to": "2026-03-31"})
    # hq 600 + annex 95 + tree's main 1440 = 2135 kWh, over 1000 + 200 + 500 m2
    assert body["total"]["kwh"] == pytest.approx(2135.0)
    assert body["area_m2"] == 1700
    assert body["total"]["kwh_per_m2"] == pytest.approx(2135 / 1700)
    assert sorted(m["device"] for m in body["meters"]) == ["annex-meter", "main", "tree-main"]


def test_a_site_with_a_building_of_unknown_area_has_no_intensity(api) -> None:
    body = get(api, site="s2", **{"from": "2026-03-30", "to": "2026-03-31"})
    # 24 kWh each from "known" (100 m2) and "unknown" (no area): 48 kWh over an unknown
    # area; 48 / 100 would be double the truth for the part that is known
    assert body["total"]["kwh"] == pytest.approx(48.0)
    assert body["area_m2"] is None
    assert body["total"]["kwh_per_m2"] is None
    assert body["total"]["kwh_per_person"] is None
    known = get(api, site="s2", building="known", **{"from": "2026-03-30", "to": "2026-03-31"})
    assert known["total"]["kwh_per_m2"] == pytest.approx(0.24)


@pytest.mark.parametrize(
    ("scope", "described"),
    [
        ({"building": "nope"}, "s1/nope"),
        ({"building": "hq", "system": "hvac"}, "s1/hq system=hvac"),
        ({"system": "special"}, "s1 system=special"),
    ],
)
def test_a_scope_without_meters_is_a_404_not_zero_kwh(api, scope: dict, described: str) -> None:
    """No meter measures it: its energy is unknown, not 0 kWh (a misspelt building
    answered a month of zeros)."""
    r = api.client.get(
        "/v1/energy",
        params={"site": "s1", "from": "2026-03-30", "to": "2026-03-31", **scope},
        headers=api.as_(api.viewer),
    )
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == f"no meters match {described}"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-04-03", "to": "2026-03-30"}, "to"),
        ({"from": "2026-03-30", "to": "2026-03-30"}, "to"),
        ({"from": "2026-13-01", "to": "2026-03-30"}, "from"),
        ({"from": "2026-03-30", "to": "tomorrow"}, "to"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "from .. to"),
        ({"from": "2026-03-30", "to": "2026-03-31", "step": "year"}, "step"),
        # outside 2000-01-01 .. 2100-01-01 (the API's instants): no factor, no zone data
        ({"from": "1999-12-31", "to": "2000-01-02"}, "from"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),
        ({"from": "2099-12-31", "to": "2100-01-02"}, "to"),
        ({"from": "9999-12-29", "to": "9999-12-31"}, "from"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api, params: dict, field: str) -> None:
    r = api.client.get("/v1/energy", params={"site": "s1", **params}, headers=api.as_(api.viewer))
    assert r.status_code == 422, r.text
    body = r.json()
    text = body.get("message") or body["detail"]
    assert text.startswith(field) or f"{field}:" in text, text


def test_a_missing_site_is_a_422_naming_it(api) -> None:
    r = api.client.get("/v1/energy", headers=api.as_(api.viewer))
    assert r.status_code == 422
    assert "site" in r.json()["message"]


def test_without_a_token_401(api) -> None:
    r = api.client.get("/v1/energy", params={"site": "s1"})
    assert r.status_code == 401


def test_factors_that_start_late_are_refused_at_start(tmp_path: Path) -> None:
    """A CO2 factor valid only from 2026 leaves every earlier hour without one: the API
    would answer 2025's energy with a 500. The configuration is refused up front instead,
    naming the file, the line and the field."""
    from device_profiles.sourced_yaml import ConfigError

    config = write_config(
        tmp_path,
        "factors:\n  co2:\n    - version: mee-nbs-2023\n      valid_from: 2026-01-01\n",
    )
    with (
        pytest.raises(ConfigError) as refused,
        in_process_api(tmp_path, energy_config=config, energy_evaluate_seconds=0),
    ):
        pass
    message = str(refused.value)
    assert "energy.yaml: line 2, factors.co2" in message, message
    assert "2026-01-01" in message and "2000-01-01" in message, message


QUARTER_TARIFF = """
tariffs:
  - version: midday-valley
    valid_from: 2026-01-01
    source: a tariff with windows off the hour (like Zhejiang's EV valley 10:30-13:30)
    prices: {flat: 0.6, valley: 0.3}
    default_period: flat
    seasons:
      - months: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        windows: [["10:30", "13:30", valley]]
"""


def test_a_tariff_with_windows_off_the_hour_prices_quarter_hours(tmp_path: Path) -> None:
    """10 kW all of 2026-03-02, 40 kW from 10:30 to 11:00: 240 + 30 x 0.5 = 255 kWh.
    Valley 10:30-13:30: 3 h x 10 + 15 = 45 kWh x 0.3 = 13.5; flat: 210 kWh x 0.6 = 126;
    139.5 CNY. (Pricing hour 10 at its mean price, 0.45, would give 141.75: the hour's
    25 kWh were used 5 at 0.6 and 20 at 0.3.)"""
    day = date(2026, 3, 2)
    with in_process_api(
        tmp_path,
        now=local_epoch(date(2026, 3, 3)),
        energy_config=write_config(tmp_path, QUARTER_TARIFF),
        energy_evaluate_seconds=0,
    ) as api:
        load = [40.0 if q in (42, 43) else 10.0 for q in range(96)]  # 10:30-11:00
        send = Sender(api, register_edge(api.db, "edge-q", "s1"))
        send.counter("hq", "main", counter_readings(local_epoch(day), load), {"system": "main"})
        manager = add_user(api.db, "mei", "energy_manager")
        r = api.client.get(
            "/v1/energy",
            params={"site": "s1", "building": "hq", "from": "2026-03-02", "to": "2026-03-03"},
            headers=api.as_(manager),
        )
        assert r.status_code == 200, r.text
        assert r.json()["total"]["kwh"] == pytest.approx(255.0)
        assert r.json()["total"]["cost"] == pytest.approx(139.5)
        # a cost budget counts the same money
        budget = {"site": "s1", "building": "hq", "period": "month", "amount": 1000, "unit": "cost"}
        assert (
            api.client.put("/v1/budgets/q", json=budget, headers=api.as_(manager)).status_code
            == 200
        )
        r = api.client.get("/v1/budgets/q/status", headers=api.as_(manager))
        assert r.status_code == 200, r.text
        assert r.json()["used"] == pytest.approx(139.5)


def test_step_week_is_the_iso_week_cut_by_from_and_to(api) -> None:
    # Mon 2026-03-30 .. Thu 04-02 all lie in ISO week 2026-W14: 600 + 600 + 605 + 610
    body = get(
        api, site="s1", building="hq", step="week", **{"from": "2026-03-30", "to": "2026-04-03"}
    )
    rows = rows_by_start(body)
    assert list(rows) == ["2026-W14"]
    assert rows["2026-W14"]["kwh"] == pytest.approx(2415.0)
