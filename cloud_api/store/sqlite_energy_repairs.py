"""Repairs and meter replacements applied to the counter ledgers in the SQLite store.

A repair (edge/energy/repairs.py) of a quality event adds its bookings to the series'
`energy` buckets, spread as the ingest's bookings are (sqlite_energy.energy_rows), and
takes the held amount out of `held_out` of the buckets that held it; the event becomes
repaired and the repair is logged (sqlite_energy_quality.py).

A meter replacement declared after the ledger's latest reading of the series is applied to
its ledger state at once (the old meter's last step is booked; counting goes on from the
new meter's first reading). One at or before it changes what readings already booked
mean: the series' energy is rebuilt from its stored readings (its energy rows and ledger
state are replaced; every declared replacement is fed with them, in time order).
Rebuilding keeps quality events the ledger marks again, matched by (series, kind, ts):
their since/held follow the rebuild, and a repaired one gets its repair again (accept and
split book the held amount as the rebuild found it, estimate the logged estimate). Events
the ledger no longer marks become superseded (their repairs stay in the log).

Both run inside the caller's write transaction; the caller must drop the writer's cached
ledger states (SqliteStore.rewriting_ledgers does).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from cloud_api.store.local_days import DEFAULT_TIMEZONE, LocalDays
from cloud_api.store.sqlite_energy import (
    add_energy,
    energy_rows,
    load_state,
    save_state,
)
from cloud_api.store.sqlite_energy_quality import (
    REPAIRED,
    SUPERSEDED,
    QualityEvent,
    RepairRow,
    ReplacementRow,
    add_replacement,
    get_event,
    held_marks,
    list_events,
    log_repair,
    note_marks,
    repairs_of,
    replacements_of,
)
from edge.energy import (
    Action,
    Booking,
    CounterRules,
    CounterState,
    Entries,
    Mark,
    Replacement,
    feed,
    flag_names,
    repair,
    repair_entries,
)

CHUNK = 100_000  # readings fed at a time when rebuilding


class QualityEventNotFoundError(LookupError):
    """No quality event has that id (404)."""


class RepairConflictError(Exception):
    """The event cannot be repaired (again): 409. `first`: the repair it already has."""

    def __init__(self, message: str, first: RepairRow | None = None) -> None:
        super().__init__(message)
        self.first = first


class ReplacementConflictError(Exception):
    """The series already has a replacement declared at that instant (409)."""

    def __init__(self, message: str, existing: ReplacementRow) -> None:
        super().__init__(message)
        self.existing = existing


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _days_of_series(db: sqlite3.Connection, series_id: int) -> LocalDays:
    """The local days of the series' site, as its file records them (sqlite_local_days)."""
    row = db.execute(
        "SELECT t.timezone FROM series s JOIN site_timezones t ON t.site = s.site WHERE s.id=?",
        (series_id,),
    ).fetchone()
    return LocalDays(row[0] if row else DEFAULT_TIMEZONE)


def _add(db: sqlite3.Connection, series_id: int, entries: Entries) -> None:
    rows: list = []
    energy_rows(series_id, entries, rows, _days_of_series(db, series_id))
    add_energy(db, rows)


def _book_repair(
    db: sqlite3.Connection, series_id: int, mark: Mark, bookings: list[Booking]
) -> None:
    _add(db, series_id, repair_entries(mark, bookings))


def apply_repair(
    db: sqlite3.Connection,
    quality_id: int,
    action: Action,
    estimate: float | None,
    by: str,
    at: float,
    note: str | None,
) -> tuple[QualityEvent, RepairRow]:
    """Repair one quality event: the event as it is now, and the logged repair.

    QualityEventNotFoundError, RepairConflictError (repaired already: names the first
    repair; superseded), ValueError (edge.energy.repair's: a bad action or estimate).
    """
    event = get_event(db, quality_id)
    if event is None:
        raise QualityEventNotFoundError(f"there is no quality event {quality_id}")
    if event.state == REPAIRED:
        first = repairs_of(db, [quality_id])[quality_id][0]
        raise RepairConflictError(
            f"quality event {quality_id} is already repaired: repair {first.id} ({first.action},"
            f" {first.amount:g} {event.unit}) by {first.by} at {_iso(first.at)}. A repair is"
            " kept, never redone",
            first,
        )
    if event.state == SUPERSEDED:
        raise RepairConflictError(
            f"quality event {quality_id} is superseded: a meter replacement rebuilt series"
            f" {event.series_id}'s energy and it no longer holds this amount out (see its open"
            " quality events)"
        )
    mark = event.mark()
    bookings = repair(mark, action, estimate)
    _book_repair(db, event.series_id, mark, bookings)
    logged = log_repair(db, quality_id, action, sum(b.amount for b in bookings), by, at, note)
    now = get_event(db, quality_id)
    assert now is not None  # read just now, in this transaction
    return now, logged


