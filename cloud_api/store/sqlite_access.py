"""Access events (badges, doors, exit requests, checkpoint scans) from the events table.

The edge sends one event per AccessEvent: type "event", code = the kind, source = the
device, data = {door, credential, reason, device} (keys with no value left out) plus the
event's own details. They are stored as any event; this module queries them, with
indexes for the filters an investigation uses (a door, a card, a kind over time).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from cloud_api.store.keyset import newest_first_page
from device_profiles.wire_rules import ACCESS_KINDS

_WHO = ("door", "credential", "reason", "device")  # the fields every access event may carry

# The expressions must read exactly as in the queries for SQLite to use the indexes.
_DOOR = "json_extract(data, '$.door')"
_CREDENTIAL = "json_extract(data, '$.credential')"

_SCHEMA = f"""
CREATE INDEX IF NOT EXISTS events_by_code_ts ON events(code, ts);
CREATE INDEX IF NOT EXISTS events_by_door ON events({_DOOR}, ts);
CREATE INDEX IF NOT EXISTS events_by_credential ON events({_CREDENTIAL}, ts);
"""


def migrate(db: sqlite3.Connection) -> None:
    """Indexes on the events table (which must exist)."""
    db.executescript(_SCHEMA)


def list_access_events(
    db: sqlite3.Connection,
    *,
    site: str | None = None,
    building: str | None = None,
    door: str | None = None,
    credential: str | None = None,
    kinds: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
    limit: int = 1000,
    after: tuple[float, int] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Access events newest first (then highest id), start <= ts < end; at most `limit`,
    and the cursor of the next page (None on the last)."""
    kinds = tuple(kinds) if kinds else ACCESS_KINDS
    sql = (
        "SELECT id, ts, site, building, code, source, data FROM events"
        f" WHERE type = 'event' AND code IN ({','.join('?' * len(kinds))})"
    )
    params: list = list(kinds)
    for column, value in (
        ("site", site),
        ("building", building),
        (_DOOR, door),
        (_CREDENTIAL, credential),
    ):
        if value is not None:
            sql += f" AND {column} = ?"
            params.append(value)
    rows, cursor = newest_first_page(
        db, sql, params, "ts", start=start, end=end, after=after, limit=limit
    )
    page = []
    for _, ts, s, b, code, source, data in rows:
        details = orjson.loads(data)
        page.append(
            {
                "ts": ts,
                "site": s,
                "building": b,
                "kind": code,
                "device": details.get("device", source),
                "door": details.get("door"),
                "credential": details.get("credential"),
                "reason": details.get("reason"),
                "data": {k: v for k, v in details.items() if k not in _WHO},
            }
        )
    return page, cursor
