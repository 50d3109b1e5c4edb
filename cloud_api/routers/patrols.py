"""GET /v1/patrols/rounds (read): guard patrol rounds as the edge last reported them.

Filters: site, building, route, day (the round's local date, YYYY-MM-DD, in the patrol
plan's time zone, as the edge computed it). Each round: route, day, start, end, guard,
state (running | finished), complete, counts and per checkpoint its window and status
(on time, late, early, missed, or still pending), plus site and building. In start
order.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from cloud_api.auth import require_permission

router = APIRouter(tags=["patrols"], dependencies=[Depends(require_permission("read"))])


class RoundOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    site: str
    building: str
    route: str
    day: str
    start: float
    end: float
    guard: str | None
    state: str
    complete: bool
    counts: dict[str, int]
    checkpoints: list[dict[str, Any]]


class RoundList(BaseModel):
    rounds: list[RoundOut]


@router.get("/v1/patrols/rounds", response_model=RoundList, summary="Patrol rounds")
def list_rounds(
    request: Request,
    site: str | None = None,
    building: str | None = None,
    route: str | None = None,
    day: Annotated[
        str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="local date YYYY-MM-DD")
    ] = None,
) -> Response:
    rounds = request.app.state.store.list_patrol_rounds(
        site=site, building=building, route=route, day=day
    )
    return Response(orjson.dumps({"rounds": rounds}), media_type="application/json")
