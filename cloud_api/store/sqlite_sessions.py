"""Cockpit login sessions: one row per session, keyed by the SHA-256 hash of its cookie.

The cookie's value is 256 random bits (like the tokens), so storing only its hash is
enough: a copy of the file does not let anyone in. created_at bounds a session's whole
life; last_seen (written at most once a minute, cloud_api/sessions.py) its idle time.
A session is read together with its user, so a revoked user's session is refused even
before its row is deleted.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions(
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user);
"""


@dataclass(frozen=True)
class SessionRow:
    user: str
    role: str
    revoked: bool
    created_at: float
    last_seen: float


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def create_session(db: sqlite3.Connection, token_hash: str, user: str, now: float) -> None:
    db.execute(
        "INSERT INTO sessions(token_hash, user, created_at, last_seen) VALUES(?,?,?,?)",
        (token_hash, user, now, now),
    )


def session_by_token_hash(db: sqlite3.Connection, token_hash: str) -> SessionRow | None:
    row = db.execute(
        "SELECT s.user, u.role, u.revoked, s.created_at, s.last_seen"
        " FROM sessions s JOIN users u ON u.name = s.user WHERE s.token_hash=?",
        (token_hash,),
    ).fetchone()
    return None if row is None else SessionRow(row[0], row[1], bool(row[2]), row[3], row[4])


def touch(db: sqlite3.Connection, token_hash: str, now: float) -> None:
    db.execute("UPDATE sessions SET last_seen=? WHERE token_hash=?", (now, token_hash))


def end_session(db: sqlite3.Connection, token_hash: str) -> bool:
    """Delete one session; False when there was none (already ended or never existed)."""
    return db.execute("DELETE FROM sessions WHERE token_hash=?", (token_hash,)).rowcount > 0


def end_user_sessions(db: sqlite3.Connection, user: str) -> int:
    """Delete every session of a user; how many there were."""
    return db.execute("DELETE FROM sessions WHERE user=?", (user,)).rowcount


def end_expired(db: sqlite3.Connection, idle_before: float, created_before: float) -> int:
    """Delete the sessions idle since before `idle_before` or started before
    `created_before`; how many."""
    return db.execute(
        "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?", (idle_before, created_before)
    ).rowcount
