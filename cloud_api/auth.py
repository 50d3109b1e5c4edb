"""Tokens, edges and people: who may call which route.

Edge tokens and user tokens are generated once, stored only as a SHA-256 hash and sent as
bearer tokens. A token is 256 random bits, so a plain (unsalted, fast) hash is enough:
there is nothing to guess from a dictionary, and a lookup by hash needs no comparison loop.

An edge token only ingests (require_edge) and reads its own directives. A user token
carries a role; each route needs one permission (require_permission), and PERMISSIONS
says which roles hold it. A person may instead log in (routers/session.py) and send the
session cookie (sessions.py); a bearer token, when present, wins over the cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from cloud_api import sessions
from cloud_api.clock import request_now
from cloud_api.store import sqlite_users
from cloud_api.store.base import EdgeIdentity, Store
from cloud_api.store.primary import sqlite_store

TOKEN_PREFIX = "stw_"  # makes a leaked token recognisable to secret scanners
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
EDGE_ON_USER_ROUTE = "edge tokens only ingest and read their own directives"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ENERGY_MANAGER = "energy_manager"
    ADMIN = "admin"


@dataclass(frozen=True)
class UserIdentity:
    name: str
    role: Role


_ACTORS = frozenset({Role.OPERATOR, Role.ENERGY_MANAGER, Role.ADMIN})
PERMISSIONS: dict[str, frozenset[Role]] = {
    "read": frozenset(Role),
    "alarms.act": _ACTORS,
    "hazards.act": _ACTORS,
    "passes.write": _ACTORS,
    "control.write": _ACTORS,  # operator overrides of HVAC points
    "energy.write": frozenset({Role.ENERGY_MANAGER, Role.ADMIN}),
    "admin": frozenset({Role.ADMIN}),
}

# Declares the user bearer scheme in the OpenAPI document (the docs page's token field).
_user_bearer = HTTPBearer(
    scheme_name="UserToken",
    auto_error=False,
    description="a user's token from `steward-api users add NAME --role ROLE`",
)
_USER_SCHEME = Security(_user_bearer)


def permissions_of(role: Role) -> list[str]:
    """The permissions a role holds, in PERMISSIONS' order."""
    return [p for p, roles in PERMISSIONS.items() if role in roles]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers=_CHALLENGE)


def _forbidden(message: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=message)


def bearer_token(request: Request, whose: str = "the edge's token") -> str:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized(f"missing token: send {whose} as 'Authorization: Bearer …'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    return token


def _user_row(store: Store, token_hash: str) -> sqlite_users.UserRow | None:
    with sqlite_store(store).reading() as db:
        return sqlite_users.user_by_token_hash(db, token_hash)


async def require_edge(request: Request) -> EdgeIdentity:
    """FastAPI dependency: the edge that the request's bearer token belongs to."""
    token = bearer_token(request)
    store: Store = request.app.state.store
    token_hash = hash_token(token)
    credential = await run_in_threadpool(store.credential, token_hash)
    if credential is None:
        if await run_in_threadpool(_user_row, store, token_hash) is not None:
            raise _forbidden(
                "a user token cannot be used here: only an edge's own token ingests and"
                " reads its directives"
            )
        raise _unauthorized("unknown token")
    if credential.revoked:
        raise _unauthorized(f"the token of edge {credential.identity.name!r} has been revoked")
    return credential.identity


async def _session_user(request: Request, cookie: str) -> UserIdentity:
    if not sessions.csrf_ok(request.method, request.headers.get(sessions.CSRF_HEADER)):
        raise _forbidden(sessions.CSRF_MISSING)
    store = sqlite_store(request.app.state.store)
    policy = request.app.state.session_policy
    try:
        row = await run_in_threadpool(
            sessions.session_user, store, cookie, request_now(request), policy
        )
    except sessions.SessionRefusedError as e:
        raise _unauthorized(str(e)) from None
    return UserIdentity(row.user, Role(row.role))


async def _user(request: Request) -> UserIdentity:
    if "authorization" not in request.headers:
        cookie = request.cookies.get(sessions.COOKIE)
        if cookie:
            return await _session_user(request, cookie)
        raise _unauthorized(
            "missing token: send a user token (steward-api users add NAME --role ROLE) as"
            " 'Authorization: Bearer …', or log in (POST /v1/session) for a session cookie"
        )
    token = bearer_token(request)
    store: Store = request.app.state.store
    token_hash = hash_token(token)
    row = await run_in_threadpool(_user_row, store, token_hash)
    if row is None:
        if await run_in_threadpool(store.credential, token_hash) is not None:
            raise _forbidden(EDGE_ON_USER_ROUTE)
        raise _unauthorized(
            "unknown token: ask an admin for a user token (steward-api users add NAME --role ROLE)"
        )
    if row.revoked:
        raise _unauthorized(f"the token of user {row.name!r} has been revoked: ask an admin")
    return UserIdentity(row.name, Role(row.role))


def require_permission(permission: str) -> Callable[..., Awaitable[UserIdentity]]:
    """FastAPI dependency: the user behind the bearer token or else the session cookie,
    if their role holds `permission`; 401 for a missing/unknown/revoked token or a
    missing/ended session, 403 for an edge token, a role without it, or a change sent
    with the cookie but without the X-Steward-Request header."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; known: {', '.join(PERMISSIONS)}")
    allowed = PERMISSIONS[permission]

    async def dependency(
        request: Request,
        _declared: HTTPAuthorizationCredentials | None = _USER_SCHEME,
    ) -> UserIdentity:
        user = await _user(request)
        if user.role not in allowed:
            roles = ", ".join(sorted(allowed))
            raise _forbidden(
                f"user {user.name!r} has role {user.role}; {permission!r} needs one of: {roles}"
            )
        return user

    return dependency
