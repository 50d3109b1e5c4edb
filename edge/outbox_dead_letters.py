"""Dead letters: records the API refused as malformed, moved out of their lane (never
deleted) for an operator, bounded oldest first, and put back on request."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from edge import outbox_bounds as bounds
from edge.model import LANES, Lane
from edge.outbox_schema import FRONT, lane_table


def take_front(db: sqlite3.Connection, lane: Lane, seq: int, into: str) -> tuple:
    """Remove the record at the front of ``lane`` (it must be ``seq``) inside the caller's
    transaction, keeping the lane's totals, and return it as (seq, ts, npoints, body).
    Only the front moves, so a lane stays a contiguous run of seq numbers."""
    front = db.execute(FRONT[lane]).fetchone()
    if front is None or front[0] != seq:
        raise ValueError(
            f"only the front record of the {lane} lane can be {into}; "
            f"seq {seq} is not it (front: {front[0] if front else 'none'})"
        )
    _, _, npoints, body = front
    db.execute(f"DELETE FROM {lane} WHERE seq = ?", (seq,))
    db.execute(
        "UPDATE lane_totals SET points = points - ?, bytes = bytes - ? WHERE lane = ?",
        (npoints, len(body), lane),
    )
    return front


class DeadLettersMixin:
    """The dead-letter methods of :class:`edge.outbox.Outbox`."""

    _db: sqlite3.Connection
    max_quarantined: int | None
    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _open_generation: Callable[[sqlite3.Connection, Lane], None]
    _notify: Callable[[Lane], None]

    def quarantine(self, lane: Lane, seq: int, reason: str) -> None:
        """Move the record at the front of ``lane`` to the dead-letter table.

        Only the front record may be quarantined (the uplink finds poison records by
        sending from the front), which keeps each lane contiguous.
        """
        lane = lane_table(lane)
        with self._transaction() as db:
            front_seq, ts, npoints, body = take_front(db, lane, seq, "quarantined")
            db.execute(
                "INSERT INTO quarantined(lane, seq, ts, npoints, body, reason, quarantined_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (lane, front_seq, ts, npoints, body, reason, time.time()),
            )
            db.execute(
                "UPDATE lane_totals SET quarantined = quarantined + 1 WHERE lane = ?", (lane,)
            )
            gone = bounds.drop_oldest_dead_letters(db, self.max_quarantined)
        if gone:
            bounds.log_dead_letter_drop(gone, self.max_quarantined)

    def quarantined(self, limit: int = 100) -> list[dict]:
        """The oldest dead letters, for an operator: lane, seq, ts, reason, body."""
        rows = self._db.execute(
            "SELECT id, lane, seq, ts, reason, quarantined_at, body FROM quarantined "
            "ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        keys = ("id", "lane", "seq", "ts", "reason", "quarantined_at", "body")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def requeue_quarantined(self) -> int:
        """Append every dead letter to the tail of its lane again, with a new seq (after an
        operator fixed what made the API refuse it). Returns how many were requeued."""
        with self._transaction() as db:
            moved = 0
            for lane in LANES:
                rows = db.execute(
                    "SELECT ts, npoints, body FROM quarantined WHERE lane = ? ORDER BY id",
                    (lane,),
                ).fetchall()
                if not rows:
                    continue
                self._open_generation(db, lane)
                if lane == "readings":
                    db.executemany("INSERT INTO readings(ts, npoints, body) VALUES (?, ?, ?)", rows)
                else:
                    db.executemany(
                        "INSERT INTO events(ts, body, alarm) VALUES (?, ?, ?)",
                        [(r[0], r[2], bounds.is_alarm(r[2])) for r in rows],
                    )
                db.execute(
                    "UPDATE lane_totals SET points = points + ?, bytes = bytes + ?, "
                    "quarantined = quarantined - ? WHERE lane = ?",
                    (sum(r[1] for r in rows), sum(len(r[2]) for r in rows), len(rows), lane),
                )
                db.execute("DELETE FROM quarantined WHERE lane = ?", (lane,))
                moved += len(rows)
        for lane in LANES:
            self._notify(lane)
        return moved
