"""Operations: /healthz for probes, /metrics for Prometheus."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from cloud_api.metrics import CONTENT_TYPE, ApiMetrics, Family, render
from cloud_api.store.base import EdgeInfo, Store

log = logging.getLogger("steward.api.ops")

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and store reachability")
def healthz(request: Request) -> Response:
    store: Store = request.app.state.store
    try:
        store.ping()
    except Exception as e:  # any failure means "not healthy", and the probe says why
        log.error("health check failed: %s", e)
        return JSONResponse({"status": "failing", "store": store.name, "detail": str(e)}, 503)
    return JSONResponse({"status": "ok", "store": store.name})


def edge_families(edges: list[EdgeInfo]) -> list[Family]:
    """Per-edge gauges read from the store at scrape time, so they survive restarts."""
    last_seen = Family(
        "steward_edge_last_seen_timestamp_seconds",
        "gauge",
        "when the edge last sent a batch",
        ("edge", "site"),
    )
    revoked = Family(
        "steward_edge_revoked", "gauge", "1 when the edge's token is revoked", ("edge",)
    )
    backlog = Family(
        "steward_edge_backlog_records",
        "gauge",
        "records the edge reported still holding, per lane",
        ("edge", "lane"),
    )
    oldest = Family(
        "steward_edge_backlog_oldest_timestamp_seconds",
        "gauge",
        "timestamp of the oldest record the edge reported holding",
        ("edge", "lane"),
    )
    reported_dropped = Family(
        "steward_edge_reported_dropped_records",
        "gauge",
        "records the edge reported dropping (outbox full)",
        ("edge", "lane"),
    )
    acked = Family(
        "steward_edge_acked_seq", "gauge", "highest contiguous seq stored", ("edge", "lane")
    )
    dropped = Family(
        "steward_edge_dropped_at_edge_total",
        "counter",
        "seq numbers skipped because the edge dropped them",
        ("edge", "lane"),
    )
    for edge in edges:
        revoked.set(1.0 if edge.revoked else 0.0, edge=edge.name)
        if edge.last_seen is not None:
            last_seen.set(edge.last_seen, edge=edge.name, site=edge.site)
        for lane, report in edge.backlog.items():
            backlog.set(report.get("records", 0), edge=edge.name, lane=lane)
            reported_dropped.set(report.get("dropped", 0), edge=edge.name, lane=lane)
            if report.get("oldest_ts") is not None:
                oldest.set(report["oldest_ts"], edge=edge.name, lane=lane)
        for lane, state in edge.lanes.items():
            acked.set(state.acked, edge=edge.name, lane=lane)
            dropped.set(state.dropped_at_edge, edge=edge.name, lane=lane)
    return [last_seen, revoked, backlog, oldest, reported_dropped, acked, dropped]


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    store: Store = request.app.state.store
    api_metrics: ApiMetrics = request.app.state.metrics
    families = api_metrics.registry.families() + edge_families(store.list_edges())
    return Response(render(families), media_type=CONTENT_TYPE)
