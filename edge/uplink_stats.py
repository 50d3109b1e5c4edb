"""The uplink's counters, and the stats and log line made from them and the outbox."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from edge.model import LANES
from edge.outbox import Outbox

RATE_WINDOW_S = 60.0  # the send rate is averaged over this much of the recent past


@dataclass(slots=True)
class UplinkCounters:
    """What the uplink did since start (edge.uplink.Uplink keeps one)."""

    batches: int = 0
    records: Counter[str] = field(default_factory=Counter)
    points: int = 0
    bytes_uncompressed: int = 0
    bytes_compressed: int = 0
    duplicates: int = 0  # records the API already held: replays after a lost ack
    dropped_at_edge: int = 0  # seq gaps the API counted (records the outbox dropped)
    quarantined: int = 0
    held_for_clock: int = 0  # records the API refused for their timestamp: held, not sent
    errors: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None
    last_error_at: float | None = None
    last_success_at: float | None = None
    recent: deque[tuple[float, int, int]] = field(default_factory=deque)  # mono, records, points

    def note_sent(
        self,
        lane: str,
        records: int,
        points: int,
        raw_bytes: int,
        sent_bytes: int,
        *,
        duplicates: int,
        dropped: int,
    ) -> None:
        """One acknowledged batch."""
        self.batches += 1
        self.records[lane] += records
        self.points += points
        self.bytes_uncompressed += raw_bytes
        self.bytes_compressed += sent_bytes
        self.duplicates += duplicates
        self.dropped_at_edge += dropped
        now = time.monotonic()
        self.last_success_at = time.time()
        self.recent.append((now, records, points))
        while self.recent and self.recent[0][0] < now - RATE_WINDOW_S:
            self.recent.popleft()


def uplink_stats(
    c: UplinkCounters,
    outbox: Outbox,
    *,
    state: str,
    paused: bool,
    url: str,
    started: float,
    failures: int,
) -> dict[str, Any]:
    """Counters since start, send rate, and the outbox's backlog per lane."""
    now_mono = time.monotonic()
    now = time.time()
    window = min(RATE_WINDOW_S, max(now_mono - started, 1e-9))
    recent = [r for r in c.recent if r[0] >= now_mono - RATE_WINDOW_S]
    backlog: dict[str, dict] = {}
    try:
        lanes = outbox.backlog()
    except sqlite3.Error as exc:  # metrics must answer even when the outbox cannot
        lanes = {}
        backlog["error"] = {"message": repr(exc)}
    for lane, b in lanes.items():
        backlog[lane] = {
            "records": b.records,
            "points": b.points,
            "bytes": b.bytes,
            "first_seq": b.first_seq,
            "last_seq": b.last_seq,
            "oldest_ts": b.oldest_ts,
            "age_s": None if b.oldest_ts is None else max(0.0, now - b.oldest_ts),
            "dropped_records": b.dropped_records,
            "dropped_points": b.dropped_points,
            "quarantined": b.quarantined,
        }
    return {
        "state": state,
        "paused": paused,
        "url": url,
        "uptime_s": now_mono - started,
        "sent": {
            "batches": c.batches,
            "records": {lane: c.records[lane] for lane in LANES},
            "points": c.points,
            "bytes_uncompressed": c.bytes_uncompressed,
            "bytes_compressed": c.bytes_compressed,
            "duplicates": c.duplicates,
            "dropped_at_edge": c.dropped_at_edge,
        },
        "rate": {
            "window_s": window,
            "records_per_s": sum(r[1] for r in recent) / window,
            "points_per_s": sum(r[2] for r in recent) / window,
        },
        "quarantined": c.quarantined,
        "held_for_clock": c.held_for_clock,
        "errors": dict(c.errors),
        "errors_total": sum(c.errors.values()),
        "consecutive_failures": failures,
        "last_error": c.last_error,
        "last_error_at": c.last_error_at,
        "last_success_at": c.last_success_at,
        "backlog": backlog,
    }


def summary_line(s: dict[str, Any]) -> str:
    """The stats as the one line the uplink logs."""
    parts = []
    for lane, b in s["backlog"].items():
        if lane == "error":
            parts.append(f"unknown ({b['message']})")
            continue
        age = "" if b["age_s"] is None else f", oldest {b['age_s']:.1f} s"
        parts.append(
            f"{lane} {b['records']} records{age}, dropped {b['dropped_records']}, "
            f"quarantined {b['quarantined']}"
        )
    sent = s["sent"]
    errors = ", ".join(f"{k}={v}" for k, v in sorted(s["errors"].items())) or "none"
    text = (
        f"{s['state']}; backlog: {'; '.join(parts)}; sent {sent['batches']} batches, "
        f"{sum(sent['records'].values())} records, {sent['points']} points "
        f"({s['rate']['points_per_s']:.0f} points/s over {s['rate']['window_s']:.0f} s), "
        f"{sent['duplicates']} replayed; errors: {errors}"
    )
    if s["last_error"]:
        text += f"; last error: {s['last_error']}"
    return text
