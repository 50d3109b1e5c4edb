"""Operator overrides of HVAC points, set through the API and pulled by the edges as
directives (the edge writes them at priority 8, OPERATOR, until `until`).

An override is active until `until` (then expired) or until an operator releases it. A
released override keeps its row (released_at, released_by). Creating and releasing each
add an entry to the control audit log (kind "override.create" / "override.release",
sqlite_control.py) in the same transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cloud_api.store.sqlite_control import AuditEntry, add_audit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS control_overrides(
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    device TEXT NOT NULL,
    point TEXT NOT NULL,
    value REAL NOT NULL,
    minutes INTEGER NOT NULL,
    until REAL NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    released_by TEXT,
    released_at REAL
);
CREATE INDEX IF NOT EXISTS control_overrides_by_place ON control_overrides(site, building, until);
"""

_COLUMNS = (
    "id, site, building, device, point, value, minutes, until, reason, created_by, created_at,"
    " released_by, released_at"
)
State = Literal["active", "released", "expired"]


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


@dataclass(frozen=True)
class NewOverride:
    site: str
    building: str
    device: str
    point: str
    value: float
    minutes: int
    reason: str


@dataclass(frozen=True)
class OverrideRow:
    id: int
    site: str
    building: str
    device: str
    point: str
    value: float
    minutes: int
    until: float
    reason: str
    created_by: str
    created_at: float
    released_by: str | None
    released_at: float | None

    def state(self, now: float) -> State:
        if self.released_at is not None:
            return "released"
        return "active" if self.until > now else "expired"

    def directive(self) -> dict[str, Any]:
        """What the edge gets (the contract's directive `overrides` item)."""
        return {
            "id": self.id,
            "device": self.device,
            "point": self.point,
            "value": self.value,
            "until": self.until,
            "reason": self.reason,
            "by": self.created_by,
        }

    def to_dict(self, now: float) -> dict[str, Any]:
        state = self.state(now)
        return {
            **self.directive(),
            "site": self.site,
            "building": self.building,
            "minutes": self.minutes,
            "created_at": self.created_at,
            "state": state,
            "expires_in_s": self.until - now if state == "active" else None,
            "released_by": self.released_by,
            "released_at": self.released_at,
        }


def _audit(db: sqlite3.Connection, row: OverrideRow, kind: str, by: str, at: float) -> None:
    add_audit(
        db,
        AuditEntry(
            row.site,
            row.building,
            None,
            at,
            kind,
            row.device,
            row.point,
            {
                "override": row.id,
                "until": row.until,
                "minutes": row.minutes,
                "created_by": row.created_by,
            },
            value=row.value,
            slot=8,  # edge.control.priority.OPERATOR
            owner=by,  # who acted: the creator, or who released it
            reason=row.reason,
        ),
    )


def add_override(db: sqlite3.Connection, new: NewOverride, by: str, now: float) -> OverrideRow:
    cursor = db.execute(
        "INSERT INTO control_overrides(site, building, device, point, value, minutes, until,"
        " reason, created_by, created_at) VALUES(?,?,?,?,?,?,?,?,?,?)",
        (
            new.site,
            new.building,
            new.device,
            new.point,
            new.value,
            new.minutes,
            now + 60.0 * new.minutes,
            new.reason,
            by,
            now,
        ),
    )
    row = get_override(db, int(cursor.lastrowid or 0))
    assert row is not None  # inserted just now, in this transaction
    _audit(db, row, "override.create", by, now)
    return row


def get_override(db: sqlite3.Connection, override_id: int) -> OverrideRow | None:
    row = db.execute(
        f"SELECT {_COLUMNS} FROM control_overrides WHERE id = ?", (override_id,)
    ).fetchone()
    return None if row is None else OverrideRow(*row)


def release_override(db: sqlite3.Connection, row: OverrideRow, by: str, now: float) -> OverrideRow:
    """Release an active override (the caller checked it is active)."""
    db.execute(
        "UPDATE control_overrides SET released_by = ?, released_at = ? WHERE id = ?",
        (by, now, row.id),
    )
    released = get_override(db, row.id)
    assert released is not None
    _audit(db, released, "override.release", by, now)
    return released


def list_overrides(
    db: sqlite3.Connection,
    site: str | None,
    building: str | None,
    active_at: float | None = None,
) -> list[OverrideRow]:
    """Overrides newest first; active_at: only those active then."""
    sql, params = f"SELECT {_COLUMNS} FROM control_overrides WHERE 1=1", []
    for column, value in (("site", site), ("building", building)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    if active_at is not None:
        sql += " AND released_at IS NULL AND until > ?"
        params.append(active_at)
    return [OverrideRow(*r) for r in db.execute(sql + " ORDER BY id DESC", params)]


def overrides_for_edge(
    db: sqlite3.Connection, site: str, buildings: Sequence[str] | None, now: float
) -> list[OverrideRow]:
    """Active overrides of the site (of these buildings; None: every building), oldest
    first."""
    sql = (
        f"SELECT {_COLUMNS} FROM control_overrides"
        " WHERE released_at IS NULL AND site = ? AND until > ?"
    )
    params: list[object] = [site, now]
    if buildings is not None:
        sql += f" AND building IN ({','.join('?' * len(buildings))})"
        params.extend(buildings)
    return [OverrideRow(*r) for r in db.execute(sql + " ORDER BY id", params)]
