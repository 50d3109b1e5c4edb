"""The SQLite store's series catalogue: kinds and units that never change, owners, a cap
on new series per edge, and costs that do not grow with the catalogue (issue 6 items 6,
13 and 15). Costs are counted in SQLite virtual-machine steps, not timed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from api_testkit import (
    DAY0,
    STORE_EDGE_NAME,
    STORE_NOW,
    count,
    point,
    reading_batch,
    record,
    simple_batch,
    store_ingest,
    stored_samples,
)

from cloud_api.store.base import BatchRefusedError, EdgeIdentity
from cloud_api.store.sqlite import SqliteStore
from cloud_api.store.sqlite_series import SeriesLimits

EDGE = EdgeIdentity(STORE_EDGE_NAME, "s1")
NOW = STORE_NOW


ingest = store_ingest
samples = stored_samples


def _series_id(store: SqliteStore, device: str, name: str) -> int:
    (found,) = [s for s in store.list_series(device=device) if s.point == name]
    return found.id


def test_a_point_that_changes_kind_or_unit_is_refused_and_nothing_is_stored(
    store: SqliteStore,
) -> None:
    ingest(store, simple_batch(1, 2))  # energy: a counter in kWh
    before = samples(store)
    as_gauge = simple_batch(3, 2)
    as_gauge["records"][1]["points"][0]["kind"] = "gauge"
    with pytest.raises(BatchRefusedError) as refused:
        ingest(store, as_gauge)
    message = str(refused.value)
    for words in ("device m1 point energy", "is a counter in 'kWh'", "says gauge in 'kWh'"):
        assert words in message, message
    assert (refused.value.status, refused.value.seq, refused.value.where) == (
        422,
        4,
        ("points", 0, "kind"),
    )
    in_wh = simple_batch(3, 2)
    in_wh["records"][0]["points"][0]["unit"] = "Wh"
    with pytest.raises(BatchRefusedError, match="says counter in 'Wh'"):
        ingest(store, in_wh)
    # the whole batch is refused: not even its first record, nor the other point
    assert samples(store) == before
    assert count(store.path, "SELECT acked FROM cursors") == 2
    (energy,) = [s for s in store.list_series(device="m1") if s.point == "energy"]
    assert (energy.kind, energy.unit) == ("counter", "kWh")
    assert ingest(store, simple_batch(3, 2)).ack.accepted == 2  # as before: fine


def test_a_series_belongs_to_the_edge_that_created_it(store: SqliteStore) -> None:
    ingest(store, simple_batch(1, 2))
    intruder = EdgeIdentity("edge-2", "s1")
    with pytest.raises(BatchRefusedError) as refused:
        ingest(store, simple_batch(1, 2), intruder)
    assert refused.value.status == 403
    assert "device m1 point energy (series 1) belongs to edge edge-1; edge edge-2 may not" in (
        str(refused.value)
    )
    assert samples(store) == 4
    assert ingest(store, simple_batch(1, 2, device="m2"), intruder).ack.accepted == 2
    owners = {(s.device, s.edge) for s in store.list_series()}
    assert owners == {("m1", "edge-1"), ("m2", "edge-2")}


def test_an_edge_past_its_cap_of_new_series_is_refused_whole(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "cap.sqlite", limits=SeriesLimits(max_series_per_edge=3))
    try:
        ingest(store, simple_batch(1, 1))  # 2 series: energy and power of m1
        grows = simple_batch(2, 2)
        grows["records"][1]["device"] = "m2"  # 2 more: 4 > 3
        with pytest.raises(BatchRefusedError) as refused:
            ingest(store, grows)
        assert refused.value.status == 403
        assert "edge edge-1 may create at most 3 series" in str(refused.value)
        assert "Nothing of this batch was stored" in str(refused.value)
        assert samples(store) == 2 and len(store.list_series()) == 2
        # another edge has its own count
        other = EdgeIdentity("edge-2", "s1")
        assert ingest(store, simple_batch(1, 1, device="m3"), other).ack.accepted == 1
    finally:
        store.close()


def _vm_steps(conn: sqlite3.Connection, run) -> int:
    """SQLite virtual-machine steps (in hundreds) `run` makes on `conn`: work, not time."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        run()
    finally:
        conn.set_progress_handler(None, 100)
    return steps


def _many_series(n: int, first_seq: int = 1) -> list[dict]:
    """Batches creating n gauge series (devices of 1,000 points), one reading each."""
    batches, seq = [], first_seq
    for start in range(0, n, 1000):
        points = [point(f"p{i}", float(i)) for i in range(start, min(n, start + 1000))]
        batches.append(reading_batch([record(seq, DAY0, f"d{start}", points)]))
        seq += 1
    return batches


def test_creating_a_series_costs_the_same_however_many_exist(tmp_path: Path) -> None:
    def cost_of_one_more(n: int) -> int:
        store = SqliteStore(tmp_path / f"{n}.sqlite")
        try:
            batches = _many_series(n)
            for batch in batches:
                ingest(store, batch)
            one_more = reading_batch([record(len(batches) + 1, DAY0, "new", [point("x", 1.0)])])
            return _vm_steps(store._db, lambda: ingest(store, one_more))
        finally:
            store.close()

    few, many = cost_of_one_more(10), cost_of_one_more(5000)
    assert many < 2 * few + 50, (few, many)  # constant, not growing with the catalogue


def test_a_deep_raw_page_costs_what_the_first_does(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "raw.sqlite", recent_limit=500)
    try:
        # 3,000 readings with the same timestamp (a stuck clock): only arrival tells
        # them apart, also after most moved from samples_recent to samples_indexed
        records = [record(i, DAY0, "m1", [point("power", float(i))]) for i in range(1, 3001)]
        ingest(store, reading_batch(records))
        series_id = _series_id(store, "m1", "power")
        pages, after, cost = [], None, []
        with store._reader() as conn:  # the pool's one connection, which raw() reuses
            pass
        while True:
            page = None

            def read(after=after) -> None:
                nonlocal page
                page = store.raw(series_id, 0, float("inf"), 10, after)

            cost.append(_vm_steps(conn, read))
            pages.append([row.value for row in page.rows])
            if page.next_after is None:
                break
            after = page.next_after
        assert [v for p in pages for v in p] == [float(i) for i in range(1, 3001)]
        assert max(cost[-30:]) < 2 * max(cost[:3]) + 50, (cost[:3], cost[-30:])
    finally:
        store.close()
