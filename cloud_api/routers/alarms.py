"""Alarms: the record of every alarm the edges raise, and people's actions on them.

GET /v1/alarms (read): newest raise first; filters site, building, code, state, colour
(each of code/state/colour may be repeated: any of them), from/to on raised_at (epoch
seconds or ISO 8601, [from, to)); `limit` (default 100, at most 1,000) per page, `next`
the URL of the following page (null on the last).
GET /v1/alarms/{id} (read): one alarm and its history (every transition: who, when,
from, to, note; "system" for the edges' conditions and for time).
Every alarm answered (these and the actions') carries `actions`: what the caller may do
to it now, its state allowing it and their role holding alarms.act ([] for a viewer;
cloud_api/actions.py).
POST /v1/alarms/{id}/ack | shelve | unshelve | assign (alarms.act): the acting user's
name goes in the history. 409 when the alarm's state does not allow the action (the
answer names the state and the allowed actions), 404 for an unknown id, 422 for a bad
body. A shelf needs a duration (more than 0, at most 7 days); it expires by itself.

Time (shelf expiry) is applied when someone reads or acts, at the API's clock
(cloud_api/clock.py: time.time; tests set their own).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from cloud_api.actions import alarm_actions
from cloud_api.auth import UserIdentity, require_permission
from cloud_api.clock import request_now
from cloud_api.routers.paging import MAX_PAGE, check_limit, next_url, time_range
from cloud_api.store.base import BadCursorError, UnknownAlarmError
from edge.model import Colour
from edge.rules.alarms import InvalidTransition, State

router = APIRouter(tags=["alarms"])

MAX_SHELF_S = 7 * 86400
AlarmId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the alarm's id")]
_READ = Depends(require_permission("read"))
_ACT = Depends(require_permission("alarms.act"))


class AlarmOut(BaseModel):
    id: int = Field(description="stable across raises and clears of the same alarm")
    site: str
    building: str
    code: str
    source: str
    colour: Colour
    state: State
    active: bool = Field(description="the condition as the edge last reported it")
    raised_at: float = Field(description="the latest raise")
    cleared_at: float | None
    acked_by: str | None
    acked_at: float | None
    shelved_until: float | None
    assignee: str | None
    raise_count: int
    chattering: bool
    message: str
    data: dict[str, Any]
    actions: list[str] = Field(description="what the caller may do to it now")


class AlarmList(BaseModel):
    alarms: list[AlarmOut]
    next: str | None = Field(description="URL of the next page; null on the last page")


class TransitionOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    action: str
    from_: State = Field(alias="from")
    to: State
    by: str = Field(description='a user name, or "system"')
    ts: float
    note: str


class AlarmWithHistory(AlarmOut):
    history: list[TransitionOut]


class Refused(BaseModel):
    detail: str
    state: State
    allowed: list[str]


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


class ShelveBody(NoteBody):
    duration_s: float = Field(gt=0, le=MAX_SHELF_S, description="seconds, at most 7 days")


class AssignBody(NoteBody):
    assignee: str | None = Field(
        min_length=1, max_length=200, description="a user name; null: to nobody"
    )


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _now(request: Request) -> float:
    return request_now(request)


def _with_actions(alarm: dict[str, Any], user: UserIdentity) -> dict[str, Any]:
    return {**alarm, "actions": alarm_actions(alarm["state"], user.role)}


@router.get("/v1/alarms", response_model=AlarmList, summary="Alarms, newest raise first")
def list_alarms(
    request: Request,
    user: Annotated[UserIdentity, _READ],
    site: str | None = None,
    building: str | None = None,
    code: Annotated[list[str] | None, Query()] = None,
    state: Annotated[list[State] | None, Query()] = None,
    colour: Annotated[list[Colour] | None, Query()] = None,
    from_: Annotated[
        str | None, Query(alias="from", description="raised at or after; epoch s or ISO 8601")
    ] = None,
    to: Annotated[str | None, Query(description="raised before; epoch s or ISO 8601")] = None,
    limit: Annotated[int, Query(description=f"at most {MAX_PAGE}")] = 100,
    cursor: Annotated[str | None, Query(description="the cursor from `next`")] = None,
) -> Response:
    check_limit(limit)
    start, end = time_range(from_, to)
    try:
        alarms, after = request.app.state.store.list_alarms(
            _now(request),
            site=site,
            building=building,
            codes=code,
            states=[s.value for s in state or ()],
            colours=[c.value for c in colour or ()],
            start=start,
            end=end,
            limit=limit,
            cursor=cursor,
        )
    except BadCursorError as e:
        raise HTTPException(400, str(e)) from None
    listed = [_with_actions(a, user) for a in alarms]
    return _json({"alarms": listed, "next": next_url(request, after)})


@router.get(
    "/v1/alarms/{alarm_id}",
    response_model=AlarmWithHistory,
    summary="One alarm and its history",
    responses={404: {}},
)
def get_alarm(
    request: Request, alarm_id: AlarmId, user: Annotated[UserIdentity, _READ]
) -> Response:
    found = request.app.state.store.get_alarm(alarm_id, _now(request))
    if found is None:
        raise HTTPException(404, f"no alarm with id {alarm_id}")
    return _json(_with_actions(found, user))


async def _act(
    request: Request,
    alarm_id: int,
    action: str,
    user: UserIdentity,
    now: float | None = None,
    **kw: Any,
) -> Response:
    store = request.app.state.store
    now = _now(request) if now is None else now
    try:
        alarm = await run_in_threadpool(store.act_on_alarm, alarm_id, action, user.name, now, **kw)
    except UnknownAlarmError:
        raise HTTPException(404, f"no alarm with id {alarm_id}") from None
    except InvalidTransition as e:
        body = {"detail": str(e), "state": e.state.value, "allowed": list(e.allowed)}
        return JSONResponse(body, 409)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return _json(_with_actions(alarm, user))


_ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such alarm"},
    409: {"model": Refused, "description": "the alarm's state does not allow it"},
}


@router.post(
    "/v1/alarms/{alarm_id}/ack",
    response_model=AlarmOut,
    summary="Acknowledge one alarm",
    responses=_ACTION_RESPONSES,
)
async def ack(
    request: Request,
    alarm_id: AlarmId,
    user: Annotated[UserIdentity, _ACT],
    body: Annotated[NoteBody | None, Body()] = None,
) -> Response:
    note = body.note if body else ""
    return await _act(request, alarm_id, "ack", user, note=note)


@router.post(
    "/v1/alarms/{alarm_id}/shelve",
    response_model=AlarmOut,
    summary="Shelve one alarm for a while (it comes back by itself)",
    responses=_ACTION_RESPONSES,
)
async def shelve(
    request: Request,
    alarm_id: AlarmId,
    user: Annotated[UserIdentity, _ACT],
    body: Annotated[ShelveBody, Body()],
) -> Response:
    now = _now(request)
    until = now + body.duration_s
    return await _act(request, alarm_id, "shelve", user, now, note=body.note, until=until)


@router.post(
    "/v1/alarms/{alarm_id}/unshelve",
    response_model=AlarmOut,
    summary="Unshelve one alarm",
    responses=_ACTION_RESPONSES,
)
async def unshelve(
    request: Request,
    alarm_id: AlarmId,
    user: Annotated[UserIdentity, _ACT],
    body: Annotated[NoteBody | None, Body()] = None,
) -> Response:
    note = body.note if body else ""
    return await _act(request, alarm_id, "unshelve", user, note=note)


@router.post(
    "/v1/alarms/{alarm_id}/assign",
    response_model=AlarmOut,
    summary="Give one alarm to someone (null: to nobody)",
    responses=_ACTION_RESPONSES,
)
async def assign(
    request: Request,
    alarm_id: AlarmId,
    user: Annotated[UserIdentity, _ACT],
    body: Annotated[AssignBody, Body()],
) -> Response:
    return await _act(request, alarm_id, "assign", user, note=body.note, assignee=body.assignee)
