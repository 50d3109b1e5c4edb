"""Hold what a wrong clock stamps: kept in the outbox file, never sent, never dead-lettered.

While :class:`edge.clock.ClockGuard` says the wall clock cannot be trusted, the agent's
samples and events go to the ``clock_held`` table instead of their lane, each with the
boot clock and boot id at the moment it was held. Once the API's clock is known in the
same boot, a held record's true time is proven (``ClockGuard.true_time``):
- if the wall clock was within ``max_skew`` of it, the record is released as stamped;
- otherwise its timestamp is corrected by the proven offset ("re-stamped"), counted and
  logged, and it is released.
Released records go to the tail of their lane (new seq) in the order they were held;
while a lane has records waiting here, new ones queue behind them, so each lane keeps
its order. A record whose time cannot be proven (held in an earlier boot; refused by the
API for its timestamp) stays here, marked with why, visible in ``steward-edge status``:
a wrong time is worse than a missing one.

The table has a byte bound; beyond it the oldest held records are dropped, counted
(reason ``clock_held_full``) and logged.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
from pathlib import Path

import orjson

from edge import outbox_bounds as bounds
from edge.clock import ClockGuard
from edge.model import LANES, Event, Lane, Sample
from edge.outbox import Outbox
from edge.outbox_dead_letters import take_front
from edge.outbox_schema import DUMPS_OPTIONS, lane_table

log = logging.getLogger("steward.edge")

# ---------------------------------------------------------------- migration block (robust)
_MIGRATION = """
CREATE TABLE IF NOT EXISTS clock_held(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lane TEXT NOT NULL,
    ts REAL NOT NULL,
    npoints INTEGER NOT NULL,
    body BLOB NOT NULL,
    held_wall REAL NOT NULL,
    held_boot REAL,             -- boot clock when held; NULL when not known
    boot_id TEXT,
    reason TEXT NOT NULL,       -- what was wrong with the clock
    unprovable TEXT             -- why its true time cannot be proven; NULL: waiting
);
CREATE INDEX IF NOT EXISTS clock_held_waiting ON clock_held(lane, id) WHERE unprovable IS NULL;
"""

_UNPROVABLE_BOOT = "held in an earlier boot: its true time cannot be proven"


def ensure_table(db: sqlite3.Connection) -> None:
    db.executescript(_MIGRATION)
    columns = {row[1] for row in db.execute("PRAGMA table_info(clock_held)")}
    if "operator_release" not in columns:
        # Who vouched for a held record's time (steward-edge release-held --as-stamped).
        db.execute("ALTER TABLE clock_held ADD COLUMN operator_release TEXT")


def release_as_stamped(db: sqlite3.Connection, who: str) -> dict[str, int]:
    """An operator vouches that the clock was right when the records held in an earlier
    boot were stamped: they go out as stamped at the agent's next start. Records the API
    refused for their timestamp are not touched (they would be refused again).
    Returns the records released per lane."""
    ensure_table(db)
    with db:
        counts = dict(
            db.execute(
                "SELECT lane, count(*) FROM clock_held WHERE unprovable = ? GROUP BY lane",
                (_UNPROVABLE_BOOT,),
            ).fetchall()
        )
        db.execute(
            "UPDATE clock_held SET unprovable = NULL, operator_release = ? WHERE unprovable = ?",
            (who, _UNPROVABLE_BOOT),
        )
    return counts


def held_summary(db: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Per lane: records waiting for a proof, records that cannot be proven, points."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'clock_held'"
    ).fetchone()
    out = {lane: {"waiting": 0, "unprovable": 0, "points": 0} for lane in LANES}
    if not exists:
        return out
    for lane, unprovable, records, points in db.execute(
        "SELECT lane, unprovable IS NOT NULL, count(*), sum(npoints) FROM clock_held "
        "GROUP BY lane, unprovable IS NOT NULL"
    ):
        key = "unprovable" if unprovable else "waiting"
        out[lane][key] += records
        out[lane]["points"] += points or 0
    return out


def hold_front(outbox: Outbox, lane: Lane, seq: int, reason: str) -> None:
    """Move the front record of ``lane`` here, unprovable (the API refused its timestamp;
    when it was stamped is unknown), instead of into the dead letters."""
    lane = lane_table(lane)
    db = outbox._db
    ensure_table(db)
    with outbox._transaction():
        _, ts, npoints, body = take_front(db, lane, seq, "held for the clock")
        db.execute(
            "INSERT INTO clock_held(lane, ts, npoints, body, held_wall, reason, unprovable) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (lane, ts, npoints, body, ts, "refused by the API for its timestamp", reason),
        )


class ClockHold:
    """The agent's sink in front of the outbox: holds while the clock is wrong."""

    def __init__(self, outbox: Outbox, guard: ClockGuard, *, max_held_bytes: int = 1024**3) -> None:
        self.outbox = outbox
        self.guard = guard
        self.max_held_bytes = max_held_bytes
        db = outbox._db
        ensure_table(db)
        self._waiting: dict[str, int] = dict.fromkeys(LANES, 0)
        for lane, n in db.execute(
            "SELECT lane, count(*) FROM clock_held WHERE unprovable IS NULL GROUP BY lane"
        ):
            self._waiting[lane] = n
        size = db.execute("SELECT coalesce(sum(length(body)), 0) FROM clock_held").fetchone()
        self._bytes: int = size[0]
        self.held = 0  # records held since start
        self.released = 0
        self.restamped = 0
        self.unprovable = 0
        self.dropped = 0

    # ------------------------------------------------------------------ sinks

    def append_sample(self, sample: Sample) -> None:
        if self.guard.holding() or self._waiting["readings"]:
            body = orjson.dumps(sample.wire(), option=DUMPS_OPTIONS)
            self._hold("readings", sample.ts, len(sample.readings), body)
        else:
            self.outbox.append_sample(sample)

    def append_event(self, event: Event) -> None:
        if self.guard.holding() or self._waiting["events"]:
            body = orjson.dumps(event.wire(), option=DUMPS_OPTIONS)
            self._hold("events", event.ts, 0, body)
        else:
            self.outbox.append_event(event)

    def _hold(self, lane: str, ts: float, npoints: int, body: bytes) -> None:
        g = self.guard
        reason = g.state() if g.holding() else "queued behind held records"
        with self.outbox._transaction() as db:
            db.execute(
                "INSERT INTO clock_held(lane, ts, npoints, body, held_wall, held_boot, boot_id, "
                "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (lane, ts, npoints, body, g.wall(), g.boot(), g.boot_id, reason),
            )
            self._bytes += len(body)
            gone = self._bound(db) if self._bytes > self.max_held_bytes else []
        self._waiting[lane] += 1
        self.held += 1
        for lane_, n, first, last in gone:
            log.warning(
                "clock hold full (max_held_bytes=%d): dropped the %d oldest held %s records "
                "(held ids %d..%d)",
                self.max_held_bytes,
                n,
                lane_,
                first,
                last,
            )

    def _bound(self, db: sqlite3.Connection) -> list[tuple[str, int, int, int]]:
        """Drop the oldest held records (readings first) down to 95 % of the bound, at most
        1000 per call. In the caller's transaction."""
        need = self._bytes - int(self.max_held_bytes * 0.95)
        out = []
        for lane in ("readings", "events"):
            if need <= 0:
                break
            rows = db.execute(
                "SELECT id, npoints, length(body), unprovable IS NULL FROM clock_held "
                "WHERE lane = ? ORDER BY id LIMIT 1000",
                (lane,),
            ).fetchall()
            taken = []
            for row in rows:
                if need <= 0:
                    break
                taken.append(row)
                need -= row[2]
            if not taken:
                continue
            db.execute("DELETE FROM clock_held WHERE lane = ? AND id <= ?", (lane, taken[-1][0]))
            self._bytes -= sum(r[2] for r in taken)
            self._waiting[lane] -= sum(r[3] for r in taken)
            self.dropped += len(taken)
            bounds.count_drop(db, lane, "clock_held_full", len(taken), sum(r[1] for r in taken))
            out.append((lane, len(taken), taken[0][0], taken[-1][0]))
        return out

    # ------------------------------------------------------------------ release

    def waiting(self) -> int:
        return sum(self._waiting.values())

    def release(self, budget: int = 500) -> int:
        """Release up to ``budget`` held records whose time is proven (events first);
        mark those that cannot be proven. Returns how many records were looked at."""
        if not self.waiting():
            return 0
        # Without the API's clock only what an operator vouched for can go, and only
        # from the front of the lane (order is kept).
        proven_only = self.guard.observation is not None
        looked = 0
        for lane in LANES:
            if not self._waiting[lane] or looked >= budget:
                continue
            rows = self.outbox._db.execute(
                "SELECT id, ts, npoints, body, held_wall, held_boot, boot_id, operator_release"
                " FROM clock_held WHERE lane = ? AND unprovable IS NULL ORDER BY id LIMIT ?",
                (lane, budget - looked),
            ).fetchall()
            if not proven_only:
                rows = list(itertools.takewhile(lambda r: r[7] is not None, rows))
            looked += len(rows)
            self._release_rows(lane, rows)
        return looked

    def _release_rows(self, lane: Lane, rows: list[tuple]) -> None:
        released: list[tuple[float, int, bytes]] = []
        unprovable: list[int] = []
        restamped = 0
        for _id, ts, npoints, body, held_wall, held_boot, boot_id, vouched_by in rows:
            if vouched_by is not None:
                released.append((ts, npoints, body))  # as stamped, on the operator's word
                continue
            proof = None if held_boot is None else self.guard.true_time(held_boot, boot_id)
            if proof is None or proof[1] > self.guard.max_skew:
                unprovable.append(_id)
                continue
            correction = proof[0] - held_wall
            if abs(correction) > self.guard.max_skew:
                ts = round(ts + correction, 3)
                record = orjson.loads(body)
                record["ts"] = ts
                body = orjson.dumps(record, option=DUMPS_OPTIONS)
                restamped += 1
            released.append((ts, npoints, body))
        ids = [r[0] for r in rows if r[0] not in set(unprovable)]

        def move(db: sqlite3.Connection) -> None:
            # In the same transaction as the lane's insert: a crash neither loses nor
            # doubles a released record.
            if ids:
                db.execute(f"DELETE FROM clock_held WHERE id IN ({','.join('?' * len(ids))})", ids)
            if unprovable:
                db.executemany(
                    "UPDATE clock_held SET unprovable = ? WHERE id = ?",
                    [(_UNPROVABLE_BOOT, i) for i in unprovable],
                )

        if released:
            if lane == "readings":
                self.outbox._append_readings(released, also=move)
            else:
                rows_ = [(ts, body, bounds.is_alarm(body)) for ts, _n, body in released]
                self.outbox._append_event_rows(rows_, also=move)
        elif unprovable:
            with self.outbox._transaction() as db:
                move(db)
        self._bytes -= sum(len(r[2]) for r in released)
        self._waiting[lane] = max(0, self._waiting[lane] - len(rows))
        self.released += len(released)
        self.restamped += restamped
        self.unprovable += len(unprovable)
        if restamped:
            log.warning(
                "clock: re-stamped %d held %s records by the offset to the API's clock, "
                "proven in this boot, and released them",
                restamped,
                lane,
            )
        if unprovable:
            log.error(
                "clock: %d held %s records cannot be re-stamped (%s); they stay held, not "
                "sent (steward-edge status shows them)",
                len(unprovable),
                lane,
                _UNPROVABLE_BOOT,
            )

    def stats(self) -> dict:
        return {
            "waiting": dict(self._waiting),
            "held": self.held,
            "released": self.released,
            "restamped": self.restamped,
            "unprovable": self.unprovable,
            "dropped": self.dropped,
        }


def summary_from_file(path: Path) -> dict[str, dict[str, int]]:
    """:func:`held_summary` of an outbox file, read-only (for ``steward-edge status``)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return held_summary(db)
    finally:
        db.close()
