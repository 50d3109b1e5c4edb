"""The series half of the SQLite store: the catalogue, readings and rollups.

SqliteStore (sqlite.py) owns the file, its connections and transactions, the cursors and
the edges; it hands each batch's new reading records to a SeriesBook inside its
transaction. The queries over these tables are sqlite_queries.py's.

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
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter, itemgetter

import orjson

from cloud_api.store.rollup import (
    STEPS,
    Aggregate,
    aggregate_sorted,
    combine,
    merge,
    merge_ignoring_order,
    regroup,
)
from edge.model import Quality, ReadingBatch

DEFAULT_RECENT_LIMIT = 50_000

SERIES_SCHEMA = """
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
SAMPLE_TABLES = ("samples_indexed", "samples_recent")  # in the order readings arrived
_UPSERT_ROLLUPS = _BulkInsert(
    "INSERT INTO rollups(series_id, step, bucket_start, count, sum, min, max, first, last,"
    " first_ts, last_ts, increase)",
    12,
    "ON CONFLICT(step, bucket_start, series_id) DO UPDATE SET count=excluded.count,"
    " sum=excluded.sum, min=excluded.min, max=excluded.max, first=excluded.first,"
    " last=excluded.last, first_ts=excluded.first_ts, last_ts=excluded.last_ts,"
    " increase=excluded.increase",
)
ROLLUP_COLUMNS = "count, sum, min, max, first, last, first_ts, last_ts, increase"

_by_ts = itemgetter(0)
_aggregate_values = attrgetter(*ROLLUP_COLUMNS.split(", "))  # an Aggregate as a row
_GOOD = Quality.GOOD

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


class SeriesBook:
    """Writes readings and their rollups inside the store's write transaction.

    Holds caches of committed state; the store calls forget() when a transaction rolls
    back and committed() after one commits.
    """

    def __init__(self, recent_limit: int = DEFAULT_RECENT_LIMIT) -> None:
        """recent_limit: readings held in samples_recent before they move to
        samples_indexed (a raw query scans samples_recent without an index)."""
        self._recent_limit = recent_limit
        self._devices: dict[tuple[str, str, str], _Device] = {}  # (site, building, device)
        self._latest: dict[tuple[int, int], _Latest] = {}
        self._staged_latest: dict[tuple[int, int], _Latest] = {}
        self._recent_rows: int | None = None  # rows in samples_recent; None: count them

    def forget(self) -> None:
        """The transaction rolled back: the caches may describe rows that are gone."""
        self._devices.clear()
        self._latest.clear()
        self._staged_latest.clear()
        self._recent_rows = None

    def committed(self) -> None:
        self._latest.update(self._staged_latest)
        self._staged_latest.clear()

    def store_readings(self, db: sqlite3.Connection, batch: ReadingBatch, records: list) -> int:
        """Store new reading records and update rollups; the number of readings stored."""
        return self._store_readings(db, batch, records, self._staged_latest)

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
            f"SELECT bucket_start, {ROLLUP_COLUMNS} FROM rollups WHERE series_id=? AND step=?"
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
            f"SELECT {ROLLUP_COLUMNS} FROM rollups WHERE series_id=? AND step=? AND bucket_start=?",
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
                    f"SELECT {ROLLUP_COLUMNS} FROM rollups WHERE series_id=? AND step=?"
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
