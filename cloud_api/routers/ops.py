"""Operations: /healthz for probes, /metrics for Prometheus."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from cloud_api.metrics import CONTENT_TYPE, ApiMetrics
from cloud_api.store.base import Store

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


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    api_metrics: ApiMetrics = request.app.state.metrics
    return Response(api_metrics.exposition(), media_type=CONTENT_TYPE)
