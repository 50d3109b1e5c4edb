"""GET /v1/reports/alarms, /patrol and /hazards against figures worked out by hand from
what the test sends through POST /v1/ingest and the people's actions (the real app and
SQLite file, the API's clock in the test's hand). Site s1, building b1, Asia/Shanghai (the
default zone); the month is November 2023 and the clock is past it (2023-12-05).

Alarms (local times; B = Nov 10 10:00):
- ahu-1 hvac.fault raised Nov 2 08:00, never cleared nor acknowledged: stale, standing
  from then to the month's end, 28 d 16 h = 688 h;
- door-1 door.forced raised and cleared three times from B in 40 s, then acknowledged:
  chattering (3 raises within 60 s);
- sensor.fault at s01..s11 raised 20 s apart from 11:00, cleared and acknowledged by
  11:10: one flood interval [11:00, 11:10) with 11 (more than 10);
- door-2 door.held raised at 12:00 and shelved at 12:01:40 for an hour; it clears and is
  raised again while shelved (not annunciated: nobody saw it), so it never returned to
  normal in November: stale from Nov 10 12:00, 492 h to the month's end.
Annunciated raises: 1 + 3 + 11 + 1 = 16 in 720 hours.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from security_testkit import alarm, central, patrol_round, round_result

TZ = ZoneInfo("Asia/Shanghai")
HOURS = 30 * 24


def local(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 11) -> float:
    return datetime(2023, month, day, hour, minute, second, tzinfo=TZ).timestamp()


B = local(10, 10)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp("report-security")
    with central(directory) as c:
        c.send(alarm(0, local(2, 8), "hvac.fault", "ahu-1", True))
        c.send(*[alarm(0, B + 10 * i, "door.forced", "door-1", i % 2 == 0) for i in range(6)])
        c.now = B + 100
        (door1,) = listed(c, code="door.forced")
        assert c.post(f"/v1/alarms/{door1['id']}/ack").status_code == 200
        c.send(*[alarm(0, B + 3600 + 20 * i, "sensor.fault", f"s{i + 1:02d}", True)
                 for i in range(11)])  # fmt: skip
        c.send(*[alarm(0, B + 4000, "sensor.fault", f"s{i + 1:02d}", False) for i in range(11)])
        c.now = B + 4100
        for sensor in listed(c, code="sensor.fault"):
            assert c.post(f"/v1/alarms/{sensor['id']}/ack").status_code == 200
        c.send(alarm(0, B + 7200, "door.held", "door-2", True))
        c.now = B + 7300
        (door2,) = listed(c, code="door.held")
        shelved = c.post(f"/v1/alarms/{door2['id']}/shelve", {"duration_s": 3600})
        assert shelved.status_code == 200, shelved.text
        c.send(alarm(0, B + 7400, "door.held", "door-2", False))
        c.send(alarm(0, B + 7500, "door.held", "door-2", True))
        seed_patrols(c)
        seed_hazards(c)
        c.now = local(5, 9, month=12)
        yield c


def listed(c, **params) -> list[dict]:
    r = c.get("/v1/alarms", building="b1", **params)
    assert r.status_code == 200, r.text
    return r.json()["alarms"]


def get_report(c, kind: str, **params):
    query = {"site": "s1", "building": "b1", "month": "2023-11", "format": "csv", "lang": "en",
             **params}  # fmt: skip
    return c.get(f"/v1/reports/{kind}", **{k: v for k, v in query.items() if v is not None})


def sections(body: bytes) -> dict[str, list[list[str]]]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    out: dict[str, list[list[str]]] = {}
    current = None
    for i, row in enumerate(rows):
        if not row:
            current = None
        elif current is None and i > 0 and not rows[i - 1]:
            current = out.setdefault(row[0], [])
        elif current is not None:
            current.append(row)
    return out


def table(rows: list[list[str]]) -> list[dict[str, str]]:
    """The section's table as dicts (its note rows, one cell wide, left out)."""
    header = rows[0]
    return [dict(zip(header, r, strict=True)) for r in rows[1:] if len(r) == len(header)]


# ------------------------------------------------------------------------------ alarms


