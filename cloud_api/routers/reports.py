"""Monthly reports as files (read): printable HTML (A4, no script), CSV (UTF-8 with BOM)
or PDF, in Chinese (lang=zh, the default) or English (lang=en).

GET /v1/reports/energy?site&building&month=YYYY-MM&format&lang
    energy by system and total (kWh, kgce, CO2, cost), per m2 and per person, against the
    building's budgets, peak 15-min demand, the same month last year, contract savings,
    the factor versions (cloud_api/reports/energy_month.py)
GET /v1/reports/patrol?site&building&month&format&lang
    per route and per day: rounds, checkpoints on time / late / early / missed / pending,
    compliance (patrol_month.py)
GET /v1/reports/alarms?site&building&month&operators=1&format&lang
    the ISA-18.2 alarm load beside its targets: rate per operator hour, peak 10 minutes,
    floods, chattering and stale alarms, the top ten sources (alarm_month.py, alarm_load.py)
GET /v1/reports/hazards?site&building&from&to&format=csv&lang
    the hazard ledger: hazards registered in [from, to) local dates (default: all), each
    as it stands now (hazard_ledger.py)

The month is the building's local calendar month. Content-Disposition names the file, e.g.
energy-tower-a-2026-11.pdf (attachment; HTML inline). 422 names a bad parameter (a month
not YYYY-MM or not begun, an unknown format or language); 404 an unknown site or
building, listing the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from cloud_api.auth import require_permission
from cloud_api.clock import request_now
from cloud_api.reports import service
from cloud_api.reports.errors import ReportInputError, UnknownPlaceError
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["reports"], dependencies=[Depends(require_permission("read"))])

Site = Annotated[str, Query(description="the site")]
Building = Annotated[str, Query(description="the building")]
Month = Annotated[str, Query(description="the building's local month, YYYY-MM")]
Format = Annotated[str, Query(alias="format", description="html (default), csv or pdf")]
Lang = Annotated[str, Query(description="zh (default) or en")]


def _answer(request: Request, make: Callable, fmt: str, **params) -> Response:
    """Run one report's `make(db, config, ..., now=...)` and answer its file."""
    try:
        service.check_format(fmt)
        with sqlite_store(request.app.state.store).reading() as db:
            doc, stem = make(
                db, request.app.state.energy_config, now=request_now(request), **params
            )
        body = service.render(doc, fmt)
    except ReportInputError as e:
        raise RequestValidationError(
            [{"loc": ("query", e.field), "msg": str(e).removeprefix(f"{e.field}: "),
              "type": "value_error"}]
        ) from None  # fmt: skip
    except UnknownPlaceError as e:
        raise HTTPException(404, detail=str(e)) from None
    how = "inline" if fmt == "html" else "attachment"
    return Response(
        body,
        media_type=service.MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'{how}; filename="{stem}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


_FILES = {
    200: {
        "content": {media: {} for media in service.MEDIA_TYPES.values()},
        "description": "the report as a file",
    },
    404: {"description": "unknown site or building (the known ones are listed)"},
}


@router.get("/v1/reports/energy", summary="Monthly energy report", responses=_FILES)
def energy_report(
    request: Request,
    site: Site,
    building: Building,
    month: Month,
    fmt: Format = "html",
    lang: Lang = "zh",
) -> Response:
    return _answer(
        request,
        service.energy_report,
        fmt,
        site=site,
        building=building,
        month=month,
        lang=lang,
        fits=request.app.state.fit_cache,
    )


@router.get("/v1/reports/patrol", summary="Monthly patrol compliance report", responses=_FILES)
def patrol_report(
    request: Request,
    site: Site,
    building: Building,
    month: Month,
    fmt: Format = "html",
    lang: Lang = "zh",
) -> Response:
    return _answer(
        request,
        service.patrol_report,
        fmt,
        site=site,
        building=building,
        month=month,
        lang=lang,
    )


@router.get("/v1/reports/alarms", summary="Monthly ISA-18.2 alarm load report", responses=_FILES)
def alarm_report(
    request: Request,
    site: Site,
    building: Building,
    month: Month,
    operators: Annotated[str, Query(description="operators sharing the load (1..100)")] = "1",
    fmt: Format = "html",
    lang: Lang = "zh",
) -> Response:
    return _answer(
        request,
        service.alarm_report,
        fmt,
        site=site,
        building=building,
        month=month,
        lang=lang,
        operators=operators,
    )


@router.get("/v1/reports/hazards", summary="The hazard ledger", responses=_FILES)
def hazard_report(
    request: Request,
    site: Site,
    building: Annotated[str | None, Query(description="default: every building")] = None,
    from_: Annotated[str | None, Query(alias="from", description="local date, YYYY-MM-DD")] = None,
    to: Annotated[str | None, Query(description="local date, excluded")] = None,
    fmt: Annotated[str, Query(alias="format", description="csv (default), html or pdf")] = "csv",
    lang: Lang = "zh",
) -> Response:
    return _answer(
        request,
        service.hazard_report,
        fmt,
        site=site,
        building=building,
        first=from_,
        last=to,
        lang=lang,
    )
