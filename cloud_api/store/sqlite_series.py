"""The series half of the SQLite store: the catalogue, readings and rollups.

SqliteStore (sqlite.py) owns the file, its connections and transactions, the cursors and
the edges; it hands each batch's new reading records to a SeriesBook inside its
transaction. The queries over these tables are sqlite_queries.py's; counter consumption
is sqlite_energy.py's.

The catalogue: a series is (site, building, device, point) with a unit and a kind that
never change (a point that arrives with another kind or unit is refused, 422: booking a
counter's readings as a gauge, or kWh as Wh, would make every figure built on it
wrong). It belongs to the edge that created it: another edge writing it is refused
(403), as is a batch that would take an edge past `max_series_per_edge` new series.
Series created before ownership existed belong to the first edge that writes them.

Readings go to samples_recent, which has no index, and move in bulk, sorted by series,
to samples_indexed every DEFAULT_RECENT_LIMIT readings (see the schema for why).

Rollups (see rollup.py for their meaning) are maintained in the same transaction by
sqlite_rollups.py: the batch's good numeric readings are aggregated in Python per
(series, step, bucket) first, then each touched bucket is written once by an upsert that
merges it with what the bucket held (rollup.merge()'s rules, in SQL: no read, no cache).
Readings older than a bucket's latest one (late data) merge the same way; nothing a
rollup reports depends on the order its readings arrived in. 1-day buckets are local
days of the batch's site (sqlite_local_days.py), as are the energy table's.

Each series' latest reading is kept in `latest` (sqlite_latest.py), in the same
transaction.
"""

from __future__ import annotations

import math
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson

from cloud_api.store.base import SeriesCapError, SeriesChangedError, SeriesOwnerError
from cloud_api.store.sqlite_bulk import BulkInsert
from cloud_api.store.sqlite_energy import ENERGY_SCHEMA, EnergyBook, backfill
from cloud_api.store.sqlite_latest import LATEST_SCHEMA, backfill_latest, note_latest
from cloud_api.store.sqlite_local_days import (
    SITE_TIMEZONES_SCHEMA,
    SiteDays,
    TimezoneOf,
    convert,
)
from cloud_api.store.sqlite_rollups import update_rollups
from edge.energy import CounterRules
from edge.model import Quality, ReadingBatch, WirePoint

# Moving 100,000 readings at once instead of 50,000 writes each series' index page once
# for twice as many readings: one move, 1 M points stored, 2.65 -> 1.97 us CPU a reading
# (-3.4 ms a 5,000-point batch); a raw query's scan of samples_recent then takes up to
# 3.7 ms instead of 1.9 (medians, bench/README.md's ingest section). 200,000 gained
# nothing more a reading.
DEFAULT_RECENT_LIMIT = 100_000
DEFAULT_MAX_SERIES_PER_EDGE = 50_000
# The most an energy register may rise per hour before a rise is implausible (a 100 MW
# load, far above any public building's); units not listed have no bound.
_PER_KWH = {"Wh": 1000.0, "kWh": 1.0, "MWh": 0.001}  # a kW rating as a counter's rate
DEFAULT_COUNTER_MAX_RATE: dict[str, float] = {
    "Wh": 1e8,
    "kWh": 1e5,
    "MWh": 1e2,
    "varh": 1e8,
    "kvarh": 1e5,
    "Mvarh": 1e2,
}


