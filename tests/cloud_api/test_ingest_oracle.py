"""The ingest path's rollups (15 min, 1 h, local days) and latest values against a slow,
obvious recomputation from every reading stored, on random batches; and the energy rows
of a counter's batch in one 15-min bucket against spreading its entries over each step.

The writer aggregates a batch in Python, merges each bucket into the stored one in SQL
and keeps caches across batches; the oracle below knows none of that: it groups all
readings of a series by bucket and walks each bucket in time order. Values are multiples
of 1/4 well inside float precision, so sums are exact in any order and every figure is
compared exactly. Batches come in time order or not, are resent, fail after their
rollups were written (rolled back), and the store is reopened.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock
from zoneinfo import ZoneInfo

from api_testkit import STORE_NOW, parse, point, reading_batch, record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_api.store import sqlite_series
from cloud_api.store.base import EdgeIdentity
from cloud_api.store.local_days import LocalDays
from cloud_api.store.sqlite import SqliteStore
from cloud_api.store.sqlite_energy import energy_rows
from edge.energy import Booking, Entries, Flag, Mark, spread

# Berlin leaves winter time at 01:00 UTC on 2025-03-30 (a 23-hour day); Kathmandu is
# UTC+5:45, so its midnights fall inside UTC hours.
ZONES = {"s1": "Europe/Berlin", "s2": "Asia/Kathmandu"}
T0 = datetime(2025, 3, 29, 12, 0, tzinfo=UTC).timestamp()
POINTS = ("g1", "g2", "c")  # two gauges and a counter (counters have rollups too)


def _open(path: Path) -> SqliteStore:
    return SqliteStore(path, timezone_of=ZONES.__getitem__, recent_limit=7)


@st.composite
def device_readings(draw: st.DrawFn, plain: bool) -> list[tuple[float, list[dict]]]:
    """One device's records: (ts, points), timestamps distinct and rising; plain: only
    good numbers without a reason (the writer's usual batch)."""
    gaps = draw(
        st.lists(
            st.one_of(st.integers(1, 30_000), st.sampled_from([450, 900, 3600])),
            min_size=1,
            max_size=12,
        )
    )
    out, ts = [], T0 + draw(st.integers(0, 900))
    for gap in gaps:
        ts += gap + draw(st.sampled_from([0.0, 0.25, 0.5]))
        points = []
        for name in POINTS:
            shapes = ["good"] if plain else ["good"] * 6 + ["absent", "bad", "text", "reason"]
            shape = draw(st.sampled_from(shapes))
            value = draw(st.integers(-4000, 4000)) / 4
            kind = {"kind": "counter", "unit": "kWh"} if name == "c" else {"unit": "kW"}
            if shape == "absent":
                continue
            if shape == "bad":
                points.append(point(name, None, quality="bad", reason="no answer", **kind))
            elif shape == "text" and name != "c":
                points.append(point(name, "on", **kind))
            elif shape == "reason":
                points.append(point(name, value, reason="estimated", **kind))
            else:
                points.append(point(name, value, **kind))
        if points:
            out.append((ts, points))
    return out


@st.composite
def histories(draw: st.DrawFn) -> dict:
    sites = {}
    plain = draw(st.booleans())
    intervals = draw(st.sampled_from([[None], [60.0], [None, 60.0]]))
    for site in ZONES:
        records = []
        for d in range(draw(st.integers(1, 3))):
            for ts, points in draw(device_readings(plain)):
                records.append((ts, f"{site}-m{d}", points, draw(st.sampled_from(intervals))))
        records.sort(key=lambda r: r[0])
        if draw(st.booleans()):  # late data: the site's records in any order
            records = draw(st.permutations(records))
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(records) - 1)), max_size=4))))
        bounds = [0, *(c for c in cuts if c < len(records)), len(records)]
        sites[site] = [records[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    n = sum(len(b) for b in sites.values())
    return {
        "sites": sites,
        "replay": draw(st.sets(st.integers(0, n))),  # resend the batch before this one
        "fail": draw(st.sets(st.integers(0, n))),  # this batch fails once, then is resent
        "reopen": draw(st.sets(st.integers(0, n))),  # restart the store after this batch
    }


def _batches(history: dict) -> list[tuple[str, dict]]:
    """(site, wire batch) in the order they are sent: the sites' batches alternate."""
    out: list[tuple[str, dict]] = []
    queues = {site: list(batches) for site, batches in history["sites"].items()}
    seq = dict.fromkeys(queues, 0)
    while any(queues.values()):
        for site, queue in queues.items():
            if not queue:
                continue
            records = []
            for ts, device, points, interval in queue.pop(0):
                seq[site] += 1
                records.append(record(seq[site], ts, device, points, interval=interval))
            out.append((site, reading_batch(records, site=site)))
    return out


def _day_start(ts: float, zone: str) -> int:
    """The local midnight starting the calendar day of ts in `zone`."""
    local = datetime.fromtimestamp(ts, ZoneInfo(zone))
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def _oracle_rollups(readings: dict[tuple, list[tuple[float, float]]]) -> dict[tuple, tuple]:
    """(site, device, point, step, bucket start) -> (count, sum, min, max, first, last,
    first_ts, last_ts, increase) of the good numbers, bucket by bucket in time order."""
    out = {}
    for (site, device, name), taken in readings.items():
        for step in (900, 3600, 86400):
            grouped: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
            for ts, value in taken:
                start = _day_start(ts, ZONES[site]) if step == 86400 else int(ts // step) * step
                grouped[start].append((ts, value))
            for start, bucket in grouped.items():
                bucket.sort()  # timestamps of a series are distinct
                values = [v for _, v in bucket]
                rises = [b - a for a, b in itertools.pairwise(values) if b > a]
                out[(site, device, name, step, start)] = (
                    len(values),
                    sum(values),
                    min(values),
                    max(values),
                    values[0],
                    values[-1],
                    bucket[0][0],
                    bucket[-1][0],
                    sum(rises),
                )
    return out


def _stored_rollups(path: Path, in_order: bool) -> dict[tuple, tuple]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT s.site, s.device, s.point, r.step, r.bucket_start, r.count, r.sum, r.min,"
            " r.max, r.first, r.last, r.first_ts, r.last_ts, r.increase"
            " FROM rollups r JOIN series s ON s.id = r.series_id"
        ).fetchall()
    # `increase` depends on the order readings arrived in; it is the sum of rises only
    # when they came in time order.
    return {tuple(r[:5]): tuple(r[5:13]) + ((r[13],) if in_order else ()) for r in rows}


def _stored_latest(path: Path) -> dict[tuple, tuple]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT s.site, s.device, s.point, l.ts, l.value, l.text, l.quality, l.reason,"
            " l.interval FROM latest l JOIN series s ON s.id = l.series_id"
        ).fetchall()
    return {tuple(r[:3]): tuple(r[3:]) for r in rows}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_rollups_local_days_and_latest_match_a_slow_recomputation(history: dict) -> None:
    batches = _batches(history)
    edges = {site: EdgeIdentity(f"edge-{site}", site) for site in ZONES}
    good: defaultdict[tuple, list[tuple[float, float]]] = defaultdict(list)
    latest: dict[tuple, tuple] = {}
    for site, batch in batches:
        for r in batch["records"]:
            interval = r["interval"]
            for p in r["points"]:
                key = (site, r["device"], p["point"])
                value = p["value"]
                quality = p.get("quality", "good")
                if quality == "good" and isinstance(value, float):
                    good[key].append((r["ts"], value))
                if key not in latest or r["ts"] > latest[key][0]:
                    number, text = (value, None) if not isinstance(value, str) else (None, value)
                    latest[key] = (r["ts"], number, text, quality, p.get("reason"), interval)
    in_order = all(
        [ts for ts, _ in readings] == sorted(ts for ts, _ in readings) for readings in good.values()
    )

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "o.sqlite"
        store = _open(path)
        try:
            for i, (site, batch) in enumerate(batches):
                if i in history["replay"] and i > 0:  # a retry whose answer was lost
                    before_site, before = batches[i - 1]
                    again = store.ingest(edges[before_site], parse(before), STORE_NOW)
                    assert again.ack.accepted == 0
                if i in history["fail"]:  # fails after its rollups were written
                    broken = mock.patch.object(
                        sqlite_series, "note_latest", side_effect=RuntimeError("disk on fire")
                    )
                    with broken, contextlib.suppress(RuntimeError):
                        store.ingest(edges[site], parse(batch), STORE_NOW)
                assert store.ingest(edges[site], parse(batch), STORE_NOW).ack.accepted == len(
                    batch["records"]
                )
                if i in history["reopen"]:  # a restarted API: nothing cached
                    store.close()
                    store = _open(path)
        finally:
            store.close()

        expected = _oracle_rollups(good)
        if not in_order:
            expected = {k: v[:8] for k, v in expected.items()}
        assert _stored_rollups(path, in_order) == expected
        assert _stored_latest(path) == latest


@st.composite
def one_bucket_entries(draw: st.DrawFn) -> Entries:
    """A counter's bookings and marks inside one 15-min bucket, as most batches give."""
    start = T0 + 900 * draw(st.integers(0, 400))  # some 4 days, Berlin's DST change in them
    stamps = sorted(draw(st.lists(st.integers(0, 900 * 4), min_size=2, max_size=12)))
    stamps = [start + s / 4 for s in stamps]
    entries = Entries()
    for a, b in itertools.pairwise(stamps):
        entries.bookings.append(
            Booking(a, b, draw(st.integers(1, 10**6)) / 8, draw(st.sampled_from([0, Flag.GAP])))
        )
    for ts in draw(st.lists(st.sampled_from(stamps), max_size=3)):
        flag = draw(st.sampled_from([Flag.LATE, Flag.GLITCH, Flag.IMPLAUSIBLE, Flag.GAP_HELD]))
        held = draw(st.integers(0, 10**6)) / 8 if flag in (Flag.IMPLAUSIBLE, Flag.GAP_HELD) else 0
        entries.marks.append(Mark(ts, flag, held))
    return entries


@settings(max_examples=200, deadline=None)
@given(one_bucket_entries())
def test_energy_rows_of_one_bucket_are_each_steps_own_spread(entries: Entries) -> None:
    # energy_rows() writes a 15-min bucket's sums straight to its hour and local day; the
    # slow way spreads the entries over each step and sums 15-min buckets per local day.
    zone = ZONES["s1"]
    expected = [(7, 900, s, *v) for s, v in spread(entries, 900).items()]
    expected += [(7, 3600, s, *v) for s, v in spread(entries, 3600).items()]
    daily: dict[int, tuple[float, float, int]] = {}
    for start, (booked, held, flags) in spread(entries, 900).items():
        b, h, f = daily.get(_day_start(start, zone), (0.0, 0.0, 0))
        daily[_day_start(start, zone)] = (b + booked, h + held, f | flags)
    expected += [(7, 86400, s, *v) for s, v in daily.items()]
    rows: list = []
    energy_rows(7, entries, rows, LocalDays(zone))
    assert [tuple(rows[i : i + 6]) for i in range(0, len(rows), 6)] == expected
