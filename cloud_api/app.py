"""create_app(settings): the FastAPI application, its store opened for its lifetime."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from cloud_api.cockpit import routes_static
from cloud_api.energy.budgets import FitCache
from cloud_api.energy.evaluator import EnergyEvaluator
from cloud_api.energy.service import UnsupportedZoneError
from cloud_api.energy_config import EnergyConfig, load_energy_config
from cloud_api.login_throttle import LoginThrottle
from cloud_api.metrics import ApiMetrics
from cloud_api.problems import request_problems
from cloud_api.routers import (
    access,
    alarms,
    budgets,
    cockpit,
    contracts,
    control,
    demand,
    docs,
    edges,
    energy,
    energy_quality,
    hazards,
    ingest,
    latest,
    ops,
    passes,
    patrols,
    reports,
    series,
    session,
    users,
)
from cloud_api.sessions import SessionPolicy
from cloud_api.settings import ApiSettings, series_limits
from cloud_api.store.base import Store
from cloud_api.store.influx import InfluxSink
from cloud_api.store.sqlite import SqliteStore

API_VERSION = "1"


def open_store(
    settings: ApiSettings, metrics: ApiMetrics, energy_config: EnergyConfig | None = None
) -> Store:
    rated_kw = None if energy_config is None else energy_config.rated_kw
    primary = SqliteStore(
        settings.db,
        settings.sqlite_synchronous,
        limits=series_limits(settings, rated_kw),
        timezone_of=None if energy_config is None else energy_config.timezone,
    )
    if not settings.influx_url:
        return primary
    return InfluxSink(
        primary,
        url=settings.influx_url,
        token=settings.influx_token,
        org=settings.influx_org,
        bucket=settings.influx_bucket,
        metrics=metrics,
        batch_points=settings.influx_batch_points,
        flush_seconds=settings.influx_flush_seconds,
        queue_points=settings.influx_queue_points,
        timeout_seconds=settings.influx_timeout_seconds,
    )


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings if settings is not None else ApiSettings()
    metrics = ApiMetrics()
    # Loaded here, not in the lifespan: a bad file stops the API before it serves anything,
    # with the file, line and field in the message.
    energy_config = load_energy_config(settings.energy_config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings, metrics, energy_config)
        # One thread decodes, validates and stores batches, one after another (see
        # routers/ingest.py for why not more).
        app.state.ingest_worker = ThreadPoolExecutor(1, thread_name_prefix="ingest")
        app.state.energy_evaluator = EnergyEvaluator(
            app.state.store,
            energy_config,
            lambda: app.state.clock(),
            settings.energy_evaluate_seconds,
            app.state.fit_cache,
        )
        app.state.energy_evaluator.start()
        try:
            yield
        finally:
            app.state.energy_evaluator.close()
            app.state.ingest_worker.shutdown(wait=True)
            app.state.store.close()

    app = FastAPI(
        title="Steward central API",
        version=API_VERSION,
        summary="Readings and events from the buildings' edge agents, stored exactly once.",
        lifespan=lifespan,
        # FastAPI's own docs pages load their scripts from a CDN; ours (routers/docs.py)
        # serves the vendored Swagger UI.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.energy_config = energy_config
    app.state.fit_cache = FitCache()  # baseline fits shared by status reads and the evaluator
    app.state.clock = time.time  # what "now" is for reads that depend on it (cloud_api/clock.py)
    app.state.session_policy = SessionPolicy.of(settings)
    app.state.login_throttle = LoginThrottle()
    metrics.watch_store(lambda: getattr(app.state, "store", None))
    routers = (ingest, series, latest, edges, alarms, access, patrols, hazards, passes, users)
    routers += (session, docs)
    for module in (*routers, energy, energy_quality, budgets, contracts, demand, control, ops):
        app.include_router(module.router)
    app.include_router(reports.router)
    app.include_router(cockpit.router)
    app.include_router(routes_static.router)  # /, /cockpit/static, /cockpit/vendor
    # Answers of 1 KiB or more gzipped for clients that accept it (the page's scripts,
    # the overview's JSON); request bodies (gzipped ingest batches) are not its business.
    # Level 6, not Starlette's 9: a third of the CPU for about the same size on JSON.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)

    @app.exception_handler(UnsupportedZoneError)
    async def unsupported_zone(request: Request, exc: UnsupportedZoneError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, 422)

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(request_problems(exc.errors()), 422)

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                ingest.openapi_schemas()
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