def test_the_alarm_load_figures_by_hand(api) -> None:
    r = get_report(api, "alarms")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="alarms-b1-2023-11.csv"'
    parts = sections(r.content)
    figures = {
        row["Figure"]: row for row in table(parts["Alarm load against the ISA-18.2 targets"])
    }
    assert figures["Alarms raised"]["Value"] == "16"
    assert float(figures["Alarms per operator hour (average)"]["Value"]) == pytest.approx(
        16 / HOURS, abs=1e-4
    )
    assert float(figures["Alarms per operator day (average)"]["Value"]) == pytest.approx(
        16 / 30, abs=1e-4
    )
    peak = figures["Most alarms in 10 minutes (per operator)"]
    assert float(peak["Value"]) == 11 and peak["Met"] == "no" and peak["Target"] == "≤ 10"
    assert figures["Busiest 10 minutes from"]["Value"] == "2023-11-10 11:00:00"
    assert float(figures["Share of time in flood"]["Value"]) == pytest.approx(
        1 / (HOURS * 6), abs=1e-4
    )
    assert (
        figures["Chattering alarms"]["Value"] == "1" and figures["Chattering alarms"]["Met"] == "no"
    )
    assert figures["Most stale alarms on one day"]["Value"] == "2"
    assert (
        figures["Raised while shelved, suppressed or out of service (not counted)"]["Value"] == "1"
    )
    assert float(figures["Share of the ten most frequent sources"]["Value"]) == pytest.approx(
        12 / 16, abs=1e-4
    )

    floods = table(parts["Alarm floods (more than 10 in 10 min per operator)"])
    assert floods == [
        {"From": "2023-11-10 11:00:00", "To": "2023-11-10 11:10:00", "Alarms raised": "11"}
    ]
    chattering = table(parts["Chattering alarms (3 or more raises within 60 s)"])
    assert [
        (c["Code"], c["Source"], c["Alarms raised"], c["Most in 60 s"]) for c in chattering
    ] == [("door.forced", "door-1", "3", "3")]
    stale = table(parts["Stale alarms (standing more than 24 h)"])
    assert [(s["Source"], s["Since"], s["Until"], float(s["Hours"])) for s in stale] == [
        ("ahu-1", "2023-11-02 08:00:00", "", 688.0),
        ("door-2", "2023-11-10 12:00:00", "", 492.0),
    ]
    top = table(parts["Top ten sources"])
    assert [t["Source"] for t in top] == [
        "door-1", "ahu-1", "door-2", "s01", "s02", "s03", "s04", "s05", "s06", "s07"
    ]  # fmt: skip
    assert float(top[0]["Share of total"]) == pytest.approx(3 / 16, abs=1e-4)
    assert top[0]["Codes"] == "door.forced 3"


def test_the_alarm_raises_counted_equal_the_audit_log(api) -> None:
    """The independent count: the store's alarm log rows, with plain SQL."""
    with contextlib.closing(sqlite3.connect(api.db)) as db:
        (n,) = db.execute(
            "SELECT count(*) FROM alarm_log l JOIN alarms a ON a.id = l.alarm_id"
            " WHERE a.building='b1' AND l.action='raise' AND l.to_state='unack'"
            " AND l.ts >= ? AND l.ts < ?",
            (local(1), local(1, month=12)),
        ).fetchone()
    assert n == 16


def test_operators_share_the_load(api) -> None:
    parts = sections(get_report(api, "alarms", operators="2").content)
    figures = {
        row["Figure"]: row for row in table(parts["Alarm load against the ISA-18.2 targets"])
    }
    assert float(figures["Alarms per operator hour (average)"]["Value"]) == pytest.approx(
        8 / HOURS, abs=1e-4
    )
    assert float(figures["Most alarms in 10 minutes (per operator)"]["Value"]) == 5.5
    assert parts["Alarm floods (more than 10 in 10 min per operator)"] == [
        ["No alarm flood this month."]
    ]
    for bad in ("0", "two", "101"):
        r = get_report(api, "alarms", operators=bad)
        assert r.status_code == 422 and "operators" in r.text


def test_the_alarm_report_in_chinese_html(api) -> None:
    r = get_report(api, "alarms", format="html", lang="zh")
    assert r.status_code == 200
    assert "报警负荷月报" in r.text and "抖动报警" in r.text and "<script" not in r.text


# ------------------------------------------------------------------------------ patrol


def seed_patrols(c) -> None:
    rounds = [
        round_result("R1", local(10, 8), "2023-11-10", "finished",
                     ["on_time", "on_time", "late", "missed"]),
        round_result("R1", local(10, 20), "2023-11-10", "finished",
                     ["on_time", "early", "on_time", "on_time"]),
        round_result("R1", local(11, 8), "2023-11-11", "running",
                     ["on_time", "pending", "pending", "pending"]),
        round_result("R2", local(10, 9), "2023-11-10", "finished", ["missed", "missed"]),
        round_result("R1", local(31, 8, month=10), "2023-10-31", "finished", ["on_time"]),
    ]  # fmt: skip
    c.send(*[patrol_round(0, r["start"] + 3600, r) for r in rounds])


