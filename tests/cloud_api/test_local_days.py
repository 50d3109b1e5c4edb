"""1-day buckets are the local days of the series' site, and old files are converted.

Every figure is written out by hand below; the day starts are epoch seconds of local
midnights, checked against their ISO spelling.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from api_testkit import STORE_EDGE_NAME, STORE_NOW, parse, point, reading_batch, record

from cloud_api.store.base import EdgeIdentity
from cloud_api.store.local_days import LocalDays
from cloud_api.store.sqlite import SqliteStore

DAY = 86400


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def utc_store(path: Path) -> SqliteStore:
    return SqliteStore(path, timezone_of=lambda site: "UTC")


def feed(store: SqliteStore, readings: list[tuple[float, float]], one_batch: bool = True) -> None:
    """A counter (energy, kWh) and a gauge (power, kW) of device m1 with these readings."""
    records = [
        record(
            i + 1,
            ts,
            "m1",
            [point("energy", value, unit="kWh", kind="counter"), point("power", value, unit="kW")],
            interval=900.0,
        )
        for i, (ts, value) in enumerate(readings)
    ]
    edge = EdgeIdentity(STORE_EDGE_NAME, "s1")
    chunks = [records] if one_batch else [[r] for r in records]
    for chunk in chunks:
        store.ingest(edge, parse(reading_batch(chunk)), STORE_NOW)


def days(store: SqliteStore, point_name: str) -> dict[int, object]:
    (found,) = [s for s in store.list_series(device="m1") if s.point == point_name]
    return {row.start: row for row in store.rollups(found.id, DAY, 0, float("inf"), 10_000).rows}


def consumption(store: SqliteStore) -> dict[int, float]:
    return {start: row.consumption for start, row in days(store, "energy").items()}


NOV14 = at("2023-11-14T00:00:00+08:00")  # local midnights of Asia/Shanghai (UTC+8)
NOV15 = at("2023-11-15T00:00:00+08:00")
MIDNIGHT_PAIR = [(at("2023-11-14T15:30:00Z"), 100.0), (at("2023-11-14T17:00:00Z"), 106.0)]


@pytest.mark.parametrize("one_batch", [True, False], ids=["one-batch", "batch-per-reading"])
def test_a_reading_pair_spanning_16_utc_splits_at_shanghai_midnight(
    tmp_path: Path, one_batch: bool
) -> None:
    assert (NOV14, NOV15) == (1699891200, 1699977600)  # 16:00 UTC of Nov 13 and Nov 14
    store = SqliteStore(tmp_path / "s.sqlite")  # the default zone: Asia/Shanghai
    try:
        feed(store, MIDNIGHT_PAIR, one_batch)
        # 23:30 local -> 01:00 local: 6 kWh over 90 min, 30 of them before midnight:
        # 6 * 30 / 90 = 2 kWh on Nov 14, 6 * 60 / 90 = 4 kWh on Nov 15.
        assert consumption(store) == {NOV14: pytest.approx(2.0), NOV15: pytest.approx(4.0)}
        gauge = days(store, "power")
        assert {s: (b.count, b.first, b.last) for s, b in gauge.items()} == {
            NOV14: (1, 100.0, 100.0),
            NOV15: (1, 106.0, 106.0),
        }
        assert store.timezone("s1") == "Asia/Shanghai"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("day_start", "day_end", "hours"),
    [
        # spring forward: 02:00 CET -> 03:00 CEST, the local day has 23 h
        ("2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00", 23),
        # fall back: 03:00 CEST -> 02:00 CET, the local day has 25 h
        ("2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00", 25),
    ],
)
def test_a_dst_day_is_a_23_or_25_hour_bucket(
    tmp_path: Path, day_start: str, day_end: str, hours: int
) -> None:
    start, end = at(day_start), at(day_end)
    assert end - start == hours * 3600
    # A counter rising 1 kWh an hour, read every whole UTC hour from 2 h before the day
    # to 2 h after it: the day holds exactly `hours` kWh and `hours` readings.
    readings = [(start + 3600 * h, 1000.0 + h) for h in range(-2, hours + 3)]
    store = SqliteStore(tmp_path / "b.sqlite", timezone_of=lambda site: "Europe/Berlin")
    try:
        feed(store, readings)
        used = consumption(store)
        assert used[int(start)] == pytest.approx(hours)
        assert days(store, "power")[int(start)].count == hours
        assert int(end) in used  # the next day starts where this one ends
        assert LocalDays("Europe/Berlin").bounds(start + 7200) == (start, end)
    finally:
        store.close()


def test_a_quarter_hour_zone_makes_days_of_15_min_buckets(tmp_path: Path) -> None:
    # Asia/Kathmandu is UTC+5:45: its midnight is 18:15 UTC, inside a UTC hour, so a day
    # is made of 15-min buckets, not hours. 1 kWh each quarter hour: 96 kWh a day.
    start = at("2024-01-10T00:00:00+05:45")
    assert start == at("2024-01-09T18:15:00Z")
    readings = [(start + 900 * q, float(q)) for q in range(-4, 96 + 5)]
    store = SqliteStore(tmp_path / "k.sqlite", timezone_of=lambda site: "Asia/Kathmandu")
    try:
        feed(store, readings)
        assert consumption(store)[int(start)] == pytest.approx(96.0)
        assert days(store, "power")[int(start)].count == 96
    finally:
        store.close()


def test_an_unknown_zone_is_named() -> None:
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone"):
        LocalDays("Mars/Olympus")


def _day_rows(path: Path) -> dict[str, list[tuple]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {
            table: db.execute(
                f"SELECT series_id, bucket_start, {columns} FROM {table} WHERE step=?"
                " ORDER BY series_id, bucket_start",
                (DAY,),
            ).fetchall()
            for table, columns in (
                ("rollups", "count, round(sum, 9), min, max, first, last, first_ts, last_ts"),
                ("energy", "round(booked, 9), held_out, flags"),
            )
        }


def _make_old_file(path: Path, readings: list[tuple[float, float]]) -> None:
    """A file as Steward wrote it before local days: UTC days, no site zones recorded."""
    store = utc_store(path)
    feed(store, readings)
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE site_timezones")
        db.execute("PRAGMA user_version=2")
        db.commit()


def test_an_old_utc_day_file_is_converted_on_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Three days of readings every 20 min: the UTC days and the Shanghai days differ.
    t0 = at("2023-11-13T00:00:00Z")
    readings = [(t0 + 1200 * k, 500.0 + 0.5 * k) for k in range(3 * 72)]
    old = tmp_path / "old.sqlite"
    _make_old_file(old, readings)
    utc_days = _day_rows(old)
    assert utc_days["energy"][0][1] == t0  # a UTC midnight before conversion

    with caplog.at_level(logging.INFO, logger="steward.api.store"):
        store = SqliteStore(old)  # now Asia/Shanghai
        store.close()
    assert "site s1: rebuilding 1-day buckets of 2 series as local days of Asia/Shanghai" in (
        caplog.text
    )
    assert "(they were UTC days)" in caplog.text
    converted = _day_rows(old)

    # The same readings ingested into a fresh Shanghai file (the ingest path, not the
    # rebuild) give the very same day rows.
    fresh = tmp_path / "fresh.sqlite"
    store = SqliteStore(fresh)
    feed(store, readings)
    store.close()
    assert converted == _day_rows(fresh)
    # By hand: 0.5 kWh every 20 min = 1.5 kWh an hour, from Nov 13 00:00 UTC (08:00 in
    # Shanghai) to the last reading 215 steps later, Nov 15 23:40 UTC (Nov 16 07:40 local).
    # Local Nov 13 ends at 16:00 UTC: 16 h = 24 kWh; Nov 14 and 15: 24 h = 36 kWh each;
    # Nov 16: 7 h 40 min = 11.5 kWh. UTC days were 36, 36, 35.5 (23 h 40 min).
    assert [booked for _, _, booked, _, _ in utc_days["energy"]] == [36.0, 36.0, 35.5]
    by_day = {start: booked for _, start, booked, _, _ in converted["energy"]}
    assert by_day == {
        at("2023-11-13T00:00:00+08:00"): pytest.approx(24.0),
        at("2023-11-14T00:00:00+08:00"): pytest.approx(36.0),
        at("2023-11-15T00:00:00+08:00"): pytest.approx(36.0),
        at("2023-11-16T00:00:00+08:00"): pytest.approx(11.5),
    }

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="steward.api.store"):
        SqliteStore(old).close()  # recorded: nothing to rebuild
    assert "rebuilding" not in caplog.text


def test_a_site_whose_zone_changes_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "z.sqlite"
    store = SqliteStore(path)
    feed(store, MIDNIGHT_PAIR)
    store.close()
    store = utc_store(path)  # the site is now configured in UTC
    try:
        assert store.timezone("s1") == "UTC"
        # 15:30 -> 17:00 UTC lies inside the UTC day of Nov 14: all 6 kWh there.
        assert consumption(store) == {at("2023-11-14T00:00:00Z"): pytest.approx(6.0)}
    finally:
        store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT site, timezone FROM site_timezones").fetchall() == [("s1", "UTC")]


def test_opening_without_zones_keeps_each_sites_recorded_zone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A tool (steward-api edges ...) opens the file without the energy configuration: the
    # sites keep their zones, nothing is rebuilt.
    path = tmp_path / "kept.sqlite"
    utc_store(path).close()
    store = utc_store(path)
    feed(store, MIDNIGHT_PAIR)
    store.close()
    with caplog.at_level(logging.INFO, logger="steward.api.store"):
        store = SqliteStore(path)
    try:
        assert "rebuilding" not in caplog.text
        assert store.timezone("s1") == "UTC"
        assert consumption(store) == {at("2023-11-14T00:00:00Z"): pytest.approx(6.0)}
        assert store.timezone("another-site") == "Asia/Shanghai"  # not recorded: the default
    finally:
        store.close()
