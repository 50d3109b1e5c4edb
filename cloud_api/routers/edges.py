"""GET /v1/edges: every registered edge, when it was last heard and what it still holds.

`backlog` is what the edge reported with its latest batch, per lane: records still in its
outbox, the oldest one's timestamp, and how many it dropped (outbox full). `lanes` is the
API's side: the acknowledged seq, seq numbers counted as dropped at the edge, and
duplicates received (retries).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from cloud_api.store.base import EdgeInfo, Store

router = APIRouter(tags=["edges"])


class ReportedBacklog(BaseModel):
    records: int
    oldest_ts: float | None
    dropped: int
    reported_at: float


class LaneOut(BaseModel):
    acked: int
    dropped_at_edge: int
    duplicates: int


class EdgeOut(BaseModel):
    name: str
    site: str
    building: str | None
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
        "revoked": info.revoked,
        "created_at": info.created_at,
        "last_seen": info.last_seen,
        "backlog": info.backlog,
        "lanes": info.lanes,
    }


@router.get("/v1/edges", response_model=EdgeList, summary="Edges, last seen and backlog")
def list_edges(request: Request) -> Response:
    store: Store = request.app.state.store
    body = {"edges": [edge_out(info) for info in store.list_edges()]}
    return Response(orjson.dumps(body), media_type="application/json")
