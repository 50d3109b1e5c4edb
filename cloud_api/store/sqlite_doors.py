"""Each door's latest position and latest access event, filed at ingest (GET /v1/cockpit/doors).

The access events stay in the events table (sqlite_access.py). Finding a door's latest
event there means scanning every event of the kind, so at ingest (inside the same
transaction) each access event with a door also upserts one row per (site, building,
door) here:
- `position`, `position_ts`: the latest door.opened / door.closed (by event time);
- `last_kind`, `last_ts`: the latest access event of any kind at the door.
The newest event time wins; of two with one time the later arrival (the patrol rounds'
rule), so a late or resent older event never hides a newer one.

The door is the event's `door`; door.opened / door.closed / door.tamper without one are
the device's own (a reader with no door is its own gate, as edge/rules/doors.py reads
them). patrol.scan is a guard's tour, not a door.

A store file from before this table existed is filled from its events when the table is
created.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from device_profiles.wire_rules import ACCESS_KINDS
from edge.model import EventBatch, EventRecord

OPENED, CLOSED = "door.opened", "door.closed"
DOOR_KINDS = tuple(k for k in ACCESS_KINDS if k != "patrol.scan")
_OWN_DOOR = frozenset(k for k in DOOR_KINDS if k.startswith("door."))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS door_state(
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    door TEXT NOT NULL,
    position TEXT,          -- door.opened | door.closed; NULL: neither seen yet
    position_ts REAL,
    last_kind TEXT NOT NULL,  -- the latest access event's kind at the door
    last_ts REAL NOT NULL,
    PRIMARY KEY(site, building, door)
) WITHOUT ROWID;
"""

_UPSERT = (
    "INSERT INTO door_state(site, building, door, position, position_ts, last_kind, last_ts)"
    " VALUES(?,?,?,?,?,?,?) ON CONFLICT(site, building, door) DO UPDATE SET"
    " position = CASE WHEN excluded.position IS NOT NULL AND (door_state.position_ts IS NULL"
    "  OR excluded.position_ts >= door_state.position_ts) THEN excluded.position"
    "  ELSE door_state.position END,"
    " position_ts = CASE WHEN excluded.position IS NOT NULL AND (door_state.position_ts IS NULL"
    "  OR excluded.position_ts >= door_state.position_ts) THEN excluded.position_ts"
    "  ELSE door_state.position_ts END,"
    " last_kind = CASE WHEN excluded.last_ts >= door_state.last_ts THEN excluded.last_kind"
    "  ELSE door_state.last_kind END,"
    " last_ts = max(excluded.last_ts, door_state.last_ts)"
)


def _door_of(kind: str, source: str, data: dict) -> str | None:
    door = data.get("door")
    if isinstance(door, str) and door:
        return door
    if kind in _OWN_DOOR:
        device = data.get("device")
        return device if isinstance(device, str) and device else source
    return None


def _row(site: str, building: str, kind: str, source: str, data: dict, ts: float) -> tuple | None:
    door = _door_of(kind, source, data)
    if door is None:
        return None
    moved = kind in (OPENED, CLOSED)
    return (site, building, door, kind if moved else None, ts if moved else None, kind, ts)


def migrate(db: sqlite3.Connection) -> None:
    """The table (after the events table exists); filled from the events when new."""
    exists = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='door_state'"
    new = db.execute(exists).fetchone() is None
    db.executescript(_SCHEMA)
    if new:
        _backfill(db)


def _backfill(db: sqlite3.Connection) -> None:
    marks = ",".join("?" * len(DOOR_KINDS))
    events = db.execute(
        "SELECT site, building, code, source, data, ts FROM events"
        f" WHERE type = 'event' AND code IN ({marks}) ORDER BY id",
        DOOR_KINDS,
    )
    db.execute("BEGIN")
    try:
        while chunk := events.fetchmany(10_000):
            _file(db, (_row(s, b, k, src, orjson.loads(d), ts) for s, b, k, src, d, ts in chunk))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _file(db: sqlite3.Connection, rows: Iterable[tuple | None]) -> None:
    db.executemany(_UPSERT, [r for r in rows if r is not None])


def apply_door_records(
    db: sqlite3.Connection, batch: EventBatch, records: Sequence[EventRecord]
) -> None:
    """File the access events with a door among `records` (inside the ingest transaction)."""
    _file(
        db,
        (
            _row(batch.site, batch.building, r.code, r.source, r.data, r.ts)
            for r in records
            if r.type == "event" and r.code in DOOR_KINDS
        ),
    )


@dataclass(frozen=True, slots=True)
class DoorRow:
    site: str
    building: str
    door: str
    position: str | None  # door.opened | door.closed | None
    position_ts: float | None
    last_kind: str
    last_ts: float


def doors(db: sqlite3.Connection, site: str | None, building: str | None) -> list[DoorRow]:
    """The doors of a site / building (None: any), by site, building and door name."""
    sql = "SELECT site, building, door, position, position_ts, last_kind, last_ts FROM door_state"
    where, params = [], []
    for column, value in (("site", site), ("building", building)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [DoorRow(*r) for r in db.execute(sql + " ORDER BY site, building, door", params)]
