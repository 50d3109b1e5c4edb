"""Cockpit sessions: what a login cookie is, how long it lasts, and when it is refused.

A session is a random 256-bit value in the cookie `steward_session` (HttpOnly, so page
scripts cannot read it; SameSite=Strict, so another site's page cannot send it), stored
only as its SHA-256 hash (store/sqlite_sessions.py). It ends when unused for
session_idle_hours (sliding: each use restarts the wait; last_seen is written at most once
a minute, so that a page polling every 2 s does not write the store every 2 s), at
session_max_days after its login whatever happens, at logout, when the user is revoked
and when their password changes.

Cross-site request forgery: SameSite=Strict already keeps the cookie off requests that
another site starts; as a second lock, a request that changes something with the cookie
must carry the header X-Steward-Request: 1, which a plain cross-site form or link cannot
set and a cross-site script may not without the API's consent (CORS preflight).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from starlette.responses import Response

from cloud_api.settings import ApiSettings
from cloud_api.store import sqlite_sessions
from cloud_api.store.sqlite import SqliteStore
from cloud_api.store.sqlite_sessions import SessionRow

COOKIE = "steward_session"
CSRF_HEADER = "X-Steward-Request"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_EVERY = 60.0  # seconds between two writes of a session's last_seen
CSRF_MISSING = (
    f"a request that changes something with the session cookie needs the header"
    f" '{CSRF_HEADER}: 1' (protection against cross-site requests)"
)


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: float
    max_seconds: float
    secure_cookie: bool = False

    @classmethod
    def of(cls, settings: ApiSettings) -> SessionPolicy:
        return cls(
            idle_seconds=settings.session_idle_hours * 3600.0,
            max_seconds=settings.session_max_days * 86400.0,
            secure_cookie=settings.session_cookie_secure,
        )


class SessionRefusedError(Exception):
    """The cookie names no live session; the message says why, for the 401."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} hours" if seconds < 2 * 86400 else f"{seconds / 86400:g} days"


def csrf_ok(method: str, header: str | None) -> bool:
    """Whether a request sent with the session cookie may go on: a read always, a change
    only with the header."""
    return method.upper() in SAFE_METHODS or header == "1"


def start_session(store: SqliteStore, user: str, now: float, policy: SessionPolicy) -> str:
    """A new session for `user`; the cookie's value (returned once, stored as a hash).
    Sessions that have expired, anyone's, are cleared on the way."""
    token = secrets.token_urlsafe(32)
    with store.writing() as db:
        sqlite_sessions.end_expired(db, now - policy.idle_seconds, now - policy.max_seconds)
        sqlite_sessions.create_session(db, _hash(token), user, now)
    return token


def session_user(store: SqliteStore, token: str, now: float, policy: SessionPolicy) -> SessionRow:
    """The live session behind a cookie's value, its use recorded; SessionRefusedError
    (saying why) when it is unknown, ended, expired or its user revoked."""
    token_hash = _hash(token)
    with store.reading() as db:
        row = sqlite_sessions.session_by_token_hash(db, token_hash)
    if row is None:
        raise SessionRefusedError("no such session (ended or expired): log in again")
    problem = None
    if row.revoked:
        problem = f"user {row.user!r} has been revoked: ask an admin"
    elif now - row.created_at >= policy.max_seconds:
        problem = f"the session ended {_hours(policy.max_seconds)} after its login: log in again"
    elif now - row.last_seen >= policy.idle_seconds:
        problem = f"the session ended after {_hours(policy.idle_seconds)} unused: log in again"
    if problem is not None:
        with store.writing() as db:
            sqlite_sessions.end_session(db, token_hash)
        raise SessionRefusedError(problem)
    if now - row.last_seen >= TOUCH_EVERY:
        with store.writing() as db:
            sqlite_sessions.touch(db, token_hash, now)
    return row


def end_session(store: SqliteStore, token: str) -> None:
    with store.writing() as db:
        sqlite_sessions.end_session(db, _hash(token))


def set_session_cookie(response: Response, token: str, policy: SessionPolicy) -> None:
    # Max-Age: the browser may keep it as long as the server would accept it at most;
    # the server's idle and absolute limits decide the rest.
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(policy.max_seconds),
        path="/",
        secure=policy.secure_cookie,
        httponly=True,
        samesite="Strict",
    )


def clear_session_cookie(response: Response, policy: SessionPolicy) -> None:
    response.delete_cookie(
        COOKIE, path="/", secure=policy.secure_cookie, httponly=True, samesite="Strict"
    )
