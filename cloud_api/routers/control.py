"""HVAC control: the edges' commands and audit log, and operator overrides.

GET    /v1/control/commands         read: each priority slot's latest command (state=active:
                                    only active ones; all: every slot's last state), with
                                    its lease (lease_until, expires_in_s on the API's clock),
                                    owner, slot and slot name, reason, device and point; and
                                    the operator overrides (active only, or all) with state
GET    /v1/control/audit            read: the control audit log, newest first, paged: every
                                    control.write (advice too: mode advise), control.command,
                                    control.shed/release/futile event, and every override
                                    created or released (kind override.create /
                                    override.release, edge null); `skipped` counts control
                                    events in the range whose data could not be filed
GET    /v1/control/overrides        read: operator overrides, newest first, with state
                                    (active / released / expired)
POST   /v1/control/overrides        control.write: set one -> 201 with the override
DELETE /v1/control/overrides/{id}   control.write: release an active one -> 200 with it;
                                    409 when it was already released or has expired

The API does not know which profile a device uses, so an override's point is checked for
shape only (a plain name); the edge refuses a point that is not writable, with an event.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cloud_api.auth import UserIdentity, require_permission
from cloud_api.body_types import Name, Text
from cloud_api.clock import request_now
from cloud_api.routers.demand import Cursor, From, Limit, To
from cloud_api.routers.paging import MAX_PAGE, check_limit, cursor_position, next_url, time_range
from cloud_api.store import sqlite_control, sqlite_derived_skips, sqlite_overrides
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["control"])
READ = [Depends(require_permission("read"))]
Writer = Annotated[UserIdentity, Depends(require_permission("control.write"))]
OverrideId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the override's id")]
MAX_MINUTES = 1440
PointName = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$"),
]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: Name
    building: Name
    device: Name = Field(description="the device id, as in the edge's site.yaml")
    point: PointName = Field(description="a writable point of the device's profile")
    value: Annotated[float, AfterValidator(_finite)]
    minutes: int = Field(ge=1, le=MAX_MINUTES, description=f"1..{MAX_MINUTES}")
    reason: Annotated[Text, Field(max_length=500)] = Field(description="why; required")


class OverrideOut(BaseModel):
    id: int
    site: str
    building: str
    device: str
    point: str
    value: float
    minutes: int
    until: float = Field(description="epoch seconds: created_at + minutes")
    reason: str
    by: str = Field(description="the operator who set it")
    created_at: float
    state: Literal["active", "released", "expired"]
    expires_in_s: float | None = Field(description="until - now while active")
    released_by: str | None
    released_at: float | None


class OverrideList(BaseModel):
    overrides: list[OverrideOut]


class CommandOut(BaseModel):
    site: str
    building: str
    edge: str
    device: str
    point: str
    slot: int
    slot_name: str
    owner: str
    value: float | None
    lease_until: float | None
    expires_in_s: float | None = Field(
        description="lease_until - the API's now; negative: the lease has passed and the"
        " edge has not reported the command ended yet"
    )
    reason: str
    state: Literal["active", "released", "expired", "link_lost", "replaced"]
    updated_at: float = Field(description="time of the edge's event that set this state")


class CommandList(BaseModel):
    commands: list[CommandOut]
    overrides: list[OverrideOut]


class AuditOut(BaseModel):
    ts: float
    site: str
    building: str
    edge: str | None = Field(description="null: done through the API (an override)")
    kind: str
    device: str
    point: str | None
    mode: str | None
    value: float | None
    before: float | None
    read_back: float | None
    verified: bool | None
    slot: int | None
    owner: str | None
    reason: str | None
    data: dict[str, Any]


class AuditList(BaseModel):
    entries: list[AuditOut]
    skipped: int = Field(description="control events in the range whose data was unusable")
    next: str | None = Field(description="URL of the next page; null on the last page")


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


@router.get(
    "/v1/control/commands",
    response_model=CommandList,
    summary="Commands per priority slot, and operator overrides, with state and lease",
    dependencies=READ,
)
def list_commands(
    request: Request,
    site: Name | None = None,
    building: Name | None = None,
    state: Literal["active", "all"] = "active",
) -> Response:
    now = request_now(request)
    active = state == "active"
    with sqlite_store(request.app.state.store).reading() as db:
        commands = sqlite_control.list_commands(db, site, building, active, now)
        overrides = sqlite_overrides.list_overrides(db, site, building, now if active else None)
    return _json({"commands": commands, "overrides": [o.to_dict(now) for o in overrides]})


@router.get(
    "/v1/control/audit",
    response_model=AuditList,
    summary="Control audit log, newest first",
    dependencies=READ,
    responses={400: {"description": "bad from, to, limit or cursor"}},
)
def list_audit(
    request: Request,
    site: Name | None = None,
    building: Name | None = None,
    device: Name | None = None,
    from_: From = None,
    to: To = None,
    limit: Limit = MAX_PAGE,
    cursor: Cursor = None,
) -> Response:
    check_limit(limit)
    start, end = time_range(from_, to)
    after = cursor_position(cursor)
    with sqlite_store(request.app.state.store).reading() as db:
        entries, following = sqlite_control.list_audit(
            db,
            site=site,
            building=building,
            device=device,
            start=start,
            end=end,
            limit=limit,
            after=after,
        )
        skipped = sqlite_derived_skips.count_skipped(
            db, sqlite_control.AUDITED_CODES, site, building, start, end
        )
    return _json({"entries": entries, "skipped": skipped, "next": next_url(request, following)})


@router.get(
    "/v1/control/overrides",
    response_model=OverrideList,
    summary="Operator overrides, newest first",
    dependencies=READ,
)
def list_overrides(
    request: Request,
    site: Name | None = None,
    building: Name | None = None,
    state: Annotated[Literal["active", "all"], Query()] = "all",
) -> Response:
    now = request_now(request)
    with sqlite_store(request.app.state.store).reading() as db:
        rows = sqlite_overrides.list_overrides(
            db, site, building, now if state == "active" else None
        )
    return _json({"overrides": [o.to_dict(now) for o in rows]})


@router.post(
    "/v1/control/overrides",
    status_code=201,
    response_model=OverrideOut,
    summary="Override a point (operator), until it is released or its minutes pass",
)
def create_override(request: Request, body: OverrideIn, user: Writer) -> JSONResponse:
    now = request_now(request)
    new = sqlite_overrides.NewOverride(
        body.site, body.building, body.device, body.point, body.value, body.minutes, body.reason
    )
    with sqlite_store(request.app.state.store).writing() as db:
        row = sqlite_overrides.add_override(db, new, user.name, now)
    return JSONResponse(row.to_dict(now), 201)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@router.delete(
    "/v1/control/overrides/{override_id}",
    response_model=OverrideOut,
    summary="Release an override (operator)",
    responses={
        404: {"description": "no such override"},
        409: {"description": "already released, or expired"},
    },
)
def release_override(request: Request, override_id: OverrideId, user: Writer) -> JSONResponse:
    now = request_now(request)
    with sqlite_store(request.app.state.store).writing() as db:
        row = sqlite_overrides.get_override(db, override_id)
        if row is None:
            raise HTTPException(404, detail=f"there is no override {override_id}")
        state = row.state(now)
        if state == "released":
            raise HTTPException(
                409,
                detail=f"override {override_id} was already released at"
                f" {_iso(row.released_at or 0)} by {row.released_by}",
            )
        if state == "expired":
            raise HTTPException(
                409,
                detail=f"override {override_id} (set by {row.created_by}) expired at"
                f" {_iso(row.until)}; nothing to release",
            )
        released = sqlite_overrides.release_override(db, row, user.name, now)
    return JSONResponse(released.to_dict(now))
