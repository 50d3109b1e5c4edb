"""HVAC control, filed at ingest from the edges' control.* events: each priority slot's
latest command, and the control audit log.

`control_commands`: one row per (site, building, edge, device, point, slot), the state
the latest `control.command` event gave it (the newest ts wins; a tie: the later record),
so a late older event never overwrites a newer state.

`control_audit`: one row per control.write, control.command, control.shed,
control.release and control.futile event, and per operator override created or released
through the API (kind "override.create" / "override.release", edge NULL; see
sqlite_overrides.py). Read newest first.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from cloud_api.store.event_fields import UnusableData, flag, integer, number, one_of, text
from cloud_api.store.keyset import newest_first_page
from edge.model import EventBatch, EventRecord

COMMAND_CODE = "control.command"
WRITE_CODE = "control.write"
LIMITER_CODES = ("control.shed", "control.release", "control.futile")
AUDITED_CODES = (COMMAND_CODE, WRITE_CODE, *LIMITER_CODES)
COMMAND_STATES = ("active", "released", "expired", "link_lost", "replaced")
MODES = ("control", "advise")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS control_commands(
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    edge TEXT NOT NULL,
    device TEXT NOT NULL,
    point TEXT NOT NULL,
    slot INTEGER NOT NULL,
    slot_name TEXT NOT NULL,
    owner TEXT NOT NULL,
    value REAL,                  -- NULL unless state is active
    lease_until REAL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,         -- active | released | expired | link_lost | replaced
    updated_at REAL NOT NULL,    -- ts of the event that wrote it
    PRIMARY KEY(site, building, edge, device, point, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS control_audit(
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    edge TEXT,                   -- NULL: written by the API (an operator override)
    ts REAL NOT NULL,
    kind TEXT NOT NULL,          -- the event code, or override.create / override.release
    device TEXT NOT NULL,
    point TEXT,
    mode TEXT,
    value REAL,
    before REAL,
    read_back REAL,
    verified INTEGER,
    slot INTEGER,
    owner TEXT,
    reason TEXT,
    data TEXT NOT NULL           -- the event's data as sent (the override, for overrides)
);
CREATE INDEX IF NOT EXISTS control_audit_by_place ON control_audit(site, building, ts);
CREATE INDEX IF NOT EXISTS control_audit_by_device ON control_audit(device, ts);
"""


def migrate(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


@dataclass(frozen=True)
class AuditEntry:
    site: str
    building: str
    edge: str | None
    ts: float
    kind: str
    device: str
    point: str | None
    data: dict[str, Any]
    mode: str | None = None
    value: float | None = None
    before: float | None = None
    read_back: float | None = None
    verified: bool | None = None
    slot: int | None = None
    owner: str | None = None
    reason: str | None = None


def add_audit(db: sqlite3.Connection, entry: AuditEntry) -> None:
    db.execute(
        "INSERT INTO control_audit(site, building, edge, ts, kind, device, point, mode, value,"
        " before, read_back, verified, slot, owner, reason, data)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            entry.site,
            entry.building,
            entry.edge,
            entry.ts,
            entry.kind,
            entry.device,
            entry.point,
            entry.mode,
            entry.value,
            entry.before,
            entry.read_back,
            None if entry.verified is None else int(entry.verified),
            entry.slot,
            entry.owner,
            entry.reason,
            orjson.dumps(entry.data, option=orjson.OPT_SORT_KEYS).decode(),
        ),
    )


def _slot(data: dict, nullable: bool) -> int | None:
    slot = integer(data, "slot", nullable=nullable)
    if slot is not None and not 1 <= slot <= 16:
        raise UnusableData(f"data.slot must be a priority 1..16, got {slot}")
    return slot


def _write_entry(edge: str, batch: EventBatch, record: EventRecord) -> AuditEntry:
    data = record.data
    clamped = data.get("clamped", [])
    if not isinstance(clamped, list) or not all(isinstance(c, str) for c in clamped):
        raise UnusableData(f"data.clamped must be a list of strings, got {clamped!r}")
    return AuditEntry(
        batch.site,
        batch.building,
        edge,
        record.ts,
        record.code,
        text(data, "device"),  # type: ignore[arg-type]
        text(data, "point"),
        data,
        mode=one_of(data, "mode", MODES),
        value=number(data, "value"),
        before=number(data, "before", nullable=True),
        read_back=number(data, "read_back", nullable=True),
        verified=flag(data, "verified", nullable=True),
        slot=_slot(data, nullable=True),
        owner=text(data, "owner"),
        reason=text(data, "reason"),
    )


def _limiter_entry(edge: str, batch: EventBatch, record: EventRecord) -> AuditEntry:
    data = record.data
    number(data, "setup_k")
    text(data, "state")
    return AuditEntry(
        batch.site,
        batch.building,
        edge,
        record.ts,
        record.code,
        text(data, "zone"),  # type: ignore[arg-type]
        None,
        data,
        reason=text(data, "reason"),
    )


