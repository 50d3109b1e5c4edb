"""People's accounts: a name, a role and a hashed token (like the edges' tokens).

The role is stored as its text (cloud_api.auth.Role holds the valid ones); a revoked
user's row stays, so a name is never reused by accident and the audit trail keeps meaning.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users(
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
"""


class UserExistsError(Exception):
    """A user of that name is already registered."""


@dataclass(frozen=True)
class UserRow:
    name: str
    role: str
    revoked: bool
    created_at: float


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def add_user(db: sqlite3.Connection, name: str, role: str, token_hash: str, now: float) -> None:
    try:
        db.execute(
            "INSERT INTO users(name, role, token_hash, created_at) VALUES(?,?,?,?)",
            (name, role, token_hash, now),
        )
    except sqlite3.IntegrityError as e:
        raise UserExistsError(f"a user named {name!r} already exists") from e


def revoke_user(db: sqlite3.Connection, name: str) -> bool:
    """Refuse the user's token from now on; False when there is no such user."""
    return db.execute("UPDATE users SET revoked=1 WHERE name=?", (name,)).rowcount > 0


def user_by_token_hash(db: sqlite3.Connection, token_hash: str) -> UserRow | None:
    row = db.execute(
        "SELECT name, role, revoked, created_at FROM users WHERE token_hash=?", (token_hash,)
    ).fetchone()
    return None if row is None else UserRow(row[0], row[1], bool(row[2]), row[3])


def list_users(db: sqlite3.Connection) -> list[UserRow]:
    rows = db.execute("SELECT name, role, revoked, created_at FROM users ORDER BY name")
    return [UserRow(name, role, bool(revoked), created) for name, role, revoked, created in rows]
