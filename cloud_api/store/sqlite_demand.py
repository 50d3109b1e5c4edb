"""15-minute demand blocks, filed at ingest from the edges' `demand.block` events.

One row per (site, building, meter, start). A block sent again (a resend, or the edge
correcting it) replaces the row unless the row was written by a later-stamped event, so a
late older copy never overwrites a newer one (the patrol rounds' rule).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from cloud_api.store import sqlite_derived_skips
from cloud_api.store.event_fields import UnusableData, flag, number, text
from cloud_api.store.keyset import encode_cursor
from edge.model import EventBatch, EventRecord

BLOCK_CODE = "demand.block"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS demand_blocks(
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    edge TEXT NOT NULL,
    meter TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    label TEXT NOT NULL,
    kwh REAL NOT NULL,
    demand_kw REAL,              -- NULL: the block was not fully covered by data
    limit_kw REAL NOT NULL,
    over INTEGER NOT NULL,
    peak_sliding_kw REAL,
    updated_at REAL NOT NULL,    -- ts of the event that wrote it
    UNIQUE(site, building, meter, start)
);
CREATE INDEX IF NOT EXISTS demand_blocks_by_start ON demand_blocks(site, building, start);
"""

_COLUMNS = (
    'id, site, building, edge, meter, start, "end", label, kwh, demand_kw, limit_kw, over,'
    " peak_sliding_kw"
)


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def file_block(db: sqlite3.Connection, edge: str, batch: EventBatch, record: EventRecord) -> None:
    """Upsert one demand.block; UnusableData when its data lacks a field of the contract."""
    data = record.data
    start, end = number(data, "start"), number(data, "end")
    if end <= start:  # type: ignore[operator]
        raise UnusableData(f"data.end ({end}) must be after data.start ({start})")
    limit_kw = number(data, "limit_kw")
    row = (
        batch.site,
        batch.building,
        edge,
        text(data, "meter"),
        start,
        end,
        text(data, "label"),
        number(data, "kwh"),
        number(data, "demand_kw", nullable=True),
        limit_kw,
        int(bool(flag(data, "over"))),
        number(data, "peak_sliding_kw", nullable=True),
        record.ts,
    )
    db.execute(
        'INSERT INTO demand_blocks(site, building, edge, meter, start, "end", label, kwh,'
        " demand_kw, limit_kw, over, peak_sliding_kw, updated_at)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(site, building, meter, start) DO UPDATE SET edge=excluded.edge,"
        ' "end"=excluded."end", label=excluded.label, kwh=excluded.kwh,'
        " demand_kw=excluded.demand_kw, limit_kw=excluded.limit_kw, over=excluded.over,"
        " peak_sliding_kw=excluded.peak_sliding_kw, updated_at=excluded.updated_at"
        " WHERE excluded.updated_at >= demand_blocks.updated_at",
        row,
    )


@dataclass(frozen=True)
class Where:
    site: str
    building: str
    meter: str | None = None
    start: float | None = None  # blocks starting at or after
    end: float | None = None  # blocks starting before

    def clause(self) -> tuple[str, list]:
        sql = " WHERE site = ? AND building = ?"
        params: list = [self.site, self.building]
        for condition, value in (
            ("meter = ?", self.meter),
            ("start >= ?", self.start),
            ("start < ?", self.end),
        ):
            if value is not None:
                sql += f" AND {condition}"
                params.append(value)
        return sql, params


def _block(row: tuple) -> dict[str, Any]:
    _, site, building, edge, meter, start, end, label, kwh, demand, limit, over, sliding = row
    return {
        "site": site,
        "building": building,
        "edge": edge,
        "meter": meter,
        "start": start,
        "end": end,
        "label": label,
        "kwh": kwh,
        "demand_kw": demand,
        "limit_kw": limit,
        "over": bool(over),
        "peak_sliding_kw": sliding,
    }


def list_blocks(
    db: sqlite3.Connection, where: Where, limit: int, after: tuple[float, int] | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Blocks oldest first (then by row id), at most `limit`, after the cursor position
    `after` (start, id); the cursor of the next page (None on the last)."""
    sql, params = where.clause()
    if after is not None:
        sql += " AND (start > ? OR (start = ? AND id > ?))"
        params.extend((after[0], after[0], after[1]))
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM demand_blocks{sql} ORDER BY start, id LIMIT ?",
        (*params, limit + 1),
    ).fetchall()
    last = rows[limit - 1] if len(rows) > limit else None
    cursor = None if last is None else encode_cursor(last[5], last[0])
    return [_block(r) for r in rows[:limit]], cursor


def summary(db: sqlite3.Connection, where: Where) -> dict[str, Any]:
    """Over every block of `where` (not one page): how many, the peak demand and its block,
    the limit(s), the blocks over the limit and those without full data."""
    sql, params = where.clause()
    blocks, hits, incomplete = db.execute(
        "SELECT count(*), coalesce(sum(over), 0), coalesce(sum(demand_kw IS NULL), 0)"
        f" FROM demand_blocks{sql}",
        params,
    ).fetchone()
    peak = db.execute(
        f"SELECT demand_kw, label, meter, start FROM demand_blocks{sql}"
        " AND demand_kw IS NOT NULL ORDER BY demand_kw DESC, start LIMIT 1",
        params,
    ).fetchone()
    latest = db.execute(
        f"SELECT limit_kw FROM demand_blocks{sql} ORDER BY start DESC, id DESC LIMIT 1", params
    ).fetchone()
    limits = [r[0] for r in db.execute(f"SELECT DISTINCT limit_kw FROM demand_blocks{sql}", params)]
    return {
        "blocks": blocks,
        "peak_kw": None if peak is None else peak[0],
        "peak_label": None if peak is None else peak[1],
        "peak_meter": None if peak is None else peak[2],
        "peak_start": None if peak is None else peak[3],
        "limit_kw": None if latest is None else latest[0],
        "limits_kw": sorted(limits),
        "limit_hits": hits,
        "incomplete_blocks": incomplete,
        "skipped": sqlite_derived_skips.count_skipped(
            db, (BLOCK_CODE,), where.site, where.building, where.start, where.end
        ),
    }


def latest_block(db: sqlite3.Connection, site: str, building: str) -> dict[str, Any] | None:
    """The building's last block in /v1/demand's order (start, then row id): the last row
    GET /v1/demand?site&building would list; None when it has none."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM demand_blocks WHERE site = ? AND building = ?"
        " ORDER BY start DESC, id DESC LIMIT 1",
        (site, building),
    ).fetchone()
    return None if row is None else _block(row)
