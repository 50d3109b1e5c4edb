"""Patrol rounds in the SQLite store: the latest result of each round.

The edge sends a `patrol.round` event (type "event", source = route, data =
PatrolRound.result(plan), see edge/rules/patrol_round.py) whenever a round's result
changes. Each is kept in the events table like any event, and upserted here per (site,
building, route, start): the one with the newest ts wins (a tie: the later record), so a
late or resent older result never overwrites a newer one.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from edge.model import EventBatch, EventRecord

log = logging.getLogger("steward.api.patrols")

ROUND_CODE = "patrol.round"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patrol_rounds(
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    route TEXT NOT NULL,
    start REAL NOT NULL,
    day TEXT NOT NULL,           -- the round's local date, YYYY-MM-DD, as in the result
    state TEXT NOT NULL,         -- running | finished
    result TEXT NOT NULL,        -- PatrolRound.result(plan), as sent
    updated_at REAL NOT NULL,    -- ts of the record that wrote it
    PRIMARY KEY(site, building, route, start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS patrol_rounds_by_day ON patrol_rounds(day, route);
"""


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def _unusable(result: dict) -> str | None:
    """Why a round result cannot be filed (None: it can)."""
    for key in ("route", "day", "state"):
        if not isinstance(result.get(key), str) or not result[key]:
            return f"data.{key} must be a non-empty string, got {result.get(key)!r}"
    start = result.get("start")
    if isinstance(start, bool) or not isinstance(start, int | float) or not math.isfinite(start):
        return f"data.start must be finite epoch seconds, got {start!r}"
    return None


def apply_round_records(
    db: sqlite3.Connection, batch: EventBatch, records: Sequence[EventRecord]
) -> int:
    """Upsert the patrol.round results among `records` (inside the ingest transaction);
    returns how many were filed. A result without route, day, state or start stays in
    the events table only, and is logged."""
    filed = 0
    for record in records:
        if record.type != "event" or record.code != ROUND_CODE:
            continue
        result = record.data
        why = _unusable(result)
        if why is not None:
            log.warning(
                "patrol.round seq %d of %s/%s not filed as a round (kept as an event): %s",
                record.seq,
                batch.site,
                batch.building,
                why,
            )
            continue
        db.execute(
            "INSERT INTO patrol_rounds(site, building, route, start, day, state, result,"
            " updated_at) VALUES(?,?,?,?,?,?,?,?)"
            " ON CONFLICT(site, building, route, start) DO UPDATE SET day=excluded.day,"
            " state=excluded.state, result=excluded.result, updated_at=excluded.updated_at"
            " WHERE excluded.updated_at >= patrol_rounds.updated_at",
            (
                batch.site,
                batch.building,
                result["route"],
                float(result["start"]),
                result["day"],
                result["state"],
                orjson.dumps(result).decode(),
                record.ts,
            ),
        )
        filed += 1
    return filed


def list_rounds(
    db: sqlite3.Connection,
    *,
    site: str | None = None,
    building: str | None = None,
    route: str | None = None,
    day: str | None = None,
    days: tuple[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Rounds in start order (then site, building, route): each its result plus site and
    building. `days`: local dates (YYYY-MM-DD) from the first up to the second, excluded."""
    sql = "SELECT site, building, result FROM patrol_rounds WHERE 1=1"
    params: list = []
    for column, value in (("site", site), ("building", building), ("route", route), ("day", day)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    if days is not None:
        sql += " AND day >= ? AND day < ?"
        params.extend(days)
    sql += " ORDER BY start, site, building, route"
    return [
        {**orjson.loads(result), "site": s, "building": b}
        for s, b, result in db.execute(sql, params)
    ]
