"""One building's figures for the cockpit's overview (GET /v1/cockpit/overview).

Each figure is the one the API's own endpoint gives, read through the same store and
service functions, from the stored rollups, ledger and derived tables (no scan of raw
readings or events), so a poll every 2 s over 10 buildings stays cheap:

- budget: each of the building's budgets with the colour the evaluator last gave it for
  the period now running (null: not evaluated in this period yet); the building's colour
  is red when any is red, else null when any is unknown, else the worst (null without
  budgets);
- demand: the building's last 15-min block, the last row GET /v1/demand?site&building
  lists (nulls when it has none);
- power_kw: the sum of the main meters' latest active power readings; null, with
  `power_reason`, when a main meter has no such series or reading, the reading is not a
  good number, or it is stale by /v1/latest's rule (older than 3 poll intervals; a
  reading whose interval is unknown is not called stale there, nor here); `power_ts`:
  the oldest of the readings summed;
- today: the local day's energy as GET /v1/energy?from=today&to=tomorrow gives it
  (today.py), or null with `today_reason`;
- alarms: the alarms in any state but normal, by colour (GET /v1/alarms?state=...);
- patrol: today's rounds (GET /v1/patrols/rounds?day=today) summed over checkpoints.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cloud_api.cockpit.places import Place
from cloud_api.cockpit.today import day_energy
from cloud_api.energy.budgets import period_bounds
from cloud_api.routers.latest import is_stale
from cloud_api.store import (
    sqlite_alarms,
    sqlite_budgets,
    sqlite_demand,
    sqlite_latest,
    sqlite_patrols,
)
from edge.model import Colour

KW_PER_UNIT = {"W": 0.001, "kW": 1.0, "MW": 1000.0}
_RANK = {Colour.GREEN.value: 0, Colour.YELLOW.value: 1, Colour.RED.value: 2}
FINAL = ("on_time", "late", "early", "missed")


def building_overview(
    db: sqlite3.Connection,
    config,
    place: Place,
    now: float,
    budgets: dict[str, sqlite_budgets.PlanRow],
) -> dict[str, Any]:
    """The overview of one building at `now` (`budgets`: every budget by id). Alarms are
    read as stored: the caller applies time to them first (tick_alarms)."""
    site, building = place.site, place.building
    day = config.calendar(site).day_of(now)
    power = _power(db, place, now)
    today = day_energy(db, config, site, building, place.meters, day)
    return {
        "site": site,
        "building": building,
        "timezone": place.timezone,
        "day": day.isoformat(),
        "budget": _budget(db, config, [budgets[i] for i in place.budgets], now),
        "demand": _demand(db, site, building),
        **power,
        "today": today.figures,
        "today_reason": today.reason,
        "alarms": _alarms(db, site, building),
        "patrol": _patrol(db, site, building, day.isoformat()),
    }


def _budget(db: sqlite3.Connection, config, rows: list, now: float) -> dict[str, Any]:
    listed = []
    for row in rows:
        saved = sqlite_budgets.last_colour(db, row.id)
        colour = evaluated_at = None
        if saved is not None:
            calendar = config.calendar(row.body["site"])
            period_start = period_bounds(calendar, row.body["period"], now)[1]
            evaluated_at = saved.evaluated_at
            if saved.period_start == period_start:  # else: an earlier period's colour
                colour = saved.colour
        listed.append({"id": row.id, "colour": colour, "evaluated_at": evaluated_at})
    colours = [b["colour"] for b in listed]
    worst = None
    if Colour.RED.value in colours:
        worst = Colour.RED.value
    elif colours and None not in colours:
        worst = max(colours, key=_RANK.__getitem__)
    return {"colour": worst, "budgets": listed}


def _demand(db: sqlite3.Connection, site: str, building: str) -> dict[str, Any]:
    block = sqlite_demand.latest_block(db, site, building)
    if block is None:
        return {"kw": None, "limit_kw": None, "block_start": None, "over": None, "meter": None}
    return {
        "kw": block["demand_kw"],  # null: the block was not fully covered by data
        "limit_kw": block["limit_kw"],
        "block_start": block["start"],
        "over": block["over"],
        "meter": block["meter"],
    }


def _power(db: sqlite3.Connection, place: Place, now: float) -> dict[str, Any]:
    def unknown(reason: str) -> dict[str, Any]:
        return {"power_kw": None, "power_reason": reason, "power_ts": None}

    if not place.meters:
        return unknown("the building has no main meter (no energy_import counter)")
    total, oldest = 0.0, None
    for meter in place.meters:
        series = place.power.get(meter.device)
        if series is None:
            return unknown(f"main meter {meter.device} has no active_power series")
        scale = KW_PER_UNIT.get(series.unit)
        if scale is None:
            return unknown(f"main meter {meter.device}: active_power in {series.unit!r}, not kW")
        rows = sqlite_latest.latest(db, place.site, place.building, meter.device)
        row = next((r for r in rows if r.series_id == series.series_id), None)
        if row is None:
            return unknown(f"main meter {meter.device} has sent no active_power reading")
        if row.value is None or row.quality != "good":
            return unknown(f"main meter {meter.device}: latest active_power is {row.quality}")
        if is_stale(row.ts, row.interval, now):
            return unknown(f"main meter {meter.device}: latest active_power is stale")
        total += row.value * scale
        oldest = row.ts if oldest is None else min(oldest, row.ts)
    return {"power_kw": total, "power_reason": None, "power_ts": oldest}


def _alarms(db: sqlite3.Connection, site: str, building: str) -> dict[str, Any]:
    counts = sqlite_alarms.open_by_colour(db, site, building)
    by_colour = {c.value: counts.get(c.value, 0) for c in (Colour.RED, Colour.YELLOW, Colour.GREEN)}
    return {"open": sum(counts.values()), "by_colour": by_colour}


def _patrol(db: sqlite3.Connection, site: str, building: str, day: str) -> dict[str, Any]:
    rounds = sqlite_patrols.list_rounds(db, site=site, building=building, day=day)
    counts = dict.fromkeys(FINAL, 0)
    checkpoints = 0
    for r in rounds:
        for cp in r.get("checkpoints") or ():
            checkpoints += 1
            if cp.get("status") in counts:
                counts[cp["status"]] += 1
    pending = checkpoints - sum(counts.values())
    judged = checkpoints - pending
    return {
        "rounds": len(rounds),
        "checkpoints": checkpoints,
        **counts,
        "pending": pending,
        "compliance": counts["on_time"] / judged if judged else None,
    }
