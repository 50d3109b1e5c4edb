"""GET /v1/demand (read): a building's 15-minute demand blocks, as its edge closed them.

Query: site and building (required), meter (optional: every meter of the building),
from/to on the block's start (epoch seconds or ISO 8601, [from, to)). Blocks oldest
first; `limit` (default and at most 1,000) per page, `next` the URL of the following
page (null on the last). `summary` is over every block of the query, not one page:
`blocks`, `peak_kw` (the highest demand_kw) with its block's `peak_label`, `peak_meter`
and `peak_start`, `limit_kw` (the latest block's limit) and `limits_kw` (every limit the
blocks had), `limit_hits` (blocks the edge marked over the limit), `incomplete_blocks`
(demand_kw null: the block was not fully covered by data; never counted in the peak)
and `skipped` (demand.block events in the range, by event time, whose data could not be
filed: they stay in the events table).
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from cloud_api.auth import require_permission
from cloud_api.body_types import Name
from cloud_api.routers.paging import MAX_PAGE, check_limit, cursor_position, next_url, time_range
from cloud_api.store import sqlite_demand
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["demand"], dependencies=[Depends(require_permission("read"))])

From = Annotated[str | None, Query(alias="from", description="at or after; epoch s or ISO 8601")]
To = Annotated[str | None, Query(description="before; epoch s or ISO 8601")]
Limit = Annotated[int, Query(description=f"at most {MAX_PAGE}")]
Cursor = Annotated[str | None, Query(description="the cursor from `next`")]


class DemandBlock(BaseModel):
    site: str
    building: str
    edge: str
    meter: str
    start: float
    end: float
    label: str = Field(description="the block's start in the site's local time")
    kwh: float
    demand_kw: float | None = Field(description="null: the block was not fully covered")
    limit_kw: float
    over: bool
    peak_sliding_kw: float | None


class DemandSummary(BaseModel):
    blocks: int
    peak_kw: float | None
    peak_label: str | None
    peak_meter: str | None
    peak_start: float | None
    limit_kw: float | None = Field(description="the latest block's limit")
    limits_kw: list[float] = Field(description="every limit the blocks had")
    limit_hits: int = Field(description="blocks over the limit")
    incomplete_blocks: int = Field(description="blocks without full data (demand_kw null)")
    skipped: int = Field(description="demand.block events whose data could not be filed")


class DemandOut(BaseModel):
    site: str
    building: str
    meter: str | None
    summary: DemandSummary
    blocks: list[DemandBlock]
    next: str | None = Field(description="URL of the next page; null on the last page")


@router.get(
    "/v1/demand",
    response_model=DemandOut,
    summary="15-minute demand blocks of a building, with peak and limit hits",
    responses={400: {"description": "bad from, to, limit or cursor"}},
)
def demand(
    request: Request,
    site: Name,
    building: Name,
    meter: Name | None = None,
    from_: From = None,
    to: To = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> Response:
    check_limit(limit)
    start, end = time_range(from_, to)
    where = sqlite_demand.Where(site, building, meter, start, end)
    after = cursor_position(cursor)
    with sqlite_store(request.app.state.store).reading() as db:
        blocks, following = sqlite_demand.list_blocks(db, where, limit, after)
        summary = sqlite_demand.summary(db, where)
    body = {
        "site": site,
        "building": building,
        "meter": meter,
        "summary": summary,
        "blocks": blocks,
        "next": next_url(request, following),
    }
    return Response(orjson.dumps(body), media_type="application/json")
