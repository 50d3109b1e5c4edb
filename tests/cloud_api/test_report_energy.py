"""GET /v1/reports/energy (issue 10, Build 5 and Done when 2): the monthly energy report's
figures against the stored data, summed independently, and against hand arithmetic.

Everything is seeded through POST /v1/ingest. Site s1, Asia/Shanghai, the API's clock
at 2026-12-03. Building tower-a (2000 m2, 100 people), read every 15 minutes through
November 2026, local time:
- main meter `main` (system main): 20 kW 00-08, 60 kW 08-18, 30 kW 18-24, so a day is
  8 x 20 + 10 x 60 + 6 x 30 = 160 + 600 + 180 = 940 kWh and November 30 x 940 = 28,200;
- `ahu` (system hvac, under main): 30 kW 08-18: 300 kWh a day, 9,000 in the month;
- `lights` (system lighting-sockets, under main): 10 kW all day: 240 a day, 7,200.
Factors 0.1229 kgce/kWh and 0.5306 kg CO2/kWh. Tariff: valley 00-08 at 0.3, otherwise
flat 0.6 CNY/kWh, so main costs 160 x 0.3 + 780 x 0.6 = 516 a day, 15,480 in November.
Last year: main read 2025-11-01 .. 11-03 at 10 kW (480 kWh), its counter continuing
unchanged into 2026. Demand blocks: three closed in November (70, 95.5, 88 kW), one
without full data, and a higher one on each side of the month (120 on Oct 31, 130 on
Dec 1) that are not November's. A monthly budget of 30,000 kWh.

Building tower-b (no area): `b-main` with a day profile P (10 kW 00-08, 40 kW 08-18,
20 kW 18-24: 600 kWh a day) through October, 0.75 P through November (450 a day: 13,500),
nothing the year before; an energy contract with October as its baseline and November
as its reporting period avoids 30 x 150 = 4,500 kWh (25 %).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import pytest
from api_testkit import add_user, in_process_api, register_edge
from energy_apikit import Sender, counter_readings, day_profile, local_epoch, write_config
from security_testkit import event_batch

COAL, CO2 = 0.1229, 0.5306
NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
DAYS = 30

CONFIG = """
timezone: Asia/Shanghai
sites:
  s1:
    buildings:
      tower-a: {area_m2: 2000, occupants: 100}
factors:
  coal: [{version: gb2589-2020-equivalent}]
  co2: [{version: mee-nbs-2023}]
tariffs:
  - version: test-two-price-2026
    valid_from: 2025-01-01
    currency: CNY
    source: round prices for the test's hand sums
    prices: {valley: 0.3, flat: 0.6}
    default_period: flat
    seasons:
      - name: all year
        months: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        windows:
          - ["00:00", "08:00", valley]
