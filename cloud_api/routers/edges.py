"""GET /v1/edges: every registered edge, when it was last heard and what it still holds.

`backlog` is what the edge reported with its latest batch, per lane: records its outbox
still holds once that batch is acknowledged (0 after a drain), the oldest one's timestamp,
how many it dropped (outbox full) and why, and how many it keeps aside as dead letters.
`lanes` is the API's side: the acknowledged seq of the lane's latest stream (outbox and
generation, see edge/model.py), and, over all its streams, seq numbers counted as dropped
at the edge and duplicates received (retries).

`buildings` lists the buildings the edge may write (null: any of its site).

GET /v1/edges/self/directives (the EDGE's own token): what the edge should enforce, now
(cloud_api/directives.py): the visitor passes of its site and building(s) that have not
expired, in the shape edge.rules.door_config.VisitorPass.from_dict reads (times in epoch
seconds); its building's budget colour (an edge of several buildings: the worst colour
across them, and `building` says whose); the active operator overrides of its
building(s).
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from cloud_api.auth import require_edge, require_permission
from cloud_api.clock import request_now
from cloud_api.directives import directives_body
from cloud_api.store.base import EdgeIdentity, EdgeInfo, Store
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["edges"])


class ReportedBacklog(BaseModel):
    records: int
    oldest_ts: float | None
    dropped: int
    quarantined: int = Field(0, description="records the API refused, kept aside at the edge")
    drops: dict[str, int] = Field(
        default_factory=dict, description="records the edge dropped from the lane, by reason"
    )
    reported_at: float


class LaneOut(BaseModel):
    acked: int
    dropped_at_edge: int
    duplicates: int
    outbox: str = Field(description="the latest stream's outbox id; empty: the default stream")
    generation: str
    first_seq: int


class EdgeOut(BaseModel):
    name: str
    site: str
    building: str | None
    buildings: list[str] | None
    revoked: bool
    created_at: float
    last_seen: float | None
    backlog: dict[str, ReportedBacklog]
    lanes: dict[str, LaneOut]


class EdgeList(BaseModel):
    edges: list[EdgeOut]


def edge_out(info: EdgeInfo) -> dict:
    return {
        "name": info.name,
        "site": info.site,
        "building": info.building,
        "buildings": None if info.buildings is None else list(info.buildings),
        "revoked": info.revoked,
        "created_at": info.created_at,
        "last_seen": info.last_seen,
        "backlog": info.backlog,
        "lanes": info.lanes,
    }


@router.get(
    "/v1/edges",
    response_model=EdgeList,
    summary="Edges, last seen and backlog",
    dependencies=[Depends(require_permission("read"))],
)
def list_edges(request: Request) -> Response:
    store: Store = request.app.state.store
    body = {"edges": [edge_out(info) for info in store.list_edges()]}
    return Response(orjson.dumps(body), media_type="application/json")


class DirectivePass(BaseModel):
    credential: str
    visitor: str
    valid_from: float
    valid_to: float
    doors: list[str]


class DirectiveBudget(BaseModel):
    colour: Literal["green", "yellow", "red"] | None = Field(
        description="the worst colour of the budgets of the edge's building(s) for the"
        " current period; null: no budget, or none evaluated yet this period"
    )
    budget_id: str | None = Field(description="the budget that has that colour")
    as_of: float | None = Field(description="when the evaluator gave that colour, epoch s")
    building: str | None = Field(description="the building of that budget")


class DirectiveOverride(BaseModel):
    id: int
    device: str
    point: str
    value: float
    until: float = Field(description="epoch seconds; the override ends then")
    reason: str
    by: str = Field(description="the operator who set it")


class Directives(BaseModel):
    generated_at: float = Field(description="the API's time, epoch seconds")
    visitor_passes: list[DirectivePass]
    budget: DirectiveBudget
    overrides: list[DirectiveOverride] = Field(
        description="active operator overrides of the edge's building(s), oldest first"
    )


# Declares the edge's bearer scheme for this route in the OpenAPI document.
_edge_bearer = HTTPBearer(
    scheme_name="EdgeToken",
    auto_error=False,
    description="the edge's token from `steward-api edges add`",
)


@router.get(
    "/v1/edges/self/directives",
    response_model=Directives,
    summary="What the calling edge should enforce (visitor passes, budget colour, overrides)",
    dependencies=[Security(_edge_bearer)],
)
def directives(request: Request, edge: Annotated[EdgeIdentity, Depends(require_edge)]) -> Response:
    now = request_now(request)
    config = request.app.state.energy_config
    with sqlite_store(request.app.state.store).reading() as db:
        body = directives_body(db, config, edge.site, edge.buildings, now)
    return Response(orjson.dumps(body), media_type="application/json")
