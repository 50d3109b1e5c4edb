"""Log in and out of the cockpit: a session cookie instead of a bearer token.

POST   /v1/session {name, password}   200 {name, role, permissions} and the cookie
                                      steward_session (HttpOnly, SameSite=Strict, Path=/);
                                      401 saying why; 429 + Retry-After after 5 failed
                                      tries for a name within 5 minutes
DELETE /v1/session                    204: ends the session and clears the cookie (also
                                      when there is none: idempotent)

Passwords: cloud_api/passwords.py (set with `steward-api users password NAME`); what a
session is and how long it lasts: cloud_api/sessions.py; the throttle:
cloud_api/login_throttle.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from cloud_api import passwords, sessions
from cloud_api.auth import Role, permissions_of
from cloud_api.clock import request_now
from cloud_api.store import sqlite_users
from cloud_api.store.primary import sqlite_store
from cloud_api.store.sqlite import SqliteStore
from edge.model import Name

router = APIRouter(tags=["session"])
WRONG = "wrong user name or password"


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(description="the user's name (steward-api users add NAME ...)")
    password: str = Field(
        min_length=1,
        max_length=passwords.MAX_LENGTH,
        description="set by an admin with steward-api users password NAME",
    )


@dataclass(frozen=True)
class _Checked:
    user: sqlite_users.UserRow | None  # None: refused, for `problem`
    problem: str = ""


def _check(store: SqliteStore, name: str, password: str) -> _Checked:
    """The user when the password is theirs; else why not. Takes one password hash's time
    whatever the outcome but "no password set", so that timing tells no names apart."""
    with store.reading() as db:
        found = sqlite_users.login_row(db, name)
    if found is None:
        passwords.spend_like_a_verify(password)
        return _Checked(None, WRONG)
    user = found.user
    if found.password_hash is None:
        if user.revoked:
            return _Checked(None, f"user {name!r} has been revoked: ask an admin")
        return _Checked(
            None,
            f"user {name} has no password: an admin sets one with"
            f" steward-api users password {name}",
        )
    if not passwords.verify_password(password, found.password_hash):
        return _Checked(None, WRONG)
    if user.revoked:
        return _Checked(None, f"user {name!r} has been revoked: ask an admin")
    return _Checked(user)


@router.post(
    "/v1/session",
    summary="Log in: a session cookie for the cockpit",
    description="Sets the cookie `steward_session` (HttpOnly, SameSite=Strict, Path=/). With"
    " it, requests need no bearer token; requests that change something must also carry the"
    " header `X-Steward-Request: 1`. The session ends after `session_idle_hours` unused,"
    " `session_max_days` after the login, at logout, and when the user is revoked.",
    responses={
        401: {"description": "wrong name or password, no password set, or user revoked"},
        429: {"description": "too many failed tries for this name: see Retry-After"},
    },
)
async def login(body: LoginIn, request: Request) -> JSONResponse:
    now = request_now(request)
    throttle = request.app.state.login_throttle
    wait = throttle.attempt(body.name, now)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins for {body.name!r}: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    store = sqlite_store(request.app.state.store)
    checked = await run_in_threadpool(_check, store, body.name, body.password)
    if checked.user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=checked.problem)
    throttle.succeeded(body.name)
    policy: sessions.SessionPolicy = request.app.state.session_policy
    token = await run_in_threadpool(sessions.start_session, store, checked.user.name, now, policy)
    role = Role(checked.user.role)
    response = JSONResponse(
        {"name": checked.user.name, "role": role.value, "permissions": permissions_of(role)}
    )
    sessions.set_session_cookie(response, token, policy)
    return response


@router.delete(
    "/v1/session",
    status_code=204,
    summary="Log out: end the session and clear its cookie",
    responses={403: {"description": "the cookie was sent without X-Steward-Request: 1"}},
)
async def logout(request: Request) -> Response:
    policy: sessions.SessionPolicy = request.app.state.session_policy
    token = request.cookies.get(sessions.COOKIE)
    if token:
        if not sessions.csrf_ok(request.method, request.headers.get(sessions.CSRF_HEADER)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=sessions.CSRF_MISSING)
        store = sqlite_store(request.app.state.store)
        await run_in_threadpool(sessions.end_session, store, token)
    response = Response(status_code=204)
    sessions.clear_session_cookie(response, policy)
    return response
