"""GET /v1/dual-control against hand figures (issue 8, Build 8).

Two buildings of site s1 (Asia/Shanghai), each with one main meter read every 15 minutes
from 2025-12-01 00:00 local, sent through POST /v1/ingest; the API's clock is
2026-02-01 00:00 local, so January 2026 is used so far and December 2025 is the history
the forecast learns from. Constant loads make the forecast exact:
- hq (2000 m2): 100 kW. January: 100 x 24 x 31 = 74,400 kWh. The model predicts 100 kW
  for each hour left: 8016 h (8760 - 744) x 100 = 801,600 kWh, so the year's forecast is
  876,000 kWh = 107,660.4 kgce (x 0.1229).
- annex (no area configured): 50 kW, half of hq: forecast 438,000 kWh = 53,830.2 kgce.
Quotas (each with its source; the numbers are the test's, not a standard's):
- hq 2026: total 110,000 kgce (yellow at 99,000: the forecast 107,660.4 is between) and
  50 kgce/m2 (forecast 107,660.4 / 2000 = 53.8302 >= 50: red, though January's 4.57188
  is far below); no kWh/m2 quota (no colour, says so).
- hq 2025: total 9,000 kgce. December 2025 used 74,400 kWh = 9,143.76 kgce >= 9,000:
  red, from use only (no history before 2025 to forecast from).
- annex 2026: total 200,000 kgce: green; its intensities have no area, so no figure and
  no colour.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from api_testkit import add_user, in_process_api, register_edge
from energy_apikit import Sender, counter_readings, local_epoch, write_config

COAL = 0.1229
SENT_FROM, NOW = date(2025, 12, 1), date(2026, 2, 1)

CONFIG = """
sites:
  s1:
    buildings:
      hq: {area_m2: 2000, occupants: 80}
      annex: {occupants: 10}
quotas:
  - site: s1
    building: hq
    year: 2026
    total_kgce: {value: 110000, source: "test quota T-1 (not a standard's)"}
    kgce_per_m2: {value: 50, source: "test quota T-2"}
  - site: s1
    building: hq
    year: 2025
    total_kgce: {value: 9000, source: "test quota T-3"}
  - site: s1
    building: annex
    year: 2026
    total_kgce: {value: 200000, source: "test quota T-4"}
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("dual-control-api")
    with in_process_api(
        directory,
        now=local_epoch(NOW),
        energy_config=write_config(directory, CONFIG),
        energy_evaluate_seconds=0,
    ) as api:
        send = Sender(api, register_edge(api.db, "edge-s1", "s1"))
        quarters = (NOW - SENT_FROM).days * 96
        for building, kw in (("hq", 100.0), ("annex", 50.0)):
            readings = counter_readings(local_epoch(SENT_FROM), [kw] * quarters)
            send.counter(building, f"{building}-main", readings, {"system": "main"})
        api.viewer = add_user(api.db, "vic", "viewer")
        yield api


def dual(api, **params) -> dict:
    r = api.client.get(
        "/v1/dual-control", params={"site": "s1", **params}, headers=api.as_(api.viewer)
    )
    assert r.status_code == 200, r.text
    return r.json()


def figures(body: dict) -> dict[str, dict]:
    return {f["name"]: f for f in body["figures"]}


def test_totals_and_intensities_with_their_colours_against_hand_figures(api) -> None:
    body = dual(api, building="hq")  # the clock's year: 2026
    assert body["year"] == 2026
    assert body["area_m2"] == 2000
    f = figures(body)
    assert list(f) == ["total_kgce", "kgce_per_m2", "kwh_per_m2"]
    total = f["total_kgce"]
    assert total["used"] == pytest.approx(74_400 * COAL)  # 9,143.76
    assert total["forecast"] == pytest.approx(876_000 * COAL)  # 107,660.4
    assert (total["quota"], total["colour"]) == (110_000, "yellow")
    per_m2 = f["kgce_per_m2"]
    assert per_m2["used"] == pytest.approx(74_400 * COAL / 2000)  # 4.57188
    assert per_m2["forecast"] == pytest.approx(876_000 * COAL / 2000)  # 53.8302
    assert (per_m2["quota"], per_m2["colour"]) == (50, "red")
    kwh = f["kwh_per_m2"]
    assert kwh["used"] == pytest.approx(37.2)  # 74,400 / 2000
    assert kwh["forecast"] == pytest.approx(438.0)  # 876,000 / 2000
    assert kwh["quota"] is None and kwh["colour"] is None
    assert kwh["reason"] == "no kwh_per_m2 quota configured for 2026"
    assert body["quota_sources"] == {
        "total_kgce": "test quota T-1 (not a standard's)",
        "kgce_per_m2": "test quota T-2",
        "kwh_per_m2": None,
    }
    assert body["fit"]["ok"] is True
    assert {x["kind"]: x["version"] for x in body["factors"]} == {"coal": "gb2589-2020-equivalent"}


def test_the_year_parameter_gives_that_year_as_it_ended(api) -> None:
    body = dual(api, building="hq", year=2025)
    assert body["year"] == 2025
    total = figures(body)["total_kgce"]
    # December 2025 only: 74,400 kWh x 0.1229 = 9,143.76 kgce >= the 9,000 quota
    assert total["used"] == pytest.approx(74_400 * COAL)
    assert total["forecast"] is None  # no history before 2025 to learn from
    assert (total["quota"], total["colour"]) == (9000, "red")
    assert total["reason"].startswith("colour from use only")
    per_m2 = figures(body)["kgce_per_m2"]
    assert per_m2["used"] == pytest.approx(74_400 * COAL / 2000)
    assert per_m2["colour"] is None
    assert per_m2["reason"] == "no kgce_per_m2 quota configured for 2025"


def test_a_building_without_area_has_no_intensity_and_no_colour_for_it(api) -> None:
    body = dual(api, building="annex", year=2026)
    assert body["area_m2"] is None
    f = figures(body)
    assert list(f) == ["total_kgce", "kgce_per_m2", "kwh_per_m2"]
    assert f["total_kgce"]["forecast"] == pytest.approx(438_000 * COAL)  # 53,830.2
    assert (f["total_kgce"]["quota"], f["total_kgce"]["colour"]) == (200_000, "green")
    for name in ("kgce_per_m2", "kwh_per_m2"):
        # not 0: an intensity without the area is unknown
        assert f[name]["used"] is None and f[name]["forecast"] is None, f[name]
        assert f[name]["colour"] is None
        assert f[name]["reason"] == "the building's area_m2 is not configured"


def test_a_year_not_started_or_out_of_range_is_a_422_naming_it(api) -> None:
    for year in (2027, 1999, 2100):
        r = api.client.get(
            "/v1/dual-control",
            params={"site": "s1", "building": "hq", "year": year},
            headers=api.as_(api.viewer),
        )
        assert r.status_code == 422, r.text
        body = r.json()
        assert (body.get("message") or body["detail"]).startswith("year"), body


def test_the_building_is_required_and_a_token_too(api) -> None:
    r = api.client.get("/v1/dual-control", params={"site": "s1"}, headers=api.as_(api.viewer))
    assert r.status_code == 422 and "building" in r.json()["message"]
    assert (
        api.client.get("/v1/dual-control", params={"site": "s1", "building": "hq"}).status_code
        == 401
    )
