"""The series queries of the SQLite store, each over one reader connection.

The tables are sqlite_series.py's and sqlite_energy.py's; these functions only read them.
1-day buckets are the local days of the series' site (sqlite_local_days.py), keyed by the
epoch of their local midnight.
Every page is found by keyset (the position after the last row handed out), never by
skipping rows, so a deep page costs what the first one does.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from cloud_api.store.base import BadCursorError, BucketRow, Page, RawRow, SeriesInfo
from cloud_api.store.rollup import Aggregate
from cloud_api.store.sqlite_rollups import ROLLUP_COLUMNS
from edge.energy import flag_names

_SERIES_COLUMNS = "id, site, building, device, point, unit, kind, tags, edge, wrap"
_MAX_ROWID = 2**63 - 1


@contextmanager
def _snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: the statements inside see the same state of the file."""
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def list_series(
    db: sqlite3.Connection,
    site: str | None = None,
    building: str | None = None,
    device: str | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[SeriesInfo]:
    where, params = [], []
    for column, wanted in (("site", site), ("building", building), ("device", device)):
        if wanted is not None:
            where.append(f"{column}=?")
            params.append(wanted)
    if after_id is not None:
        where.append("id>?")
        params.append(after_id)
    sql = f"SELECT {_SERIES_COLUMNS} FROM series"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = db.execute(sql, params).fetchall()
    return [_series_info(row) for row in rows]


def get_series(db: sqlite3.Connection, series_id: int) -> SeriesInfo | None:
    row = db.execute(f"SELECT {_SERIES_COLUMNS} FROM series WHERE id=?", (series_id,)).fetchone()
    return None if row is None else _series_info(row)


def raw(
    db: sqlite3.Connection,
    series_id: int,
    start: float,
    end: float,
    limit: int,
    after: str | None = None,
) -> Page:
    # Rows come in (ts, id) order, id being the arrival order (see sqlite_series.py's
    # _MOVE_RECENT); a cursor is the (ts, id) of the last row handed out.
    after_ts, after_id = -math.inf, -1
    if after is not None:
        after_ts, after_id = _parse_raw_cursor(after)
    if after_ts < start:  # no cursor, or one from before the query's start
        after_ts, after_id = start, -1
    wanted = limit + 1
    with _snapshot(db):
        (base,) = db.execute("SELECT coalesce(max(rowid), 0) FROM samples_indexed").fetchone()
        # Two index ranges: the rest of the cursor's timestamp (rowid is the index's last
        # column), then the later ones. One (ts, rowid) > (?, ?) would make SQLite walk
        # every row of the cursor's timestamp to reach the first one after it.
        found = db.execute(
            "SELECT ts, rowid, value, text, quality, reason FROM samples_indexed"
            " WHERE series_id=? AND ts=? AND rowid>? AND ts<? ORDER BY rowid LIMIT ?",
            (series_id, after_ts, after_id, end, wanted),
        ).fetchall()
        if len(found) < wanted:
            found += db.execute(
                "SELECT ts, rowid, value, text, quality, reason FROM samples_indexed"
                " WHERE series_id=? AND ts>? AND ts<? ORDER BY ts, rowid LIMIT ?",
                (series_id, after_ts, end, wanted - len(found)),
            ).fetchall()
        found += db.execute(  # not indexed, and at most recent_limit rows
            "SELECT ts, ?1 + rowid, value, text, quality, reason FROM samples_recent"
            " WHERE series_id=?2 AND (ts, ?1 + rowid) > (?3, ?4) AND ts<?5"
            " ORDER BY ts, rowid LIMIT ?6",
            (base, series_id, after_ts, after_id, end, wanted),
        ).fetchall()
    found.sort()  # by (ts, id): ids are unique
    more = len(found) > limit
    found = found[:limit]
    rows = [
        RawRow(ts, value, text, quality, reason) for ts, _, value, text, quality, reason in found
    ]
    next_after = f"{found[-1][0]!r},{found[-1][1]}" if more else None
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
    where = "WHERE series_id=? AND step=? AND bucket_start>=? AND bucket_start<?"
    params: list = [series_id, step, start, end]
    if after is not None:
        where += " AND bucket_start>?"
        params.append(_parse_bucket_cursor(after))
    params.append(limit + 1)
    with _snapshot(db):
        kind = db.execute("SELECT kind FROM series WHERE id=?", (series_id,)).fetchone()
        # INDEXED BY: through the primary key (step, bucket_start, ...) SQLite would walk
        # every series' buckets of the interval.
        stats = {
            row[0]: Aggregate(*row[1:])
            for row in db.execute(
                f"SELECT bucket_start, {ROLLUP_COLUMNS} FROM rollups INDEXED BY rollups_by_series"
                f" {where} ORDER BY bucket_start LIMIT ?",
                params,
            )
        }
        energy: dict[int, tuple[float, float, int]] = {}
        if kind is not None and kind[0] == "counter":
            energy = {
                row[0]: row[1:]
                for row in db.execute(
                    "SELECT bucket_start, booked, held_out, flags FROM energy"
                    f" INDEXED BY energy_by_series {where} ORDER BY bucket_start LIMIT ?",
                    params,
                )
            }
    counter = kind is not None and kind[0] == "counter"
    starts = sorted(stats.keys() | energy.keys())[: limit + 1]
    more = len(starts) > limit
    starts = starts[:limit]
    rows = [_bucket(start, stats.get(start), energy.get(start), counter) for start in starts]
    return Page(rows=rows, next_after=str(starts[-1]) if more else None)


def _bucket(
    start: int, a: Aggregate | None, energy: tuple[float, float, int] | None, counter: bool
) -> BucketRow:
    booked, held, flags = energy if energy is not None else (0.0, 0.0, 0)
    if a is None:  # energy spread over a gap, no reading in the bucket
        return BucketRow(
            start, 0, None, None, None, None, None, None, None, booked, held, flag_names(flags)
        )
    return BucketRow(
        start=start,
        count=a.count,
        min=a.min,
        max=a.max,
        avg=a.avg,
        first=a.first,
        last=a.last,
        first_ts=a.first_ts,
        last_ts=a.last_ts,
        consumption=booked if counter else None,
        held_out=held if counter else None,
        flags=flag_names(flags),
    )


def _series_info(row: tuple) -> SeriesInfo:
    series_id, site, building, device, point, unit, kind, tags, edge, wrap = row
    return SeriesInfo(
        series_id, site, building, device, point, unit, kind, orjson.loads(tags), edge, wrap
    )


def _parse_raw_cursor(after: str) -> tuple[float, int]:
    """(ts, id) of the last reading handed out, from a cursor made by raw()."""
    try:
        ts_text, id_text = after.split(",")
        ts, row_id = float(ts_text), int(id_text)
    except ValueError:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out") from None
    if not math.isfinite(ts) or not 0 <= row_id <= _MAX_ROWID:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out")
    return ts, row_id


def _parse_bucket_cursor(after: str) -> int:
    try:
        start = int(after)
    except ValueError:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out") from None
    if not -_MAX_ROWID <= start <= _MAX_ROWID:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out")
    return start
