"""The SQLite store on a real file: exactly-once cursors, rollups, recovery after errors."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from api_testkit import (
    DAY0,
    STORE_EDGE_NAME,
    STORE_NOW,
    count,
    parse,
    point,
    reading_batch,
    record,
    simple_batch,
    store_ingest,
    stored_samples,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_api.store import sqlite_series
from cloud_api.store.base import EdgeIdentity
from cloud_api.store.sqlite import SqliteStore

EDGE = EdgeIdentity(STORE_EDGE_NAME, "s1")


def utc_store(path: Path, **options: object) -> SqliteStore:
    """A store whose sites keep UTC days, as these tests' day figures are written (local
    days have their own tests: test_local_days.py)."""
    return SqliteStore(path, timezone_of=lambda site: "UTC", **options)  # type: ignore[arg-type]


NOW = STORE_NOW


ingest = store_ingest
samples = stored_samples


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

    after_gap = ingest(store, {**simple_batch(9, 2), "dropped_through": 8})  # 6, 7, 8 dropped
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
                "active": True,
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
    (900, 120.0),
    (1200, 5.0),  # reset: 5, 9, 12 stay below 120 (two more readings confirm it)
    (1500, 9.0),
    (1800, 12.0),
    (3600, 18.0),  # 30 min without a reading
    (90000, 42.0),  # a day without a reading: 3600 -> 90000 is 86,400 s
]


def _ingest_counter(store_path: Path, splits: list[int], reopen: bool) -> SqliteStore:
    store = utc_store(store_path)
    bounds = [0, *splits, len(COUNTER)]
    for lo, hi in itertools.pairwise(bounds):
        records = [
            record(i + 1, DAY0 + offset, "m1", [point("energy", value, kind="counter")])
            for i, (offset, value) in enumerate(COUNTER[lo:hi], start=lo)
        ]
        store.ingest(EDGE, parse(reading_batch(records)), NOW)
        if reopen:  # a restarted API: nothing cached
            store.close()
            store = utc_store(store_path)
    return store


@pytest.mark.parametrize(
    ("splits", "reopen"), [([], False), ([2, 5], False), ([1, 3, 4, 5, 6, 8], True)]
)
def test_counter_consumption_per_bucket(tmp_path: Path, splits: list[int], reopen: bool) -> None:
    store = _ingest_counter(tmp_path / "c.sqlite", splits, reopen)
    try:
        series_id = _series_id(store, "m1", "energy")
        quarter = _used(store, series_id, 900)
        assert quarter == {
            0: 20.0,  # 100 -> 105 -> 112 -> 120 (at 900: the step 600..900 is this quarter's)
            900: 7.0,  # 120 -> 5 a reset (nothing), 5 -> 9 (4), 9 -> 12 (3)
            1800: 3.0,  # 12 -> 18 over 1800..3600: 6 * 900 / 1800 = 3 per quarter
            2700: 3.0,
            # 18 -> 42 over 3600..90000: 24 kWh * 900 / 86400 = 0.25 per quarter
            **{3600 + 900 * k: 0.25 for k in range(96)},
            90000: 0.0,  # the last reading's quarter: nothing after it yet
        }
        hour = _used(store, series_id, 3600)
        # 20 + 7 + 3 + 3 = 33, then 24 * 3600 / 86400 = 1 per hour for 24 hours
        assert hour == {0: 33.0, **{3600 * h: 1.0 for h in range(1, 25)}, 90000: 0.0}
        # day 0: 33 + 24 * (86400 - 3600) / 86400 = 33 + 23 = 56; day 1: 24 * 3600 / 86400 = 1
        assert _used(store, series_id, 86400) == {0: 56.0, 86400: 1.0}
        flags = {s - DAY0: b.flags for s, b in _buckets(store, series_id, 900).items() if b.flags}
        assert flags == {
            900: ["reset"],
            1800: ["gap"],
            2700: ["gap"],
            **{3600 + 900 * k: ["gap"] for k in range(96)},
        }
        # one page at a time: buckets, consumption and cursor as in one answer
        second_page = store.rollups(series_id, 900, DAY0 + 900, float("inf"), 1)
        assert [b.consumption for b in second_page.rows] == [7.0]
        assert second_page.next_after == str(DAY0 + 900)
        third = store.rollups(series_id, 900, 0, float("inf"), 1, second_page.next_after)
        assert [(b.start, b.consumption) for b in third.rows] == [(DAY0 + 1800, 3.0)]
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
        patch.setattr(sqlite_series, "update_rollups", broken)
        with pytest.raises(RuntimeError):
            ingest(store, simple_batch(3, 2, device="m-new"))
    assert samples(store) == before
    assert store.list_series(device="m-new") == []
    assert count(store.path, "SELECT acked FROM cursors") == 2

    assert ingest(store, simple_batch(3, 2, device="m-new")).ack.accepted == 2
    series_id = _series_id(store, "m-new", "energy")
    (bucket,) = _buckets(store, series_id, 86400).values()
    assert (bucket.count, bucket.first, bucket.last) == (2, 1003.0, 1004.0)


def _reference(readings: list[tuple[float, float]], step: int) -> dict[int, dict]:
    """Rollup statistics the slow, obvious way: group by bucket, walk each in time order."""
    grouped: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
    for ts, value in sorted(readings):
        grouped[int(ts // step) * step].append((ts, value))
    out = {}
    for start in sorted(grouped):
        values = [v for _, v in grouped[start]]
        out[start] = {
            "count": len(values),
            "min": min(values),
            "max": max(values),
            "avg": sum(values) / len(values),
            "first": values[0],
            "last": values[-1],
        }
    return out


def _ledger(store: SqliteStore, series_id: int, step: int) -> dict[int, tuple]:
    return {
        start: (pytest.approx(b.consumption, abs=1e-9), pytest.approx(b.held_out), b.flags)
        for start, b in _buckets(store, series_id, step).items()
    }


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
        store = utc_store(path, recent_limit=history["recent_limit"])
        try:
            for i, batch in enumerate(batches):
                ingest(store, batch)
                for replayed in history["replays"]:  # retries change nothing
                    if replayed <= i:
                        assert ingest(store, batches[replayed]).ack.accepted == 0
                if i in history["reopen_after"]:  # a restarted API: nothing cached
                    store.close()
                    store = utc_store(path, recent_limit=history["recent_limit"])
            energy = _series_id(store, "m1", "energy")
            temp = _series_id(store, "m1", "temp")
            temps = [(ts, value / 100 - 5) for ts, value in readings]
            for step in (900, 3600, 86400):
                for series_id, data in ((energy, readings), (temp, temps)):
                    got = _buckets(store, series_id, step)
                    with_readings = {k: b for k, b in got.items() if b.count}
                    expected = _reference(data, step)
                    assert with_readings.keys() == expected.keys()
                    if series_id == temp:
                        assert got.keys() == expected.keys()
                        assert {b.consumption for b in got.values()} == {None}
                    for start, want in expected.items():
                        have = {name: getattr(got[start], name) for name in want}
                        assert have == pytest.approx(want), (series_id, step, start)

            if readings == sorted(readings):
                # In time order, consumption does not depend on batching, retries or
                # restarts: the same as one batch into a fresh store.
                with contextlib.closing(utc_store(Path(directory) / "one.sqlite")) as one:
                    whole = reading_batch([r for batch in batches for r in batch["records"]])
                    ingest(one, whole)
                    for step in (900, 3600, 86400):
                        assert _ledger(store, energy, step) == _ledger(one, energy, step)
                steps = [b - a for (_, a), (_, b) in itertools.pairwise(readings)]
                if min(steps) >= 0:  # never falls: everything from first to last is booked
                    day = _buckets(store, energy, 86400).values()
                    total = readings[-1][1] - readings[0][1]
                    assert sum(b.consumption for b in day) == pytest.approx(total)

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


# ---------------------------------------------------------------- counter ledger (issue 6.5)


def _energy(store: SqliteStore, readings: list[tuple[float, float]], **extra: object) -> int:
    """One counter series from (seconds after DAY0, value) readings, one batch; its id."""
    records = [
        record(
            i + 1, DAY0 + offset, "m1", [point("energy", v, unit="kWh", kind="counter", **extra)]
        )
        for i, (offset, v) in enumerate(readings)
    ]
    ingest(store, reading_batch(records))
    return _series_id(store, "m1", "energy")


def _used(store: SqliteStore, series_id: int, step: int) -> dict[int, float]:
    """consumption per bucket, as offsets from DAY0"""
    return {s - DAY0: b.consumption for s, b in _buckets(store, series_id, step).items()}


def test_a_meter_glitch_to_zero_is_not_booked_as_consumption(store: SqliteStore) -> None:
    series_id = _energy(store, [(0, 1000.0), (60, 0.0), (120, 1000.1), (180, 1000.2)])
    # 1000 -> (0: a glitch) -> 1000.1 -> 1000.2: 0.1 + 0.1 = 0.2 kWh, not 1000.2
    assert _used(store, series_id, 86400) == {0: pytest.approx(0.2)}
    (day,) = _buckets(store, series_id, 86400).values()
    assert day.flags == ["glitch"]


def test_a_reset_counts_what_came_after_it(store: SqliteStore) -> None:
    series_id = _energy(store, [(0, 1000.0), (60, 0.0), (120, 0.5), (180, 1.2)])
    # 0, 0.5, 1.2 stay low: a reset at 0; 1000 -> 0 books nothing; 0.5 + 0.7 = 1.2
    assert _used(store, series_id, 86400) == {0: pytest.approx(1.2)}
    assert _buckets(store, series_id, 86400)[DAY0].flags == ["reset"]


def test_a_scaled_u32_rollover_counts_across_the_wrap(store: SqliteStore) -> None:
    # u32 register, scale 0.01 kWh: wrap 4294967296 * 0.01 = 42949672.96; its top value
    # is raw 4294967295 = 42949672.95. Then raw 5 = 0.05: 6 counts = 0.06 kWh.
    readings = [(0, 42949672.90), (60, 42949672.95), (120, 0.05), (180, 0.06), (240, 0.08)]
    series_id = _energy(store, readings, wrap=42949672.96)
    # 0.05 + 0.06 (across the wrap) + 0.01 + 0.02 = 0.14
    assert _used(store, series_id, 86400) == {0: pytest.approx(0.14, abs=1e-6)}
    assert _buckets(store, series_id, 86400)[DAY0].flags == ["rollover"]


def test_a_gap_is_spread_over_its_buckets_in_proportion_to_time(store: SqliteStore) -> None:
    series_id = _energy(store, [(0, 100.0), (3 * 3600, 130.0)])
    # 30 kWh over 3 h without a reading: 30 * 900 / 10800 = 2.5 per quarter, 10 per hour;
    # the quarter of the last reading gets nothing (the step ends where it starts).
    quarters = _used(store, series_id, 900)
    assert quarters == {**{q * 900: pytest.approx(2.5) for q in range(12)}, 10800: 0.0}
    assert _used(store, series_id, 3600) == {0: 10.0, 3600: 10.0, 7200: 10.0, 10800: 0.0}
    empty = _buckets(store, series_id, 900)[DAY0 + 900]
    assert (empty.count, empty.min, empty.avg, empty.flags) == (0, None, None, ["gap"])


def test_an_implausible_jump_is_flagged_and_held_out_not_booked(store: SqliteStore) -> None:
    # The default most a kWh register may rise is 100,000 kWh/h (100 MW): in 60 s 1666.7.
    readings = [(0, 100.0), (60, 100.5), (120, 50100.5), (180, 50100.6), (240, 50100.8)]
    series_id = _energy(store, readings)
    # 0.5, then a 50,000 kWh jump in 60 s (held out), then 0.1 + 0.2: 0.8 booked
    (day,) = _buckets(store, series_id, 86400).values()
    assert (day.consumption, day.held_out) == (pytest.approx(0.8), pytest.approx(50000.0))
    assert day.flags == ["implausible"]


def test_a_meter_rating_bounds_its_counter_tighter_than_the_unit(tmp_path: Path) -> None:
    # m1 is rated 50 kW (energy configuration rated_kw): in 15 min it can measure at most
    # 12.5 kWh. Readings 100, 110, 150, 151, 152 every 15 min: +10 is booked; 150 is 40
    # up in 15 min, and 151 and 152 stay that far above 110 (41 in 30 min > 25, 42 in
    # 45 min > 37.5), so 150 is a new level, implausible: 40 held out; then +1 +1 booked.
    # Booked 12, held 40. Without the rating (the per-unit bound, 100 MW): 52 booked.
    from cloud_api.settings import ApiSettings, series_limits

    readings = [(0, 100.0), (900, 110.0), (1800, 150.0), (2700, 151.0), (3600, 152.0)]

    def totals(store: SqliteStore) -> tuple[float, float, set[str]]:
        hours = _buckets(store, _energy(store, readings), 3600).values()
        flags = {f for h in hours for f in h.flags}
        return sum(h.consumption for h in hours), sum(h.held_out for h in hours), flags

    rated = SqliteStore(
        tmp_path / "rated.sqlite",
        limits=series_limits(ApiSettings(), lambda site, device: 50.0 if device == "m1" else None),
    )
    try:
        booked, held, flags = totals(rated)
        assert (booked, held) == (pytest.approx(12.0), pytest.approx(40.0))
        assert "implausible" in flags
    finally:
        rated.close()
    plain = SqliteStore(tmp_path / "plain.sqlite")
    try:
        assert totals(plain)[:2] == (pytest.approx(52.0), 0.0)
    finally:
        plain.close()


def test_a_file_from_before_the_ledger_gets_its_counters_booked_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = utc_store(path)
    _energy(store, [(0, 1000.0), (60, 0.0), (120, 1000.1), (180, 1000.2)])
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:  # as version 1 left a file
        db.executescript(
            "DROP TABLE energy; DROP TABLE counter_ledger; DROP INDEX series_by_edge;"
            " ALTER TABLE series DROP COLUMN edge; ALTER TABLE series DROP COLUMN wrap;"
            " PRAGMA user_version=1;"
        )
    store = utc_store(path)
    try:
        series_id = _series_id(store, "m1", "energy")
        assert _used(store, series_id, 86400) == {0: pytest.approx(0.2)}  # 0.1 + 0.1
        assert store.get_series(series_id).edge is None
        # the first edge to write an old series owns it from then on
        ingest(
            store,
            reading_batch(
                [record(5, DAY0 + 240, "m1", [point("energy", 1000.5, unit="kWh", kind="counter")])]
            ),
        )
        assert store.get_series(series_id).edge == "edge-1"
        assert _used(store, series_id, 86400) == {0: pytest.approx(0.5)}  # + 0.3
    finally:
        store.close()