"""


def main_kw(hour: int) -> float:
    return 20.0 if hour < 8 else 60.0 if hour < 18 else 30.0


def ahu_kw(hour: int) -> float:
    return 30.0 if 8 <= hour < 18 else 0.0


def profile_p(hour: int) -> float:
    return 10.0 if hour < 8 else 40.0 if hour < 18 else 20.0


def block(start: float, kw: float | None, meter: str = "main") -> dict:
    data = {
        "meter": meter,
        "start": start,
        "end": start + 900,
        "label": f"block at {start:.0f}",
        "kwh": 0.25 * (kw or 10.0),
        "demand_kw": kw,
        "limit_kw": 90.0,
        "over": kw is not None and kw > 90.0,
        "peak_sliding_kw": kw,
    }
    return {"ts": start + 901, "code": "demand.block", "source": meter, "data": data}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("report-energy")
    config = write_config(directory, CONFIG)
    with in_process_api(
        directory,
        now=local_epoch(date(2026, 12, 3), 9),
        energy_config=config,
        energy_evaluate_seconds=0,
    ) as api:
        edge_token = register_edge(api.db, "edge-s1", "s1")
        send = Sender(api, edge_token)
        last_year = counter_readings(local_epoch(date(2025, 11, 1)), [10.0] * 96 * 2)
        month = counter_readings(
            local_epoch(NOV), [kw for _ in range(DAYS) for kw in day_profile(main_kw)],
            initial=last_year[-1][1],
        )  # fmt: skip
        send.counter("tower-a", "main", last_year + month, {"system": "main"})
        send.counter(
            "tower-a",
            "ahu",
            counter_readings(local_epoch(NOV), day_profile(ahu_kw) * DAYS),
            {"system": "hvac", "parent": "main"},
        )
        send.counter(
            "tower-a",
            "lights",
            counter_readings(local_epoch(NOV), [10.0] * 96 * DAYS),
            {"system": "lighting-sockets", "parent": "main"},
        )
        october = day_profile(profile_p) * 31
        november = [0.75 * kw for kw in day_profile(profile_p)] * DAYS
        send.counter(
            "tower-b",
            "b-main",
            counter_readings(local_epoch(date(2026, 10, 1)), october + november),
            {"system": "main"},
        )
        nov = local_epoch(NOV)
        blocks = [
            block(nov - 900, 120.0),  # Oct 31 23:45: October's
            block(nov + 3 * 86400 + 9 * 3600, 70.0),
            block(nov + 10 * 86400 + 14 * 3600, 95.5),
            block(nov + 20 * 86400 + 11 * 3600, 88.0),
            block(nov + 21 * 86400 + 11 * 3600, None),
            block(local_epoch(DEC), 130.0),  # Dec 1 00:00: December's
        ]
        numbered = [{**b, "seq": i + 1} for i, b in enumerate(blocks)]
        r = api.client.post(
            "/v1/ingest",
            json=event_batch(numbered, building="tower-a"),
            headers=api.as_(edge_token),
        )
        assert r.status_code == 200, r.text
        api.viewer = add_user(api.db, "vera", "viewer")
        manager = add_user(api.db, "mei", "energy_manager")
        r = api.client.put(
            "/v1/budgets/tower-a-month",
            json={"site": "s1", "building": "tower-a", "period": "month", "amount": 30000,
                  "unit": "kWh", "name": "tower A monthly"},
            headers=api.as_(manager),
        )  # fmt: skip
        assert r.status_code == 200, r.text
        r = api.client.put(
            "/v1/contracts/b-retrofit",
            json={"site": "s1", "building": "tower-b", "contractor": "Cool Co.",
                  "baseline": {"from": "2026-10-01", "to": "2026-11-01"},
                  "reporting": {"from": "2026-11-01", "to": "2026-12-01"}},
            headers=api.as_(manager),
        )  # fmt: skip
        assert r.status_code == 200, r.text
        api.config_path = config
        yield api


def report(api, fmt: str = "csv", lang: str = "en", **params):
    query = {"site": "s1", "building": "tower-a", "month": "2026-11", "format": fmt,
             "lang": lang, **params}  # fmt: skip
    return api.client.get("/v1/reports/energy", params=query, headers=api.as_(api.viewer))


def sections(body: bytes) -> dict[str, list[list[str]]]:
    """The CSV's sections by title: each its rows (header first), as read by csv."""
    assert body.startswith("\ufeff".encode()), "UTF-8 with a BOM"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    out: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for i, row in enumerate(rows):
        if not row:
            current = None
        elif current is None and i > 0 and not rows[i - 1]:
            current = out.setdefault(row[0], [])
        elif current is not None:
            current.append(row)
    return out


def by_first(rows: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row for row in rows}


# ------------------------------------------------------------------ independent oracles


@contextlib.contextmanager
def sql(api):
    with contextlib.closing(sqlite3.connect(api.db)) as db:
        yield db


def series_id(db, building: str, device: str) -> int:
    return db.execute(
        "SELECT id FROM series WHERE site='s1' AND building=? AND device=?"
        " AND point='energy_import'",
        (building, device),
    ).fetchone()[0]


def counter_rise(api, building: str, device: str, first: date, last: date) -> float:
    """What the meter's register rose from the first local instant to the last: the
    stored readings themselves, not the ledger."""
    with sql(api) as db:
        sid = series_id(db, building, device)
        values = [
            db.execute(
                "SELECT value FROM samples WHERE series_id=? AND ts=?", (sid, local_epoch(day))
            ).fetchone()[0]
            for day in (first, last)
        ]
    return values[1] - values[0]


def booked(api, building: str, device: str, first: date, last: date) -> float:
    """The ledger's hourly rows summed with plain SQL."""
    with sql(api) as db:
        return db.execute(
            "SELECT SUM(booked) FROM energy WHERE step=3600 AND series_id=?"
            " AND bucket_start >= ? AND bucket_start < ?",
            (series_id(db, building, device), local_epoch(first), local_epoch(last)),
        ).fetchone()[0]


# ------------------------------------------------------------------ the tests


