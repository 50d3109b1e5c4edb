"""Visitor passes booked through the API, in the SQLite store; each edge pulls those of
its site and building(s) as directives (GET /v1/edges/self/directives).

A deleted pass keeps its row (deleted_at, deleted_by) for the audit trail; it is neither
listed nor sent to edges any more.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS visitor_passes(
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    credential TEXT NOT NULL,
    visitor TEXT NOT NULL,
    valid_from REAL NOT NULL,
    valid_to REAL NOT NULL,
    doors TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    deleted_by TEXT,
    deleted_at REAL
);
CREATE INDEX IF NOT EXISTS visitor_passes_by_place ON visitor_passes(site, building, valid_to);
"""

_COLUMNS = (
    "id, site, building, credential, visitor, valid_from, valid_to, doors, created_by, created_at"
)


@dataclass(frozen=True)
class NewPass:
    site: str
    building: str
    credential: str
    visitor: str
    valid_from: float
    valid_to: float
    doors: tuple[str, ...]


@dataclass(frozen=True)
class PassRow:
    id: int
    site: str
    building: str
    credential: str
    visitor: str
    valid_from: float
    valid_to: float
    doors: tuple[str, ...]
    created_by: str
    created_at: float

    def directive(self) -> dict:
        """What the edge gets: the shape edge.rules.door_config.VisitorPass.from_dict reads."""
        return {
            "credential": self.credential,
            "visitor": self.visitor,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "doors": list(self.doors),
        }

    def to_dict(self, now: float) -> dict:
        return {
            "id": self.id,
            "site": self.site,
            "building": self.building,
            **self.directive(),
            "expired": self.valid_to <= now,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def _row(values: tuple) -> PassRow:
    *head, doors, created_by, created_at = values
    return PassRow(*head, tuple(orjson.loads(doors)), created_by, created_at)


def add_pass(db: sqlite3.Connection, new: NewPass, by: str, now: float) -> int:
    cursor = db.execute(
        "INSERT INTO visitor_passes(site, building, credential, visitor, valid_from, valid_to,"
        " doors, created_by, created_at) VALUES(?,?,?,?,?,?,?,?,?)",
        (
            new.site,
            new.building,
            new.credential,
            new.visitor,
            new.valid_from,
            new.valid_to,
            orjson.dumps(list(new.doors)).decode(),
            by,
            now,
        ),
    )
    return int(cursor.lastrowid or 0)


def get_pass(db: sqlite3.Connection, pass_id: int) -> PassRow | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM visitor_passes WHERE id=? AND deleted_at IS NULL", (pass_id,)
    ).fetchone()
    return None if row is None else _row(row)


def list_passes(
    db: sqlite3.Connection,
    site: str | None = None,
    building: str | None = None,
    credential: str | None = None,
) -> list[PassRow]:
    """Passes not deleted, newest first."""
    where, params = ["deleted_at IS NULL"], []
    for column, value in (("site", site), ("building", building), ("credential", credential)):
        if value is not None:
            where.append(f"{column}=?")
            params.append(value)
    sql = f"SELECT {_COLUMNS} FROM visitor_passes WHERE {' AND '.join(where)} ORDER BY id DESC"
    return [_row(r) for r in db.execute(sql, params)]


def delete_pass(db: sqlite3.Connection, pass_id: int, by: str, now: float) -> bool:
    """Withdraw a pass (kept for the audit trail); False when there is no such pass."""
    changed = db.execute(
        "UPDATE visitor_passes SET deleted_by=?, deleted_at=? WHERE id=? AND deleted_at IS NULL",
        (by, now, pass_id),
    ).rowcount
    return changed > 0


def passes_for_edge(
    db: sqlite3.Connection, site: str, buildings: Sequence[str] | None, now: float
) -> list[PassRow]:
    """Passes of the site (of these buildings; None: every building) not yet expired, in
    the order they were booked."""
    sql = (
        f"SELECT {_COLUMNS} FROM visitor_passes"
        " WHERE deleted_at IS NULL AND site=? AND valid_to > ?"
    )
    params: list[object] = [site, now]
    if buildings is not None:
        sql += f" AND building IN ({','.join('?' * len(buildings))})"
        params.extend(buildings)
    return [_row(r) for r in db.execute(sql + " ORDER BY id", params)]
