"""Two buildings' worth of data for the cockpit page, sent the way the edges send it
(POST /v1/ingest with an edge token) and set the way people set it (budgets, contracts,
hazards, overrides through the API with their users' tokens).

Site "hz", buildings "tower-a" and "tower-b" (Asia/Shanghai), the API's clock at NOW,
Wednesday 2026-11-18 14:07:30 local. Each building has a main meter (`system: main`)
and three sub-meters (lighting-sockets, hvac, power, parent main) that carry 95 % of
the main's load; their `energy_import` counters are read every 15 minutes: tower-a's
since 2026-10-01 (a month of history for the budgets' forecasts; its main meter since
2025-11-01 on request, for the same period last year), tower-b's this month only. The
main meter's `active_power` is read every 15 minutes for the last 26 hours and once
more 5 s before NOW (POWER_NOW). Load is a known function of the local time (kw()), so
the tests' expected figures are hand sums of it, not the API's own code.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

TZ = ZoneInfo("Asia/Shanghai")
SITE = "hz"
BUILDINGS = ("tower-a", "tower-b")
NOW = datetime(2026, 11, 18, 14, 7, 30, tzinfo=TZ).timestamp()
TODAY = date(2026, 11, 18)
QUARTER, HOUR = 900, 3600
SCALE = {"tower-a": 640.0, "tower-b": 310.0}  # kW at the afternoon peak of a workday
SHARES = {"light": ("lighting-sockets", 0.38), "hvac": ("hvac", 0.37), "power": ("power", 0.20)}
POWER_NOW = {"tower-a": 587.4, "tower-b": 263.9}  # the last active_power readings, kW
LIMIT_KW = {"tower-a": 600.0, "tower-b": 300.0}
SAVING = 0.92  # the load since a retrofit on 2026-11-01 against before (the contract's savings)
RETROFIT = datetime(2026, 11, 1, tzinfo=TZ).timestamp()
BATCH = 2000


def local(day: date, hour: int = 0, minute: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp()


def kw(building: str, ts: float) -> float:
    """The main meter's mean load (kW) in the quarter hour starting at `ts`."""
    moment = datetime.fromtimestamp(ts, TZ)
    hour = moment.hour + moment.minute / 60 + 1 / 8
    if moment.weekday() < 5:
        shape = 0.32 + 0.68 * math.exp(-(((hour - 14.0) / 4.2) ** 2))
    else:
        shape = 0.30 + 0.08 * math.exp(-(((hour - 13.0) / 5.0) ** 2))
    season = 1.0 + 0.25 * math.cos((moment.timetuple().tm_yday - 200) / 365 * 2 * math.pi)
    saving = SAVING if ts >= RETROFIT else 1.0
    return round(SCALE[building] * shape * season * saving, 3)


def energy_yaml(directory: Path) -> Path:
    """The energy configuration: the buildings' sizes, a flat example tariff, a quota."""
    text = f"""timezone: Asia/Shanghai
sites:
  {SITE}:
    buildings:
      tower-a: {{area_m2: 24000, occupants: 900}}
      tower-b: {{area_m2: 11000, occupants: 420}}
tariffs:
  - version: test-flat-EXAMPLE
    valid_from: 2000-01-01
    example: true
    source: a flat price for the cockpit tests, not a real one
    currency: CNY
    prices: {{flat: 0.60}}
    default_period: flat
quotas:
  - {{site: {SITE}, building: tower-a, year: 2026,
     kwh_per_m2: {{value: 180, source: "test quota"}},
     total_kgce: {{value: 600000, source: "test quota"}}}}
"""
    path = directory / "energy.yaml"
    path.write_text(text, "utf-8")
    return path


@dataclass
class Seeded:
    """What the tests check the page against, worked out from kw() by hand."""

    today_kwh: dict[str, float] = field(default_factory=dict)
    alarm_ids: dict[str, int] = field(default_factory=dict)  # "building/code/source" -> id
    hazard_ids: dict[str, int] = field(default_factory=dict)