def declare_replacement(
    db: sqlite3.Connection,
    series_id: int,
    replacement: Replacement,
    rules: CounterRules,
    by: str,
    at: float,
    note: str | None,
) -> tuple[ReplacementRow, int]:
    """Record and apply a meter replacement; the row and the readings fed again (0 when
    it applied to the ledger state without a rebuild).

    ReplacementConflictError (one at that ts already), ValueError (the ledger's: old_final
    below the old meter's reading).
    """
    for existing in replacements_of(db, series_id):
        if existing.ts == replacement.ts:
            raise ReplacementConflictError(
                f"series {series_id} already has a meter replacement at {_iso(existing.ts)}:"
                f" replacement {existing.id} by {existing.by} at {_iso(existing.at)}",
                existing,
            )
    state = load_state(db, series_id)
    latest = state.latest_ts
    if latest is None or replacement.ts > latest:
        entries = feed(state, [], rules, [replacement])
        _add(db, series_id, entries)
        note_marks(db, series_id, entries.marks)
        save_state(db, series_id, state)
        return add_replacement(db, series_id, replacement, False, by, at, note), 0
    row = add_replacement(db, series_id, replacement, True, by, at, note)
    return row, rebuild_series(db, series_id, rules)


def rebuild_series(db: sqlite3.Connection, series_id: int, rules: CounterRules) -> int:
    """Book a counter series' energy again from its stored readings and declared
    replacements (see the module docstring); the readings fed."""
    due = [r.replacement() for r in replacements_of(db, series_id)]  # in time order
    kept = {
        (e.kind, e.ts): e
        for e in list_events(db, series_id=series_id, limit=-1)
        if e.state != SUPERSEDED
    }
    logged = repairs_of(db, [e.id for e in kept.values() if e.state == REPAIRED])
    db.execute("DELETE FROM energy WHERE series_id=?", (series_id,))
    state = CounterState()
    marks: list[Mark] = []
    fed = 0
    readings = db.execute(
        "SELECT ts, value FROM samples WHERE series_id=? AND quality='good'"
        " AND value IS NOT NULL ORDER BY ts",
        (series_id,),
    )
    while chunk := readings.fetchmany(CHUNK):
        last = chunk[-1][0]
        now_due = [r for r in due if r.ts <= last]  # the rest may precede the next chunk
        due = due[len(now_due) :]
        entries = feed(state, chunk, rules, now_due)
        _add(db, series_id, entries)
        marks += held_marks(entries.marks)
        fed += len(chunk)
    if due:  # after the last reading
        entries = feed(state, [], rules, due)
        _add(db, series_id, entries)
        marks += held_marks(entries.marks)
    save_state(db, series_id, state)

    new: list[Mark] = []
    for m in marks:
        event = kept.pop((flag_names(m.flag)[0], m.ts), None)
        if event is None:
            new.append(m)
            continue
        db.execute(
            "UPDATE energy_quality SET since=?, held=? WHERE id=?", (m.since, m.held, event.id)
        )
        if event.state == REPAIRED:
            first = logged[event.id][0]
            estimate = first.amount if first.action == "estimate" else None
            _book_repair(db, series_id, m, repair(m, first.action, estimate))  # type: ignore[arg-type]
    db.executemany(
        "UPDATE energy_quality SET state=? WHERE id=?",
        [(SUPERSEDED, e.id) for e in kept.values()],
    )
    note_marks(db, series_id, new)
    return fed
