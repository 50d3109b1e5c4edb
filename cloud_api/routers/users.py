"""Who is calling, and (admin) who may call: people are added with `steward-api users`.

GET /v1/me      read: the caller's name, role and permissions (token or session cookie)
GET /v1/users   admin: every user, role and status (never a token)
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from cloud_api.auth import UserIdentity, permissions_of, require_permission
from cloud_api.store import sqlite_users
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["users"])


@router.get("/v1/me", summary="The calling user, role and permissions")
def me(user: Annotated[UserIdentity, Depends(require_permission("read"))]) -> JSONResponse:
    permissions = permissions_of(user.role)
    return JSONResponse({"name": user.name, "role": user.role.value, "permissions": permissions})


@router.get(
    "/v1/users",
    summary="Every user, role and status",
    dependencies=[Depends(require_permission("admin"))],
)
def list_users(request: Request) -> JSONResponse:
    with sqlite_store(request.app.state.store).reading() as db:
        users = sqlite_users.list_users(db)
    return JSONResponse({"users": [dataclasses.asdict(u) for u in users]})