class Edge:
    """One edge of site hz (any building), numbering its records per lane from 1."""

    def __init__(self, client, token: str) -> None:
        self.client, self.token = client, token
        self.seq = {"readings": 0, "events": 0}

    def send(self, building: str, lane: str, records: list[dict]) -> None:
        for i in range(0, len(records), BATCH):
            chunk = []
            for rec in records[i : i + BATCH]:
                self.seq[lane] += 1
                chunk.append({**rec, "seq": self.seq[lane]})
            batch = {"site": SITE, "building": building, "lane": lane, "records": chunk}
            answer = self.client.post(
                "/v1/ingest",
                content=gzip.compress(orjson.dumps(batch)),
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Encoding": "gzip",
                    "Content-Type": "application/json",
                },
            )
            assert answer.status_code == 200, answer.text


def _counter_records(building: str, main_from: float, subs_from: float) -> tuple[list[dict], float]:
    """Counters every quarter hour up to NOW, of the main meter from `main_from` and of
    the sub-meters from `subs_from`; and today's kWh of the main meter, summed by hand
    from kw()."""
    totals = {"main": 1000.0, **{m: 100.0 for m in SHARES}}
    records = [_meter(main_from, "main", {"system": "main"}, 1000.0)]
    records += [_meter(subs_from, d, _sub_tags(s), 100.0) for d, (s, _) in SHARES.items()]
    today_kwh = 0.0
    midnight = local(TODAY)
    ts = main_from
    while ts + QUARTER <= NOW:
        main_kwh = kw(building, ts) / 4
        totals["main"] += main_kwh
        if ts >= midnight:
            today_kwh += main_kwh
        end = ts + QUARTER
        records.append(_meter(end, "main", {"system": "main"}, totals["main"]))
        if ts >= subs_from:
            for device, (system, share) in SHARES.items():
                totals[device] += main_kwh * share
                records.append(_meter(end, device, _sub_tags(system), totals[device]))
        ts = end
    return records, today_kwh


def _sub_tags(system: str) -> dict:
    return {"system": system, "parent": "main"}


def _meter(ts: float, device: str, tags: dict, value: float) -> dict:
    return {
        "ts": ts,
        "device": device,
        "tags": tags,
        "interval": QUARTER,
        "points": [{"point": "energy_import", "value": value, "unit": "kWh", "kind": "counter"}],
    }


