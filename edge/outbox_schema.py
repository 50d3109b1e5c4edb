"""The outbox file's layout: its tables and the statements that read them.

Kept apart from ``edge/outbox.py`` (what the outbox does) so the layout reads as one
piece; ``edge/outbox_bounds.py`` and ``edge/clock_hold.py`` add their own tables in
migration blocks of their own.
"""

from __future__ import annotations

import orjson

from edge.model import LANES, Lane

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS readings(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    npoints INTEGER NOT NULL,
    body BLOB NOT NULL
);
-- Running totals per lane, updated in the same transaction as the rows they describe, so
-- sizes and drop counters are known at open without scanning the lanes.
CREATE TABLE IF NOT EXISTS lane_totals(
    lane TEXT PRIMARY KEY,
    points INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    dropped_records INTEGER NOT NULL DEFAULT 0,
    dropped_points INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- Who numbered the records (the delivery contract in edge/model.py): the file's random
-- id ('outbox_id'), and per lane the highest seq deleted by an acknowledgement
-- ('acked_through:<lane>'), which tells records let go undelivered from acknowledged ones.
CREATE TABLE IF NOT EXISTS meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
-- A generation numbers a lane's seqs from first_seq up to the next generation's.
CREATE TABLE IF NOT EXISTS generations(
    lane TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    generation TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY(lane, first_seq)
) WITHOUT ROWID;
-- Dead letters: records the API refused as malformed, kept for an operator.
CREATE TABLE IF NOT EXISTS quarantined(
    id INTEGER PRIMARY KEY,
    lane TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    npoints INTEGER NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at REAL NOT NULL
);
-- The rules' state (edge/rules/engine.py snapshot, JSON), written in the same transaction
-- as the records it produced (edge/access_loop.py): a restart resumes exactly there.
CREATE TABLE IF NOT EXISTS rule_state(
    key TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    saved_at REAL NOT NULL
) WITHOUT ROWID;
-- Digests of the latest MQTT messages committed (bounded): a QoS 1 resend (DUP flag) of
-- one of them after a restart is dropped, not judged twice.
CREATE TABLE IF NOT EXISTS mqtt_committed(
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    committed_at REAL NOT NULL
);
-- The latest valid directives (visitor passes) pulled from the API, with their fetch time;
-- kept while the API is unreachable (edge/directives.py).
CREATE TABLE IF NOT EXISTS directives_cache(
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body BLOB NOT NULL,
    fetched_at REAL NOT NULL
);
"""

DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY

# Readings lane statements; the events lane has no npoints column and reads 0 instead.
PEEK = {
    "events": "SELECT seq, ts, 0, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
    "readings": "SELECT seq, ts, npoints, body FROM readings WHERE seq > ? ORDER BY seq LIMIT ?",
}
SIZES_UP_TO = {
    "events": "SELECT count(*), 0, coalesce(sum(length(body)), 0) FROM events WHERE seq <= ?",
    "readings": (
        "SELECT count(*), coalesce(sum(npoints), 0), coalesce(sum(length(body)), 0) "
        "FROM readings WHERE seq <= ?"
    ),
}
GENERATION_AT = (
    "SELECT first_seq, generation FROM generations WHERE lane = ? AND first_seq <= ? "
    "ORDER BY first_seq DESC LIMIT 1"
)
NEXT_GENERATION = (
    "SELECT first_seq FROM generations WHERE lane = ? AND first_seq > ? ORDER BY first_seq LIMIT 1"
)
FRONT = {
    "events": "SELECT seq, ts, 0, body FROM events ORDER BY seq LIMIT 1",
    "readings": "SELECT seq, ts, npoints, body FROM readings ORDER BY seq LIMIT 1",
}


def lane_table(lane: str) -> Lane:
    """``lane`` as a table name. Lane names are interpolated into SQL as table names:
    accept only the two that exist."""
    if lane not in LANES:
        raise ValueError(f"unknown lane {lane!r}; lanes are {', '.join(LANES)}")
    return lane  # type: ignore[return-value]
