"""The `next` link of a paged list: the same query with the cursor of the following page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import HTTPException, Request

from cloud_api.routers.series import parse_instant
from cloud_api.store.base import BadCursorError
from cloud_api.store.keyset import decode_cursor

MAX_PAGE = 1000


def next_url(request: Request, cursor: str | None, name: str = "cursor") -> str | None:
    if cursor is None:
        return None
    query = [(k, v) for k, v in request.query_params.multi_items() if k != name]
    query.append((name, cursor))
    return f"{request.url.path}?{urlencode(query)}"


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise HTTPException(400, f"limit must be between 1 and {MAX_PAGE}, got {limit}")


def time_range(from_: str | None, to: str | None) -> tuple[float | None, float | None]:
    """[from, to) as epoch seconds; 400 naming the parameter when one is bad."""
    start = None if from_ is None else parse_instant(from_, "from")
    end = None if to is None else parse_instant(to, "to")
    if start is not None and end is not None and start >= end:
        raise HTTPException(400, f"from must be before to (from={start}, to={end})")
    return start, end


def cursor_position(cursor: str | None) -> tuple[float, int] | None:
    """(ts, id) of a keyset cursor; 400 for one this API did not hand out."""
    try:
        return None if cursor is None else decode_cursor(cursor)
    except BadCursorError as e:
        raise HTTPException(400, str(e)) from None
