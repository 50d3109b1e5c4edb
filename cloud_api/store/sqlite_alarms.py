"""Alarms in the SQLite store: one row per (site, building, code, source), and its log.

The lifecycle is edge/rules/alarms.py's (pure, shared with the edge); this module only
loads an Alarm from its row's snapshot, calls it, and writes the row and the
transitions back:
- the edges' alarm records (type "alarm", `active` true/false) arrive inside the ingest
  transaction (`apply_alarm_records`), which sees only the records stored now: a resent
  batch's records are skipped by the cursor, so each record changes an alarm once;
- people's actions (ack, shelve, unshelve, assign) go through `act`, by name;
- time (a shelf's expiry, the end of chattering) is applied lazily: `tick_due(now)`
  before every read and action, logged by "system".

An alarm's id is its row id: the same alarm across every raise and clear.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from cloud_api.store.base import EdgeIdentity, UnknownAlarmError
from cloud_api.store.keyset import newest_first_page
from edge.model import Colour, EventBatch, EventRecord
from edge.rules.alarm_codes import default_colour
from edge.rules.alarms import Alarm, AlarmConfig, State, Transition
from edge.rules.conditions import Condition

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms(
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    edge TEXT NOT NULL,          -- the edge that last reported it
    code TEXT NOT NULL,
    source TEXT NOT NULL,
    state TEXT NOT NULL,
    colour TEXT NOT NULL,
    active INTEGER NOT NULL,
    raised_at REAL NOT NULL,     -- the latest raise
    cleared_at REAL,
    acked_by TEXT,
    acked_at REAL,
    shelved_until REAL,          -- set while shelved: when the shelf expires
    chattering INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,    -- time of the latest transition
    snapshot TEXT NOT NULL,      -- Alarm.to_dict(): the lifecycle's whole state
    UNIQUE(site, building, code, source)
);
CREATE INDEX IF NOT EXISTS alarms_by_raised ON alarms(raised_at, id);
CREATE INDEX IF NOT EXISTS alarms_to_tick ON alarms(shelved_until) WHERE shelved_until IS NOT NULL;
CREATE INDEX IF NOT EXISTS alarms_chattering ON alarms(chattering) WHERE chattering = 1;
CREATE TABLE IF NOT EXISTS alarm_log(
    id INTEGER PRIMARY KEY,
    alarm_id INTEGER NOT NULL REFERENCES alarms(id),
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    by TEXT NOT NULL,
    ts REAL NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_log_by_alarm ON alarm_log(alarm_id, id);
"""

CONFIG = AlarmConfig()  # chattering: the lifecycle's defaults, as on the edge

ACTIONS = ("ack", "shelve", "unshelve", "assign")

_COLUMNS = "id, site, building, edge, snapshot"


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# ---------------------------------------------------------------------- rows


def _save(
    db: sqlite3.Connection,
    alarm_id: int | None,
    where: tuple[str, str, str],
    alarm: Alarm,
    transitions: Sequence[Transition],
) -> int:
    """Write the alarm's row (a new one when alarm_id is None) and its transitions."""
    site, building, edge = where
    columns = (
        alarm.state.value,
        alarm.colour.value,
        int(alarm.active),
        alarm.raised_at,
        alarm.cleared_at,
        alarm.acked_by,
        alarm.acked_at,
        alarm.shelved_until if alarm.state is State.SHELVED else None,
        int(alarm.chattering),
        max(t.ts for t in transitions),
        _json(alarm.to_dict()),
    )
    if alarm_id is None:
        alarm_id = db.execute(
            "INSERT INTO alarms(state, colour, active, raised_at, cleared_at, acked_by,"
            " acked_at, shelved_until, chattering, updated_at, snapshot, site, building,"
            " edge, code, source) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*columns, site, building, edge, alarm.code, alarm.source),
        ).lastrowid
    else:
        db.execute(
            "UPDATE alarms SET state=?, colour=?, active=?, raised_at=?, cleared_at=?,"
            " acked_by=?, acked_at=?, shelved_until=?, chattering=?, updated_at=?,"
            " snapshot=?, edge=? WHERE id=?",
            (*columns, edge, alarm_id),
        )
    db.executemany(
        "INSERT INTO alarm_log(alarm_id, action, from_state, to_state, by, ts, note)"
        " VALUES(?,?,?,?,?,?,?)",
        [
            (alarm_id, t.action, t.from_state.value, t.to_state.value, t.by, t.ts, t.note)
            for t in transitions
        ],
    )
    assert alarm_id is not None
    return alarm_id


