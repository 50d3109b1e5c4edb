"""Events kept in the events table but not filed in their derived table (sqlite_derived.py)
because their data lacks a field of the contract: logged, and counted here with the
field that was wrong; the demand and control reads report them as `skipped`."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from edge.model import EventBatch, EventRecord

log = logging.getLogger("steward.api.derived")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS derived_skipped(
    id INTEGER PRIMARY KEY,
    edge TEXT NOT NULL,
    seq INTEGER NOT NULL,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    ts REAL NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS derived_skipped_by_place ON derived_skipped(site, building, ts);
"""


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def note_skipped(
    db: sqlite3.Connection, edge: str, batch: EventBatch, record: EventRecord, reason: str
) -> None:
    log.warning(
        "%s seq %d of edge %s (%s/%s) kept as an event, not filed: %s",
        record.code,
        record.seq,
        edge,
        batch.site,
        batch.building,
        reason,
    )
    db.execute(
        "INSERT INTO derived_skipped(edge, seq, site, building, ts, code, reason)"
        " VALUES(?,?,?,?,?,?,?)",
        (edge, record.seq, batch.site, batch.building, record.ts, record.code, reason),
    )


def count_skipped(
    db: sqlite3.Connection,
    codes: Sequence[str],
    site: str | None,
    building: str | None,
    start: float | None = None,
    end: float | None = None,
) -> int:
    """Events of these codes not filed, by event time start <= ts < end."""
    sql = f"SELECT count(*) FROM derived_skipped WHERE code IN ({','.join('?' * len(codes))})"
    params: list = list(codes)
    for clause, value in (
        ("site = ?", site),
        ("building = ?", building),
        ("ts >= ?", start),
        ("ts < ?", end),
    ):
        if value is not None:
            sql += f" AND {clause}"
            params.append(value)
    return int(db.execute(sql, params).fetchone()[0])
