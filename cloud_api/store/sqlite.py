"""The embedded default store: one SQLite file in WAL mode.

One process writes the file (the API server; `steward-api edges ...` only touches the
edges table). Writes go through one connection under a lock, so batches are applied one
at a time; reads use a small pool of further connections, which WAL lets run alongside
the writer. synchronous=NORMAL (the default) loses nothing when the API process is
killed; FULL also survives an OS crash or power loss, at one fsync per batch.

Exactly-once: `cursors` holds, per (edge, outbox, generation, lane) (a stream, see the
delivery contract in edge/model.py), `acked`, the highest contiguous seq stored. One
transaction reads it (a new stream starts at its first_seq - 1), skips the records at or
below it (duplicates: a retry of a batch whose answer was lost), counts a jump above
acked + 1 as dropped at the edge when the batch's dropped_through reports it (and refuses
the batch otherwise), stores the new records and moves acked to the batch's last seq.
Because a batch carries consecutive seq numbers and a jump is only ever forward, the store
never holds a record above acked, so samples need no per-row unique index.

Readings go to samples_recent, which has no index, and move in bulk, sorted by series,
to samples_indexed every DEFAULT_RECENT_LIMIT readings (see the schema for why).

Rollups (see rollup.py for their meaning) are maintained in the same transaction: the
batch's good numeric readings are aggregated in Python per (series, step, bucket) first,
then each touched bucket is written once, merged with what the bucket held. The latest
bucket of every (series, step) is cached, so a batch that continues it needs no read.
Readings older than a bucket's latest one (late data) are merged with the stored bucket;
when they interleave with its readings, gauges merge all the same (nothing they report
depends on order), and counters' buckets are rebuilt, since consumption does.
"""

from __future__ import annotations

import functools
import math
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Literal

import orjson

from cloud_api.store.base import (
    BadCursorError,
    BucketRow,
    CursorInfo,
    EdgeCredential,
    EdgeExistsError,
    EdgeIdentity,
    EdgeInfo,
    IngestOutcome,
    IngestRefusedError,
    LaneState,
    Page,
    RawRow,
    SeriesInfo,
    StoreUnavailableError,
)
from cloud_api.store.rollup import (
    STEPS,
    Aggregate,
    aggregate_sorted,
    combine,
    consumption,
    merge,
    merge_ignoring_order,
    regroup,
)
from edge.model import Backlog, EventBatch, IngestAck, Quality, ReadingBatch