def _load(snapshot: str) -> Alarm:
    return Alarm.from_dict(orjson.loads(snapshot))


# ---------------------------------------------------------------------- conditions


def _condition(record: EventRecord) -> Condition:
    colour = Colour(record.colour) if record.colour is not None else default_colour(record.code)
    return Condition(
        code=record.code,
        source=record.source,
        active=bool(record.active),
        ts=record.ts,
        colour=colour,
        message=record.message,
        data=dict(record.data),
    )


def apply_alarm_records(
    db: sqlite3.Connection, edge: EdgeIdentity, batch: EventBatch, records: Sequence[EventRecord]
) -> int:
    """Apply the alarm records among `records` (those stored now, in seq order) to their
    alarms, inside the caller's transaction. Returns the transitions written. A clear for
    an alarm never raised here changes nothing (there is nothing to clear)."""
    conditions = [_condition(r) for r in records if r.type == "alarm"]
    return apply_conditions(db, (batch.site, batch.building, edge.name), conditions)


def apply_conditions(
    db: sqlite3.Connection, where: tuple[str, str, str], conditions: Sequence[Condition]
) -> int:
    """Apply conditions (in time order) of one site and building to their alarms, inside
    the caller's transaction; `where` is (site, building, reporter): an edge's name, or
    "central" for the API's own rules (budgets, meter balance). Returns the transitions
    written."""
    site, building, _ = where
    # One load and one write per alarm per call, however many conditions it gets.
    touched: dict[tuple[str, str], tuple[int | None, Alarm, list[Transition]]] = {}
    for condition in conditions:
        key = (condition.code, condition.source)
        if key not in touched:
            row = db.execute(
                "SELECT id, snapshot FROM alarms WHERE site=? AND building=? AND code=?"
                " AND source=?",
                (site, building, *key),
            ).fetchone()
            if row is None and not condition.active:
                continue
            touched[key] = (None, Alarm(*key), []) if row is None else (row[0], _load(row[1]), [])
        _, alarm, transitions = touched[key]
        transitions.extend(alarm.apply(condition, CONFIG))
    written = 0
    for alarm_id, alarm, transitions in touched.values():
        if transitions:
            _save(db, alarm_id, where, alarm, transitions)
            written += len(transitions)
    return written


# ---------------------------------------------------------------------- time


def _due(db: sqlite3.Connection, now: float) -> list[tuple[int, str, str, str, str]]:
    return db.execute(
        f"SELECT {_COLUMNS} FROM alarms WHERE shelved_until <= ?"
        f" UNION SELECT {_COLUMNS} FROM alarms WHERE chattering = 1",
        (now,),
    ).fetchall()


def tick_pending(db: sqlite3.Connection, now: float) -> bool:
    """Whether tick_due(now) would change anything (read only: no write transaction for
    a read when no shelf has expired and no chattering has ended)."""
    return any(_load(row[4]).tick(now, CONFIG) for row in _due(db, now))


def tick_due(db: sqlite3.Connection, now: float) -> int:
    """Expire the shelves due at `now` and end chattering that has stopped; returns the
    transitions written (by "system")."""
    written = 0
    for alarm_id, site, building, edge, snapshot in _due(db, now):
        alarm = _load(snapshot)
        transitions = alarm.tick(now, CONFIG)
        if transitions:
            _save(db, alarm_id, (site, building, edge), alarm, transitions)
            written += len(transitions)
    return written


# ---------------------------------------------------------------------- people


def act(
    db: sqlite3.Connection,
    alarm_id: int,
    action: str,
    user: str,
    now: float,
    note: str = "",
    until: float | None = None,
    assignee: str | None = None,
) -> dict[str, Any]:
    """One person's action on one alarm (and on no other); the alarm afterwards.
    UnknownAlarmError: no such id; InvalidTransition: its state does not allow it;
    ValueError: a bad argument (a shelf's end not after now, a blank assignee)."""
    row = db.execute(f"SELECT {_COLUMNS} FROM alarms WHERE id=?", (alarm_id,)).fetchone()
    if row is None:
        raise UnknownAlarmError(f"no alarm with id {alarm_id}")
    _, site, building, edge, snapshot = row
    alarm = _load(snapshot)
    if action == "ack":
        transition = alarm.ack(user, now, note)
    elif action == "shelve":
        if until is None:
            raise ValueError("shelve needs an end (until)")
        transition = alarm.shelve(user, until, now, note)
    elif action == "unshelve":
        transition = alarm.unshelve(user, now, note)
    elif action == "assign":
        transition = alarm.assign(user, assignee, now, note)
    else:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
    _save(db, alarm_id, (site, building, edge), alarm, [transition])
    return _out(alarm_id, site, building, alarm)


