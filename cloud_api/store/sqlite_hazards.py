"""The hazard ledger: hazards and their audit log (hazard_log), in the SQLite store.

State changes go through cloud_api.hazards.transition() (pure) and are written with their
log row in the caller's transaction, so the ledger and its audit never disagree.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from cloud_api import hazards
from cloud_api.hazards import HazardState, Transition

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hazards(
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    location TEXT NOT NULL,
    description TEXT NOT NULL,
    severity TEXT NOT NULL,
    deadline REAL NOT NULL,
    photo_url TEXT,
    alarm_id INTEGER,
    state TEXT NOT NULL,
    assignee TEXT,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS hazards_by_place ON hazards(site, building);
CREATE TABLE IF NOT EXISTS hazard_log(
    id INTEGER PRIMARY KEY,
    hazard_id INTEGER NOT NULL REFERENCES hazards(id),
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    by TEXT NOT NULL,
    ts REAL NOT NULL,
    note TEXT,
    assignee TEXT
);
CREATE INDEX IF NOT EXISTS hazard_log_by_hazard ON hazard_log(hazard_id, id);
"""

_COLUMNS = (
    "id, site, building, location, description, severity, deadline, photo_url, alarm_id,"
    " state, assignee, created_by, created_at, updated_at"
)


@dataclass(frozen=True)
class NewHazard:
    site: str
    building: str
    location: str
    description: str
    severity: str
    deadline: float
    photo_url: str | None = None
    alarm_id: int | None = None


@dataclass(frozen=True)
class HazardRow:
    id: int
    site: str
    building: str
    location: str
    description: str
    severity: str
    deadline: float
    photo_url: str | None
    alarm_id: int | None
    state: HazardState
    assignee: str | None
    created_by: str
    created_at: float
    updated_at: float

    def to_dict(self, now: float) -> dict:
        grade, grade_colour = hazards.SEVERITY_GRADES[hazards.Severity(self.severity)]
        return {
            "id": self.id,
            "site": self.site,
            "building": self.building,
            "location": self.location,
            "description": self.description,
            "severity": self.severity,
            "severity_grade": grade,
            "severity_colour": grade_colour,
            "deadline": self.deadline,
            "photo_url": self.photo_url,
            "alarm_id": self.alarm_id,
            "state": self.state.value,
            "assignee": self.assignee,
            "colour": hazards.colour(self.severity, self.deadline, self.state, now),
            "overdue": self.state not in hazards.DONE and now > self.deadline,
            "allowed": hazards.allowed_actions(self.state),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def _row(values: tuple) -> HazardRow:
    *head, state, assignee, created_by, created_at, updated_at = values
    return HazardRow(*head, HazardState(state), assignee, created_by, created_at, updated_at)


def _log(db: sqlite3.Connection, hazard_id: int, step: Transition) -> None:
    db.execute(
        "INSERT INTO hazard_log(hazard_id, action, from_state, to_state, by, ts, note, assignee)"
        " VALUES(?,?,?,?,?,?,?,?)",
        (
            hazard_id,
            step.action,
            step.from_state,
            step.to_state,
            step.by,
            step.ts,
            step.note,
            step.assignee,
        ),
    )


def create_hazard(db: sqlite3.Connection, new: NewHazard, by: str, now: float) -> int:
    """Register a hazard (state found, logged as "create"); its id."""
    step = hazards.found(by, now)
    cursor = db.execute(
        "INSERT INTO hazards(site, building, location, description, severity, deadline,"
        " photo_url, alarm_id, state, created_by, created_at, updated_at)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            new.site,
            new.building,
            new.location,
            new.description,
            new.severity,
            new.deadline,
            new.photo_url,
            new.alarm_id,
            step.to_state,
            by,
            now,
            now,
        ),
    )
    hazard_id = int(cursor.lastrowid or 0)
    _log(db, hazard_id, step)
    return hazard_id


def get_hazard(db: sqlite3.Connection, hazard_id: int) -> HazardRow | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM hazards WHERE id=?", (hazard_id,)).fetchone()
    return None if row is None else _row(row)


def list_hazards(
    db: sqlite3.Connection,
    state: str | None = None,
    site: str | None = None,
    building: str | None = None,
) -> list[HazardRow]:
    """The ledger, newest first (colour is the caller's: it depends on the time of reading)."""
    where, params = [], []
    for column, value in (("state", state), ("site", site), ("building", building)):
        if value is not None:
            where.append(f"{column}=?")
            params.append(value)
    sql = f"SELECT {_COLUMNS} FROM hazards"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [_row(r) for r in db.execute(sql + " ORDER BY id DESC", params)]


def history(db: sqlite3.Connection, hazard_id: int) -> list[dict]:
    rows = db.execute(
        "SELECT action, by, ts, from_state, to_state, note, assignee FROM hazard_log"
        " WHERE hazard_id=? ORDER BY id",
        (hazard_id,),
    )
    return [
        Transition(action, by, ts, from_state and HazardState(from_state), HazardState(to),
                   note, assignee).to_dict()
        for action, by, ts, from_state, to, note, assignee in rows
    ]  # fmt: skip


def act(
    db: sqlite3.Connection,
    hazard_id: int,
    action: str,
    by: str,
    now: float,
    note: str | None = None,
    assignee: str | None = None,
) -> Transition | None:
    """Take `action` on the hazard (in the caller's transaction) and log it; None when
    there is no such hazard. Raises what hazards.transition() raises."""
    found = get_hazard(db, hazard_id)
    if found is None:
        return None
    step = hazards.transition(found.state, action, by, now, note, assignee)
    new_assignee = step.assignee if step.action == hazards.Action.ASSIGN else found.assignee
    db.execute(
        "UPDATE hazards SET state=?, assignee=?, updated_at=? WHERE id=?",
        (step.to_state, new_assignee, now, hazard_id),
    )
    _log(db, hazard_id, step)
    return step


def alarm_place(db: sqlite3.Connection, alarm_id: int) -> tuple[str, str, str, str] | None:
    """(site, building, source, code) of an alarm, for a hazard raised from it; None when
    there is no such alarm. LookupError when this store records no alarms at all (the
    alarms table belongs to cloud_api/store/sqlite_alarms.py)."""
    has_table = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alarms'"
    ).fetchone()
    if has_table is None:
        raise LookupError("this API records no alarms (no alarms table)")
    row = db.execute(
        "SELECT site, building, source, code FROM alarms WHERE id=?", (alarm_id,)
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3])