def _file_command(
    db: sqlite3.Connection, edge: str, batch: EventBatch, record: EventRecord
) -> AuditEntry:
    data = record.data
    state = one_of(data, "state", COMMAND_STATES)
    value = number(data, "value", nullable=state != "active")
    row = (
        batch.site,
        batch.building,
        edge,
        text(data, "device"),
        text(data, "point"),
        _slot(data, nullable=False),
        text(data, "slot_name"),
        text(data, "owner"),
        value,
        number(data, "lease_until", nullable=True),
        text(data, "reason"),
        state,
        record.ts,
    )
    db.execute(
        "INSERT INTO control_commands(site, building, edge, device, point, slot, slot_name,"
        " owner, value, lease_until, reason, state, updated_at)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(site, building, edge, device, point, slot) DO UPDATE SET"
        " slot_name=excluded.slot_name, owner=excluded.owner, value=excluded.value,"
        " lease_until=excluded.lease_until, reason=excluded.reason, state=excluded.state,"
        " updated_at=excluded.updated_at"
        " WHERE excluded.updated_at >= control_commands.updated_at",
        row,
    )
    _, _, _, device, point, slot, _, owner, _, _, reason, _, _ = row
    return AuditEntry(
        batch.site,
        batch.building,
        edge,
        record.ts,
        record.code,
        device,  # type: ignore[arg-type]
        point,
        data,
        value=value,
        slot=slot,
        owner=owner,
        reason=reason,
    )


def file_control_event(
    db: sqlite3.Connection, edge: str, batch: EventBatch, record: EventRecord
) -> None:
    """File one control.* event (inside the ingest transaction); UnusableData, before
    anything is written, when its data lacks a field of the contract."""
    if record.code == COMMAND_CODE:
        # Every field is checked before the upsert, so an unusable command writes nothing.
        entry = _file_command(db, edge, batch, record)
    elif record.code == WRITE_CODE:
        entry = _write_entry(edge, batch, record)
    else:
        entry = _limiter_entry(edge, batch, record)
    add_audit(db, entry)


# ------------------------------------------------------------------ reads


def _place(site: str | None, building: str | None) -> tuple[str, list]:
    sql, params = "", []
    for column, value in (("site", site), ("building", building)):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    return sql, params


def list_commands(
    db: sqlite3.Connection, site: str | None, building: str | None, active_only: bool, now: float
) -> list[dict[str, Any]]:
    """Each slot's latest command (active only: those the edge last reported active), by
    site, building, device, point and slot; expires_in_s = lease_until - now (negative: the
    lease has passed on the API's clock and the edge has not reported it ended yet)."""
    where, params = _place(site, building)
    if active_only:
        where += " AND state = 'active'"
    rows = db.execute(
        "SELECT site, building, edge, device, point, slot, slot_name, owner, value,"
        " lease_until, reason, state, updated_at FROM control_commands WHERE 1=1"
        f"{where} ORDER BY site, building, device, point, slot",
        params,
    ).fetchall()
    out = []
    for s, b, e, device, point, slot, slot_name, owner, value, lease, reason, state, at in rows:
        out.append(
            {
                "site": s,
                "building": b,
                "edge": e,
                "device": device,
                "point": point,
                "slot": slot,
                "slot_name": slot_name,
                "owner": owner,
                "value": value,
                "lease_until": lease,
                "expires_in_s": None if lease is None else lease - now,
                "reason": reason,
                "state": state,
                "updated_at": at,
            }
        )
    return out


def list_audit(
    db: sqlite3.Connection,
    *,
    site: str | None,
    building: str | None,
    device: str | None,
    start: float | None,
    end: float | None,
    limit: int,
    after: tuple[float, int] | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Audit entries newest first (then highest id), start <= ts < end."""
    where, params = _place(site, building)
    if device is not None:
        where += " AND device = ?"
        params.append(device)
    sql = (
        "SELECT id, ts, site, building, edge, kind, device, point, mode, value, before,"
        f" read_back, verified, slot, owner, reason, data FROM control_audit WHERE 1=1{where}"
    )
    rows, cursor = newest_first_page(
        db, sql, params, "ts", start=start, end=end, after=after, limit=limit
    )
    names = [
        "ts",
        "site",
        "building",
        "edge",
        "kind",
        "device",
        "point",
        "mode",
        "value",
        "before",
        "read_back",
        "verified",
        "slot",
        "owner",
        "reason",
    ]
    page = []
    for row in rows:
        entry = dict(zip(names, row[1:-1], strict=True))
        entry["verified"] = None if entry["verified"] is None else bool(entry["verified"])
        entry["data"] = orjson.loads(row[-1])
        page.append(entry)
    return page, cursor
