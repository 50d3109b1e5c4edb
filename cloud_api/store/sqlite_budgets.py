"""Energy budgets and energy contracts in the SQLite store, with their audit trail.

Both are set by an energy manager through the API (PUT, by id). Every write keeps the
whole new body in a log row with who and when (`energy_plan_log`), so what a budget said
last March can be read back. A budget also keeps the colour its latest evaluation gave
(`budget_colour`), so the evaluator raises and clears alarms on changes only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS energy_plans(
    kind TEXT NOT NULL,            -- budget | contract
    id TEXT NOT NULL,
    body TEXT NOT NULL,            -- the validated body as JSON (routers/budgets.py ...)
    version INTEGER NOT NULL,      -- 1, 2, ...: one more at every PUT
    updated_by TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY(kind, id)
);
CREATE TABLE IF NOT EXISTS energy_plan_log(
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    by TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS energy_plan_log_by_id ON energy_plan_log(kind, id, seq);
CREATE TABLE IF NOT EXISTS budget_colour(
    budget_id TEXT PRIMARY KEY,
    period_start REAL NOT NULL,    -- the period the colour is for
    colour TEXT NOT NULL,
    evaluated_at REAL NOT NULL
);
"""


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


@dataclass(frozen=True)
class PlanRow:
    kind: str
    id: str
    body: dict[str, Any]
    version: int
    updated_by: str
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """As the API shows it: the id, the body, and who set this version when."""
        return {
            "id": self.id,
            **self.body,
            "version": self.version,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


def put_plan(
    db: sqlite3.Connection, kind: str, plan_id: str, body: dict, by: str, at: float
) -> PlanRow:
    """Create or replace a plan; the log keeps every version."""
    row = db.execute(
        "SELECT version FROM energy_plans WHERE kind=? AND id=?", (kind, plan_id)
    ).fetchone()
    version = 1 if row is None else row[0] + 1
    text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
    db.execute(
        "INSERT INTO energy_plans(kind, id, body, version, updated_by, updated_at)"
        " VALUES(?,?,?,?,?,?) ON CONFLICT(kind, id) DO UPDATE SET body=excluded.body,"
        " version=excluded.version, updated_by=excluded.updated_by,"
        " updated_at=excluded.updated_at",
        (kind, plan_id, text, version, by, at),
    )
    db.execute(
        "INSERT INTO energy_plan_log(kind, id, version, body, by, at) VALUES(?,?,?,?,?,?)",
        (kind, plan_id, version, text, by, at),
    )
    return PlanRow(kind, plan_id, body, version, by, at)


def get_plan(db: sqlite3.Connection, kind: str, plan_id: str) -> PlanRow | None:
    row = db.execute(
        "SELECT body, version, updated_by, updated_at FROM energy_plans WHERE kind=? AND id=?",
        (kind, plan_id),
    ).fetchone()
    if row is None:
        return None
    return PlanRow(kind, plan_id, orjson.loads(row[0]), row[1], row[2], row[3])


def list_plans(db: sqlite3.Connection, kind: str) -> list[PlanRow]:
    rows = db.execute(
        "SELECT id, body, version, updated_by, updated_at FROM energy_plans WHERE kind=?"
        " ORDER BY id",
        (kind,),
    ).fetchall()
    return [PlanRow(kind, r[0], orjson.loads(r[1]), r[2], r[3], r[4]) for r in rows]


def plan_history(db: sqlite3.Connection, kind: str, plan_id: str) -> list[dict]:
    rows = db.execute(
        "SELECT version, body, by, at FROM energy_plan_log WHERE kind=? AND id=? ORDER BY seq",
        (kind, plan_id),
    ).fetchall()
    return [{"version": r[0], "body": orjson.loads(r[1]), "by": r[2], "at": r[3]} for r in rows]


class SavedColour(NamedTuple):
    period_start: float  # the period the colour is for
    colour: str
    evaluated_at: float  # when the evaluator gave it (it saves changes only)


def last_colour(db: sqlite3.Connection, budget_id: str) -> SavedColour | None:
    row = db.execute(
        "SELECT period_start, colour, evaluated_at FROM budget_colour WHERE budget_id=?",
        (budget_id,),
    ).fetchone()
    return None if row is None else SavedColour(*row)


def save_colour(
    db: sqlite3.Connection, budget_id: str, period_start: float, colour: str, at: float
) -> None:
    db.execute(
        "INSERT INTO budget_colour(budget_id, period_start, colour, evaluated_at)"
        " VALUES(?,?,?,?) ON CONFLICT(budget_id) DO UPDATE SET"
        " period_start=excluded.period_start, colour=excluded.colour,"
        " evaluated_at=excluded.evaluated_at",
        (budget_id, period_start, colour, at),
    )