def _power_records(building: str) -> list[dict]:
    start = (NOW // QUARTER) * QUARTER - 26 * HOUR
    out = []
    ts = start
    while ts + QUARTER <= NOW:
        out.append(_power(ts + QUARTER, kw(building, ts)))
        ts += QUARTER
    out.append(_power(NOW - 5, POWER_NOW[building]))
    return out


def _power(ts: float, value: float) -> dict:
    return {
        "ts": ts,
        "device": "main",
        "tags": {"system": "main"},
        "interval": QUARTER,
        "points": [{"point": "active_power", "value": value, "unit": "kW"}],
    }


def _demand_events(building: str) -> list[dict]:
    midnight = local(TODAY)
    out = []
    start = midnight
    while start + QUARTER <= NOW:
        demand = kw(building, start)
        minute = int((start - midnight) // 60)
        out.append(
            {
                "ts": start + QUARTER + 1,
                "code": "demand.block",
                "source": "main",
                "data": {
                    "meter": "main",
                    "start": start,
                    "end": start + QUARTER,
                    "label": f"{TODAY}T{minute // 60:02d}:{minute % 60:02d}+08:00",
                    "kwh": demand / 4,
                    "demand_kw": demand,
                    "limit_kw": LIMIT_KW[building],
                    "over": demand > LIMIT_KW[building],
                    "peak_sliding_kw": demand,
                },
            }
        )
        start += QUARTER
    return out


def _alarm(ts: float, code: str, source: str, colour: str, message: str, active=True) -> dict:
    return {
        "ts": ts,
        "type": "alarm",
        "code": code,
        "source": source,
        "colour": colour,
        "active": active,
        "message": message,
        "data": {},
    }


def _access(ts: float, kind: str, door: str, **data: object) -> dict:
    return {"ts": ts, "code": kind, "source": f"{door}-reader", "data": {"door": door, **data}}


def _round(route: str, start: float, state: str, statuses: list[str], guard: str) -> dict:
    checkpoints = [
        {
            "checkpoint": f"cp{i + 1}",
            "tag": f"T{i + 1}",
            "expected_at": start + 600 * i,
            "window": [start + 600 * i - 120, start + 600 * i + 120],
            "status": status,
        }
        for i, status in enumerate(statuses)
    ]
    counts = {s: statuses.count(s) for s in ("on_time", "late", "early", "missed")}
    result = {
        "route": route,
        "day": TODAY.isoformat(),
        "start": start,
        "end": start + 600 * len(statuses),
        "guard": guard,
        "state": state,
        "complete": state == "finished" and counts["missed"] == 0,
        "counts": counts,
        "checkpoints": checkpoints,
    }
    return {
        "ts": min(NOW - 1, start + 600 * len(statuses)),
        "code": "patrol.round",
        "source": route,
        "data": result,
    }


def _control_events() -> list[dict]:
    lease = NOW + 1800
    return [
        {
            "ts": NOW - 300,
            "code": "control.command",
            "source": "zone-3/cooling_setpoint",
            "data": {
                "device": "zone-3",
                "point": "cooling_setpoint",
                "slot": 10,
                "slot_name": "demand limit",
                "owner": "demand-limiter",
                "value": 27.0,
                "lease_until": lease,
                "reason": "15-minute demand near the limit",
                "state": "active",
            },
        },
        {
            "ts": NOW - 120,
            "code": "control.command",
            "source": "zone-1/cooling_setpoint",
            "data": {
                "device": "zone-1",
                "point": "cooling_setpoint",
                "slot": 8,
                "slot_name": "operator",
                "owner": "operator:olga#1",
                "value": 25.0,
                "lease_until": NOW + 3480,
                "reason": "meeting in the hall",
                "state": "active",
            },
        },
        *[
            {
                "ts": NOW - 600 * (i + 1),
                "code": "control.write",
                "source": f"zone-{i + 2}",
                "message": "would write",
                "data": {
                    "device": f"zone-{i + 2}",
                    "point": "cooling_setpoint",
                    "mode": "advise",
                    "value": 27.0,
                    "target": 27.0,
                    "before": 26.0,
                    "read_back": None,
                    "verified": None,
                    "slot": 11,
                    "owner": "budget",
                    "reason": "monthly budget forecast yellow",
                    "clamped": [],
                },
            }
            for i in range(3)
        ],
    ]


def seed(client, tokens: dict[str, str], history_from: date = date(2026, 10, 1)) -> Seeded:
    """Everything the cockpit shows, for both buildings. `tokens`: edge, operator (olga),
    manager (an energy manager). `history_from`: the first reading of tower-a's main
    meter (2025-11-01 gives the same period last year; it takes longer to send)."""
    out = Seeded()
    edge = Edge(client, tokens["edge"])
    for building, main_from, subs_from in (
        ("tower-a", history_from, date(2026, 10, 1)),
        ("tower-b", date(2026, 11, 1), date(2026, 11, 1)),
    ):
        counters, today_kwh = _counter_records(building, local(main_from), local(subs_from))
        out.today_kwh[building] = today_kwh
        edge.send(building, "readings", counters + _power_records(building))
        edge.send(building, "events", _demand_events(building))
    a, b = local(TODAY, 13), local(TODAY, 12)
    edge.send(
        "tower-a",
        "events",
        [
            _alarm(a + 600, "door.forced", "D3", "red", "door D3 opened without a badge"),
            _alarm(a + 900, "demand.over", "main", "red", "15-minute demand over 600 kW"),
            _alarm(a + 200, "device.offline", "hvac", "yellow", "hvac meter does not answer"),
            _alarm(a - 1200, "patrol.missed", "north-loop/cp4", "yellow", "checkpoint cp4 missed"),
            _access(a + 100, "access.granted", "D1", credential="C1001"),
            _access(a + 105, "door.opened", "D1"),
            _access(a + 120, "door.closed", "D1"),
            _access(a + 400, "access.denied", "D2", credential="C2040", reason="expired card"),
            _access(a + 600, "door.opened", "D3"),
            _access(a + 700, "access.granted", "D4", credential="C1002"),
            _access(a + 702, "door.opened", "D4"),
            _access(a + 715, "door.closed", "D4"),
            _round(
                "north-loop",
                local(TODAY, 8),
                "finished",
                ["on_time", "on_time", "late", "missed"],
                "G7",
            ),
            _round("north-loop", local(TODAY, 12), "finished", ["on_time"] * 4, "G7"),
            _round(
                "north-loop",
                local(TODAY, 14),
                "running",
                ["on_time", "pending", "pending", "pending"],
                "G9",
            ),
            _round("garage", local(TODAY, 9), "finished", ["on_time", "early", "on_time"], "G3"),
            *_control_events(),
        ],
    )
    edge.send(
        "tower-b",
        "events",
        [
            _alarm(b + 300, "door.held_open", "D2", "yellow", "door D2 open for 5 minutes"),
            _access(b + 10, "door.opened", "D2"),
            _round("lobby", local(TODAY, 10), "finished", ["on_time", "on_time"], "G2"),
        ],
    )
    _plans(client, tokens)
    out.hazard_ids = _hazards(client, tokens)
    return out


def _plans(client, tokens: dict[str, str]) -> None:
    manager = {"Authorization": f"Bearer {tokens['manager']}"}
    for path, body in (
        (
            "/v1/budgets/tower-a-month",
            {
                "name": "tower-a electricity per month",
                "site": SITE,
                "building": "tower-a",
                "period": "month",
                "amount": 190_000,
                "unit": "kWh",
            },
        ),
        (
            "/v1/budgets/tower-a-hvac",
            {
                "name": "tower-a HVAC per month",
                "site": SITE,
                "building": "tower-a",
                "meters": {"system": "hvac"},
                "period": "month",
                "amount": 62_000,
                "unit": "kWh",
            },
        ),
        (
            "/v1/budgets/tower-b-month",
            {
                "name": "tower-b electricity per month",
                "site": SITE,
                "building": "tower-b",
                "period": "month",
                "amount": 90_000,
                "unit": "kWh",
            },
        ),
        (
            "/v1/contracts/tower-a-retrofit",
            {
                "name": "tower-a chiller retrofit",
                "site": SITE,
                "building": "tower-a",
                "baseline": {"from": "2026-10-01", "to": "2026-11-01"},
                "reporting": {"from": "2026-11-01"},
            },
        ),
    ):
        answer = client.put(path, json=body, headers=manager)
        assert answer.status_code == 200, answer.text
    operator = {"Authorization": f"Bearer {tokens['operator']}"}
    answer = client.post(
        "/v1/control/overrides",
        headers=operator,
        json={
            "site": SITE,
            "building": "tower-a",
            "device": "zone-1",
            "point": "cooling_setpoint",
            "value": 25.0,
            "minutes": 60,
            "reason": "meeting in the hall",
        },
    )
    assert answer.status_code == 201, answer.text


def _hazards(client, tokens: dict[str, str]) -> dict[str, int]:
    operator = {"Authorization": f"Bearer {tokens['operator']}"}
    plan = [
        ("extinguisher", "tower-a", "B1 corridor", "extinguisher pressure low", "general", 3, []),
        ("exit-sign", "tower-a", "stair 2, floor 5", "exit sign dark", "low", -1, []),
        (
            "cable",
            "tower-a",
            "plant room",
            "cable tray overloaded",
            "serious",
            2,
            [("assign", {"assignee": "wang"})],
        ),
        (
            "hydrant",
            "tower-b",
            "lobby",
            "hydrant cabinet blocked",
            "major",
            1,
            [("assign", {"assignee": "li"}), ("start", None)],
        ),
        (
            "railing",
            "tower-a",
            "roof",
            "railing loose",
            "general",
            5,
            [
                ("assign", {"assignee": "zhao"}),
                ("start", None),
                ("submit", {"note": "bolts replaced"}),
            ],
        ),
        (
            "lamp",
            "tower-b",
            "car park",
            "lamp broken",
            "low",
            4,
            [
                ("assign", {"assignee": "li"}),
                ("start", None),
                ("submit", None),
                ("verify", None),
                ("close", None),
            ],
        ),
    ]
    ids = {}
    for name, building, location, description, severity, days, steps in plan:
        answer = client.post(
            "/v1/hazards",
            headers=operator,
            json={
                "site": SITE,
                "building": building,
                "location": location,
                "description": description,
                "severity": severity,
                "deadline": NOW + days * 86400,
            },
        )
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["id"]
        for action, body in steps:
            step = client.post(f"/v1/hazards/{ids[name]}/{action}", headers=operator, json=body)
            assert step.status_code == 200, step.text
    return ids


def today_window() -> tuple[float, float]:
    return local(TODAY), local(TODAY + timedelta(days=1))
