"""Quality events in the SQLite store (sqlite_energy_quality.py, sqlite_energy_repairs.py):
a gap too long to spread is held out as an event, and a repair books it (split: evenly
over the gap; accept: in the hour it was seen). Figures by hand in each test."""

from __future__ import annotations

import pytest
from api_testkit import DAY0, point, reading_batch, record, store_ingest

from cloud_api.store import sqlite_energy_quality as quality
from cloud_api.store.sqlite import SqliteStore
from cloud_api.store.sqlite_energy_repairs import apply_repair

HOUR = 3600
GAP = 32 * 86400  # longer than the 31 days the store spreads: held out


def _gap_series(store: SqliteStore, device: str, seq: int) -> int:
    """100 at DAY0, then 868 32 days later: 768 kWh over 768 hours, held out."""
    readings = [(0, 100.0), (GAP, 868.0)]
    records = [
        record(seq + i, DAY0 + t, device, [point("energy_import", v, unit="kWh", kind="counter")])
        for i, (t, v) in enumerate(readings)
    ]
    store_ingest(store, reading_batch(records))
    (series,) = [s for s in store.list_series(device=device)]
    return series.id


def _hours(store: SqliteStore, series_id: int) -> dict[int, tuple[float, float, list[str]]]:
    page = store.rollups(series_id, HOUR, 0, float("inf"), 100_000)
    return {
        (r.start - DAY0) // HOUR: (r.consumption, r.held_out, r.flags)
        for r in page.rows
        if r.consumption or r.held_out or r.flags
    }


def _event(store: SqliteStore, series_id: int) -> quality.QualityEvent:
    with store.reading() as db:
        (event,) = quality.list_events(db, series_id=series_id)
    return event


def test_a_gap_held_out_is_an_event_and_split_spreads_it_evenly(store: SqliteStore) -> None:
    series_id = _gap_series(store, "m1", 1)
    event = _event(store, series_id)
    assert (event.kind, event.state, event.held) == ("gap_held", "open", pytest.approx(768.0))
    assert (event.since, event.ts) == (DAY0, DAY0 + GAP)
    assert _hours(store, series_id) == {768: (0.0, 768.0, ["gap_held"])}

    with store.writing() as db:
        repaired, logged = apply_repair(db, event.id, "split", None, "olga", DAY0 + GAP, None)
    assert repaired.state == "repaired" and logged.amount == pytest.approx(768.0)
    hours = _hours(store, series_id)
    # 768 kWh over 768 hours: 1 kWh in each; hour 768 (where it was held) holds 0 now
    assert len(hours) == 769
    assert all(hours[h] == (pytest.approx(1.0), 0.0, ["repaired"]) for h in range(768))
    assert hours[768] == (0.0, pytest.approx(0.0), ["gap_held"])


def test_accept_books_a_held_gap_in_the_hour_it_was_seen(store: SqliteStore) -> None:
    series_id = _gap_series(store, "m2", 1)
    event = _event(store, series_id)
    with store.writing() as db:
        apply_repair(db, event.id, "accept", None, "olga", DAY0 + GAP, "bill says so")
    assert _hours(store, series_id) == {
        768: (pytest.approx(768.0), pytest.approx(0.0), ["gap_held", "repaired"])
    }
    with store.reading() as db:
        (logged,) = quality.repairs_of(db, [event.id])[event.id]
    assert (logged.action, logged.by, logged.note) == ("accept", "olga", "bill says so")
