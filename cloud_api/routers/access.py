"""GET /v1/access-events (read): badges, doors, exit requests and checkpoint scans.

Filters: site, building, door, credential (a card number, a plate, a guard's badge),
kind (repeatable: any of them; one of the access vocabulary, device_profiles/
wire_rules.py), from/to on the event time (epoch seconds or ISO 8601, [from, to)).
Newest first; `limit` (default 1,000, at most 1,000) per page, `next` the URL of the
following page (null on the last). `data` holds what the event carries beyond door,
credential, reason and device (e.g. guard, plate, direction).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from cloud_api.auth import require_permission
from cloud_api.routers.paging import MAX_PAGE, check_limit, next_url, time_range
from cloud_api.store.base import BadCursorError
from device_profiles.wire_rules import AccessKind

router = APIRouter(tags=["access"], dependencies=[Depends(require_permission("read"))])


class AccessEventOut(BaseModel):
    ts: float
    site: str
    building: str
    kind: AccessKind
    device: str
    door: str | None
    credential: str | None
    reason: str | None = Field(description="access.denied: why")
    data: dict[str, Any]


class AccessEventList(BaseModel):
    events: list[AccessEventOut]
    next: str | None = Field(description="URL of the next page; null on the last page")


@router.get(
    "/v1/access-events",
    response_model=AccessEventList,
    summary="Access events, newest first",
    responses={400: {"description": "bad from, to, limit or cursor"}},
)
def list_access_events(
    request: Request,
    site: str | None = None,
    building: str | None = None,
    door: str | None = None,
    credential: str | None = None,
    kind: Annotated[list[AccessKind] | None, Query()] = None,
    from_: Annotated[
        str | None, Query(alias="from", description="at or after; epoch s or ISO 8601")
    ] = None,
    to: Annotated[str | None, Query(description="before; epoch s or ISO 8601")] = None,
    limit: Annotated[int, Query(description=f"at most {MAX_PAGE}")] = MAX_PAGE,
    cursor: Annotated[str | None, Query(description="the cursor from `next`")] = None,
) -> Response:
    check_limit(limit)
    start, end = time_range(from_, to)
    try:
        events, after = request.app.state.store.list_access_events(
            site=site,
            building=building,
            door=door,
            credential=credential,
            kinds=kind,
            start=start,
            end=end,
            limit=limit,
            cursor=cursor,
        )
    except BadCursorError as e:
        raise HTTPException(400, str(e)) from None
    body = {"events": events, "next": next_url(request, after)}
    return Response(orjson.dumps(body), media_type="application/json")
