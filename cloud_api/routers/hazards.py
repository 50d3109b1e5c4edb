"""The hazard loop over HTTP: register (by hand or from an alarm), act, read the ledger.

POST /v1/hazards                      hazards.act: register one (state found)
POST /v1/hazards/{id}/{action}        hazards.act: assign {assignee}, start, submit,
                                      verify, reject {note}, close; 409 naming the allowed
GET  /v1/hazards?state&colour&site&building   read: the ledger, newest first
GET  /v1/hazards/{id}                 read: one hazard and its history (who, when, from,
                                      to, note)

The rules are cloud_api/hazards.py's; colour is computed at the time of reading. Every
hazard answered carries `allowed` (what its state allows) and `actions`: what the caller
may do to it now, its state allowing it and their role holding hazards.act ([] for a
viewer; cloud_api/actions.py).
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from cloud_api.actions import hazard_actions
from cloud_api.auth import UserIdentity, require_permission
from cloud_api.body_types import Instant, Name, Text
from cloud_api.clock import request_now
from cloud_api.hazards import Action, HazardInputError, HazardState, InvalidTransition, Severity
from cloud_api.store import sqlite_hazards
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["hazards"])
HazardId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the hazard's id")]
Colour = Literal["green", "yellow", "red"]
Actor = Annotated[UserIdentity, Depends(require_permission("hazards.act"))]
Reader = Annotated[UserIdentity, Depends(require_permission("read"))]


class HazardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: Name | None = Field(None, description="required unless alarm_id gives it")
    building: Name | None = Field(None, description="required unless alarm_id gives it")
    location: Text | None = Field(None, description="default: the alarm's source")
    description: Text | None = Field(None, description="default: the alarm's code and source")
    severity: Severity = Field(description="major 重大, serious 较大, general 一般, low 低")
    deadline: Instant = Field(description="epoch seconds or ISO 8601 (no offset: UTC)")
    photo_url: HttpUrl | None = None
    alarm_id: int | None = Field(None, ge=1, le=2**63 - 1, description="raised from this alarm")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Text | None = Field(None, description="why; required to reject")
    assignee: Name | None = Field(None, description="who rectifies it; required to assign")


def _unprocessable(field: str, message: str) -> RequestValidationError:
    """A 422 in the shape of the API's other 422s (cloud_api/problems.py), naming the field."""
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


def _from_alarm(db: sqlite3.Connection, body: HazardIn) -> HazardIn:
    """The body with site, building, location and description defaulted from the alarm."""
    try:
        place = sqlite_hazards.alarm_place(db, body.alarm_id)
    except LookupError as e:
        raise _unprocessable("alarm_id", str(e)) from None
    if place is None:
        raise _unprocessable("alarm_id", f"there is no alarm {body.alarm_id}")
    site, building, source, code = place
    for field, given, alarm_has in (
        ("site", body.site, site),
        ("building", body.building, building),
    ):
        if given is not None and given != alarm_has:
            raise _unprocessable(
                field, f"{given!r} differs from alarm {body.alarm_id}'s {field} {alarm_has!r}"
            )
    return body.model_copy(
        update={
            "site": site,
            "building": building,
            "location": body.location or source,
            "description": body.description or f"{code} at {source}",
        }
    )


def _listed(row: sqlite_hazards.HazardRow, now: float, user: UserIdentity) -> dict:
    return {**row.to_dict(now), "actions": hazard_actions(row.state, user.role)}


def _hazard_body(db: sqlite3.Connection, hazard_id: int, now: float, user: UserIdentity) -> dict:
    row = sqlite_hazards.get_hazard(db, hazard_id)
    if row is None:
        raise HTTPException(404, detail=f"there is no hazard {hazard_id}")
    return {**_listed(row, now, user), "history": sqlite_hazards.history(db, hazard_id)}


@router.post("/v1/hazards", status_code=201, summary="Register a hazard (by hand or from an alarm)")
def create_hazard(
    request: Request,
    body: HazardIn,
    user: Actor,
) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    now = request_now(request)
    with store.writing() as db:
        if body.alarm_id is not None:
            body = _from_alarm(db, body)
        for field in ("site", "building", "location", "description"):
            if getattr(body, field) is None:
                raise _unprocessable(field, "required (or give alarm_id to take it from)")
        new = sqlite_hazards.NewHazard(
            site=body.site,  # type: ignore[arg-type]
            building=body.building,  # type: ignore[arg-type]
            location=body.location,  # type: ignore[arg-type]
            description=body.description,  # type: ignore[arg-type]
            severity=body.severity.value,
            deadline=body.deadline,
            photo_url=None if body.photo_url is None else str(body.photo_url),
            alarm_id=body.alarm_id,
        )
        hazard_id = sqlite_hazards.create_hazard(db, new, user.name, now)
        answer = _hazard_body(db, hazard_id, now, user)
    return JSONResponse(answer, 201)


@router.post(
    "/v1/hazards/{hazard_id}/{action}",
    summary="Move a hazard through the loop",
    responses={409: {"description": "the hazard's state does not allow the action"}},
)
def act_on_hazard(
    request: Request,
    hazard_id: HazardId,
    action: Action,
    user: Actor,
    body: ActionIn | None = None,
) -> JSONResponse:
    body = body or ActionIn()
    store = sqlite_store(request.app.state.store)
    now = request_now(request)
    try:
        with store.writing() as db:
            step = sqlite_hazards.act(
                db, hazard_id, action, user.name, now, body.note, body.assignee
            )
            if step is None:
                raise HTTPException(404, detail=f"there is no hazard {hazard_id}")
            answer = _hazard_body(db, hazard_id, now, user)
    except InvalidTransition as e:
        return JSONResponse(
            {"detail": f"hazard {hazard_id}: {e}", "state": e.state.value, "allowed": e.allowed},
            409,
        )
    except HazardInputError as e:
        raise _unprocessable(e.field, str(e).removeprefix(f"{e.field}: ")) from None
    return JSONResponse(answer)


@router.get("/v1/hazards", summary="The hazard ledger")
def list_hazards(
    request: Request,
    user: Reader,
    state: HazardState | None = None,
    colour: Annotated[Colour | None, Query(description="as computed now")] = None,
    site: Name | None = None,
    building: Name | None = None,
) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    now = request_now(request)
    with store.reading() as db:
        rows = sqlite_hazards.list_hazards(db, state, site, building)
    listed = [_listed(row, now, user) for row in rows]
    if colour is not None:
        listed = [h for h in listed if h["colour"] == colour]
    return JSONResponse({"hazards": listed})


@router.get("/v1/hazards/{hazard_id}", summary="One hazard and its history")
def get_hazard(request: Request, hazard_id: HazardId, user: Reader) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    with store.reading() as db:
        return JSONResponse(_hazard_body(db, hazard_id, request_now(request), user))
