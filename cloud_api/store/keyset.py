"""Keyset paging cursors over (time, row id), newest first: the position of the last row
handed out, so a page never skips or repeats a row when many rows share a time."""

from __future__ import annotations

import math
import sqlite3

from cloud_api.store.base import BadCursorError


def encode_cursor(ts: float, row_id: int) -> str:
    return f"{ts!r}~{row_id}"


def decode_cursor(text: str) -> tuple[float, int]:
    """(ts, id) from a cursor this API handed out; BadCursorError for anything else."""
    ts_text, sep, id_text = text.partition("~")
    try:
        ts, row_id = float(ts_text), int(id_text)
    except ValueError:
        ts, row_id = math.nan, -1
    if not sep or not math.isfinite(ts) or not 0 <= row_id < 2**63:
        raise BadCursorError(f"cursor: {text!r} is not a cursor this API handed out")
    return ts, row_id


def older_than(ts_column: str, after: tuple[float, int] | None) -> tuple[str, tuple]:
    """The WHERE clause (and its parameters) of the rows after `after`, newest first."""
    if after is None:
        return "", ()
    ts, row_id = after
    return f" AND ({ts_column} < ? OR ({ts_column} = ? AND id < ?))", (ts, ts, row_id)


def newest_first_page(
    db: sqlite3.Connection,
    sql: str,
    params: list,
    ts_column: str,
    *,
    start: float | None,
    end: float | None,
    after: tuple[float, int] | None,
    limit: int,
) -> tuple[list[tuple], str | None]:
    """Run `sql` (a SELECT of `id, <ts_column>, ...` with a WHERE clause) for start <= ts
    < end after the cursor position `after`, newest first: at most `limit` rows, and the
    cursor of the next page (None on the last)."""
    params = list(params)
    if start is not None:
        sql += f" AND {ts_column} >= ?"
        params.append(start)
    if end is not None:
        sql += f" AND {ts_column} < ?"
        params.append(end)
    clause, more = older_than(ts_column, after)
    sql += clause + f" ORDER BY {ts_column} DESC, id DESC LIMIT ?"
    params.extend((*more, limit + 1))
    rows = db.execute(sql, params).fetchall()
    last = rows[limit - 1] if len(rows) > limit else None
    return rows[:limit], None if last is None else encode_cursor(last[1], last[0])