SCHEMA_VERSION = 1
DEFAULT_RECENT_LIMIT = 50_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series(
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    device TEXT NOT NULL,
    point TEXT NOT NULL,
    unit TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'gauge',
    tags TEXT NOT NULL DEFAULT '{}',
    UNIQUE(site, building, device, point)
);
-- Readings land in samples_recent (append-only, no index: cheap to write) and move in
-- bulk, sorted by series, into samples_indexed. Indexing each batch directly would touch
-- one index page per series in every commit; moving tens of thousands of readings at once
-- touches each page once. `samples` shows both.
CREATE TABLE IF NOT EXISTS samples_indexed(
    series_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    value REAL,
    text TEXT,
    quality TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS samples_indexed_by_series_ts ON samples_indexed(series_id, ts);
CREATE TABLE IF NOT EXISTS samples_recent(
    series_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    value REAL,
    text TEXT,
    quality TEXT NOT NULL,
    reason TEXT
);
CREATE VIEW IF NOT EXISTS samples AS
    SELECT series_id, ts, value, text, quality, reason FROM samples_indexed
    UNION ALL
    SELECT series_id, ts, value, text, quality, reason FROM samples_recent;
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    edge TEXT NOT NULL,
    seq INTEGER NOT NULL,
    site TEXT NOT NULL,
    building TEXT NOT NULL,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    colour TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_ts ON events(ts);
CREATE TABLE IF NOT EXISTS edges(
    name TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    -- The buildings it may write, comma-separated (a name cannot hold a comma); NULL: any.
    building TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_seen REAL,
    backlog TEXT NOT NULL DEFAULT '{}'
);
-- One per stream: outbox '' and generation '' are an edge's default stream (batches
-- without `stream`, and every cursor from before streams existed).
CREATE TABLE IF NOT EXISTS cursors(
    edge TEXT NOT NULL,
    outbox TEXT NOT NULL,
    generation TEXT NOT NULL,
    lane TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    acked INTEGER NOT NULL,
    dropped_at_edge INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY(edge, outbox, generation, lane)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollups(
    series_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    bucket_start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    first REAL NOT NULL,
    last REAL NOT NULL,
    first_ts REAL NOT NULL,
    last_ts REAL NOT NULL,
    increase REAL NOT NULL,
    -- Time-major: a batch updates the current bucket of every series, and those rows sit
    -- side by side, so a commit dirties a few pages instead of one page per series.
    PRIMARY KEY(step, bucket_start, series_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollups_by_series ON rollups(series_id, step, bucket_start);
"""


@dataclass(frozen=True)
class _BulkInsert:
    """An INSERT of many rows given as one flat list of values.

    Binding values dominates writing a batch; with 100 rows per statement SQLite steps
    (and Python releases and retakes its GIL) once per 100 rows instead of once per row,
    which makes inserting a batch ~40% faster than executemany.
    """

    head: str  # INSERT INTO table(columns)
    width: int  # values per row
    tail: str = ""  # e.g. an ON CONFLICT clause
    rows_per_statement: int = 100

    def run(self, db: sqlite3.Connection, flat: list) -> None:
        row = "(" + ",".join("?" * self.width) + ")"
        chunk = self.width * self.rows_per_statement
        whole = len(flat) - len(flat) % chunk
        if whole:
            many = f"{self.head} VALUES {','.join([row] * self.rows_per_statement)} {self.tail}"
            for i in range(0, whole, chunk):
                db.execute(many, flat[i : i + chunk])
        if whole < len(flat):
            rest = flat[whole:]
            db.executemany(
                f"{self.head} VALUES {row} {self.tail}",
                [rest[i : i + self.width] for i in range(0, len(rest), self.width)],
            )


_INSERT_SAMPLES = _BulkInsert(
    "INSERT INTO samples_recent(series_id, ts, value, text, quality, reason)", 6
)
_MOVE_RECENT = """
INSERT INTO samples_indexed(series_id, ts, value, text, quality, reason)
    SELECT series_id, ts, value, text, quality, reason FROM samples_recent
    ORDER BY series_id, ts, rowid
"""
_SAMPLE_TABLES = ("samples_indexed", "samples_recent")  # in the order readings arrived
_UPSERT_ROLLUPS = _BulkInsert(
    "INSERT INTO rollups(series_id, step, bucket_start, count, sum, min, max, first, last,"
    " first_ts, last_ts, increase)",
    12,
    "ON CONFLICT(step, bucket_start, series_id) DO UPDATE SET count=excluded.count,"
    " sum=excluded.sum, min=excluded.min, max=excluded.max, first=excluded.first,"
    " last=excluded.last, first_ts=excluded.first_ts, last_ts=excluded.last_ts,"
    " increase=excluded.increase",
)
_ROLLUP_COLUMNS = "count, sum, min, max, first, last, first_ts, last_ts, increase"

_by_ts = itemgetter(0)
_aggregate_values = attrgetter(*_ROLLUP_COLUMNS.split(", "))  # an Aggregate as a row
_by_ts_and_arrival = itemgetter(0, 1, 2)  # (ts, table, rowid) of a raw row
_GOOD = Quality.GOOD

Synchronous = Literal["NORMAL", "FULL"]

_SeriesEntry = tuple[int, str, str]  # (series id, unit, kind)
# The latest bucket of one (series, step): (bucket start, aggregate), None when empty
_Latest = tuple[int, Aggregate] | None


@dataclass(slots=True)
class _Device:
    """What the writer knows of one device's committed rows."""

    tags: dict[str, str] | None  # the tags on its series; None: not known yet
    points: dict[str, _SeriesEntry]  # point name -> its series


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _connect(path: Path, synchronous: Synchronous) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit BEGIN/COMMIT, nothing implicit
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
    # Every batch rewrites the pages of the current rollup buckets; checkpointing every
    # 40 MiB instead of 4 MiB copies such a page to the database once per many batches.
    conn.execute("PRAGMA wal_autocheckpoint=10000")
    return conn


class SqliteStore:
    """The Store protocol over one SQLite file."""

    name = "sqlite"

    def __init__(
        self,
        path: Path | str,
        synchronous: Synchronous = "NORMAL",
        recent_limit: int = DEFAULT_RECENT_LIMIT,
    ) -> None:
        """recent_limit: readings held in samples_recent before they move to
        samples_indexed (a raw query scans samples_recent without an index)."""
        self.path = Path(path)
        self._recent_limit = recent_limit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous: Synchronous = synchronous
        self._write_lock = threading.Lock()
        self._db = _connect(self.path, synchronous)
        self._migrate()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        # Caches of committed state, used only under the write lock; cleared on rollback.
        self._devices: dict[tuple[str, str, str], _Device] = {}  # (site, building, device)
        self._latest: dict[tuple[int, int], _Latest] = {}
        self._recent_rows: int | None = None  # rows in samples_recent; None: count them
        self._closed = False

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {version}; this Steward knows up to "
                f"{SCHEMA_VERSION}: upgrade Steward"
            )
        _set_aside_per_lane_cursors(self._db)
        self._db.executescript(_SCHEMA)
        _adopt_per_lane_cursors(self._db)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # ------------------------------------------------------------------ connections

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = _connect(self.path, self._synchronous)
            conn.execute("PRAGMA query_only=1")
            with self._readers_lock:
                self._all_readers.append(conn)
        try:
            yield conn
        finally:
            self._readers.put(conn)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The writer connection inside BEGIN IMMEDIATE .. COMMIT, under the write lock."""
        with self._write_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                # The caches may describe rows that were just rolled back.
                self._devices.clear()
                self._latest.clear()
                self._recent_rows = None
                raise

    def close(self) -> None:
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
        with self._readers_lock:
            for conn in self._all_readers:
                conn.close()
            self._all_readers.clear()

    def ping(self) -> None:
        with self._reader() as db:
            db.execute("SELECT 1").fetchone()

    # ------------------------------------------------------------------ ingest

    def ingest(
        self, edge: EdgeIdentity, batch: ReadingBatch | EventBatch, received_at: float
    ) -> IngestOutcome:
        try:
            return self._ingest(edge, batch, received_at)
        except sqlite3.OperationalError as e:  # disk full, I/O error, locked too long
            raise StoreUnavailableError(f"{self.path}: {e}") from e

    def _ingest(
        self, edge: EdgeIdentity, batch: ReadingBatch | EventBatch, received_at: float
    ) -> IngestOutcome:
        lane = batch.lane
        records = batch.records
        stream = batch.stream
        outbox, generation, first_seq = (
            (stream.outbox, stream.generation, stream.first_seq) if stream else ("", "", 1)
        )
        key = (edge.name, outbox, generation, lane)
        staged_latest: dict[tuple[int, int], _Latest] = {}
        with self._transaction() as db:
            row = db.execute(
                "SELECT first_seq, acked, dropped_at_edge, duplicates FROM cursors"
                " WHERE edge=? AND outbox=? AND generation=? AND lane=?",
                key,
            ).fetchone()
            if row is not None and row[0] != first_seq:
                raise IngestRefusedError(
                    "stream.first_seq",
                    f"stream.first_seq: generation {generation} of outbox {outbox} starts at"
                    f" seq {row[0]} of lane {lane}, not {first_seq}",
                )
            _, acked, dropped_total, duplicates_total = row or (first_seq, first_seq - 1, 0, 0)
            # Records at or below acked are a prefix of the batch: seq numbers are consecutive.
            duplicates = min(len(records), max(0, acked - records[0].seq + 1))
            new = records[duplicates:]
            dropped = 0
            points = 0
            if new:
                dropped = max(0, new[0].seq - acked - 1)
                if dropped and batch.dropped_through < new[0].seq - 1:
                    raise IngestRefusedError("dropped_through", _unreported_jump(batch, acked))
                if isinstance(batch, ReadingBatch):
                    points = self._store_readings(db, batch, new, staged_latest)  # type: ignore[arg-type]
                else:
                    self._store_events(db, edge, batch, new)  # type: ignore[arg-type]
                acked = new[-1].seq
            db.execute(
                "INSERT INTO cursors(edge, outbox, generation, lane, first_seq, acked,"
                " dropped_at_edge, duplicates, updated_at) VALUES(?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(edge, outbox, generation, lane) DO UPDATE SET acked=excluded.acked,"
                " dropped_at_edge=excluded.dropped_at_edge, duplicates=excluded.duplicates,"
                " updated_at=excluded.updated_at",
                (
                    *key,
                    first_seq,
                    acked,
                    dropped_total + dropped,
                    duplicates_total + duplicates,
                    received_at,
                ),
            )
            self._note_edge_seen(db, edge.name, batch.backlog, received_at)
        self._latest.update(staged_latest)
        ack = IngestAck(
            lane=lane,
            acked=acked,
            accepted=len(new),
            duplicates=duplicates,
            dropped_at_edge=dropped,
        )
        return IngestOutcome(
            ack=ack,
            first_seq=records[0].seq,
            last_seq=records[-1].seq,
            new_records=new,
            points=points,
        )

    def _store_readings(
        self,
        db: sqlite3.Connection,
        batch: ReadingBatch,
        records: list,
        staged_latest: dict[tuple[int, int], _Latest],
    ) -> int:
        site, building = batch.site, batch.building
        devices = self._devices
        rows: list = []  # flat: 6 values a reading
        add = rows.extend
        good: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
        for record in records:
            ts = record.ts
            tags = record.tags
            device = devices.get((site, building, record.device))
            if device is None:
                device = devices[(site, building, record.device)] = _Device(None, {})
            if device.tags != tags:
                self._retag_device(db, site, building, record.device, device, tags)
            known = device.points
            for p in record.points:
                entry = known.get(p.point)
                if entry is None or entry[1] != p.unit or entry[2] != p.kind:
                    entry = known[p.point] = self._series_entry(
                        db, site, building, record.device, p.point, p.unit, p.kind, tags
                    )
                series_id = entry[0]
                value = p.value
                quality = p.quality
                if value.__class__ is float:
                    add((series_id, ts, value, None, quality, p.reason))
                    if quality is _GOOD:
                        good[series_id].append((ts, value))
                elif value is None:
                    add((series_id, ts, None, None, quality, p.reason))
                else:
                    add((series_id, ts, None, value, quality, p.reason))
        _INSERT_SAMPLES.run(db, rows)
        stored = len(rows) // _INSERT_SAMPLES.width
        self._update_rollups(db, good, staged_latest)
        self._note_recent(db, stored)
        return stored

    def _note_recent(self, db: sqlite3.Connection, added: int) -> None:
        if self._recent_rows is None:
            (self._recent_rows,) = db.execute("SELECT count(*) FROM samples_recent").fetchone()
        else:
            self._recent_rows += added
        if self._recent_rows >= self._recent_limit:
            db.execute(_MOVE_RECENT)
            db.execute("DELETE FROM samples_recent")
            self._recent_rows = 0

    def _retag_device(
        self,
        db: sqlite3.Connection,
        site: str,
        building: str,
        name: str,
        device: _Device,
        tags: dict[str, str],
    ) -> None:
        # Tags describe the device; they live on each of its series for simple queries.
        db.execute(
            "UPDATE series SET tags=?1 WHERE site=?2 AND building=?3 AND device=?4 AND tags!=?1",
            (_json(tags), site, building, name),
        )
        device.tags = tags

    def _series_entry(
        self,
        db: sqlite3.Connection,
        site: str,
        building: str,
        device: str,
        point: str,
        unit: str,
        kind: str,
        tags: dict,
    ) -> _SeriesEntry:
        # The catalogue follows the latest unit and kind the edge reports for a point.
        (series_id,) = db.execute(
            "INSERT INTO series(site, building, device, point, unit, kind, tags)"
            " VALUES(?,?,?,?,?,?,?) ON CONFLICT(site, building, device, point)"
            " DO UPDATE SET unit=excluded.unit, kind=excluded.kind RETURNING id",
            (site, building, device, point, unit, kind, _json(tags)),
        ).fetchone()
        return (series_id, unit, kind)

    def _latest_bucket(self, db: sqlite3.Connection, series_id: int, step: int) -> _Latest:
        key = (series_id, step)
        try:
            return self._latest[key]
        except KeyError:
            pass
        row = db.execute(
            f"SELECT bucket_start, {_ROLLUP_COLUMNS} FROM rollups WHERE series_id=? AND step=?"
            " ORDER BY bucket_start DESC LIMIT 1",
            key,
        ).fetchone()
        latest = None if row is None else (row[0], Aggregate(*row[1:]))
        self._latest[key] = latest
        return latest

    def _stored_bucket(
        self, db: sqlite3.Connection, series_id: int, step: int, start: int
    ) -> Aggregate | None:
        row = db.execute(
            f"SELECT {_ROLLUP_COLUMNS} FROM rollups"
            " WHERE series_id=? AND step=? AND bucket_start=?",
            (series_id, step, start),
        ).fetchone()
        return None if row is None else Aggregate(*row)

    def _update_rollups(
        self,
        db: sqlite3.Connection,
        good: dict[int, list[tuple[float, float]]],
        staged_latest: dict[tuple[int, int], _Latest],
    ) -> None:
        upserts: list = []  # flat: 12 values a bucket
        add = upserts.extend
        rebuild: list[tuple[int, int, int]] = []  # (series, step, start) of late counters
        kinds: dict[int, str] = {}
        fine_step, hour_step, day_step = STEPS["15m"], STEPS["1h"], STEPS["1d"]
        for series_id, readings in good.items():
            if len(readings) > 1:
                readings.sort(key=_by_ts)  # linear when already in order, as it nearly always is
            # Aggregate the batch once at 15 min, then coarser from those (usually one each).
            fine = aggregate_sorted(readings, fine_step)
            hourly = regroup(fine, hour_step)
            for step, buckets in (
                (fine_step, fine),
                (hour_step, hourly),
                (day_step, regroup(hourly, day_step)),
            ):
                latest = self._latest_bucket(db, series_id, step)
                for start, agg in buckets.items():
                    if latest is None or start > latest[0]:
                        merged: Aggregate | None = agg  # a new bucket, the usual case
                    elif start == latest[0] and latest[1].last_ts <= agg.first_ts:
                        merged = combine(latest[1], agg)  # the current bucket continues
                    else:  # late readings: older than the latest stored one
                        stored = (
                            latest[1]
                            if start == latest[0]
                            else self._stored_bucket(db, series_id, step, start)
                        )
                        if stored is None:
                            merged = agg
                        elif (merged := merge(stored, agg)) is None:  # they interleave
                            if self._kind(db, series_id, kinds) == "counter":
                                rebuild.append((series_id, step, start))
                                continue
                            merged = merge_ignoring_order(stored, agg)
                    add((series_id, step, start, *_aggregate_values(merged)))
                    if latest is None or start >= latest[0]:
                        latest = (start, merged)
                staged_latest[(series_id, step)] = latest
        _UPSERT_ROLLUPS.run(db, upserts)
        if rebuild:
            self._rebuild_counter_buckets(db, rebuild, staged_latest)

    def _kind(self, db: sqlite3.Connection, series_id: int, known: dict[int, str]) -> str:
        if series_id not in known:
            (known[series_id],) = db.execute(
                "SELECT kind FROM series WHERE id=?", (series_id,)
            ).fetchone()
        return known[series_id]

    def _rebuild_counter_buckets(
        self,
        db: sqlite3.Connection,
        wanted: list[tuple[int, int, int]],
        staged_latest: dict[tuple[int, int], _Latest],
    ) -> None:
        """Recompute buckets of counters whose readings arrived out of time order, where
        consumption depends on the order: 15-min buckets from the raw readings (this
        batch's included: same transaction), hours from their 15-min buckets, days from
        their hours, so no rebuild reads more than 15 minutes of raw readings."""
        fine_step = STEPS["15m"]
        by_step: defaultdict[int, set[tuple[int, int]]] = defaultdict(set)
        for series_id, step, start in wanted:
            by_step[step].add((series_id, start))
        rebuilt: dict[tuple[int, int, int], Aggregate] = {}
        readings = self._good_readings(db, by_step[fine_step], fine_step)
        rows: list = []
        for series_id, start in by_step[fine_step]:
            agg = aggregate_sorted(readings[(series_id, start)], fine_step)[start]
            rebuilt[(series_id, fine_step, start)] = agg
            rows.extend((series_id, fine_step, start, *_aggregate_values(agg)))
        _UPSERT_ROLLUPS.run(db, rows)
        for finer, step in ((fine_step, STEPS["1h"]), (STEPS["1h"], STEPS["1d"])):
            rows = []
            for series_id, start in by_step[step]:
                parts = db.execute(
                    f"SELECT {_ROLLUP_COLUMNS} FROM rollups WHERE series_id=? AND step=?"
                    " AND bucket_start>=? AND bucket_start<? ORDER BY bucket_start",
                    (series_id, finer, start, start + step),
                ).fetchall()
                agg = functools.reduce(combine, (Aggregate(*part) for part in parts))
                rebuilt[(series_id, step, start)] = agg
                rows.extend((series_id, step, start, *_aggregate_values(agg)))
            _UPSERT_ROLLUPS.run(db, rows)
        for (series_id, step, start), agg in rebuilt.items():
            latest = staged_latest.get((series_id, step))
            if latest is not None and latest[0] == start:
                staged_latest[(series_id, step)] = (start, agg)

    def _good_readings(
        self, db: sqlite3.Connection, buckets: set[tuple[int, int]], step: int
    ) -> defaultdict[tuple[int, int], list[tuple[float, float]]]:
        """Good numeric readings of the given (series, bucket start)s, in time order."""
        found: defaultdict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
        if not buckets:
            return found
        for series_id, start in buckets:  # indexed: one range each
            found[(series_id, start)] += db.execute(
                "SELECT ts, value FROM samples_indexed WHERE series_id=? AND ts>=? AND ts<?"
                " AND quality='good' AND value IS NOT NULL ORDER BY ts, rowid",
                (series_id, start, start + step),
            ).fetchall()
        series = {series_id for series_id, _ in buckets}
        rows = db.execute(  # not indexed: one pass for all
            "SELECT series_id, ts, value FROM samples_recent"
            " WHERE quality='good' AND value IS NOT NULL ORDER BY rowid"
        )
        for series_id, ts, value in rows:
            if series_id in series:
                key = (series_id, int(ts // step) * step)
                if key in buckets:
                    found[key].append((ts, value))
        for readings in found.values():
            readings.sort(key=_by_ts)  # stable: arrival order among equal timestamps
        return found

    def _store_events(
        self, db: sqlite3.Connection, edge: EdgeIdentity, batch: EventBatch, records: list
    ) -> None:
        rows = [
            (
                edge.name,
                r.seq,
                batch.site,
                batch.building,
                r.ts,
                r.type,
                r.source,
                r.code,
                r.message,
                r.colour,
                _json(r.data),
            )
            for r in records
        ]
        db.executemany(
            "INSERT INTO events(edge, seq, site, building, ts, type, source, code, message,"
            " colour, data) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def _note_edge_seen(
        self,
        db: sqlite3.Connection,
        name: str,
        backlog: dict[str, Backlog],
        received_at: float,
    ) -> None:
        if not backlog:
            db.execute("UPDATE edges SET last_seen=? WHERE name=?", (received_at, name))
            return
        row = db.execute("SELECT backlog FROM edges WHERE name=?", (name,)).fetchone()
        if row is None:  # a store used without registered edges (benchmarks, tools)
            return
        reported = orjson.loads(row[0])
        for lane, state in backlog.items():
            reported[lane] = {**state.model_dump(), "reported_at": received_at}
        db.execute(
            "UPDATE edges SET last_seen=?, backlog=? WHERE name=?",
            (received_at, _json(reported), name),
        )

    # ------------------------------------------------------------------ queries

    def list_series(
        self, site: str | None = None, building: str | None = None, device: str | None = None
    ) -> list[SeriesInfo]:
        where, params = [], []
        for column, wanted in (("site", site), ("building", building), ("device", device)):
            if wanted is not None:
                where.append(f"{column}=?")
                params.append(wanted)
        sql = "SELECT id, site, building, device, point, unit, kind, tags FROM series"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._reader() as db:
            rows = db.execute(sql + " ORDER BY id", params).fetchall()
        return [_series_info(row) for row in rows]

    def get_series(self, series_id: int) -> SeriesInfo | None:
        with self._reader() as db:
            row = db.execute(
                "SELECT id, site, building, device, point, unit, kind, tags FROM series WHERE id=?",
                (series_id,),
            ).fetchone()
        return None if row is None else _series_info(row)

    def raw(
        self, series_id: int, start: float, end: float, limit: int, after: str | None = None
    ) -> Page:
        # Rows come in (ts, arrival) order; a cursor is (ts, how many rows of that ts were
        # already handed out), which stays true when rows move between the two tables.
        skip = 0
        if after is not None:
            start, skip = _parse_raw_cursor(after, start)
        wanted = skip + limit + 1
        found: list[tuple] = []
        with self._reader() as db:
            for order, table in enumerate(_SAMPLE_TABLES):
                found += db.execute(
                    f"SELECT ts, {order}, rowid, value, text, quality, reason FROM {table}"
                    " WHERE series_id=? AND ts>=? AND ts<? ORDER BY ts, rowid LIMIT ?",
                    (series_id, start, end, wanted),
                ).fetchall()
        found.sort(key=_by_ts_and_arrival)
        found = found[skip:wanted]
        more = len(found) > limit
        found = found[:limit]
        rows = [
            RawRow(ts, value, text, quality, reason)
            for ts, _, _, value, text, quality, reason in found
        ]
        next_after = None
        if more:
            last_ts = found[-1][0]
            same = sum(1 for row in found if row[0] == last_ts)
            if last_ts == start:
                same += skip
            next_after = f"{last_ts!r},{same}"
        return Page(rows=rows, next_after=next_after)

    def rollups(
        self,
        series_id: int,
        step: int,
        start: float,
        end: float,
        limit: int,
        after: str | None = None,
    ) -> Page:
        sql = (
            f"SELECT bucket_start, {_ROLLUP_COLUMNS} FROM rollups"
            " WHERE series_id=? AND step=? AND bucket_start>=? AND bucket_start<?"
        )
        params: list = [series_id, step, start, end]
        if after is not None:
            sql += " AND bucket_start>?"
            params.append(_parse_bucket_cursor(after))
        sql += " ORDER BY bucket_start LIMIT ?"
        params.append(limit + 1)
        with self._reader() as db:
            found = db.execute(sql, params).fetchall()
            kind = db.execute("SELECT kind FROM series WHERE id=?", (series_id,)).fetchone()
            previous_last = None
            if found and kind is not None and kind[0] == "counter":
                before = db.execute(
                    "SELECT last FROM rollups WHERE series_id=? AND step=? AND bucket_start<?"
                    " ORDER BY bucket_start DESC LIMIT 1",
                    (series_id, step, found[0][0]),
                ).fetchone()
                previous_last = None if before is None else before[0]
        more = len(found) > limit
        found = found[:limit]
        aggregates = [Aggregate(*row[1:]) for row in found]
        used: list[float | None]
        if kind is not None and kind[0] == "counter":
            used = list(consumption(aggregates, previous_last))
        else:
            used = [None] * len(aggregates)
        rows = [
            BucketRow(
                start=row[0],
                count=a.count,
                min=a.min,
                max=a.max,
                avg=a.avg,
                first=a.first,
                last=a.last,
                first_ts=a.first_ts,
                last_ts=a.last_ts,
                consumption=c,
            )
            for row, a, c in zip(found, aggregates, used, strict=True)
        ]
        return Page(rows=rows, next_after=str(found[-1][0]) if more else None)

    # ------------------------------------------------------------------ edges

    def add_edge(self, identity: EdgeIdentity, token_hash: str) -> None:
        buildings = identity.buildings
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO edges(name, site, building, token_hash, created_at)"
                    " VALUES(?,?,?,?,?)",
                    (
                        identity.name,
                        identity.site,
                        None if buildings is None else ",".join(buildings),
                        token_hash,
                        time.time(),
                    ),
                )
        except sqlite3.IntegrityError as e:
            raise EdgeExistsError(f"an edge named {identity.name!r} already exists") from e

    def revoke_edge(self, name: str) -> bool:
        with self._transaction() as db:
            changed = db.execute("UPDATE edges SET revoked=1 WHERE name=?", (name,)).rowcount
        return changed > 0

    def credential(self, token_hash: str) -> EdgeCredential | None:
        with self._reader() as db:
            row = db.execute(
                "SELECT name, site, building, revoked FROM edges WHERE token_hash=?",
                (token_hash,),
            ).fetchone()
        if row is None:
            return None
        name, site, building, revoked = row
        return EdgeCredential(_identity(name, site, building), bool(revoked))

    def list_edges(self) -> list[EdgeInfo]:
        with self._reader() as db:
            edges = db.execute(
                "SELECT name, site, building, revoked, created_at, last_seen, backlog"
                " FROM edges ORDER BY name"
            ).fetchall()
            cursors = self._cursor_rows(db, None)
        lanes: defaultdict[str, dict[str, LaneState]] = defaultdict(dict)
        for c in cursors:  # oldest update first: the latest stream of a lane wins
            before = lanes[c.edge].get(c.lane)
            lanes[c.edge][c.lane] = LaneState(
                c.acked,
                c.dropped_at_edge + (before.dropped_at_edge if before else 0),
                c.duplicates + (before.duplicates if before else 0),
                c.outbox,
                c.generation,
                c.first_seq,
            )
        out = []
        for name, site, building, revoked, created_at, last_seen, backlog in edges:
            identity = _identity(name, site, building)
            out.append(
                EdgeInfo(
                    name=name,
                    site=site,
                    building=identity.building,
                    revoked=bool(revoked),
                    created_at=created_at,
                    last_seen=last_seen,
                    backlog=orjson.loads(backlog),
                    lanes=lanes.get(name, {}),
                    buildings=identity.buildings,
                )
            )
        return out

    def cursors(self, edge: str | None = None) -> list[CursorInfo]:
        """Every cursor (of one edge), oldest update first."""
        with self._reader() as db:
            return self._cursor_rows(db, edge)

    @staticmethod
    def _cursor_rows(db: sqlite3.Connection, edge: str | None) -> list[CursorInfo]:
        sql = (
            "SELECT edge, lane, outbox, generation, first_seq, acked, dropped_at_edge,"
            " duplicates, updated_at FROM cursors"
        )
        params: tuple = ()
        if edge is not None:
            sql += " WHERE edge=?"
            params = (edge,)
        rows = db.execute(sql + " ORDER BY updated_at, edge, lane", params).fetchall()
        return [CursorInfo(*row) for row in rows]

    def reset_cursor(self, edge: str, lane: str, outbox: str, generation: str, acked: int) -> int:
        """Set one cursor's acked seq (an operator undoing a poisoned lane); returns what it
        was. KeyError when there is no such cursor; ValueError for an acked below the
        stream's first seq - 1."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT first_seq, acked FROM cursors"
                " WHERE edge=? AND outbox=? AND generation=? AND lane=?",
                (edge, outbox, generation, lane),
            ).fetchone()
            if row is None:
                raise KeyError(
                    f"edge {edge!r} has no cursor for lane {lane!r} of outbox {outbox!r}"
                    f" generation {generation!r}"
                )
            first_seq, before = row
            if acked < first_seq - 1:
                raise ValueError(f"acked {acked} is below this stream's first seq {first_seq} - 1")
            db.execute(
                "UPDATE cursors SET acked=?, updated_at=? WHERE edge=? AND outbox=?"
                " AND generation=? AND lane=?",
                (acked, time.time(), edge, outbox, generation, lane),
            )
        return before


def _identity(name: str, site: str, building: str | None) -> EdgeIdentity:
    if building is None:
        return EdgeIdentity(name, site)
    first, *more = building.split(",")
    return EdgeIdentity(name, site, first, tuple(more))


def _unreported_jump(batch: ReadingBatch | EventBatch, acked: int) -> str:
    first = batch.records[0].seq
    index = max(0, acked - first + 1)
    seq = batch.records[index].seq
    return (
        f"dropped_through: records[{index}].seq {seq} skips seq {acked + 1} to {seq - 1} of"
        f" lane {batch.lane} (acknowledged through {acked}), but the edge reports letting go"
        f" of records only through seq {batch.dropped_through}; resend from seq {acked + 1},"
        " or report the drop (an operator can reset the cursor: steward-api edges"
        " reset-cursor)"
    )


def _set_aside_per_lane_cursors(db: sqlite3.Connection) -> None:
    """Rename a cursors table from before streams (one per edge and lane) aside."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(cursors)")}
    if columns and "outbox" not in columns:
        db.execute("ALTER TABLE cursors RENAME TO cursors_per_lane")


def _adopt_per_lane_cursors(db: sqlite3.Connection) -> None:
    """Each old per-lane cursor becomes its edge's default stream for that lane."""
    found = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='cursors_per_lane'"
    if db.execute(found).fetchone() is None:
        return
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT INTO cursors(edge, outbox, generation, lane, first_seq, acked, dropped_at_edge,"
        " duplicates) SELECT edge, '', '', lane, 1, acked, dropped_at_edge, duplicates"
        " FROM cursors_per_lane"
    )
    db.execute("DROP TABLE cursors_per_lane")
    db.execute("COMMIT")


def _series_info(row: tuple) -> SeriesInfo:
    series_id, site, building, device, point, unit, kind, tags = row
    return SeriesInfo(series_id, site, building, device, point, unit, kind, orjson.loads(tags))


def _parse_raw_cursor(after: str, start: float) -> tuple[float, int]:
    """(the ts to resume at, rows of that ts to skip) from a cursor made by raw()."""
    try:
        ts_text, skip_text = after.split(",")
        ts, skip = float(ts_text), int(skip_text)
    except ValueError:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out") from None
    if not math.isfinite(ts) or skip < 1:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out")
    if ts < start:  # a cursor from before the query's start: resume at the start
        return start, 0
    return ts, skip


def _parse_bucket_cursor(after: str) -> int:
    try:
        return int(after)
    except ValueError:
        raise BadCursorError(f"after: {after!r} is not a cursor this API handed out") from None
