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

The series catalogue, readings and rollups are sqlite_series.py's; their queries are
sqlite_queries.py's.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import orjson

from cloud_api.store import (
    sqlite_alarms,
    sqlite_budgets,
    sqlite_derived,
    sqlite_hazards,
    sqlite_overrides,
    sqlite_passes,
    sqlite_patrols,
    sqlite_queries,
    sqlite_security,
    sqlite_sessions,
    sqlite_users,
)
from cloud_api.store.base import (
    EdgeIdentity,
    IngestOutcome,
    IngestRefusedError,
    Page,
    SeriesInfo,
    StoreUnavailableError,
)
from cloud_api.store.sqlite_checkpoint import Checkpointer
from cloud_api.store.sqlite_edges import (
    EdgeRegistry,
    adopt_per_lane_cursors,
    set_aside_per_lane_cursors,
)
from cloud_api.store.sqlite_local_days import TimezoneOf
from cloud_api.store.sqlite_security import SecurityQueries
from cloud_api.store.sqlite_series import DEFAULT_RECENT_LIMIT, SeriesBook, SeriesLimits
from edge.energy import CounterRules
from edge.model import Backlog, EventBatch, IngestAck, ReadingBatch

# 2: series owner and wrap, counter ledgers (sqlite_series.py); 3: 1-day buckets are the
# sites' local days (site_timezones), latest values
SCHEMA_VERSION = 3

_SCHEMA = """
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
"""

Synchronous = Literal["NORMAL", "FULL"]


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


class SqliteStore(EdgeRegistry, SecurityQueries):
    """The Store protocol over one SQLite file (edges and cursors: EdgeRegistry; alarms,
    access events and patrol rounds: SecurityQueries)."""

    name = "sqlite"

    def __init__(
        self,
        path: Path | str,
        synchronous: Synchronous = "NORMAL",
        recent_limit: int = DEFAULT_RECENT_LIMIT,
        limits: SeriesLimits | None = None,
        timezone_of: TimezoneOf | None = None,
    ) -> None:
        """recent_limit: readings held in samples_recent before they move to
        samples_indexed (a raw query scans samples_recent without an index); limits:
        what the series catalogue and counter ledgers allow; timezone_of(site): the IANA
        zone whose local days are the site's 1-day buckets; a site recorded in another
        zone is rebuilt on open (sqlite_local_days.py). None (tools without the energy
        configuration): each site keeps the zone it is recorded in, Asia/Shanghai for
        the others."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._synchronous: Synchronous = synchronous
        self._write_lock = threading.Lock()
        self._db = _connect(self.path, synchronous)
        # Holds caches of committed state, used only under the write lock.
        self._series = SeriesBook(recent_limit, limits, timezone_of)
        self._migrate()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._checkpointer = Checkpointer(self.path)  # WAL copies off the ingest path

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {version}; this Steward knows up to "
                f"{SCHEMA_VERSION}: upgrade Steward"
            )
        set_aside_per_lane_cursors(self._db)
        self._series.migrate(self._db)
        self._db.executescript(_SCHEMA)
        sqlite_security.migrate(self._db)
        adopt_per_lane_cursors(self._db)
        sqlite_users.migrate(self._db)
        sqlite_sessions.migrate(self._db)
        sqlite_hazards.migrate(self._db)
        sqlite_passes.migrate(self._db)
        sqlite_budgets.migrate(self._db)
        sqlite_derived.migrate(self._db)
        sqlite_overrides.migrate(self._db)
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
                self._series.forget()
                raise

    # The tables of other concerns (users, hazards, passes, ...) live in their own modules
    # as functions taking a connection; routers reach them through these two.

    def reading(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A read-only connection from the pool, for one query."""
        return self._reader()

    def writing(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """The writer connection inside one transaction (BEGIN IMMEDIATE .. COMMIT)."""
        return self._transaction()

    @contextmanager
    def rewriting_ledgers(
        self,
    ) -> Iterator[tuple[sqlite3.Connection, Callable[[int], CounterRules]]]:
        """writing(), for a change to counter ledgers outside ingest (a meter replacement,
        a rebuild of a series' energy: sqlite_energy_repairs.py). Yields the connection and
        each series' ledger rules by id; the writer's cached ledger states are dropped
        before the transaction ends, so the next batch reads them afresh."""
        with self._transaction() as db:
            yield db, lambda series_id: self._series.counter_rules_of(db, series_id)
            self._series.forget()

    def close(self) -> None:
        self._checkpointer.close()
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
        with self._readers_lock:
            for conn in self._all_readers:
                conn.close()
            self._all_readers.clear()

    def timezone(self, site: str) -> str:
        """The IANA zone whose local days are the site's 1-day buckets."""
        return self._series.site_days.days(site).timezone

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
                    points = self._series.store_readings(db, edge.name, batch, new, received_at)  # type: ignore[arg-type]
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
        self._series.committed()
        self._checkpointer.poke()
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
        # Only the records stored now reach here: each changes its alarm or round once.
        sqlite_alarms.apply_alarm_records(db, edge, batch, records)
        sqlite_patrols.apply_round_records(db, batch, records)
        sqlite_derived.apply_derived_records(db, edge.name, batch, records)

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
        self,
        site: str | None = None,
        building: str | None = None,
        device: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[SeriesInfo]:
        with self._reader() as db:
            return sqlite_queries.list_series(db, site, building, device, after_id, limit)

    def get_series(self, series_id: int) -> SeriesInfo | None:
        with self._reader() as db:
            return sqlite_queries.get_series(db, series_id)

    def raw(
        self, series_id: int, start: float, end: float, limit: int, after: str | None = None
    ) -> Page:
        with self._reader() as db:
            return sqlite_queries.raw(db, series_id, start, end, limit, after)

    def rollups(
        self,
        series_id: int,
        step: int,
        start: float,
        end: float,
        limit: int,
        after: str | None = None,
    ) -> Page:
        with self._reader() as db:
            return sqlite_queries.rollups(db, series_id, step, start, end, limit, after)


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
