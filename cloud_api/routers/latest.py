"""GET /v1/latest (read): each series' last value, its age and whether it is stale.

- site, building, device: filters. Series come in id order, at most `limit` (default and
  most 1,000) per answer; `next` is the URL of the following page, null on the last.
  Series that never received a reading are left out.
- Each entry: the series (id, site, building, device, point, unit, kind), its latest
  reading (ts, value or text, quality, reason: the one with the highest timestamp, late
  readings never hide it), `interval` (the device's poll interval its record carried,
  seconds), `age` = now − ts at the API's clock (cloud_api/clock.py), and `stale`: true
  when age > 3 × interval, false otherwise, null when the interval is unknown (an edge
  that does not send it). A reading from the future (an edge clock ahead) has a negative
  age and is not stale.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from cloud_api.auth import require_permission
from cloud_api.clock import request_now
from cloud_api.routers.paging import MAX_PAGE, check_limit, next_url
from cloud_api.store import sqlite_latest
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["series"], dependencies=[Depends(require_permission("read"))])

STALE_INTERVALS = 3  # a value older than this many poll intervals is stale


class LatestValue(BaseModel):
    series: int = Field(description="the series' id (GET /v1/series/{id})")
    site: str
    building: str
    device: str
    point: str
    unit: str
    kind: str
    ts: float = Field(description="the latest reading's time, epoch seconds")
    value: float | None = Field(description="null for a text or a bad reading")
    text: str | None = Field(None, description="a reading that is text, not a number")
    quality: str
    reason: str | None = None
    interval: float | None = Field(description="the device's poll interval (s); null: unknown")
    age: float = Field(description="seconds from ts to now (the API's clock)")
    stale: bool | None = Field(
        description=f"age > {STALE_INTERVALS} × interval; null when the interval is unknown"
    )


class LatestList(BaseModel):
    latest: list[LatestValue]
    now: float = Field(description="the instant `age` and `stale` were computed at")
    next: str | None = Field(description="URL of the next page; null on the last page")


def is_stale(ts: float, interval: float | None, now: float) -> bool | None:
    """Whether a reading at `ts` is stale at `now` (None: the interval is unknown)."""
    return None if interval is None else now - ts > STALE_INTERVALS * interval


def _entry(row: sqlite_latest.LatestRow, now: float) -> dict:
    age = now - row.ts
    stale = is_stale(row.ts, row.interval, now)
    return {
        "series": row.series_id,
        "site": row.site,
        "building": row.building,
        "device": row.device,
        "point": row.point,
        "unit": row.unit,
        "kind": row.kind,
        "ts": row.ts,
        "value": row.value,
        "text": row.text,
        "quality": row.quality,
        "reason": row.reason,
        "interval": row.interval,
        "age": age,
        "stale": stale,
    }


@router.get(
    "/v1/latest",
    response_model=LatestList,
    summary="Each series' last value, its age and whether it is stale",
    responses={400: {"description": "bad limit or cursor"}},
)
def latest_values(
    request: Request,
    site: str | None = None,
    building: str | None = None,
    device: str | None = None,
    limit: Annotated[int, Query(description=f"at most {MAX_PAGE}")] = MAX_PAGE,
    cursor: Annotated[str | None, Query(description="the cursor from `next`")] = None,
) -> Response:
    check_limit(limit)
    after_id = None
    if cursor is not None:
        try:
            after_id = int(cursor)
        except ValueError:
            after_id = -1
        if not 0 <= after_id < 2**63:
            raise HTTPException(400, f"cursor: {cursor!r} is not a cursor this API handed out")
    now = request_now(request)
    with sqlite_store(request.app.state.store).reading() as db:
        rows = sqlite_latest.latest(db, site, building, device, after_id, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    body = {
        "latest": [_entry(row, now) for row in rows],
        "now": now,
        "next": next_url(request, str(rows[-1].series_id) if more else None),
    }
    return Response(orjson.dumps(body), media_type="application/json")
