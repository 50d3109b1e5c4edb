"""Visitor passes: booked by an operator, pulled by the edges as directives.

POST   /v1/visitor-passes       passes.write: book one -> the pass with its id (201)
GET    /v1/visitor-passes       read: passes not withdrawn (site, building, credential)
DELETE /v1/visitor-passes/{id}  passes.write: withdraw one (204; kept for the audit trail)

The edge side, GET /v1/edges/self/directives, is in routers/edges.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud_api.auth import UserIdentity, require_permission
from cloud_api.body_types import Instant, Name, Text
from cloud_api.clock import request_now
from cloud_api.store import sqlite_passes
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["visitor passes"])
PassId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the pass's id")]
Writer = Annotated[UserIdentity, Depends(require_permission("passes.write"))]
READ = [Depends(require_permission("read"))]
MAX_DOORS = 200


class PassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: Name
    building: Name
    credential: Name = Field(description="the card, badge or plate the visitor presents")
    visitor: Annotated[Text, Field(max_length=200)] = Field(description="who is visiting")
    valid_from: Instant = Field(description="epoch seconds or ISO 8601 (no offset: UTC)")
    valid_to: Instant = Field(description="after valid_from")
    doors: list[Name] = Field(min_length=1, max_length=MAX_DOORS, description="door ids")

    @model_validator(mode="after")
    def _window_and_doors(self) -> PassIn:
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        if len(set(self.doors)) != len(self.doors):
            twice = sorted({d for d in self.doors if self.doors.count(d) > 1})
            raise ValueError(f"doors: {', '.join(twice)} listed more than once")
        return self


@router.post("/v1/visitor-passes", status_code=201, summary="Book a visitor pass")
def book_pass(request: Request, body: PassIn, user: Writer) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    now = request_now(request)
    new = sqlite_passes.NewPass(
        body.site,
        body.building,
        body.credential,
        body.visitor,
        body.valid_from,
        body.valid_to,
        tuple(body.doors),
    )
    with store.writing() as db:
        pass_id = sqlite_passes.add_pass(db, new, user.name, now)
        booked = sqlite_passes.get_pass(db, pass_id)
    assert booked is not None  # written just now, in the same transaction
    return JSONResponse(booked.to_dict(now), 201)


@router.get("/v1/visitor-passes", summary="Visitor passes", dependencies=READ)
def list_passes(
    request: Request,
    site: Name | None = None,
    building: Name | None = None,
    credential: Name | None = None,
) -> JSONResponse:
    store = sqlite_store(request.app.state.store)
    now = request_now(request)
    with store.reading() as db:
        rows = sqlite_passes.list_passes(db, site, building, credential)
    return JSONResponse({"visitor_passes": [row.to_dict(now) for row in rows]})


@router.delete("/v1/visitor-passes/{pass_id}", status_code=204, summary="Withdraw a pass")
def withdraw_pass(request: Request, pass_id: PassId, user: Writer) -> Response:
    store = sqlite_store(request.app.state.store)
    with store.writing() as db:
        found = sqlite_passes.delete_pass(db, pass_id, user.name, request_now(request))
    if not found:
        raise HTTPException(404, detail=f"there is no visitor pass {pass_id}")
    return Response(status_code=204)