@dataclass(frozen=True)
class SeriesLimits:
    """What the catalogue and the counter ledgers allow (cloud_api/settings.py sets them)."""

    max_series_per_edge: int = DEFAULT_MAX_SERIES_PER_EDGE
    counter_max_rate: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_COUNTER_MAX_RATE)
    )  # unit -> most per hour
    counter_confirm: int = 2  # readings that must agree before a fall is a reset
    counter_max_spread: float = 31 * 86400.0  # a longer gap's energy is held out
    # (site, device) -> the meter's rating in kW (energy configuration `rated_kw`), which
    # bounds its counter tighter than the per-unit rate: a rise faster than the meter can
    # measure is held out as implausible.
    rated_kw: Callable[[str, str], float | None] = field(default=lambda site, device: None)

    def counter_rules(
        self, unit: str, wrap: float | None, site: str = "", device: str = ""
    ) -> CounterRules:
        max_rate = self.counter_max_rate.get(unit)
        rated = self.rated_kw(site, device) if device else None
        if rated is not None and unit in _PER_KWH:
            max_rate = rated * _PER_KWH[unit]
        return CounterRules(
            wrap=wrap,
            max_rate=max_rate,
            confirm=self.counter_confirm,
            max_spread=self.counter_max_spread,
        )


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
    wrap REAL,  -- a counter register's modulus in `unit` (edge/energy/ledger.py); NULL: none known
    edge TEXT,  -- the edge that created the series and alone may write it
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
    increase REAL NOT NULL,  -- rises inside the bucket; consumption is energy's (unused)
    -- Time-major: a batch updates the current bucket of every series, and those rows sit
    -- side by side, so a commit dirties a few pages instead of one page per series.
    PRIMARY KEY(step, bucket_start, series_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rollups_by_series ON rollups(series_id, step, bucket_start);
"""


_INSERT_SAMPLES = BulkInsert(
    "INSERT INTO samples_recent(series_id, ts, value, text, quality, reason)", 6
)
# A batch of only good numbers without a reason, as nearly all are, binds 3 values a
# reading instead of 6. sqlite3 binds an exact int, float or str directly but looks for
# an adapter for anything else, None included: measured 3.8 ms -> 0.8 ms for 5,000 rows.
_INSERT_PLAIN_SAMPLES = BulkInsert(
    "INSERT INTO samples_recent(series_id, ts, value, text, quality, reason)",
    3,
    rows_per_statement=250,
    row=f"(?,?,?,NULL,'{Quality.GOOD.value}',NULL)",
)
# A reading's id (raw queries page by (ts, id)) is its rowid in samples_indexed; while in
# samples_recent it is the highest rowid of samples_indexed plus its rowid there. The move
# gives each reading that very rowid, so ids never change, and samples_recent numbers
# from 1 again once emptied.
_MOVE_RECENT = """
INSERT INTO samples_indexed(rowid, series_id, ts, value, text, quality, reason)
    SELECT ?1 + rowid, series_id, ts, value, text, quality, reason FROM samples_recent
    ORDER BY series_id, ts, rowid
"""
SAMPLE_TABLES = ("samples_indexed", "samples_recent")  # in the order readings arrived
_GOOD = Quality.GOOD
_GOOD_TEXT = _GOOD.value
_QUALITY_TEXT = {q: q.value for q in Quality}


@dataclass(slots=True)
class _Series:
    """What the writer knows of one committed series."""

    id: int
    unit: str
    kind: str
    sent_wrap: float | None  # the wrap the edge last sent for it (None: none)


@dataclass(slots=True)
class _Device:
    """What the writer knows of one device's committed rows, for the edge writing it."""

    edge: str
    tags: dict[str, str] | None  # the tags on its series; None: not known yet
    points: dict[str, _Series]  # point name -> its series


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class SeriesBook:
    """Writes readings and their rollups inside the store's write transaction.

    Holds caches of committed state; the store calls forget() when a transaction rolls
    back and committed() after one commits.
    """

    def __init__(
        self,
        recent_limit: int = DEFAULT_RECENT_LIMIT,
        limits: SeriesLimits | None = None,
        timezone_of: TimezoneOf | None = None,
    ) -> None:
        """recent_limit: readings held in samples_recent before they move to
        samples_indexed (a raw query scans samples_recent without an index);
        timezone_of(site): the IANA zone whose local days the site's 1-day buckets are
        (default: Asia/Shanghai for every site)."""
        self._recent_limit = recent_limit
        self.site_days = SiteDays(timezone_of)
        self.limits = limits if limits is not None else SeriesLimits()
        self._devices: dict[tuple[str, str, str], _Device] = {}  # (site, building, device)
        self._recent_rows: int | None = None  # rows in samples_recent; None: count them
        self._owned: dict[str, int] = {}  # edge -> series it owns
        self._counter_rules: dict[int, CounterRules] = {}  # counter series id -> its rules
        self._energy = EnergyBook()

    def migrate(self, db: sqlite3.Connection) -> None:
        """Create or upgrade the tables (db in autocommit mode)."""
        before = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        db.executescript(SERIES_SCHEMA + ENERGY_SCHEMA + LATEST_SCHEMA + SITE_TIMEZONES_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(series)")}
        for column, kind in (("wrap", "REAL"), ("edge", "TEXT")):
            if column not in columns:  # a file from before ledger and ownership
                db.execute(f"ALTER TABLE series ADD COLUMN {column} {kind}")
        db.execute("CREATE INDEX IF NOT EXISTS series_by_edge ON series(edge)")
        # 1-day buckets of UTC days, or of a site's former zone, become its local days; a
        # file from before the ledger has no energy rows yet: backfill books local days.
        convert(db, self.site_days)
        if "series" in before and "energy" not in before:
            db.execute("BEGIN IMMEDIATE")
            backfill(db, lambda series_id: self._rules_of(db, series_id), self.site_days.days)
            db.execute("COMMIT")
        if "series" in before and "latest" not in before:
            db.execute("BEGIN IMMEDIATE")
            backfill_latest(db)
            db.execute("COMMIT")

    def _rules_of(self, db: sqlite3.Connection, series_id: int) -> CounterRules | None:
        return self.counter_rules_of(db, series_id)

    def counter_rules_of(self, db: sqlite3.Connection, series_id: int) -> CounterRules:
        """The ledger rules of a (counter) series, from its unit, wrap and meter rating."""
        unit, wrap, site, device = db.execute(
            "SELECT unit, wrap, site, device FROM series WHERE id=?", (series_id,)
        ).fetchone()
        return self.limits.counter_rules(unit, wrap, site, device)

    def forget(self) -> None:
        """The transaction rolled back: the caches may describe rows that are gone."""
        self._devices.clear()
        self._recent_rows = None
        self._owned.clear()
        self._counter_rules.clear()
        self._energy.forget()
        self.site_days.forget()

    def committed(self) -> None:
        self._energy.committed()

    def store_readings(
        self,
        db: sqlite3.Connection,
        edge: str,
        batch: ReadingBatch,
        records: list,
        received_at: float = 0.0,
    ) -> int:
        """Store new reading records of `edge` and update rollups and consumption; the
        number of readings stored. Raises BatchRefusedError (see the module docstring)."""
        site, building = batch.site, batch.building
        days = self.site_days.for_batch(db, site, received_at)
        devices = self._devices
        rows: list = []  # flat: 6 values a reading
        add = rows.extend
        good: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
        odd = 0  # readings that are not a good number without a reason
        record_starts: list[int] = []  # index of each record's first reading in rows
        intervals: list[float | None] = []  # each record's poll interval
        in_order, latest = True, -math.inf  # records in time order: so is each series'
        for record in records:
            ts = record.ts
            if ts < latest:
                in_order = False
            latest = ts
            record_starts.append(len(rows) // 6)
            intervals.append(record.interval)
            tags = record.tags
            device = devices.get((site, building, record.device))
            if device is None or device.edge != edge:
                device = devices[(site, building, record.device)] = _Device(edge, None, {})
            if device.tags != tags:
                self._retag_device(db, site, building, record.device, device, tags)
            known = device.points
            points = record.points
            for p in points:
                # A pydantic model keeps its fields' values in __dict__; reading them there
                # skips BaseModel.__getattr__'s slow attribute path (it also stops Python
                # from specialising the attribute loads): 34 -> 27 M instructions for this
                # loop over a 5,000-reading batch.
                fields = p.__dict__
                entry = known.get(fields["point"])
                if (
                    entry is None
                    or entry.unit != fields["unit"]
                    or entry.kind != fields["kind"]
                    or (entry.sent_wrap != fields["wrap"])
                ):
                    # rare: no enumerate for every reading
                    where = next(i for i, q in enumerate(points) if q is p)
                    entry = known[p.point] = self._series_entry(
                        db, edge, site, building, record.device, p, tags, record.seq, where
                    )
                series_id = entry.id
                value = fields["value"]
                quality = fields["quality"]
                # Plain str for quality: sqlite3 binds an exact str directly, a StrEnum
                # only after looking for an adapter (measured: +2 ms per 5,000 rows).
                if quality is _GOOD and value.__class__ is float:  # the usual reading
                    reason = fields["reason"]
                    add((series_id, ts, value, None, _GOOD_TEXT, reason))
                    good[series_id].append((ts, value))
                    if reason is not None:
                        odd += 1
                    continue
                odd += 1  # not a plain good number: the batch needs the 6-value insert
                if value.__class__ is float:
                    add((series_id, ts, value, None, _QUALITY_TEXT[quality], p.reason))
                elif value is None:
                    add((series_id, ts, None, None, _QUALITY_TEXT[quality], p.reason))
                else:
                    add((series_id, ts, None, value, _QUALITY_TEXT[quality], p.reason))
        stored = len(rows) // _INSERT_SAMPLES.width
        if odd:
            _INSERT_SAMPLES.run(db, rows)
        else:  # series_id, ts and value of each row, in the same order
            plain: list = [None] * (3 * stored)
            plain[0::3], plain[1::3], plain[2::3] = rows[0::6], rows[1::6], rows[2::6]
            _INSERT_PLAIN_SAMPLES.run(db, plain)
        update_rollups(db, good, days, in_order)
        note_latest(db, rows, record_starts, intervals, plain=not odd, in_order=in_order)
        counters = self._counter_rules
        booked = [(sid, counters[sid], good[sid]) for sid in good if sid in counters]
        if booked:  # good's readings are in time order (update_rollups sorts them if not)
            self._energy.book(db, booked, days)
        self._note_recent(db, stored)
        return stored

    def _note_recent(self, db: sqlite3.Connection, added: int) -> None:
        if self._recent_rows is None:
            (self._recent_rows,) = db.execute("SELECT count(*) FROM samples_recent").fetchone()
        else:
            self._recent_rows += added
        if self._recent_rows >= self._recent_limit:
            (base,) = db.execute("SELECT coalesce(max(rowid), 0) FROM samples_indexed").fetchone()
            db.execute(_MOVE_RECENT, (base,))
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
            "UPDATE series SET tags=?1 WHERE site=?2 AND building=?3 AND device=?4 AND tags!=?1"
            " AND (edge=?5 OR edge IS NULL)",
            (_json(tags), site, building, name, device.edge),
        )
        device.tags = tags

    def _series_entry(
        self,
        db: sqlite3.Connection,
        edge: str,
        site: str,
        building: str,
        device: str,
        p: WirePoint,
        tags: dict,
        seq: int,
        index: int,
    ) -> _Series:
        point, unit, kind, wrap = p.point, p.unit, p.kind, p.wrap
        where = f"site {site} building {building} device {device} point {point}"
        row = db.execute(
            "SELECT id, unit, kind, wrap, edge FROM series"
            " WHERE site=? AND building=? AND device=? AND point=?",
            (site, building, device, point),
        ).fetchone()
        if row is None:
            self._take_new_series(db, edge, where, seq)
            (series_id,) = db.execute(
                "INSERT INTO series(site, building, device, point, unit, kind, tags, wrap, edge)"
                " VALUES(?,?,?,?,?,?,?,?,?) RETURNING id",
                (site, building, device, point, unit, kind, _json(tags), wrap, edge),
            ).fetchone()
            self._energy.new_series(series_id)
            stored_wrap = wrap
        else:
            series_id, stored_unit, stored_kind, stored_wrap, owner = row
            if owner is None:  # from before ownership: the first edge to write it
                self._take_new_series(db, edge, where, seq)
                db.execute("UPDATE series SET edge=? WHERE id=?", (edge, series_id))
            elif owner != edge:
                raise SeriesOwnerError(
                    f"{where} (series {series_id}) belongs to edge {owner}; edge {edge} may"
                    " not write it",
                    seq,
                    ("points", index, "point"),
                )
            if (stored_kind, stored_unit) != (kind, unit):
                field_name = "kind" if stored_kind != kind else "unit"
                raise SeriesChangedError(
                    f"{where} (series {series_id}) is a {stored_kind} in {stored_unit!r};"
                    f" this record says {kind} in {unit!r}. A series never changes kind or"
                    " unit: name the point differently, or fix the device profile",
                    seq,
                    ("points", index, field_name),
                )
            if wrap is not None and wrap != stored_wrap:  # the edge (now) knows the register
                db.execute("UPDATE series SET wrap=? WHERE id=?", (wrap, series_id))
                stored_wrap = wrap
        if kind == "counter":
            self._counter_rules[series_id] = self.limits.counter_rules(
                unit, stored_wrap, site, device
            )
        return _Series(series_id, unit, kind, wrap)

    def _take_new_series(self, db: sqlite3.Connection, edge: str, where: str, seq: int) -> None:
        """Count one more series of `edge`; refuse it past the cap."""
        owned = self._owned.get(edge)
        if owned is None:
            (owned,) = db.execute("SELECT count(*) FROM series WHERE edge=?", (edge,)).fetchone()
        cap = self.limits.max_series_per_edge
        if owned >= cap:
            raise SeriesCapError(
                f"edge {edge} may create at most {cap} series (setting max_series_per_edge)"
                f" and has {owned}; {where} would be one more. Nothing of this batch was"
                " stored",
                seq,
            )
        self._owned[edge] = owned + 1  # forget() drops the count if the batch rolls back