def test_totals_equal_the_stored_readings_summed_and_the_hand_sums(api) -> None:
    r = report(api)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="energy-tower-a-2026-11.csv"'
    parts = sections(r.content)
    systems = by_first(parts["Energy by system"])
    header = systems["System"]
    kwh, kgce, co2 = header.index("kWh"), header.index("kgce"), header.index("kg CO2")
    cost = header.index("Cost CNY")
    for name, device, hand in (
        ("Total (main meters)", "main", 28200.0),
        ("HVAC", "ahu", 9000.0),
        ("Lighting and sockets", "lights", 7200.0),
    ):
        row = systems[name]
        assert counter_rise(api, "tower-a", device, NOV, DEC) == pytest.approx(hand)
        assert booked(api, "tower-a", device, NOV, DEC) == pytest.approx(hand)
        assert float(row[kwh]) == pytest.approx(hand, abs=1e-3)
        assert float(row[kgce]) == pytest.approx(hand * COAL, abs=1e-3)
        assert float(row[co2]) == pytest.approx(hand * CO2, abs=1e-3)
    assert float(systems["Total (main meters)"][cost]) == pytest.approx(15480.0, abs=0.01)
    assert float(systems["HVAC"][cost]) == pytest.approx(300 * 0.6 * DAYS, abs=0.01)
    assert float(systems["Lighting and sockets"][cost]) == pytest.approx(
        (80 * 0.3 + 160 * 0.6) * DAYS, abs=0.01
    )
    summary = by_first(parts["Summary"])
    assert float(summary["Total electricity"][1]) == pytest.approx(28200.0, abs=1e-3)
    assert float(summary["Energy as standard coal"][1]) == pytest.approx(3465.78, abs=1e-3)
    assert float(summary["CO2 emissions"][1]) == pytest.approx(14962.92, abs=1e-3)
    assert float(summary["Cost"][1]) == pytest.approx(15480.0, abs=0.01)
    assert float(summary["Electricity per m2"][1]) == pytest.approx(14.1, abs=1e-4)
    assert float(summary["Electricity per person"][1]) == pytest.approx(282.0, abs=1e-4)
    assert float(summary["Standard coal per m2"][1]) == pytest.approx(3465.78 / 2000, abs=1e-4)
    factors = by_first(parts["Factor and tariff versions"])
    assert factors["Standard coal factor"][1] == "gb2589-2020-equivalent"
    assert factors["Grid CO2 factor"][1] == "mee-nbs-2023"
    assert factors["Tariff"][1] == "test-two-price-2026"


def test_peak_demand_is_the_highest_stored_block_of_the_month(api) -> None:
    with sql(api) as db:
        (peak,) = db.execute(
            "SELECT MAX(demand_kw) FROM demand_blocks WHERE site='s1' AND building='tower-a'"
            " AND start >= ? AND start < ?",
            (local_epoch(NOV), local_epoch(DEC)),
        ).fetchone()
    assert peak == 95.5  # not October's 120 nor December's 130
    parts = sections(report(api).content)
    demand = parts["Peak demand"]
    assert float(demand[1][0]) == peak
    row = dict(zip(demand[0], demand[1], strict=True))
    assert row["Blocks"] == "4" and row["Blocks without full data"] == "1"
    assert row["Blocks over the limit"] == "1" and row["Meter"] == "main"
    assert float(by_first(parts["Summary"])["Peak demand (15 min)"][1]) == peak


