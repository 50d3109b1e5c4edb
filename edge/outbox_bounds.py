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
import time
from dataclasses import dataclass

import orjson

from edge.model import LANES, Lane

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


# ---------------------------------------------------------------- the Outbox's side


@dataclass(frozen=True, slots=True)
class DropReport:
    records: int
    points: int
    bytes: int
    first_seq: int
    last_seq: int


class BoundsMixin:
    """The bound, drop and space methods of :class:`edge.outbox.Outbox` (kept here so the
    outbox file keeps to lanes, numbering, peek and ack)."""

    _db: sqlite3.Connection
    max_readings_points: int | None
    max_readings_bytes: int | None
    max_events_records: int | None
    max_events_bytes: int | None
    drop_slack: float
    vacuum_pages: int
    max_vacuum_bytes: int
    _dropping: dict[Lane, bool]
    _dropped_in_episode: dict[Lane, int]
    _last_drop_warning: float

    def _totals(self, lane: Lane) -> tuple[int, int, int, int, int]:
        raise NotImplementedError

    # ------------------------------------------------------------------ the bound

    def _over_bound(self, points: int, size: int) -> bool:
        return (self.max_readings_points is not None and points > self.max_readings_points) or (
            self.max_readings_bytes is not None and size > self.max_readings_bytes
        )

    def _events_bounds(self) -> str:
        return (
            f"max_events_records={self.max_events_records} max_events_bytes={self.max_events_bytes}"
        )

    def _bound_events(self, total_bytes: int, budget: int) -> EventsDrop | None:
        """Bring the events lane toward (1 - drop_slack) of its bounds, ``budget`` records
        at most. In a transaction."""
        front = self._db.execute("SELECT seq FROM events ORDER BY seq LIMIT 1").fetchone()
        back = self._db.execute("SELECT seq FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        records = 0 if front is None else back[0] - front[0] + 1
        over = (self.max_events_records is not None and records > self.max_events_records) or (
            self.max_events_bytes is not None and total_bytes > self.max_events_bytes
        )
        if over:
            self._dropping["events"] = True
        if not self._dropping["events"]:
            return None
        keep = 1.0 - self.drop_slack
        need_records = (
            records - int(self.max_events_records * keep)
            if self.max_events_records is not None
            else 0
        )
        need_bytes = (
            total_bytes - int(self.max_events_bytes * keep)
            if self.max_events_bytes is not None
            else 0
        )
        dropped = drop_front_events(self._db, need_records, need_bytes, budget)
        freed = (0, 0) if dropped is None else (dropped.events + dropped.alarms, dropped.bytes)
        if freed[0] >= need_records and freed[1] >= need_bytes:
            self._dropping["events"] = False
        return dropped

    def _drop_oldest_readings(
        self, total_points: int, total_bytes: int, budget: int
    ) -> DropReport | None:
        """Delete readings from the front toward (1 - drop_slack) of the bounds, at most
        ``budget`` records, so no single call does unbounded work. In a transaction."""
        keep = 1.0 - self.drop_slack
        need_points = (
            total_points - int(self.max_readings_points * keep)
            if self.max_readings_points is not None
            else 0
        )
        need_bytes = (
            total_bytes - int(self.max_readings_bytes * keep)
            if self.max_readings_bytes is not None
            else 0
        )
        if need_points <= 0 and need_bytes <= 0:
            self._dropping["readings"] = False
            return None
        records = points = size = 0
        first = cutoff = None
        rows = self._db.execute(
            "SELECT seq, npoints, length(body) FROM readings ORDER BY seq LIMIT ?", (budget,)
        )
        for seq, npoints, nbytes in rows:
            if first is None:
                first = seq
            cutoff = seq
            records += 1
            points += npoints
            size += nbytes
            if points >= need_points and size >= need_bytes:
                self._dropping["readings"] = False
                break
        if first is None or cutoff is None:
            self._dropping["readings"] = False
            return None
        # A range on the primary key: deletes exactly the rows counted above.
        self._db.execute("DELETE FROM readings WHERE seq <= ?", (cutoff,))
        self._db.execute(
            "UPDATE lane_totals SET points = points - ?, bytes = bytes - ?, "
            "dropped_records = dropped_records + ?, dropped_points = dropped_points + ? "
            "WHERE lane = 'readings'",
            (points, size, records, points),
        )
        count_drop(self._db, "readings", "full", records, points)
        return DropReport(records, points, size, first, cutoff)

    def _log_drop(self, drop: DropReport) -> None:
        totals = self._totals("readings")
        # A big drop goes in many short chunks: the first and then one every 10 s at
        # WARNING, the rest at DEBUG; a summary when the lane is back within its bound.
        first = self._dropped_in_episode["readings"] == 0
        self._dropped_in_episode["readings"] += drop.records
        now = time.monotonic()
        level = logging.DEBUG
        if first or now - self._last_drop_warning >= 10.0:
            level = logging.WARNING
            self._last_drop_warning = now
        log.log(
            level,
            "outbox full: dropped the %d oldest readings records (seq %d..%d, %d points, "
            "%d bytes) to stay within max_readings_points=%s max_readings_bytes=%s; "
            "dropped since the outbox was created: %d records, %d points",
            drop.records,
            drop.first_seq,
            drop.last_seq,
            drop.points,
            drop.bytes,
            self.max_readings_points,
            self.max_readings_bytes,
            totals[2],
            totals[3],
        )
        if not self._dropping["readings"]:
            episode = self._dropped_in_episode["readings"]
            self._dropped_in_episode["readings"] = 0
            if not first:
                log.warning(
                    "outbox readings lane back within its bound after dropping %d records",
                    episode,
                )

    # ------------------------------------------------------------------ bounds, space

    def drops(self) -> dict[Lane, dict[str, int]]:
        """Records dropped since the file was created, by lane and reason."""
        return {lane: drops(self._db, lane) for lane in LANES}

    def maintain(self) -> bool:
        """One short housekeeping step, for a periodic timer: give back up to
        ``vacuum_pages`` free pages to the file system. Returns True if more is left."""
        return vacuum_step(self._db, self.vacuum_pages, self.max_vacuum_bytes)

    def checkpoint(self) -> None:
        """Copy the WAL into the file where readers allow it (never waits for them); the
        file shrinks here after :meth:`maintain` freed its tail."""
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
