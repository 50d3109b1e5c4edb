"""Each series' latest reading, kept at ingest, and the query over it (GET /v1/latest).

`latest` holds one row per series: the reading with the highest timestamp stored so far
(good, bad or stale, number or text) and the poll interval its record carried (the
device's, see edge/model.py ReadingRecord.interval; NULL from an edge that does not send
one). A batch writes one row per series it touches, by one bulk upsert that replaces the
stored row only when the batch's reading is at least as new (a late reading never hides
a newer one; of two readings with one timestamp the later arrival wins).
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from dataclasses import dataclass

from cloud_api.store.sqlite_bulk import BulkInsert
from edge.model import Quality

LATEST_SCHEMA = """
CREATE TABLE IF NOT EXISTS latest(
    series_id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    value REAL,
    text TEXT,
    quality TEXT NOT NULL,
    reason TEXT,
    interval REAL  -- the device's poll interval (s) its record said; NULL: not sent
);
"""

_INSERT_LATEST = "INSERT INTO latest(series_id, ts, value, text, quality, reason, interval)"
_ON_CONFLICT = (
    "ON CONFLICT(series_id) DO UPDATE SET ts=excluded.ts, value=excluded.value,"
    " text=excluded.text, quality=excluded.quality, reason=excluded.reason,"
    " interval=excluded.interval WHERE excluded.ts >= latest.ts"
)
_UPSERT_LATEST = BulkInsert(_INSERT_LATEST, 7, _ON_CONFLICT)
# Good numbers without a reason, as nearly all are, bind only what varies: sqlite3 looks
# for an adapter for every None it binds (see sqlite_series.py's plain samples); each
# failed look-up raises and drops an AttributeError. The bench's batches (1,000 series,
# no interval): 1.6 -> 0.5 ms CPU for the upsert.
_UPSERT_PLAIN_LATEST = BulkInsert(
    _INSERT_LATEST, 4, _ON_CONFLICT, row=f"(?,?,?,NULL,'{Quality.GOOD.value}',NULL,?)"
)
_UPSERT_PLAIN_LATEST_NO_INTERVAL = BulkInsert(
    _INSERT_LATEST, 3, _ON_CONFLICT, row=f"(?,?,?,NULL,'{Quality.GOOD.value}',NULL,NULL)"
)
_WIDTH = 6  # values a reading in the writer's flat sample rows


def note_latest(
    db: sqlite3.Connection,
    rows: list,
    record_starts: list[int],
    intervals: list,
    plain: bool = False,
    in_order: bool = False,
) -> None:
    """Keep the newest of a batch's readings per series.

    rows: the batch's sample rows, flat, 6 values a reading (series_id, ts, value, text,
    quality, reason) in record order; record_starts[k]: the index of record k's first
    reading; intervals[k]: record k's interval; plain: every reading is a good number
    without a reason (text NULL, quality 'good', reason NULL); in_order: the records are
    in time order.
    """
    series = rows[0::_WIDTH]
    stamps = rows[1::_WIDTH]
    if in_order or stamps == sorted(stamps):  # records in time order, as nearly always
        newest = dict(zip(series, range(len(series)), strict=True))  # last one wins
    else:
        newest = {}
        for i, (series_id, ts) in enumerate(zip(series, stamps, strict=True)):
            held = newest.get(series_id)
            if held is None or ts >= stamps[held]:
                newest[series_id] = i
    flat: list = []
    if not plain:
        for series_id in sorted(newest):
            i = newest[series_id]
            flat.extend(rows[i * _WIDTH : (i + 1) * _WIDTH])
            flat.append(intervals[bisect_right(record_starts, i) - 1])
        _UPSERT_LATEST.run(db, flat)
    elif all(interval is None for interval in intervals):
        for series_id in sorted(newest):
            i = newest[series_id] * _WIDTH
            flat.extend((series_id, rows[i + 1], rows[i + 2]))
        _UPSERT_PLAIN_LATEST_NO_INTERVAL.run(db, flat)
    else:
        for series_id in sorted(newest):
            i = newest[series_id]
            interval = intervals[bisect_right(record_starts, i) - 1]
            flat.extend((series_id, rows[i * _WIDTH + 1], rows[i * _WIDTH + 2], interval))
        _UPSERT_PLAIN_LATEST.run(db, flat)


@dataclass(frozen=True, slots=True)
class LatestRow:
    series_id: int
    site: str
    building: str
    device: str
    point: str
    unit: str
    kind: str
    ts: float
    value: float | None
    text: str | None
    quality: str
    reason: str | None
    interval: float | None


def latest(
    db: sqlite3.Connection,
    site: str | None = None,
    building: str | None = None,
    device: str | None = None,
    after_id: int | None = None,
    limit: int = 1000,
) -> list[LatestRow]:
    """The latest reading of each series that matches, in series id order (keyset paging
    by after_id); series without any reading are left out."""
    where, params = [], []
    for column, wanted in (("s.site", site), ("s.building", building), ("s.device", device)):
        if wanted is not None:
            where.append(f"{column}=?")
            params.append(wanted)
    if after_id is not None:
        where.append("s.id>?")
        params.append(after_id)
    sql = (
        "SELECT s.id, s.site, s.building, s.device, s.point, s.unit, s.kind, l.ts, l.value,"
        " l.text, l.quality, l.reason, l.interval FROM series s JOIN latest l"
        " ON l.series_id=s.id"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY s.id LIMIT ?"
    params.append(limit)
    return [LatestRow(*row) for row in db.execute(sql, params)]


def backfill_latest(db: sqlite3.Connection) -> int:
    """Fill `latest` from stored readings (a file from before it existed); rows written.

    The interval is unknown for those (NULL) until the next record of the device."""
    db.execute(
        "INSERT INTO latest(series_id, ts, value, text, quality, reason, interval)"
        " SELECT series_id, ts, value, text, quality, reason, NULL FROM ("
        "  SELECT series_id, ts, value, text, quality, reason, row_number() OVER ("
        "   PARTITION BY series_id ORDER BY ts DESC, arrival DESC) AS n FROM ("
        "    SELECT series_id, ts, value, text, quality, reason, rowid AS arrival"
        "     FROM samples_indexed"
        "    UNION ALL SELECT series_id, ts, value, text, quality, reason,"
        "     (SELECT coalesce(max(rowid), 0) FROM samples_indexed) + rowid FROM samples_recent"
        "  )) WHERE n=1"
    )
    (written,) = db.execute("SELECT count(*) FROM latest").fetchone()
    return written
