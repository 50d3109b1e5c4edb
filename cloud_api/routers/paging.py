"""The `next` link of a paged list: the same query with the cursor of the following page."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import HTTPException, Request

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
