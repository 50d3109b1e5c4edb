"""Counter consumption in the SQLite store: edge/energy/ledger.py's ledger, kept per series.

Each counter series has a ledger state (its base reading and the suspect readings still
waiting, see edge/energy/ledger.py) in `counter_ledger`, cached by the writer. A batch's good
readings of a counter are fed to its ledger in time order; what the ledger books is
spread over 15-min and 1-h buckets (UTC-aligned) in proportion to time, and the 15-min
shares are summed into the site's local days (local_days.py: a local day is made of
whole 15-min buckets); all of it is added to `energy`, one bulk upsert per batch (no
statement per reading): energy_rows() makes the rows. A bucket in `energy` may have no
rollup row: the energy of a gap lands in buckets without readings.

Consumption no longer depends on query time or on the order buckets are read: it is
booked once, when the readings that show it arrive. A reading older than one the ledger
already took (late data) only joins the rollup's statistics (see edge/energy/ledger.py, LATE).

Every held-out amount the ledger marks (IMPLAUSIBLE, GAP_HELD) also becomes a quality event
to repair (sqlite_energy_quality.py); repairs and meter replacements are applied by
sqlite_energy_repairs.py through energy_rows() and add_energy().
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable

import orjson

from cloud_api.store.local_days import LocalDays
from cloud_api.store.rollup import STEPS
from cloud_api.store.sqlite_bulk import BulkInsert
from cloud_api.store.sqlite_energy_quality import QUALITY_SCHEMA, note_marks
from edge.energy import CounterRules, CounterState, Entries, feed, spread

ENERGY_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS energy(
    series_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    bucket_start INTEGER NOT NULL,
    booked REAL NOT NULL,  -- consumption in this bucket, in the series' unit
    held_out REAL NOT NULL,  -- energy seen here but not booked (implausible jump, long gap)
    flags INTEGER NOT NULL,  -- edge.energy.Flag
    PRIMARY KEY(step, bucket_start, series_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS energy_by_series ON energy(series_id, step, bucket_start);
CREATE TABLE IF NOT EXISTS counter_ledger(
    series_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL  -- edge.energy.CounterState.as_list()
);
"""
    + QUALITY_SCHEMA
)

_ADD_ENERGY = BulkInsert(
    "INSERT INTO energy(series_id, step, bucket_start, booked, held_out, flags)",
    6,
    "ON CONFLICT(step, bucket_start, series_id) DO UPDATE SET"
    " booked=booked+excluded.booked, held_out=held_out+excluded.held_out,"
    " flags=flags|excluded.flags",
)
_SAVE_STATES = BulkInsert(
    "INSERT INTO counter_ledger(series_id, state)",
    2,
    "ON CONFLICT(series_id) DO UPDATE SET state=excluded.state",
)
_FINE, _HOUR, _DAY = STEPS["15m"], STEPS["1h"], STEPS["1d"]


