"""Writing rollups: a batch's good numeric readings merged into the stored buckets.

The batch's readings are aggregated in Python per (series, step, bucket) first, then each
touched bucket is written once by an upsert that merges it with what the bucket held
(rollup.merge()'s rules, in SQL: no read, no cache). 15-min and 1-h buckets are UTC-
aligned; 1-day buckets are the local days of the batch's site, made of its 15-min
buckets (see local_days.py).
"""

from __future__ import annotations

import sqlite3
from operator import attrgetter, itemgetter

from cloud_api.store.local_days import LocalDays
from cloud_api.store.rollup import STEPS, aggregate_sorted, regroup, regroup_by, summarise
from cloud_api.store.sqlite_bulk import BulkInsert

# A batch's bucket meets the stored one inside the upsert, by rollup.merge()'s rules
# (E: the stored row, N: excluded, the batch's): E before N is combine(E, N), N before E
# is combine(N, E), readings that interleave are merge_ignoring_order(E, N). Doing it in
# SQL costs nothing more (the upsert reads the stored row anyway) and spares Python a
# read, a cache and a merge for each of the ~3,000 buckets a batch touches. In an
# UPDATE, every column on the right is the stored row's value.
_E_FIRST = "last_ts <= excluded.first_ts"
_N_FIRST = "excluded.last_ts <= first_ts"
_UPSERT_ROLLUPS = BulkInsert(
    "INSERT INTO rollups(series_id, step, bucket_start, count, sum, min, max, first, last,"
    " first_ts, last_ts, increase)",
    12,
    "ON CONFLICT(step, bucket_start, series_id) DO UPDATE SET"
    " count=count+excluded.count,"
    " sum=sum+excluded.sum,"
    " min=CASE WHEN min < excluded.min THEN min ELSE excluded.min END,"
    " max=CASE WHEN max > excluded.max THEN max ELSE excluded.max END,"
    f" first=CASE WHEN {_E_FIRST} THEN first WHEN {_N_FIRST} THEN excluded.first"
    " WHEN first_ts <= excluded.first_ts THEN first ELSE excluded.first END,"
    f" first_ts=CASE WHEN {_E_FIRST} THEN first_ts WHEN {_N_FIRST} THEN excluded.first_ts"
    " WHEN first_ts <= excluded.first_ts THEN first_ts ELSE excluded.first_ts END,"
    f" last=CASE WHEN {_E_FIRST} THEN excluded.last WHEN {_N_FIRST} THEN last"
    " WHEN excluded.last_ts >= last_ts THEN excluded.last ELSE last END,"
    f" last_ts=CASE WHEN {_E_FIRST} THEN excluded.last_ts WHEN {_N_FIRST} THEN last_ts"
    " WHEN excluded.last_ts >= last_ts THEN excluded.last_ts ELSE last_ts END,"
    f" increase=CASE WHEN {_E_FIRST}"
    " THEN increase + excluded.increase + max(excluded.first - last, 0.0)"
    f" WHEN {_N_FIRST} THEN excluded.increase + increase + max(first - excluded.last, 0.0)"
    " ELSE increase + excluded.increase END",
)
ROLLUP_COLUMNS = "count, sum, min, max, first, last, first_ts, last_ts, increase"

_by_ts = itemgetter(0)
_aggregate_values = attrgetter(*ROLLUP_COLUMNS.split(", "))  # an Aggregate as a row


def update_rollups(
    db: sqlite3.Connection,
    good: dict[int, list[tuple[float, float]]],
    days: LocalDays,
    in_order: bool = False,
) -> None:
    """Merge a batch's good readings (series id -> (ts, value) list) into the stored
    15-min, 1-h and 1-day (local days of `days`) buckets. Sorts each list by time unless
    in_order says they are (the batch's records came in time order)."""
    # Flat, 12 values a bucket, one list per step, series in id order: the upsert then
    # visits rollups in its key order (step, bucket_start, series_id), page after page.
    fine_rows: list = []
    hour_rows: list = []
    day_rows: list = []
    fine_step, hour_step, day_step = STEPS["15m"], STEPS["1h"], STEPS["1d"]
    day_start, day_end = 0, 0  # the local day of the last 15-min bucket seen
    for series_id in sorted(good):
        readings = good[series_id]
        if not in_order and len(readings) > 1:
            readings.sort(key=_by_ts)  # stable: readings of one instant keep their order
        # Usually a batch's readings of a series fall in one 15-min bucket, hence one hour
        # and one day: that path builds no dicts (this loop runs for every series of every
        # batch). Otherwise aggregate at 15 min, then coarser from those.
        start = int(readings[0][0] // fine_step) * fine_step
        if int(readings[-1][0] // fine_step) * fine_step == start:
            values = summarise(readings)
            fine_rows.extend((series_id, fine_step, start))
            fine_rows.extend(values)
            hour_rows.extend((series_id, hour_step, start // hour_step * hour_step))
            hour_rows.extend(values)
            if not day_start <= start < day_end:
                day_start, day_end = days.bounds(start)
            day_rows.extend((series_id, day_step, day_start))
            day_rows.extend(values)
            continue
        fine = aggregate_sorted(readings, fine_step)
        hourly = regroup(fine, hour_step)
        for rows, step, buckets in (
            (fine_rows, fine_step, fine),
            (hour_rows, hour_step, hourly),
            (day_rows, day_step, regroup_by(fine, days.start_of)),  # local days
        ):
            for start, agg in buckets.items():
                rows.extend((series_id, step, start))
                rows.extend(_aggregate_values(agg))
    upserts = fine_rows + hour_rows + day_rows
    _UPSERT_ROLLUPS.run(db, upserts)  # merged with stored buckets there, see its SQL
