"""Durable store-and-forward: what the edge accepted waits here until the API acknowledges it.

One SQLite file in WAL mode holds two lanes, ``events`` (events and alarms) and
``readings`` (one record per device poll). Each lane numbers its records with an
AUTOINCREMENT primary key, so a number is never reused, not after deletes and not after a
restart. The uplink reads a lane from the front (:meth:`Outbox.peek`), sends it, and
deletes what the API acknowledged (:meth:`Outbox.ack`); see the delivery contract in
``edge/model.py``.

Guarantees
- A record is committed once ``append_*`` returns. With ``synchronous="NORMAL"`` (the
  default) a committed record survives kill -9 of the process; after a power loss or OS
  crash the last transactions before the crash may be lost. ``synchronous="FULL"`` makes
  every commit wait for the disk (an fsync per poll cycle) and survives power loss too.
- Everything is bounded (``edge/outbox_bounds.py``). The readings lane has a size bound
  (points and/or stored bytes); when an append exceeds it, the oldest readings are
  deleted. The events lane has its own bound: plain events go first, alarms are moved to
  the tail, and only a lane of nothing but alarms loses alarms (an ERROR). Dead letters
  are bounded too, oldest first. Every drop is counted by lane and reason (kept in the
  file across restarts, reported upstream) and logged; no call deletes more than
  ``drop_chunk`` rows beyond what it appended, so a full outbox never stalls the poll
  loop. Deletion only ever happens at the front of a lane, so what a lane holds is always
  a contiguous run of seq numbers and its depth is ``last_seq - first_seq + 1``.
- The file gives space back: ``auto_vacuum=INCREMENTAL`` and :meth:`Outbox.maintain`,
  a few pages at a time (the agent calls it every few seconds).
- Opening does no work proportional to the backlog: depth comes from the primary key's
  ends and the lane sizes from running totals kept in the same transactions as the rows.
- A record the API refuses as malformed is moved, not deleted, into the ``quarantined``
  table (dead letters), counted, and can be put back with :meth:`Outbox.requeue_quarantined`.
- Identity (see the delivery contract in ``edge/model.py``): the file gets a random
  ``outbox_id`` when it is created, and each Outbox object numbers what it appends under
  its own random ``generation``, recorded (lane, first seq, generation) in the same
  transaction as its first append. A file restored from an older copy or rewound by a
  power loss therefore never gives a re-used seq the (generation, seq) it had before.
  :meth:`Outbox.peek` never mixes generations in one batch, and says which one it is.

Threading: an Outbox is synchronous and meant for one thread, the agent's asyncio loop
(its calls take tens of microseconds to a few milliseconds). Other processes may open the
same file: SQLite serialises writers, and all state lives in the file.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from edge import outbox_bounds as bounds
from edge.model import LANES, Event, Lane, Sample
from edge.outbox_bounds import BoundsMixin, DropReport
from edge.outbox_dead_letters import DeadLettersMixin
from edge.outbox_schema import (
    DUMPS_OPTIONS,
    GENERATION_AT,
    NEXT_GENERATION,
    PEEK,
    SCHEMA,
    SIZES_UP_TO,
    lane_table,
)

__all__ = ["DropReport", "LaneBacklog", "Outbox", "OutboxBatch", "wire_record"]

log = logging.getLogger(__name__)

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


@dataclass(frozen=True, slots=True)
class LaneBacklog:
    """What one lane holds now, plus what it has lost since the outbox file was created."""

    lane: Lane
    records: int
    first_seq: int | None
    last_seq: int | None
    oldest_ts: float | None
    points: int
    bytes: int
    dropped_records: int
    dropped_points: int
    quarantined: int
    drops: dict[str, int] = field(default_factory=dict)  # records dropped, by reason

    def wire(self) -> dict:
        """The ``edge.model.Backlog`` body reported with every batch."""
        out = {
            "records": self.records,
            "oldest_ts": self.oldest_ts,
            "dropped": self.dropped_records,
            "quarantined": self.quarantined,
        }
        if self.drops:
            out["drops"] = dict(self.drops)
        return out


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    """Consecutive records from the front of one lane, ready to splice into a batch body."""

    lane: Lane
    first_seq: int
    last_seq: int
    records: list[bytes]  # each one record's wire JSON, seq included
    points: int
    nbytes: int  # len(b",".join(records))
    oldest_ts: float
    more: bool  # the lane holds records after last_seq (this batch was cut by a limit)
    # The batch's wire ``stream`` (outbox, generation, first_seq); None for records numbered
    # before this file had generations (sent in the edge's default stream).
    stream: dict | None = None
    dropped_through: int = 0  # the highest seq below first_seq let go undelivered (0: none)

    def __len__(self) -> int:
        return len(self.records)


def wire_record(seq: int, body: bytes) -> bytes:
    """A stored body (a JSON object without seq) with ``"seq": seq`` spliced in first."""
    if body == b"{}":
        return b'{"seq":%d}' % seq
    return b'{"seq":%d,%b' % (seq, memoryview(body)[1:])


class Outbox(BoundsMixin, DeadLettersMixin):
    """The edge's durable queue. See the module docstring for what it guarantees.

    ``max_readings_points`` / ``max_readings_bytes`` bound the readings lane (None: no
    bound of that kind). On overflow the oldest readings are dropped down to
    ``(1 - drop_slack)`` of the bound, so a full outbox drops in chunks (one WARNING per
    chunk) rather than one record per append.

    ``max_events_records`` / ``max_events_bytes`` bound the events lane (plain events go
    first, alarms last), ``max_quarantined`` the dead letters. No call deletes more than
    ``drop_chunk`` rows beyond what it appended; the next calls go on where it stopped.
    :meth:`maintain` gives free space back, ``vacuum_pages`` pages at a time. See
    ``edge/outbox_bounds.py``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_readings_points: int | None = None,
        max_readings_bytes: int | None = 2 * 1024**3,
        drop_slack: float = 0.05,
        synchronous: Synchronous = "NORMAL",
        busy_timeout: float = 10.0,
        max_events_records: int | None = 1_000_000,
        max_events_bytes: int | None = 256 * 1024**2,
        max_quarantined: int = 10_000,
        drop_chunk: int = 1000,
        vacuum_pages: int = 256,
        max_vacuum_bytes: int = 32 * 1024**2,
    ) -> None:
        limits = {
            "max_readings_points": max_readings_points,
            "max_readings_bytes": max_readings_bytes,
            "max_events_records": max_events_records,
            "max_events_bytes": max_events_bytes,
            "max_quarantined": max_quarantined,
            "drop_chunk": drop_chunk,
            "vacuum_pages": vacuum_pages,
        }
        for name, bound in limits.items():
            if bound is not None and bound < 1:
                raise ValueError(f"{name} must be at least 1 or None, not {bound}")
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL, EXTRA or OFF, not {synchronous!r}")
        if not 0.0 <= drop_slack < 1.0:
            raise ValueError(f"drop_slack must be in [0, 1), not {drop_slack}")
        self.path = Path(path)
        self.max_readings_points = max_readings_points
        self.max_readings_bytes = max_readings_bytes
        self.drop_slack = drop_slack
        self.max_events_records = max_events_records
        self.max_events_bytes = max_events_bytes
        self.max_quarantined = max_quarantined
        self.drop_chunk = drop_chunk
        self.vacuum_pages = vacuum_pages
        self.max_vacuum_bytes = max_vacuum_bytes
        # Set while a lane is being brought back under its bound (to 1 - drop_slack of
        # it), a bounded chunk per append; see _append_readings and append_events.
        self._dropping: dict[Lane, bool] = dict.fromkeys(LANES, False)
        self._dropped_in_episode: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self._last_drop_warning = -1e9
        self._listeners: list[Callable[[Lane], None]] = []
        # This object's generation; a lane's first append records where it starts.
        self.generation = secrets.token_hex(8)
        self._generation_opened: set[Lane] = set()
        self._generation_pending: set[Lane] = set()
        started = time.perf_counter()
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=busy_timeout)
        try:
            # Before any table exists, or it needs a VACUUM to change (outbox_bounds.py).
            bounds.ensure_incremental_vacuum_for_new_file(self._db)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                # Still durable (rollback journal), but slower and readers block writers.
                log.warning("outbox %s: SQLite refused WAL mode here (%s)", self.path, mode)
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            # Keep the WAL file from staying large after a big drain.
            self._db.execute("PRAGMA journal_size_limit=67108864")
            self._db.executescript(SCHEMA)  # idempotent; each statement commits itself
            bounds.migrate(self._db)  # the bounds' own additive migration block
            with self._transaction():
                self._db.executemany(
                    "INSERT OR IGNORE INTO lane_totals(lane) VALUES (?)", [(x,) for x in LANES]
                )
                self._db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('outbox_id', ?)",
                    (secrets.token_hex(16),),
                )
            self.outbox_id: str = self._db.execute(
                "SELECT value FROM meta WHERE key = 'outbox_id'"
            ).fetchone()[0]
        except BaseException:
            self._db.close()
            raise
        self.open_seconds = time.perf_counter() - started

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: no deadlock-prone read->write upgrade
        # when another process (a second tool, a test) has the file open too.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
            self._generation_opened |= self._generation_pending
            self._generation_pending.clear()
        except BaseException:
            self._generation_pending.clear()
            # Also after a failed COMMIT (disk full, I/O error), which leaves it open.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ listeners

    def add_listener(self, callback: Callable[[Lane], None]) -> None:
        """Call ``callback(lane)`` after each commit that added records to a lane."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[Lane], None]) -> None:
        self._listeners.remove(callback)

    def _notify(self, lane: Lane) -> None:
        for callback in self._listeners:
            callback(lane)

    # ------------------------------------------------------------------ appending

    def append_sample(self, sample: Sample) -> int:
        """Commit one poll's sample; returns its seq in the readings lane."""
        last = self.append_samples((sample,))
        assert last is not None
        return last

    def append_samples(self, samples: Iterable[Sample]) -> int | None:
        """Commit a poll cycle's samples in one transaction; returns the last seq (None if
        there were none). The records' seqs are consecutive, ending at the returned one."""
        rows = [
            (s.ts, len(s.readings), orjson.dumps(s.wire(), option=DUMPS_OPTIONS)) for s in samples
        ]
        if not rows:
            return None
        return self._append_readings(rows)

    def append_reading_bodies(self, rows: Sequence[tuple[float, int, bytes]]) -> int | None:
        """Commit pre-encoded readings records ``(ts, npoints, body JSON without seq)``."""
        if not rows:
            return None
        return self._append_readings(rows)

    def _append_readings(
        self,
        rows: Sequence[tuple[float, int, bytes]],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        """``also(db)`` runs in the same transaction (edge/clock_hold.py moves records)."""
        points = sum(r[1] for r in rows)
        size = sum(len(r[2]) for r in rows)
        dropped: DropReport | None = None
        with self._transaction() as db:
            self._open_generation(db, "readings")
            db.executemany("INSERT INTO readings(ts, npoints, body) VALUES (?, ?, ?)", rows)
            last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
            if also is not None:
                also(db)
            total_points, total_bytes = db.execute(
                "UPDATE lane_totals SET points = points + ?, bytes = bytes + ? "
                "WHERE lane = 'readings' RETURNING points, bytes",
                (points, size),
            ).fetchone()
            if self._over_bound(total_points, total_bytes):
                self._dropping["readings"] = True
            if self._dropping["readings"]:
                # Bounded work per call: this call's own rows, or drop_chunk if more.
                budget = max(self.drop_chunk, len(rows))
                dropped = self._drop_oldest_readings(total_points, total_bytes, budget)
        if dropped is not None:
            self._log_drop(dropped)
        self._notify("readings")
        return last

    def append_event(self, event: Event) -> int:
        """Commit one event or alarm; returns its seq in the events lane."""
        last = self.append_events((event,))
        assert last is not None
        return last

    def append_events(
        self,
        events: Iterable[Event],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int | None:
        """Commit events to the events lane; returns the last seq (None for no events).
        ``also(db)`` runs in the same transaction (state that must commit with them),
        even when there are no events."""
        rows = [
            (e.ts, orjson.dumps(e.wire(), option=DUMPS_OPTIONS), 1 if e.type == "alarm" else 0)
            for e in events
        ]
        if not rows:
            if also is not None:
                with self._transaction() as db:
                    also(db)
            return None
        return self._append_event_rows(rows, also=also)

    def _append_event_rows(
        self,
        rows: Sequence[tuple[float, bytes, int]],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        """Commit ``(ts, body, alarm)`` rows to the events lane, keeping it in its bound;
        ``also(db)`` runs in the same transaction."""
        dropped = None
        with self._transaction() as db:
            self._open_generation(db, "events")
            db.executemany("INSERT INTO events(ts, body, alarm) VALUES (?, ?, ?)", rows)
            last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
            if also is not None:
                also(db)
            (total_bytes,) = db.execute(
                "UPDATE lane_totals SET bytes = bytes + ? WHERE lane = 'events' RETURNING bytes",
                (sum(len(r[1]) for r in rows),),
            ).fetchone()
            dropped = self._bound_events(total_bytes, max(self.drop_chunk, len(rows)))
        if dropped is not None:
            totals = bounds.drops(self._db, "events")
            bounds.log_events_drop(dropped, self._events_bounds(), totals)
        self._notify("events")
        return last

    def _open_generation(self, db: sqlite3.Connection, lane: Lane) -> None:
        """Before this object first numbers records of ``lane``: record that its generation
        starts at the lane's next seq. In the appending transaction, so a rewind that
        loses the records loses this row too."""
        if lane in self._generation_opened:
            return
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (lane,)).fetchone()
        db.execute(
            "INSERT OR REPLACE INTO generations(lane, first_seq, generation, created_at) "
            "VALUES (?, ?, ?, ?)",
            (lane, (row[0] if row else 0) + 1, self.generation, time.time()),
        )
        self._generation_pending.add(lane)

    # ------------------------------------------------------------------ reading, acking

    def peek(
        self,
        lane: Lane,
        max_records: int,
        max_bytes: int | None = None,
        after_seq: int = 0,
    ) -> OutboxBatch | None:
        """Up to ``max_records`` records from the front of ``lane`` (those above
        ``after_seq``), cut so their wire JSON stays within ``max_bytes``; always at least
        one record when the lane has one, so a single large record cannot stall the lane.
        """
        lane = lane_table(lane)
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, not {max_records}")
        rows = self._db.execute(PEEK[lane], (after_seq, max_records + 1)).fetchall()
        if not rows:
            return None
        first_seq = rows[0][0]
        stream, boundary = self._stream_at(lane, first_seq)
        cut = boundary is not None and rows[-1][0] >= boundary
        if cut:  # a batch never spans two generations
            rows = [r for r in rows if r[0] < boundary]
        records: list[bytes] = []
        points = nbytes = 0
        for seq, _ts, npoints, body in rows[:max_records]:
            record = wire_record(seq, body)
            # Counted as spliced into a JSON array: records plus the commas between them.
            size = nbytes + len(record) + (1 if records else 0)
            if records and max_bytes is not None and size > max_bytes:
                break
            records.append(record)
            points += npoints
            nbytes = size
        return OutboxBatch(
            lane=lane,
            first_seq=first_seq,
            last_seq=first_seq + len(records) - 1,
            records=records,
            points=points,
            nbytes=nbytes,
            oldest_ts=rows[0][1],
            more=cut or len(rows) > len(records),
            stream=stream,
            dropped_through=self._dropped_through(lane, first_seq),
        )

    def _stream_at(self, lane: Lane, seq: int) -> tuple[dict | None, int | None]:
        """The wire stream of the record ``seq`` and the first seq of the next generation."""
        found = self._db.execute(GENERATION_AT, (lane, seq)).fetchone()
        after = self._db.execute(NEXT_GENERATION, (lane, seq)).fetchone()
        boundary = after[0] if after else None
        if found is None:  # numbered before this file had generations: the default stream
            return None, boundary
        stream = {"outbox": self.outbox_id, "generation": found[1], "first_seq": found[0]}
        return stream, boundary

    def _dropped_through(self, lane: Lane, front: int) -> int:
        """front - 1 when the records just below the front were let go without an
        acknowledgement (dropped, quarantined), else 0: what the edge reports to the API to
        explain a seq jump (the delivery contract)."""
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = ?", (f"acked_through:{lane}",)
        ).fetchone()
        acked_through = int(row[0]) if row else 0
        return front - 1 if front - 1 > acked_through else 0

    def ack(self, lane: Lane, seq: int) -> int:
        """Delete every record of ``lane`` at or below ``seq``; returns how many went."""
        lane = lane_table(lane)
        with self._transaction() as db:
            records, points, size = db.execute(SIZES_UP_TO[lane], (seq,)).fetchone()
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                "value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                (f"acked_through:{lane}", seq),
            )
            if records:
                db.execute(f"DELETE FROM {lane} WHERE seq <= ?", (seq,))
                db.execute(
                    "UPDATE lane_totals SET points = points - ?, bytes = bytes - ? WHERE lane = ?",
                    (points, size, lane),
                )
        return records

    # ------------------------------------------------------------------ visibility

    def _totals(self, lane: Lane) -> tuple[int, int, int, int, int]:
        return self._db.execute(
            "SELECT points, bytes, dropped_records, dropped_points, quarantined "
            "FROM lane_totals WHERE lane = ?",
            (lane,),
        ).fetchone()

    def lane_backlog(self, lane: Lane) -> LaneBacklog:
        lane = lane_table(lane)
        # Two one-row lookups at the ends of the primary key: O(log n). (A combined
        # min()/max() query would scan the table, and count(*) always does.)
        front = self._db.execute(f"SELECT seq, ts FROM {lane} ORDER BY seq LIMIT 1").fetchone()
        back = self._db.execute(f"SELECT seq FROM {lane} ORDER BY seq DESC LIMIT 1").fetchone()
        points, size, dropped_records, dropped_points, quarantined = self._totals(lane)
        drops = bounds.drops(self._db, lane)
        if front is None or back is None:
            return LaneBacklog(
                lane, 0, None, None, None, 0, 0, dropped_records, dropped_points, quarantined, drops
            )
        return LaneBacklog(
            lane=lane,
            records=back[0] - front[0] + 1,
            first_seq=front[0],
            last_seq=back[0],
            oldest_ts=front[1],
            points=points,
            bytes=size,
            dropped_records=dropped_records,
            dropped_points=dropped_points,
            quarantined=quarantined,
            drops=drops,
        )

    def backlog(self) -> dict[Lane, LaneBacklog]:
        return {lane: self.lane_backlog(lane) for lane in LANES}

    def backlog_after(self, lane: Lane, seq: int) -> dict[Lane, LaneBacklog]:
        """:meth:`backlog` as it will be once ``lane`` is acknowledged through ``seq``: what
        a batch reports, so the API sees 0 once the edge has drained."""
        lane = lane_table(lane)
        now = self.backlog()
        held = now[lane]
        if held.last_seq is None or held.first_seq is None or held.first_seq > seq:
            return now
        if held.last_seq <= seq:
            now[lane] = dataclasses.replace(
                held, records=0, first_seq=None, last_seq=None, oldest_ts=None, points=0, bytes=0
            )
            return now
        front = self._db.execute(
            f"SELECT seq, ts FROM {lane} WHERE seq > ? ORDER BY seq LIMIT 1", (seq,)
        ).fetchone()
        now[lane] = dataclasses.replace(
            held, records=held.last_seq - front[0] + 1, first_seq=front[0], oldest_ts=front[1]
        )
        return now

    def last_assigned_seq(self, lane: Lane) -> int:
        """The highest seq this outbox ever gave a record of ``lane`` (0 if none)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (lane,)).fetchone()
        return row[0] if row else 0
