"""People's accounts: a name, a role, a hashed token (like the edges' tokens) and, for the
cockpit's login, an optional password hash (cloud_api/passwords.py).

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
    created_at REAL NOT NULL,
    password_hash TEXT
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
    has_password: bool = False


@dataclass(frozen=True)
class LoginRow:
    """What a login checks: the user and their stored password (None: none set)."""

    user: UserRow
    password_hash: str | None


_COLUMNS = "name, role, revoked, created_at, password_hash IS NOT NULL"


def _row(row: tuple) -> UserRow:
    return UserRow(row[0], row[1], bool(row[2]), row[3], bool(row[4]))


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(users)")}
    if "password_hash" not in columns:  # a store from before passwords
        db.execute("ALTER TABLE users ADD COLUMN password_hash TEXT")


def add_user(
    db: sqlite3.Connection,
    name: str,
    role: str,
    token_hash: str,
    now: float,
    password_hash: str | None = None,
) -> None:
    try:
        db.execute(
            "INSERT INTO users(name, role, token_hash, created_at, password_hash)"
            " VALUES(?,?,?,?,?)",
            (name, role, token_hash, now, password_hash),
        )
    except sqlite3.IntegrityError as e:
        raise UserExistsError(f"a user named {name!r} already exists") from e


def revoke_user(db: sqlite3.Connection, name: str) -> bool:
    """Refuse the user's token from now on; False when there is no such user. (Their
    sessions: sqlite_sessions.end_user_sessions, in the same transaction.)"""
    return db.execute("UPDATE users SET revoked=1 WHERE name=?", (name,)).rowcount > 0


def set_password(db: sqlite3.Connection, name: str, password_hash: str) -> bool:
    """Store a user's new password hash; False when there is no such user."""
    updated = db.execute("UPDATE users SET password_hash=? WHERE name=?", (password_hash, name))
    return updated.rowcount > 0


def user_by_name(db: sqlite3.Connection, name: str) -> UserRow | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM users WHERE name=?", (name,)).fetchone()
    return None if row is None else _row(row)


def login_row(db: sqlite3.Connection, name: str) -> LoginRow | None:
    row = db.execute(f"SELECT {_COLUMNS}, password_hash FROM users WHERE name=?", (name,))
    found = row.fetchone()
    return None if found is None else LoginRow(_row(found), found[5])


def user_by_token_hash(db: sqlite3.Connection, token_hash: str) -> UserRow | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM users WHERE token_hash=?", (token_hash,)).fetchone()
    return None if row is None else _row(row)


def list_users(db: sqlite3.Connection) -> list[UserRow]:
    return [_row(row) for row in db.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name")]