def energy_rows(series_id: int, entries: Entries, rows: list, days: LocalDays) -> None:
    """Append what `entries` adds to each bucket to `rows` (flat, 6 values a bucket):
    15-min and 1-h buckets spread by time, 1-day buckets the sums of the 15-min ones per
    local day of `days` (the series' site's, see sqlite_local_days.SiteDays)."""
    add = rows.extend
    fine = spread(entries, _FINE)
    if len(fine) == 1:
        # Everything in one 15-min bucket, as a batch's readings of a counter nearly
        # always are: spread() would give its hour the very same sums (each booking lies
        # inside the bucket, so inside its hour, taken in the same order), and its day is
        # that one bucket summed into zeros.
        ((start, (booked, held, flags)),) = fine.items()
        add((series_id, _FINE, start, booked, held, flags))
        add((series_id, _HOUR, start // _HOUR * _HOUR, booked, held, flags))
        add((series_id, _DAY, days.bounds(start)[0], 0.0 + booked, 0.0 + held, 0 | flags))
        return
    for start, (booked, held, flags) in fine.items():
        add((series_id, _FINE, start, booked, held, flags))
    for start, (booked, held, flags) in spread(entries, _HOUR).items():
        add((series_id, _HOUR, start, booked, held, flags))
    daily: dict[int, tuple[float, float, int]] = {}
    lo = hi = 0
    for start, (booked, held, flags) in fine.items():
        if not lo <= start < hi:
            lo, hi = days.bounds(start)
        b, h, f = daily.get(lo, (0.0, 0.0, 0))
        daily[lo] = (b + booked, h + held, f | flags)
    for start, (booked, held, flags) in daily.items():
        add((series_id, _DAY, start, booked, held, flags))


class EnergyBook:
    """The writer's side of the counter ledgers; caches states of committed rows."""

    def __init__(self) -> None:
        self._states: dict[int, CounterState] = {}
        self._staged: dict[int, CounterState] = {}

    def forget(self) -> None:
        self._states.clear()
        self._staged.clear()

    def committed(self) -> None:
        self._states.update(self._staged)
        self._staged.clear()

    def new_series(self, series_id: int) -> None:
        """A series created in this transaction: its ledger is empty, no need to look."""
        self._states[series_id] = CounterState()  # forget() drops it if this rolls back

    def book(
        self,
        db: sqlite3.Connection,
        counters: Iterable[tuple[int, CounterRules, list[tuple[float, float]]]],
        days: LocalDays,
    ) -> None:
        """Feed each counter's readings (in time order) to its ledger; store what it books
        (1-day buckets: local days of `days`, the counters' site's)."""
        rows: list = []  # flat: 6 values a bucket
        states: list = []
        for series_id, rules, readings in counters:
            state = self._state(db, series_id)
            entries = feed(state, readings, rules)
            if entries.bookings or entries.marks:
                energy_rows(series_id, entries, rows, days)
                if entries.marks:
                    note_marks(db, series_id, entries.marks)
            states.extend((series_id, orjson.dumps(state.as_list()).decode()))
            self._staged[series_id] = state
        _ADD_ENERGY.run(db, rows)
        _SAVE_STATES.run(db, states)

    def _state(self, db: sqlite3.Connection, series_id: int) -> CounterState:
        """A copy of the series' ledger state, to change; the cache keeps committed ones."""
        state = self._staged.get(series_id) or self._states.get(series_id)
        if state is None:
            state = self._states[series_id] = load_state(db, series_id)
        return CounterState(state.base_ts, state.base_value, list(state.pending))


def load_state(db: sqlite3.Connection, series_id: int) -> CounterState:
    """The series' stored ledger state (empty when it has none)."""
    row = db.execute("SELECT state FROM counter_ledger WHERE series_id=?", (series_id,)).fetchone()
    return CounterState() if row is None else CounterState.from_list(orjson.loads(row[0]))


def save_state(db: sqlite3.Connection, series_id: int, state: CounterState) -> None:
    _SAVE_STATES.run(db, [series_id, orjson.dumps(state.as_list()).decode()])


def add_energy(db: sqlite3.Connection, rows: list) -> None:
    """Add energy_rows()'s rows to the `energy` table (summed into existing buckets)."""
    _ADD_ENERGY.run(db, rows)


def backfill(
    db: sqlite3.Connection,
    rules_of: Callable[[int], CounterRules | None],
    days_of: Callable[[str], LocalDays],
) -> int:
    """Book every counter's stored readings (a file written before the ledger existed);
    days_of(site): the site's local days.

    Runs inside the caller's transaction; the number of readings fed.
    """
    book = EnergyBook()
    fed = 0
    series = db.execute("SELECT id, site FROM series WHERE kind='counter' ORDER BY id").fetchall()
    for series_id, site in series:
        rules = rules_of(series_id)
        if rules is None:
            continue
        readings = db.execute(
            "SELECT ts, value FROM samples WHERE series_id=? AND quality='good'"
            " AND value IS NOT NULL ORDER BY ts",
            (series_id,),
        )
        while chunk := readings.fetchmany(100_000):
            book.book(db, [(series_id, rules, chunk)], days_of(site))
            book.committed()
            fed += len(chunk)
    return fed
