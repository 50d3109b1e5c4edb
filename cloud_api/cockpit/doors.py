"""Each door's state now, for the cockpit (GET /v1/cockpit/doors).

From the door's latest access events (store/sqlite_doors.py, filed at ingest) and its door
alarms (the edge's door rules raise door.forced and door.held_open with the door as the
source, and clear them when it closes):

    forced      door.forced is active, and no door.closed came at or after its raise
    held_open   door.held_open is active, the same (forced wins: it is the red one)
    open        the latest door.opened / door.closed is door.opened
    closed      ... is door.closed
    unknown     neither seen yet (only badges, exit requests or tamper at the door)

`since`: when that state began (the alarm's raise, or the opened / closed event's time;
null for unknown). `last_kind`: the kind of the door's latest access event of any kind.
A door is listed once an access event names it (a door alarm comes with its door.opened).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cloud_api.store import sqlite_alarms, sqlite_doors
from edge.rules.alarm_codes import DOOR_FORCED, DOOR_HELD_OPEN

_ALARM_STATES = ((DOOR_FORCED, "forced"), (DOOR_HELD_OPEN, "held_open"))
_POSITIONS = {sqlite_doors.OPENED: "open", sqlite_doors.CLOSED: "closed"}


def door_states(
    db: sqlite3.Connection, site: str | None = None, building: str | None = None
) -> list[dict[str, Any]]:
    """The doors of `site` / `building` (None: any) by site, building and door name.
    Alarms are read as stored: the caller applies time to them first (tick_alarms)."""
    rows = sqlite_doors.doors(db, site, building)
    alarms = sqlite_alarms.active_by_source(db, site, building, [code for code, _ in _ALARM_STATES])
    out = []
    for row in rows:
        state, since = _POSITIONS.get(row.position or "", "unknown"), row.position_ts
        closed_at = row.position_ts if row.position == sqlite_doors.CLOSED else None
        for code, alarm_state in _ALARM_STATES:
            raised = alarms.get((row.site, row.building, code, row.door))
            if raised is not None and (closed_at is None or closed_at < raised):
                state, since = alarm_state, raised
                break
        out.append(
            {
                "site": row.site,
                "building": row.building,
                "door": row.door,
                "state": state,
                "since": since,
                "last_kind": row.last_kind,
            }
        )
    return out