def test_patrol_compliance_per_route_and_day_by_hand(api) -> None:
    r = get_report(api, "patrol")
    assert r.status_code == 200, r.text
    parts = sections(r.content)
    days = {(d["Route"], d["Day"]): d for d in table(parts["By route and day"])}
    assert set(days) == {("R1", "2023-11-10"), ("R1", "2023-11-11"), ("R2", "2023-11-10")}
    r1 = days[("R1", "2023-11-10")]
    assert (r1["Rounds"], r1["Checkpoints"], r1["On time"], r1["Late"], r1["Early"],
            r1["Missed"], r1["Pending"]) == ("2", "8", "5", "1", "1", "1", "0")  # fmt: skip
    assert float(r1["Compliance"]) == pytest.approx(5 / 8)
    assert float(days[("R1", "2023-11-11")]["Compliance"]) == 1.0  # 1 of 1 settled
    assert float(days[("R2", "2023-11-10")]["Compliance"]) == 0.0
    routes = {x["Route"]: x for x in table(parts["By route"])}
    assert (routes["R1"]["Rounds"], routes["R1"]["Complete rounds"]) == ("3", "1")
    assert float(routes["R1"]["Compliance"]) == pytest.approx(6 / 9, abs=1e-4)
    assert float(routes["Total"]["Compliance"]) == pytest.approx(6 / 11, abs=1e-4)
    assert routes["Total"]["Checkpoints"] == "14" and routes["Total"]["Missed"] == "3"


def test_a_month_without_rounds_says_so(api) -> None:
    parts = sections(get_report(api, "patrol", month="2023-09").content)
    assert parts["By route"][0] == ["No patrol rounds this month."]
    html = get_report(api, "patrol", format="html", lang="zh").text
    assert "巡更合规月报" in html and "62.5%" in html


# ------------------------------------------------------------------------------ hazards


def seed_hazards(c) -> None:
    def create(now: float, building: str, description: str) -> int:
        c.now = now
        body = {"site": "s1", "building": building, "location": "B1", "description": description,
                "severity": "general", "deadline": now + 7 * 86400}  # fmt: skip
        r = c.post("/v1/hazards", body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    create(local(30, 9, month=10), "b1", "October's: before the span")
    first = create(local(5, 9), "b1", "灭火器过期")
    for step, body in (("assign", {"assignee": "wang"}), ("start", None), ("submit", None),
                       ("verify", None), ("close", None)):  # fmt: skip
        c.now += 3600
        assert c.post(f"/v1/hazards/{first}/{step}", body).status_code == 200
    create(local(12, 9), "b1", 'blocked exit, "east" stairs')
    create(local(20, 9), "b1", "loose cable")
    create(local(21, 9), "b2", "b2's: another building")


def test_the_hazard_ledger_csv_has_one_row_per_hazard(api) -> None:
    r = get_report(api, "hazards", **{"from": "2023-11-01", "to": "2023-12-01"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="hazards-b1-2023-11-01-2023-12-01.csv"'
    )
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    with contextlib.closing(sqlite3.connect(api.db)) as db:
        ids = [i for (i,) in db.execute(
            "SELECT id FROM hazards WHERE site='s1' AND building='b1' AND created_at >= ?"
            " AND created_at < ? ORDER BY id", (local(1), local(1, month=12)))]  # fmt: skip
    assert [int(row["ID"]) for row in rows] == ids and len(ids) == 3
    closed = rows[0]
    assert closed["Description"] == "灭火器过期" and closed["State"] == "closed"
    assert closed["Closed"] == "2023-11-05 14:00:00" and closed["Verified"] == "2023-11-05 13:00:00"
    assert closed["Colour"] == "green" and closed["Assignee"] == "wang"
    assert rows[1]["Description"] == 'blocked exit, "east" stairs'
    assert rows[1]["State"] == "found" and rows[1]["Overdue"] == "yes"  # deadline Nov 19

    everything = get_report(api, "hazards", building=None)
    assert everything.headers["content-disposition"] == 'attachment; filename="hazards-s1.csv"'
    with contextlib.closing(sqlite3.connect(api.db)) as db:
        (n,) = db.execute("SELECT count(*) FROM hazards WHERE site='s1'").fetchone()
    assert len(list(csv.DictReader(io.StringIO(everything.content.decode("utf-8-sig"))))) == n == 5


def test_the_hazard_ledger_in_chinese(api) -> None:
    r = get_report(api, "hazards", lang="zh", format="html")
    assert r.status_code == 200
    assert "安全隐患台账" in r.text and "已销号" in r.text and "灭火器过期" in r.text


@pytest.mark.parametrize(
    ("kind", "params", "status", "words"),
    [
        ("hazards", {"from": "2023-11-31"}, 422, ["from", "2023-11-31"]),
        ("hazards", {"from": "2023-12-01", "to": "2023-11-01"}, 422, ["to", "must be after"]),
        ("hazards", {"building": "b9"}, 404, ["b9", "known buildings: b1, b2"]),
        ("patrol", {"month": "2023-11-01"}, 422, ["month", "YYYY-MM"]),
        ("alarms", {"building": "b9"}, 404, ["b9", "known buildings"]),
    ],
)
def test_bad_parameters_are_named(api, kind: str, params: dict, status: int, words) -> None:
    r = get_report(api, kind, **params)
    assert r.status_code == status, r.text
    for word in words:
        assert word in r.text
