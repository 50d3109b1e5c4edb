"""The SQLite store on a real file: exactly-once cursors, rollups, recovery after errors."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from api_testkit import DAY0, count, parse, point, reading_batch, record, simple_batch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_api.store.base import EdgeIdentity
from cloud_api.store.sqlite import SqliteStore

EDGE = EdgeIdentity("edge-1", "s1")
NOW = DAY0 + 10 * 86400


@pytest.fixture
def store(tmp_path: Path):
    s = SqliteStore(tmp_path / "steward.sqlite")
    yield s
    s.close()


def ingest(store: SqliteStore, batch: dict, edge: EdgeIdentity = EDGE):
    return store.ingest(edge, parse(batch), NOW)


def samples(store: SqliteStore) -> int:
    return count(store.path, "SELECT count(*) FROM samples")


def test_each_seq_is_stored_once_and_gaps_count_as_dropped(store: SqliteStore) -> None:
    first = ingest(store, simple_batch(1, 3))
    assert (first.ack.acked, first.ack.accepted, first.ack.duplicates) == (3, 3, 0)

    overlapping = ingest(store, simple_batch(2, 4))  # 2, 3 again; 4, 5 new
    assert (overlapping.ack.acked, overlapping.ack.accepted, overlapping.ack.duplicates) == (
        5,
        2,
        2,
    )
    assert [r.seq for r in overlapping.new_records] == [4, 5]

    replay = ingest(store, simple_batch(1, 5))
    assert replay.replay
    assert (replay.ack.acked, replay.ack.accepted, replay.ack.duplicates) == (5, 0, 5)

    after_gap = ingest(store, simple_batch(9, 2))  # the edge dropped 6, 7, 8
    assert after_gap.ack.dropped_at_edge == 3
    assert (after_gap.ack.acked, after_gap.ack.accepted) == (10, 2)

    # 7 distinct records of 2 readings each, whatever was resent
    assert samples(store) == 14
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        cursor = db.execute(
            "SELECT acked, dropped_at_edge, duplicates FROM cursors WHERE edge=? AND lane=?",
            ("edge-1", "readings"),
        ).fetchone()
    assert cursor == (10, 3, 7)


def test_lanes_and_edges_have_separate_cursors(store: SqliteStore) -> None:
    events = {
        "site": "s1",
        "building": "b1",
        "lane": "events",
        "records": [
            {"seq": 1, "ts": DAY0, "source": "door-1", "code": "forced", "message": "forced"},
            {
                "seq": 2,
                "ts": DAY0 + 1,
                "type": "alarm",
                "source": "door-1",
                "code": "held",
                "colour": "red",
                "data": {"seconds": 90},
            },
        ],
    }
    assert ingest(store, events).ack.acked == 2
    assert ingest(store, simple_batch(1, 2)).ack.acked == 2  # readings lane starts at 1
    other = EdgeIdentity("edge-2", "s1")
    assert ingest(store, simple_batch(1, 2, device="m2"), other).ack.accepted == 2
    assert count(store.path, "SELECT count(*) FROM events") == 2
    assert count(store.path, "SELECT count(*) FROM events WHERE colour='red'") == 1
    assert samples(store) == 8


def _series_id(store: SqliteStore, device: str, name: str) -> int:
    (found,) = [s for s in store.list_series(device=device) if s.point == name]
    return found.id


def _buckets(store: SqliteStore, series_id: int, step: int) -> dict[int, object]:
    page = store.rollups(series_id, step, 0, float("inf"), 100_000)
    return {row.start: row for row in page.rows}


def test_gauge_rollups_have_min_max_avg_per_utc_aligned_bucket(store: SqliteStore) -> None:
    # (seconds after DAY0, value): edges of 15 min, 1 h and 1 day included
    readings = [
        (0, 20.0),  # first instant of the day, of its hour, of its quarter
        (899.5, 22.0),  # last half-second of the first quarter
        (900, 18.0),  # first instant of the second quarter
        (1000, 19.0),
        (3599, 30.0),  # last second of the first hour
        (3600, 10.0),  # next hour
        (86399, 5.0),  # last second of the day
        (86400, 7.0),  # next day
    ]
    seq = 0
    batches = [readings[:2], readings[2:5], readings[5:]]  # buckets span batches
    for chunk in batches:
        records = []
        for offset, value in chunk:
            seq += 1
            records.append(record(seq, DAY0 + offset, "ahu-1", [point("temp", value, unit="C")]))
        ingest(store, reading_batch(records))
    series_id = _series_id(store, "ahu-1", "temp")

    quarter = _buckets(store, series_id, 900)
    assert sorted(quarter) == [DAY0 + s for s in (0, 900, 2700, 3600, 85500, 86400)]
    q0, q1, q3 = quarter[DAY0], quarter[DAY0 + 900], quarter[DAY0 + 2700]
    assert (q0.count, q0.min, q0.max, q0.avg) == (2, 20.0, 22.0, 21.0)
    assert (q1.count, q1.min, q1.max, q1.avg) == (2, 18.0, 19.0, 18.5)
    assert (q1.first, q1.last, q1.first_ts, q1.last_ts) == (18.0, 19.0, DAY0 + 900, DAY0 + 1000)
    assert (q3.count, q3.min, q3.max, q3.last_ts) == (1, 30.0, 30.0, DAY0 + 3599)
    assert q0.consumption is None  # a gauge has no consumption

    hour = _buckets(store, series_id, 3600)
    assert sorted(hour) == [DAY0, DAY0 + 3600, DAY0 + 82800, DAY0 + 86400]
    h0 = hour[DAY0]
    assert (h0.count, h0.min, h0.max) == (5, 18.0, 30.0)
    assert h0.avg == pytest.approx((20 + 22 + 18 + 19 + 30) / 5)

    day = _buckets(store, series_id, 86400)
    assert sorted(day) == [DAY0, DAY0 + 86400]
    d0 = day[DAY0]
    assert (d0.count, d0.min, d0.max) == (7, 5.0, 30.0)
    assert d0.avg == pytest.approx((20 + 22 + 18 + 19 + 30 + 10 + 5) / 7)
    assert (day[DAY0 + 86400].count, day[DAY0 + 86400].avg) == (1, 7.0)


def test_only_good_numbers_enter_rollups_but_every_reading_is_kept_raw(
    store: SqliteStore,
) -> None:
    records = [
        record(1, DAY0 + 10, "m1", [point("power", 5.0)]),
        record(2, DAY0 + 20, "m1", [point("power", None, quality="bad", reason="timeout")]),
        record(3, DAY0 + 30, "m1", [point("power", 900.0, quality="stale")]),
        record(4, DAY0 + 40, "m1", [point("power", "n/a", quality="bad", reason="text")]),
        record(5, DAY0 + 50, "m1", [point("power", 7.0)]),
    ]
    ingest(store, reading_batch(records))
    series_id = _series_id(store, "m1", "power")
    (bucket,) = _buckets(store, series_id, 900).values()
    assert (bucket.count, bucket.min, bucket.max, bucket.avg) == (2, 5.0, 7.0, 6.0)

    raw = store.raw(series_id, 0, float("inf"), 100).rows
    assert [(r.value, r.text, r.quality, r.reason) for r in raw] == [
        (5.0, None, "good", None),
        (None, None, "bad", "timeout"),
        (900.0, None, "stale", None),
        (None, "n/a", "bad", "text"),
        (7.0, None, "good", None),
    ]


# A counter that resets once: (seconds after DAY0, register value)
COUNTER = [
    (0, 100.0),
    (300, 105.0),
    (600, 112.0),
    (900, 120.0),  # next quarter: 8 since 112 belong to this quarter
    (1200, 5.0),  # reset: the fall counts as nothing
    (1500, 9.0),
    (3600, 15.0),  # next hour
    (86400, 40.0),  # next day
]


def _ingest_counter(store_path: Path, splits: list[int], reopen: bool) -> SqliteStore:
    store = SqliteStore(store_path)
    bounds = [0, *splits, len(COUNTER)]
    for lo, hi in itertools.pairwise(bounds):
        records = [
            record(i + 1, DAY0 + offset, "m1", [point("energy", value, kind="counter")])
            for i, (offset, value) in enumerate(COUNTER[lo:hi], start=lo)
        ]
        store.ingest(EDGE, parse(reading_batch(records)), NOW)
        if reopen:  # a restarted API: nothing cached
            store.close()
            store = SqliteStore(store_path)
    return store


@pytest.mark.parametrize(("splits", "reopen"), [([], False), ([2, 5], False), ([1, 3, 4, 7], True)])
def test_counter_consumption_per_bucket(tmp_path: Path, splits: list[int], reopen: bool) -> None:
    store = _ingest_counter(tmp_path / "c.sqlite", splits, reopen)
    try:
        series_id = _series_id(store, "m1", "energy")
        quarter = {s: b.consumption for s, b in _buckets(store, series_id, 900).items()}
        assert quarter == {
            DAY0: 12.0,  # 100 -> 105 -> 112
            DAY0 + 900: 12.0,  # 112 -> 120 (8), 120 -> 5 reset (0), 5 -> 9 (4)
            DAY0 + 3600: 6.0,  # 9 -> 15, across the empty quarters between
            DAY0 + 86400: 25.0,  # 15 -> 40
        }
        hour = {s: b.consumption for s, b in _buckets(store, series_id, 3600).items()}
        assert hour == {DAY0: 24.0, DAY0 + 3600: 6.0, DAY0 + 86400: 25.0}
        day = {s: b.consumption for s, b in _buckets(store, series_id, 86400).items()}
        assert day == {DAY0: 30.0, DAY0 + 86400: 25.0}
        # one page at a time, the step into a page's first bucket is still counted
        second_page = store.rollups(series_id, 900, DAY0 + 900, float("inf"), 1)
        assert [b.consumption for b in second_page.rows] == [12.0]
        assert second_page.next_after == str(DAY0 + 900)
        third = store.rollups(series_id, 900, 0, float("inf"), 1, second_page.next_after)
        assert [(b.start, b.consumption) for b in third.rows] == [(DAY0 + 3600, 6.0)]
    finally:
        store.close()


def test_late_readings_inside_a_stored_bucket_are_recomputed_from_raw(store: SqliteStore) -> None:
    on_time = [
        record(1, DAY0 + 0, "m1", [point("energy", 100.0, kind="counter")]),
        record(2, DAY0 + 600, "m1", [point("energy", 110.0, kind="counter")]),
    ]
    late = [record(3, DAY0 + 300, "m1", [point("energy", 104.0, kind="counter")])]
    ingest(store, reading_batch(on_time))
    ingest(store, reading_batch(late))
    series_id = _series_id(store, "m1", "energy")
    (bucket,) = _buckets(store, series_id, 900).values()
    assert (bucket.count, bucket.first, bucket.last, bucket.consumption) == (3, 100.0, 110.0, 10.0)
    assert (bucket.min, bucket.max, bucket.avg) == (100.0, 110.0, pytest.approx(314 / 3))


def test_a_failed_batch_leaves_nothing_and_the_next_one_is_whole(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(store, simple_batch(1, 2))
    before = samples(store)

    def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(store._series, "_update_rollups", broken)
        with pytest.raises(RuntimeError):
            ingest(store, simple_batch(3, 2, device="m-new"))
    assert samples(store) == before
    assert store.list_series(device="m-new") == []
    assert count(store.path, "SELECT acked FROM cursors") == 2

    assert ingest(store, simple_batch(3, 2, device="m-new")).ack.accepted == 2
    series_id = _series_id(store, "m-new", "energy")
    (bucket,) = _buckets(store, series_id, 86400).values()
    assert (bucket.count, bucket.first, bucket.last) == (2, 1003.0, 1004.0)


def _reference(readings: list[tuple[float, float]], step: int) -> dict[int, tuple]:
    """Rollups the slow, obvious way: group by bucket, walk each in time order."""
    grouped: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
    for ts, value in sorted(readings):
        grouped[int(ts // step) * step].append((ts, value))
    out = {}
    previous_last = None
    for start in sorted(grouped):
        values = [v for _, v in grouped[start]]
        used = sum(max(0.0, b - a) for a, b in itertools.pairwise(values))
        if previous_last is not None:
            used += max(0.0, values[0] - previous_last)
        previous_last = values[-1]
        out[start] = {
            "count": len(values),
            "min": min(values),
            "max": max(values),
            "avg": sum(values) / len(values),
            "first": values[0],
            "last": values[-1],
            "consumption": used,
        }
    return out


@st.composite
def histories(draw: st.DrawFn) -> dict:
    """Readings of one meter, perhaps out of time order, cut into batches, some resent."""
    n = draw(st.integers(2, 40))
    gaps = draw(st.lists(st.integers(1, 5000), min_size=n, max_size=n))
    steps = draw(st.lists(st.integers(-50, 40), min_size=n, max_size=n))
    readings, ts, value = [], float(DAY0), 1000.0
    for gap, step in zip(gaps, steps, strict=True):
        ts += gap
        value = max(0.0, value + step)  # negative steps are resets or noise
        readings.append((ts, value))
    if draw(st.booleans()):  # readings reach the API out of time order (late data)
        readings = draw(st.permutations(readings))
    cuts = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=5))))
    return {
        "readings": readings,
        "cuts": cuts,
        "replays": draw(st.lists(st.integers(0, len(cuts)), max_size=3)),
        "recent_limit": draw(st.sampled_from([3, 10, 50_000])),
        "reopen_after": draw(st.sets(st.integers(0, len(cuts)))),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_rollups_and_raw_match_a_recomputation_whatever_the_batching(history: dict) -> None:
    readings = history["readings"]
    bounds = [0, *history["cuts"], len(readings)]
    batches = [
        reading_batch(
            [
                record(
                    i + 1,
                    ts,
                    "m1",
                    [point("energy", value, kind="counter"), point("temp", value / 100 - 5)],
                )
                for i, (ts, value) in enumerate(readings[lo:hi], start=lo)
            ]
        )
        for lo, hi in itertools.pairwise(bounds)
    ]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "h.sqlite"
        store = SqliteStore(path, recent_limit=history["recent_limit"])
        try:
            for i, batch in enumerate(batches):
                ingest(store, batch)
                for replayed in history["replays"]:  # retries change nothing
                    if replayed <= i:
                        assert ingest(store, batches[replayed]).ack.accepted == 0
                if i in history["reopen_after"]:  # a restarted API: nothing cached
                    store.close()
                    store = SqliteStore(path, recent_limit=history["recent_limit"])
            energy = _series_id(store, "m1", "energy")
            temp = _series_id(store, "m1", "temp")
            temps = [(ts, value / 100 - 5) for ts, value in readings]
            for step in (900, 3600, 86400):
                for series_id, data in ((energy, readings), (temp, temps)):
                    got = _buckets(store, series_id, step)
                    expected = _reference(data, step)
                    assert got.keys() == expected.keys()
                    for start, want in expected.items():
                        if series_id == temp:
                            want["consumption"] = None
                        have = {name: getattr(got[start], name) for name in want}
                        assert have == pytest.approx(want), (series_id, step, start)

            assert samples(store) == 2 * len(readings)
            paged, after = [], None
            while True:
                page = store.raw(energy, 0, float("inf"), 7, after)
                paged += [(row.ts, row.value) for row in page.rows]
                if page.next_after is None:
                    break
                after = page.next_after
            assert paged == sorted(readings)
        finally:
            store.close()