# ---------------------------------------------------------------------- queries


def _out(alarm_id: int, site: str, building: str, alarm: Alarm) -> dict[str, Any]:
    return {
        "id": alarm_id,
        "site": site,
        "building": building,
        "code": alarm.code,
        "source": alarm.source,
        "colour": alarm.colour.value,
        "state": alarm.state.value,
        "active": alarm.active,
        "raised_at": alarm.raised_at,
        "cleared_at": alarm.cleared_at,
        "acked_by": alarm.acked_by,
        "acked_at": alarm.acked_at,
        "shelved_until": alarm.shelved_until,
        "assignee": alarm.assignee,
        "raise_count": alarm.raise_count,
        "chattering": alarm.chattering,
        "message": alarm.message,
        "data": alarm.data,
    }


def _any_of(column: str, values: Sequence[str] | None) -> tuple[str, tuple]:
    if not values:
        return "", ()
    return f" AND {column} IN ({','.join('?' * len(values))})", tuple(values)


def list_alarms(
    db: sqlite3.Connection,
    *,
    site: str | None = None,
    building: str | None = None,
    codes: Sequence[str] | None = None,
    states: Sequence[str] | None = None,
    colours: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    limit: int = 100,
    after: tuple[float, int] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Alarms newest raise first (then highest id), start <= raised_at < end; at most
    `limit`, and the cursor of the next page (None on the last)."""
    sql = "SELECT id, raised_at, site, building, snapshot FROM alarms WHERE 1=1"
    params: list = []
    for column, value in (("site", site), ("building", building)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    for column, values in (("code", codes), ("state", states), ("colour", colours)):
        clause, more = _any_of(column, values)
        sql += clause
        params.extend(more)
    rows, cursor = newest_first_page(
        db, sql, params, "raised_at", start=start, end=end, after=after, limit=limit
    )
    return [_out(r[0], r[2], r[3], _load(r[4])) for r in rows], cursor


def get_alarm(db: sqlite3.Connection, alarm_id: int) -> dict[str, Any] | None:
    """One alarm and its history (oldest transition first); None when there is none."""
    row = db.execute(
        "SELECT id, site, building, snapshot FROM alarms WHERE id=?", (alarm_id,)
    ).fetchone()
    if row is None:
        return None
    history = [
        {"action": a, "from": f, "to": t, "by": by, "ts": ts, "note": note}
        for a, f, t, by, ts, note in db.execute(
            "SELECT action, from_state, to_state, by, ts, note FROM alarm_log"
            " WHERE alarm_id=? ORDER BY id",
            (alarm_id,),
        )
    ]
    return {**_out(row[0], row[1], row[2], _load(row[3])), "history": history}


def open_by_colour(db: sqlite3.Connection, site: str, building: str) -> dict[str, int]:
    """How many alarms of the building are in a state other than normal, by colour (the
    alarms GET /v1/alarms?site&building&state=<every state but normal> lists)."""
    rows = db.execute(
        "SELECT colour, count(*) FROM alarms WHERE site = ? AND building = ?"
        " AND state != ? GROUP BY colour",
        (site, building, State.NORMAL.value),
    )
    return {colour: n for colour, n in rows}


def active_by_source(
    db: sqlite3.Connection, site: str | None, building: str | None, codes: Sequence[str]
) -> dict[tuple[str, str, str, str], float]:
    """(site, building, code, source) -> raised_at of the alarms of `codes` whose condition
    is active, in `site` and `building` (None: any)."""
    sql = (
        "SELECT site, building, code, source, raised_at FROM alarms WHERE active = 1"
        f" AND code IN ({','.join('?' * len(codes))})"
    )
    params: list = list(codes)
    for column, value in (("site", site), ("building", building)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    return {(s, b, c, src): raised for s, b, c, src, raised in db.execute(sql, params)}