def test_the_budget_is_used_by_the_months_total(api) -> None:
    parts = sections(report(api).content)
    rows = parts["Budgets"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Used"] == "28200.0000"
    assert float(row["Used share"]) == pytest.approx(28200 / 30000, abs=1e-4)
    assert row["Period"] == "2026-11" and row["Unit"] == "kWh"
    # The month is over at 94 %: within the budget, and nothing left to forecast.
    assert row["Colour"] == "green" and row["Forecast"] == ""
    assert ["tower-a-month: the period is over: used 28200.0 of 30000.0 kWh (94.0%), within"
            " the budget"] in rows  # fmt: skip


def test_the_same_month_last_year_when_there_is_data_and_when_there_is_none(api) -> None:
    parts = sections(report(api).content)
    last = parts["Same month last year"]
    row = dict(zip(last[0], last[1], strict=True))
    assert counter_rise(api, "tower-a", "main", date(2025, 11, 1), date(2025, 11, 3)) == 480.0
    assert row["Month"] == "2025-11" and float(row["kWh"]) == pytest.approx(480.0, abs=1e-3)
    assert float(row["Change from last year"]) == pytest.approx((28200 - 480) / 480, abs=1e-4)

    b = sections(report(api, building="tower-b").content)
    assert b["Same month last year"][0][0].startswith(
        "No data for the same month last year (2025-11)"
    )
    assert float(by_first(b["Summary"])["Total electricity"][1]) == pytest.approx(13500, abs=1e-3)
    assert by_first(b["Summary"])["Electricity per m2"][1] == ""  # no area: no figure
    assert ["Electricity per m2: the energy configuration gives no floor area (area_m2) for"
            " the building"] in b["Summary"]  # fmt: skip


def test_a_month_without_data_says_so_rather_than_zero(api) -> None:
    r = report(api, month="2026-09")
    assert r.status_code == 200, r.text
    parts = sections(r.content)
    assert parts["Summary"] == [["No energy data for this month: no meter readings of"
                                 " s1/tower-a span this period"]]  # fmt: skip
    assert "Energy by system" not in parts
    html = report(api, fmt="html", lang="zh", month="2026-09").text
    assert "本月无能耗数据" in html
    assert not re.findall(r"<td[^>]*>0(?:\.0+)?%?</td>", html)  # no figure shown as zero


def test_the_running_month_says_how_far_its_figures_go(api) -> None:
    # The clock is at 2026-12-03 09:00: December runs to the end of the hour in progress.
    rows = list(csv.reader(io.StringIO(report(api, month="2026-12").content.decode("utf-8-sig"))))
    assert ["Status", "month in progress: figures up to 2026-12-03 10:00"] in rows
    parts = sections(report(api, month="2026-12").content)
    assert parts["Summary"][0][0].startswith("No energy data for this month")
    assert float(parts["Peak demand"][1][0]) == 130.0  # the Dec 1 00:00 block
    budget = dict(zip(parts["Budgets"][0], parts["Budgets"][1], strict=True))
    assert budget["Used"] == "" and budget["Colour"] == ""  # nothing read: no verdict


def test_contract_savings_of_the_month(api) -> None:
    parts = sections(report(api, building="tower-b").content)
    rows = parts["Energy-contract savings"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Contract"] == "b-retrofit" and row["Contractor"] == "Cool Co."
    assert float(row["Actual kWh"]) == pytest.approx(450.0 * DAYS, abs=1e-3)
    assert float(row["Adjusted baseline kWh"]) == pytest.approx(600.0 * DAYS, abs=1e-3)
    assert float(row["Avoided kWh"]) == pytest.approx(150.0 * DAYS, abs=1e-3)
    assert float(row["Saving"]) == pytest.approx(0.25, abs=1e-4)
    assert float(row["Avoided coal kgce"]) == pytest.approx(4500 * COAL, abs=1e-3)
    assert "No energy contract covers" in sections(report(api).content)[
        "Energy-contract savings"][0][0]  # fmt: skip


def test_the_html_is_printable_self_contained_and_chinese_by_default(api) -> None:
    r = api.client.get(
        "/v1/reports/energy",
        params={"site": "s1", "building": "tower-a", "month": "2026-11"},
        headers=api.as_(api.viewer),
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-disposition"] == 'inline; filename="energy-tower-a-2026-11.html"'
    html = r.text
    assert '<html lang="zh-CN">' in html and "月度能耗报告" in html
    assert "size: A4" in html
    for absent in ("<script", "src=", "href=", "http://", "https://", "@import", "url("):
        assert absent not in html
    assert "28,200.0" in html and "分项能耗" in html and "空调" in html


def pdf_text(path: Path) -> str:
    out = subprocess.run(
        ["/usr/bin/pdftotext", "-layout", str(path), "-"], capture_output=True, check=True
    )
    return out.stdout.decode("utf-8")


def renders_first_page(path: Path) -> None:
    subprocess.run(
        ["/usr/bin/pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(path),
         str(path.with_suffix(""))],
        check=True, capture_output=True,
    )  # fmt: skip
    pages = list(path.parent.glob(f"{path.stem}*.png"))
    assert len(pages) == 1 and pages[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_pdf_opens_and_shows_the_total(api, tmp_path: Path, lang: str) -> None:
    r = report(api, fmt="pdf", lang=lang)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == 'attachment; filename="energy-tower-a-2026-11.pdf"'
    path = tmp_path / f"energy-{lang}.pdf"
    path.write_bytes(r.content)
    renders_first_page(path)
    text = pdf_text(path)
    assert "28,200.0" in text and "95.5" in text
    assert ("月度能耗报告" if lang == "zh" else "Monthly energy report") in text


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"building": "tower-z"}, 404, ["tower-z", "known buildings: tower-a, tower-b"]),
        ({"site": "s9"}, 404, ["s9", "known sites: s1"]),
        ({"month": "2026-13"}, 422, ["month", "13"]),
        ({"month": "Nov 2026"}, 422, ["month", "YYYY-MM"]),
        ({"month": "2027-01"}, 422, ["month", "2027-01 has not started"]),
        ({"format": "docx"}, 422, ["format", "docx"]),
        ({"lang": "fr"}, 422, ["lang", "fr"]),
    ],
)
def test_bad_parameters_are_named(api, params: dict, status: int, words: list[str]) -> None:
    r = report(api, **params)
    assert r.status_code == status, r.text
    text = r.text
    for word in words:
        assert word in text


def test_a_report_needs_a_user(api) -> None:
    r = api.client.get(
        "/v1/reports/energy", params={"site": "s1", "building": "tower-a", "month": "2026-11"}
    )
    assert r.status_code == 401
