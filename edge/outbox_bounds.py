"""The outbox's bounds, drops and space reclaim: short steps, each drop counted and logged.

Split from ``edge/outbox.py`` (which keeps the lanes, numbering, peek and ack). Every
function here takes the outbox's open SQLite connection; those that change rows run
inside the caller's transaction, so a drop and its counters commit together.

What is bounded, and what goes first when a bound is hit:
- readings lane: points and/or bytes; the oldest readings go (reason ``full``);
- events lane: records and/or bytes; the oldest plain events go (``events_full``); an
  alarm in the dropped range is moved to the lane's tail instead (new seq, same body and
  timestamp), so the lane stays one contiguous run of seq numbers; only a lane holding
  nothing but alarms loses alarms (``alarms_full``, logged as an ERROR);
- dead letters (the ``quarantined`` table): a record count; the oldest go
  (``dead_letters_full``).
Each call deletes at most a bounded number of rows (``budget``), so a full outbox never
holds up the acquisition loop that appends to it; what is left over is dropped by the
next calls. Every drop is counted by lane and reason in the ``drops`` table (kept across
restarts, reported upstream with every batch) and logged.

Space: new files use ``auto_vacuum=INCREMENTAL`` and :func:`vacuum_step` gives free pages
back a few at a time; a file made before that (``auto_vacuum=NONE``) is switched with one
VACUUM, done only while its content is small (a VACUUM copies all of it).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

import orjson

log = logging.getLogger("edge.outbox")

# ---------------------------------------------------------------- migration block (robust)
# Additive only, idempotent, run at every open after the base schema. Kept apart from the
# base schema so other changes to the outbox's tables do not collide with these.
_MIGRATION = """
CREATE TABLE IF NOT EXISTS drops(
    lane TEXT NOT NULL,
    reason TEXT NOT NULL,
    records INTEGER NOT NULL DEFAULT 0,
    points INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (lane, reason)
) WITHOUT ROWID;
-- Plain events (not alarms) by seq: "is there any plain event left?" without a scan.
CREATE INDEX IF NOT EXISTS events_plain ON events(seq) WHERE alarm = 0;
"""


def migrate(db: sqlite3.Connection) -> None:
    """Add this module's column, table and index to an outbox file (idempotent)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    if "alarm" not in columns:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("ALTER TABLE events ADD COLUMN alarm INTEGER NOT NULL DEFAULT 0")
            # One-time: mark the alarms an older version stored (the events lane is small).
            db.execute(
                "UPDATE events SET alarm = 1 "
                """WHERE CAST(body AS TEXT) LIKE '%"type":"alarm"%'"""
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    db.executescript(_MIGRATION)


def is_alarm(body: bytes) -> int:
    """1 if a stored events-lane body is an alarm (bodies are the wire JSON of an Event)."""
    return 1 if orjson.loads(body).get("type") == "alarm" else 0


# ---------------------------------------------------------------- counting drops


def count_drop(db: sqlite3.Connection, lane: str, reason: str, records: int, points: int) -> None:
    db.execute(
        "INSERT INTO drops(lane, reason, records, points) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(lane, reason) DO UPDATE SET records = records + excluded.records, "
        "points = points + excluded.points",
        (lane, reason, records, points),
    )


def drops(db: sqlite3.Connection, lane: str) -> dict[str, int]:
    """Records dropped from ``lane`` (its queue, its dead letters) since the file was
    created, by reason."""
    rows = db.execute(
        "SELECT reason, records FROM drops WHERE lane = ? ORDER BY reason", (lane,)
    ).fetchall()
    return {reason: records for reason, records in rows if records}


@dataclass(frozen=True, slots=True)
class EventsDrop:
    events: int  # plain events deleted
    alarms: int  # alarms deleted (the lane held nothing else)
    moved: int  # alarms moved to the tail instead of deleted
    bytes: int
    first_seq: int
    last_seq: int


def drop_front_events(
    db: sqlite3.Connection, need_records: int, need_bytes: int, budget: int
) -> EventsDrop | None:
    """Free at least ``need_records`` records and ``need_bytes`` bytes from the front of the
    events lane, looking at no more than ``budget`` records. In the caller's transaction.

    Plain events in the front window are deleted; alarms among them are moved to the tail.
    If the lane holds no plain event at all, the oldest alarms are deleted instead.
    """
    if need_records <= 0 and need_bytes <= 0:
        return None
    alarms_only = db.execute("SELECT seq FROM events WHERE alarm = 0 LIMIT 1").fetchone() is None
    rows = db.execute(
        "SELECT seq, ts, alarm, length(body) FROM events ORDER BY seq LIMIT ?", (budget,)
    ).fetchall()
    if not rows:
        return None
    freed_records = freed_bytes = 0
    cutoff = rows[0][0]
    moved: list[int] = []
    for seq, _ts, alarm, nbytes in rows:
        cutoff = seq
        if alarm and not alarms_only:
            moved.append(seq)  # kept: goes to the tail, frees nothing
        else:
            freed_records += 1
            freed_bytes += nbytes
            if freed_records >= need_records and freed_bytes >= need_bytes:
                break
    if moved:
        db.execute(
            "INSERT INTO events(ts, body, alarm) "
            f"SELECT ts, body, 1 FROM events WHERE seq IN ({','.join('?' * len(moved))}) "
            "ORDER BY seq",
            moved,
        )
    db.execute("DELETE FROM events WHERE seq <= ?", (cutoff,))
    alarms = freed_records if alarms_only else 0
    events = freed_records - alarms
    db.execute(
        "UPDATE lane_totals SET bytes = bytes - ?, dropped_records = dropped_records + ? "
        "WHERE lane = 'events'",
        (freed_bytes, freed_records),
    )
    if events:
        count_drop(db, "events", "events_full", events, 0)
    if alarms:
        count_drop(db, "events", "alarms_full", alarms, 0)
    return EventsDrop(events, alarms, len(moved), freed_bytes, rows[0][0], cutoff)


def log_events_drop(drop: EventsDrop, bounds: str, totals: dict[str, int]) -> None:
    if drop.alarms:
        log.error(
            "outbox events lane full of alarms: dropped the %d oldest ALARMS (seq %d..%d, "
            "%d bytes) to stay within %s; dropped since the outbox was created: %s",
            drop.alarms,
            drop.first_seq,
            drop.last_seq,
            drop.bytes,
            bounds,
            totals,
        )
    else:
        log.warning(
            "outbox events lane full: dropped the %d oldest plain events (seq %d..%d, "
            "%d bytes) to stay within %s, moved %d alarms to the tail (kept); dropped since "
            "the outbox was created: %s",
            drop.events,
            drop.first_seq,
            drop.last_seq,
            drop.bytes,
            bounds,
            drop.moved,
            totals,
        )


# ---------------------------------------------------------------- dead letters


def drop_oldest_dead_letters(db: sqlite3.Connection, keep: int) -> list[tuple]:
    """Delete the oldest dead letters beyond ``keep``; returns (lane, seq, npoints, reason)
    of each. In the caller's transaction (one quarantine adds one, so this is short)."""
    total = db.execute("SELECT count(*) FROM quarantined").fetchone()[0]
    excess = total - keep
    if excess <= 0:
        return []
    gone = db.execute(
        "DELETE FROM quarantined WHERE id IN (SELECT id FROM quarantined ORDER BY id LIMIT ?) "
        "RETURNING lane, seq, npoints, reason",
        (excess,),
    ).fetchall()
    gone.sort(key=lambda r: r[1])
    for lane in {r[0] for r in gone}:
        mine = [r for r in gone if r[0] == lane]
        db.execute(
            "UPDATE lane_totals SET quarantined = quarantined - ? WHERE lane = ?",
            (len(mine), lane),
        )
        count_drop(db, lane, "dead_letters_full", len(mine), sum(r[2] for r in mine))
    return gone


def log_dead_letter_drop(gone: list[tuple], keep: int) -> None:
    for lane, seq, npoints, reason in gone:
        log.warning(
            "outbox dead letters full (max_quarantined=%d): dropped the oldest dead letter, "
            "%s seq %d (%d points), quarantined because: %s",
            keep,
            lane,
            seq,
            npoints,
            reason[:200],
        )


# ---------------------------------------------------------------- space


def ensure_incremental_vacuum_for_new_file(db: sqlite3.Connection) -> None:
    """Set auto_vacuum=INCREMENTAL on a file that has no table yet (it cannot be set later
    without a VACUUM)."""
    if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")


def vacuum_step(db: sqlite3.Connection, pages: int, max_vacuum_bytes: int) -> bool:
    """Give back at most ``pages`` free pages to the file system; True if more remain.

    A file without auto_vacuum (made by an older version) is switched with one VACUUM,
    but only when its live content is at most ``max_vacuum_bytes`` (a VACUUM rewrites it
    all) and at least a quarter of it is free.
    """
    mode = db.execute("PRAGMA auto_vacuum").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    if free == 0:
        return False
    if mode == 2:  # incremental
        # executescript steps the pragma to the end; execute() frees one page per call.
        db.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
        return db.execute("PRAGMA freelist_count").fetchone()[0] > 0
    total = db.execute("PRAGMA page_count").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    if free * 4 < total or (total - free) * size > max_vacuum_bytes:
        return False
    log.info(
        "outbox: switching the file to incremental auto_vacuum (one VACUUM of %d bytes of "
        "content, giving back %d bytes)",
        (total - free) * size,
        free * size,
    )
    db.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.execute("VACUUM")
    return False
