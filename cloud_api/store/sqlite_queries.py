"""The series queries of the SQLite store, each over one reader connection.

The tables are sqlite_series.py's; these functions only read them.
"""

from __future__ import annotations

import math
import sqlite3
from operator import itemgetter

import orjson

from cloud_api.store.base import BadCursorError, BucketRow, Page, RawRow, SeriesInfo
from cloud_api.store.rollup import Aggregate, consumption
from cloud_api.store.sqlite_series import ROLLUP_COLUMNS as _ROLLUP_COLUMNS
from cloud_api.store.sqlite_series import SAMPLE_TABLES as _SAMPLE_TABLES

_by_ts_and_arrival = itemgetter(0, 1, 2)  # (ts, table, rowid) of a raw row


def list_series(
    db: sqlite3.Connection,
    site: str | None = None,
    building: str | None = None,
    device: str | None = None,
) -> list[SeriesInfo]:
    where, params = [], []
    for column, wanted in (("site", site), ("building", building), ("device", device)):
        if wanted is not None:
            where.append(f"{column}=?")
            params.append(wanted)
    sql = "SELECT id, site, building, device, point, unit, kind, tags FROM series"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.execute(sql + " ORDER BY id", params).fetchall()
    return [_series_info(row) for row in rows]


def get_series(db: sqlite3.Connection, series_id: int) -> SeriesInfo | None:
    row = db.execute(
        "SELECT id, site, building, device, point, unit, kind, tags FROM series WHERE id=?",
        (series_id,),
    ).fetchone()
    return None if row is None else _series_info(row)


def raw(
    db: sqlite3.Connection,
    series_id: int,
    start: float,
    end: float,
    limit: int,
    after: str | None = None,
) -> Page:
    # Rows come in (ts, arrival) order; a cursor is (ts, how many rows of that ts were
    # already handed out), which stays true when rows move between the two tables.
    skip = 0
    if after is not None:
        start, skip = _parse_raw_cursor(after, start)
    wanted = skip + limit + 1
    found: list[tuple] = []
    for order, table in enumerate(_SAMPLE_TABLES):
        found += db.execute(
            f"SELECT ts, {order}, rowid, value, text, quality, reason FROM {table}"
            " WHERE series_id=? AND ts>=? AND ts<? ORDER BY ts, rowid LIMIT ?",
            (series_id, start, end, wanted),
        ).fetchall()
    found.sort(key=_by_ts_and_arrival)
    found = found[skip:wanted]
    more = len(found) > limit
    found = found[:limit]
    rows = [
        RawRow(ts, value, text, quality, reason) for ts, _, _, value, text, quality, reason in found
    ]
    next_after = None
    if more:
        last_ts = found[-1][0]
        same = sum(1 for row in found if row[0] == last_ts)
        if last_ts == start:
            same += skip
        next_after = f"{last_ts!r},{same}"
    return Page(rows=rows, next_after=next_after)


def rollups(
    db: sqlite3.Connection,
    series_id: int,
    step: int,
    start: float,
    end: float,
    limit: int,
    after: str | None = None,
) -> Page:
    sql = (
        f"SELECT bucket_start, {_ROLLUP_COLUMNS} FROM rollups"
        " WHERE series_id=? AND step=? AND bucket_start>=? AND bucket_start<?"
    )
    params: list = [series_id, step, start, end]
    if after is not None:
        sql += " AND bucket_start>?"
        params.append(_parse_bucket_cursor(after))
    sql += " ORDER BY bucket_start LIMIT ?"
    params.append(limit + 1)
    found = db.execute(sql, params).fetchall()
    kind = db.execute("SELECT kind FROM series WHERE id=?", (series_id,)).fetchone()
    previous_last = None
    if found and kind is not None and kind[0] == "counter":
        before = db.execute(
            "SELECT last FROM rollups WHERE series_id=? AND step=? AND bucket_start<?"
            " ORDER BY bucket_start DESC LIMIT 1",
            (series_id, step, found[0][0]),
        ).fetchone()
        previous_last = None if before is None else before[0]
    more = len(found) > limit
    found = found[:limit]
    aggregates = [Aggregate(*row[1:]) for row in found]
    used: list[float | None]
    if kind is not None and kind[0] == "counter":
        used = list(consumption(aggregates, previous_last))
    else:
        used = [None] * len(aggregates)
    rows = [
        BucketRow(
            start=row[0],
            count=a.count,
            min=a.min,
            max=a.max,
            avg=a.avg,
            first=a.first,
            last=a.last,
            first_ts=a.first_ts,
            last_ts=a.last_ts,
            consumption=c,
        )
        for row, a, c in zip(found, aggregates, used, strict=True)
    ]
    return Page(rows=rows, next_after=str(found[-1][0]) if more else None)


def _series_info(row: tuple) -> SeriesInfo:
    series_id, site, building, device, point, unit, kind, tags = row
    return SeriesInfo(series_id, site, building, device, point, unit, kind, orjson.loads(tags))


def _parse_raw_cursor(after: str, start: float) -> tuple[float, int]:
    """(the ts to resume at, rows of that ts to skip) from a cursor made by raw()."""
    try:
        ts_text, skip_text = after.split(",")
        ts, skip = float(ts_text), int(skip_text)
    except ValueError:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out") from None
    if not math.isfinite(ts) or skip < 1:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out")
    if ts < start:  # a cursor from before the query's start: resume at the start
        return start, 0
    return ts, skip


def _parse_bucket_cursor(after: str) -> int:
    try:
        return int(after)
    except ValueError:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out") from None
