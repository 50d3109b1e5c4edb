"""Tables derived at ingest from the demand, control and door events (issues 9, 10).

Every event is kept in the events table as before. Within the same transaction, the
demand.block events fill `demand_blocks` (sqlite_demand.py), the control.* events fill
`control_commands` and `control_audit` (sqlite_control.py), and the access events with a
door fill `door_state` (sqlite_doors.py). Only records stored now reach
here (a retry's duplicates are skipped by the cursor), so a re-delivered batch files
nothing twice.

An event whose data does not have the contract's shape stays an event and is not filed:
it is logged and counted (sqlite_derived_skips.py), and the rest of the batch goes on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from cloud_api.store import sqlite_control, sqlite_demand, sqlite_derived_skips, sqlite_doors
from cloud_api.store.event_fields import UnusableData
from edge.model import EventBatch, EventRecord


def migrate(db: sqlite3.Connection) -> None:
    sqlite_derived_skips.migrate(db)
    sqlite_demand.migrate(db)
    sqlite_control.migrate(db)
    sqlite_doors.migrate(db)


def apply_derived_records(
    db: sqlite3.Connection, edge: str, batch: EventBatch, records: Sequence[EventRecord]
) -> None:
    """File the demand, control and door events among `records` (inside the ingest
    transaction)."""
    sqlite_doors.apply_door_records(db, batch, records)
    for record in records:
        if record.type != "event":
            continue
        try:
            if record.code == sqlite_demand.BLOCK_CODE:
                sqlite_demand.file_block(db, edge, batch, record)
            elif record.code in sqlite_control.AUDITED_CODES:
                sqlite_control.file_control_event(db, edge, batch, record)
        except UnusableData as e:
            sqlite_derived_skips.note_skipped(db, edge, batch, record, str(e))
