"""Edge tokens: generated once, stored only as a SHA-256 hash, sent as a bearer token.

A token is 256 random bits, so a plain (unsalted, fast) hash is enough: there is nothing
to guess from a dictionary, and a lookup by hash needs no comparison loop.
"""

from __future__ import annotations

import hashlib
import secrets

from fastapi import HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from cloud_api.store.base import EdgeIdentity, Store

TOKEN_PREFIX = "stw_"  # makes a leaked token recognisable to secret scanners
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers=_CHALLENGE)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("missing token: send the edge's token as 'Authorization: Bearer …'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    return token


async def require_edge(request: Request) -> EdgeIdentity:
    """FastAPI dependency: the edge that the request's bearer token belongs to."""
    token = bearer_token(request)
    store: Store = request.app.state.store
    credential = await run_in_threadpool(store.credential, hash_token(token))
    if credential is None:
        raise _unauthorized("unknown token")
    if credential.revoked:
        raise _unauthorized(f"the token of edge {credential.identity.name!r} has been revoked")
    return credential.identity
