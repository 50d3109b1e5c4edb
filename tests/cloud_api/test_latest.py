"""GET /v1/latest: each series' last value, its age and staleness at the API's clock.

A device polled every 10 s is stale when its last reading is more than 3 × 10 = 30 s old
(written out below); a device from an old edge that sends no interval has stale = null.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from api_testkit import (
    DAY0,
    add_user,
    in_process_api,
    point,
    post_batch,
    reading_batch,
    record,
    register_edge,
    store_ingest,
)

from cloud_api.store import sqlite_latest
from cloud_api.store.sqlite import SqliteStore

T = DAY0 + 3600.0


@pytest.fixture
def api(tmp_path: Path):
    with in_process_api(tmp_path, now=T) as running:
        running.viewer = add_user(running.db, "vera", "viewer")
        running.edge = register_edge(running.db, "edge-1", "s1")
        yield running


def ingest(api, records: list[dict]) -> None:
    answer = post_batch(api.client, reading_batch(records), gzipped=False)
    assert answer.status_code == 200, answer.text


def latest(api, **query: object) -> dict:
    answer = api.client.get("/v1/latest", params=query, headers=api.as_(api.viewer))
    assert answer.status_code == 200, answer.text
    return answer.json()


def by_point(body: dict) -> dict[tuple[str, str], dict]:
    return {(e["device"], e["point"]): e for e in body["latest"]}


def test_latest_value_age_and_stale_at_three_intervals(api) -> None:
    api.client.headers["Authorization"] = f"Bearer {api.edge}"
    ingest(
        api,
        [
            record(1, T, "m1", [point("power", 5.0, unit="kW")], interval=10.0),
            record(2, T + 10, "m1", [point("power", 6.0, unit="kW")], interval=10.0),
            record(3, T + 10, "m2", [point("power", 7.0, unit="kW")]),  # an old edge's record
        ],
    )
    # A late record (older than the stored latest) arrives in the next batch: not latest.
    ingest(api, [record(4, T - 100, "m1", [point("power", 1.0, unit="kW")], interval=10.0)])
    del api.client.headers["Authorization"]

    api.now = T + 10 + 30  # age 30 s = 3 × 10 s: not yet older than three intervals
    body = latest(api)
    assert body["now"] == api.now
    m1, m2 = by_point(body)[("m1", "power")], by_point(body)[("m2", "power")]
    assert (m1["ts"], m1["value"], m1["interval"], m1["age"], m1["stale"]) == (
        T + 10,
        6.0,
        10.0,
        30.0,
        False,
    )
    assert (m2["value"], m2["interval"], m2["age"], m2["stale"]) == (7.0, None, 30.0, None)

    api.now = T + 10 + 31  # 31 s > 30 s: stale
    m1 = by_point(latest(api))[("m1", "power")]
    assert (m1["age"], m1["stale"]) == (31.0, True)


def test_bad_and_text_readings_are_latest_too_and_filters_and_pages(api) -> None:
    api.client.headers["Authorization"] = f"Bearer {api.edge}"
    ingest(
        api,
        [
            record(1, T, "m1", [point("power", 5.0, unit="kW")], interval=60.0),
            record(
                2,
                T + 60,
                "m1",
                [point("power", None, unit="kW", quality="bad", reason="no answer")],
                interval=60.0,
            ),
            record(3, T + 60, "d1", [point("state", "open")], interval=5.0),
        ],
    )
    del api.client.headers["Authorization"]
    api.now = T + 60
    found = by_point(latest(api))
    bad = found[("m1", "power")]
    assert (bad["value"], bad["quality"], bad["reason"], bad["stale"]) == (
        None,
        "bad",
        "no answer",
        False,
    )
    assert (found[("d1", "state")]["text"], found[("d1", "state")]["value"]) == ("open", None)

    assert list(by_point(latest(api, device="d1"))) == [("d1", "state")]
    assert latest(api, site="elsewhere")["latest"] == []
    first = latest(api, limit=1)
    assert len(first["latest"]) == 1 and first["next"] is not None
    second = api.client.get(first["next"], headers=api.as_(api.viewer)).json()
    assert len(second["latest"]) == 1 and second["next"] is None
    assert second["latest"][0]["series"] > first["latest"][0]["series"]


def test_records_out_of_order_in_one_batch_keep_the_newest(store: SqliteStore) -> None:
    store_ingest(
        store,
        reading_batch(
            [
                record(1, T + 20, "m1", [point("p", 3.0)], interval=1.0),
                record(2, T, "m1", [point("p", 1.0)], interval=2.0),  # older: not latest
            ]
        ),
    )
    with store.reading() as db:
        (row,) = sqlite_latest.latest(db)
    assert (row.ts, row.value, row.interval) == (T + 20, 3.0, 1.0)


def test_a_file_from_before_latest_values_is_filled_from_its_readings(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = SqliteStore(path)
    store_ingest(
        store,
        reading_batch(
            [
                record(1, T, "m1", [point("p", 1.0), point("q", 9.0)], interval=5.0),
                record(2, T + 5, "m1", [point("p", 2.0)], interval=5.0),
            ]
        ),
    )
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE latest")  # as a file written before it existed
        db.commit()
    store = SqliteStore(path)
    try:
        with store.reading() as db:
            rows = {(r.point, r.ts, r.value, r.interval) for r in sqlite_latest.latest(db)}
    finally:
        store.close()
    assert rows == {("p", T + 5, 2.0, None), ("q", T, 9.0, None)}  # interval: not known
