"""Energy quality: what the counter ledgers held out, its repairs, and meter replacements.

GET  /v1/energy/quality               read: quality events (site, building, state), by id,
                                      at most `limit` (default and most 1,000) per answer;
                                      `next` is the URL of the following page
GET  /v1/energy/quality/{id}          read: one event with its repairs
POST /v1/energy/quality/{id}/repair   energy.write: {action, estimate?, note?} -> 201; 409
                                      naming the first repair when it was repaired already
GET  /v1/series/{id}/replacements     read: the meter replacements declared for a counter
POST /v1/series/{id}/replacements     energy.write: {ts, old_final, new_initial, note?} ->
                                      201; rebuilds the series' energy from its readings
                                      when readings at or after ts are booked already

A quality event is an amount of energy the ledger (edge/energy/ledger.py) held out instead
of booking it: `implausible` (a rise faster than the meter's rating allows) or `gap_held`
(a step longer than the longest gap spread). `held` was used over [since, ts]. Repairs
(edge/energy/repairs.py): accept books it where it was seen (in the buckets of ts), split
evenly over [since, ts], estimate books `estimate` (the series' unit) evenly over [since,
ts] instead. Each repair is kept with who, when and why; repairs and replacements are
also written to the audit log (logger steward.api.audit).
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cloud_api.auth import UserIdentity, require_permission
from cloud_api.body_types import Instant, Name, Text
from cloud_api.clock import request_now
from cloud_api.routers.paging import MAX_PAGE, check_limit, next_url
from cloud_api.store import sqlite_energy_quality as quality
from cloud_api.store.primary import sqlite_store
from cloud_api.store.sqlite_energy_repairs import (
    QualityEventNotFoundError,
    RepairConflictError,
    ReplacementConflictError,
    apply_repair,
    declare_replacement,
)
from edge.energy import Replacement

router = APIRouter(tags=["energy quality"])
audit = logging.getLogger("steward.api.audit")
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Writer = Annotated[UserIdentity, Depends(require_permission("energy.write"))]
READ = [Depends(require_permission("read"))]
Amount = Annotated[float, Field(allow_inf_nan=False)]


class RepairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["accept", "split", "estimate"] = Field(
        description="accept: where it was seen; split: evenly over [since, ts]; estimate:"
        " book `estimate` instead"
    )
    estimate: Amount | None = Field(
        None, ge=0, description="estimate only: what was used over [since, ts], series' unit"
    )
    note: Text | None = Field(None, description="why")


class ReplacementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ts: Instant = Field(description="when the meter was swapped: epoch s or ISO 8601 (UTC)")
    old_final: Amount = Field(description="the old meter's last reading, in the series' unit")
    new_initial: Amount = Field(description="the new meter's first reading")
    note: Text | None = Field(None, description="why, which meters")


def _unprocessable(field: str, message: str) -> RequestValidationError:
    """A 422 in the shape of the API's other 422s (cloud_api/problems.py), naming the field."""
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


@router.get("/v1/energy/quality", summary="Energy held out by the ledgers", dependencies=READ)
def list_quality(
    request: Request,
    site: Name | None = None,
    building: Name | None = None,
    state: Literal["open", "repaired", "superseded"] | None = None,
    limit: Annotated[int, Query(description=f"at most {MAX_PAGE}")] = MAX_PAGE,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="the cursor from `next`")] = 0,
) -> JSONResponse:
    check_limit(limit)
    store = sqlite_store(request.app.state.store)
    with store.reading() as db:
        events = quality.list_events(db, site, building, state, after_id=after, limit=limit + 1)
        repairs = quality.repairs_of(db, [e.id for e in events[:limit]])
    more = len(events) > limit
    events = events[:limit]
    return JSONResponse(
        {
            "events": [e.to_dict(repairs.get(e.id, [])) for e in events],
            "next": next_url(request, str(events[-1].id), "after") if more else None,
        }
    )


@router.get("/v1/energy/quality/{quality_id}", summary="One quality event", dependencies=READ)
def get_quality(request: Request, quality_id: Id) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    with store.reading() as db:
        event = quality.get_event(db, quality_id)
        repairs = quality.repairs_of(db, [quality_id])
    if event is None:
        raise HTTPException(404, detail=f"there is no quality event {quality_id}")
    return JSONResponse(event.to_dict(repairs.get(quality_id, [])))


@router.post(
    "/v1/energy/quality/{quality_id}/repair",
    status_code=201,
    summary="Repair energy a ledger held out",
    responses={409: {"description": "repaired already (names the first repair), or superseded"}},
)
def repair_quality(request: Request, quality_id: Id, body: RepairIn, user: Writer) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    now = request_now(request)
    try:
        with store.writing() as db:
            event, logged = apply_repair(
                db, quality_id, body.action, body.estimate, user.name, now, body.note
            )
            repairs = quality.repairs_of(db, [quality_id])[quality_id]
    except QualityEventNotFoundError as e:
        raise HTTPException(404, detail=str(e)) from None
    except RepairConflictError as e:
        first = None if e.first is None else e.first.to_dict()
        return JSONResponse({"detail": str(e), "first_repair": first}, 409)
    except ValueError as e:
        field = "estimate" if str(e).startswith("estimate") else "action"
        raise _unprocessable(field, str(e).removeprefix(f"{field}: ")) from None
    audit.info(
        "energy repair %s of quality event %s (series %s): %s %g by %s",
        logged.id,
        quality_id,
        event.series_id,
        logged.action,
        logged.amount,
        user.name,
    )
    return JSONResponse({"event": event.to_dict(repairs), "repair": logged.to_dict()}, 201)


@router.get(
    "/v1/series/{series_id}/replacements", summary="Declared meter replacements", dependencies=READ
)
def list_replacements(request: Request, series_id: Id) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    if store.get_series(series_id) is None:
        raise HTTPException(404, detail=f"no series with id {series_id}")
    with store.reading() as db:
        rows = quality.replacements_of(db, series_id)
    return JSONResponse({"replacements": [r.to_dict() for r in rows]})


@router.post(
    "/v1/series/{series_id}/replacements",
    status_code=201,
    summary="Declare a meter replacement",
    responses={409: {"description": "one is declared at that ts already"}},
)
def add_replacement(
    request: Request, series_id: Id, body: ReplacementIn, user: Writer
) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    now = request_now(request)
    info = store.get_series(series_id)
    if info is None:
        raise HTTPException(404, detail=f"no series with id {series_id}")
    if info.kind != "counter":
        raise HTTPException(
            422,
            detail=f"series {series_id} is a {info.kind}: only a counter has a meter to replace",
        )
    if body.ts > now:
        raise _unprocessable(
            "ts",
            f"{body.ts} is after the API's clock ({now}): declare a"
            " replacement once it has happened",
        )
    declared = Replacement(body.ts, body.old_final, body.new_initial)
    try:
        with store.rewriting_ledgers() as (db, rules_of):
            row, fed = declare_replacement(
                db, series_id, declared, rules_of(series_id), user.name, now, body.note
            )
    except ReplacementConflictError as e:
        return JSONResponse({"detail": str(e), "existing": e.existing.to_dict()}, 409)
    except ValueError as e:
        raise _unprocessable("old_final", str(e)) from None
    audit.info(
        "meter replacement %s of series %s at %s (old_final %g, new_initial %g) by %s%s",
        row.id,
        series_id,
        body.ts,
        body.old_final,
        body.new_initial,
        user.name,
        f": energy rebuilt from {fed} readings" if row.rebuilt else "",
    )
    return JSONResponse({"replacement": row.to_dict(), "readings_fed": fed}, 201)
