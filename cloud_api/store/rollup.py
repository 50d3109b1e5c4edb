"""Rollup arithmetic: pure functions over (ts, value) readings, no I/O.

A rollup bucket summarises the good numeric readings of one series in one interval of
15 min, 1 h or 1 day. 15-min and 1-h buckets are aligned on multiples of their length
since the Unix epoch (UTC); 1-day buckets are the local days of the series' site (see
local_days.py), keyed by the epoch of their local midnight and made of whole 15-min
buckets. A bucket covers [start, next bucket's start).

For every bucket the store keeps count, sum, min, max, the first and last reading with
their timestamps, and `increase`: the sum of the non-negative steps between consecutive
readings inside the bucket. avg = sum / count.

Counter consumption is not derived from these: a glitch, a reset, a rollover or a gap
needs the readings' history, which edge/energy/ledger.py's counter ledger keeps. The store books
what the ledger finds into buckets of the same steps, spreading the energy between two
readings over the time between them (see cloud_api/store/sqlite_energy.py). `increase`
is kept for the file format and no longer read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice

STEPS: dict[str, int] = {"15m": 900, "1h": 3600, "1d": 86400}
"""Rollup step names, as the query API spells them, and their length in seconds."""


@dataclass(slots=True)
class Aggregate:
    """What one bucket knows about its readings."""

    count: int
    sum: float
    min: float
    max: float
    first: float
    last: float
    first_ts: float
    last_ts: float
    increase: float  # non-negative steps between consecutive readings inside the bucket

    @property
    def avg(self) -> float:
        return self.sum / self.count


def bucket_start(ts: float, step: int) -> int:
    return int(ts // step) * step


Summary = tuple[int, float, float, float, float, float, float, float, float]
"""An Aggregate's values in its field order: count, sum, min, max, first, last, first_ts,
last_ts, increase."""


def summarise(readings: Sequence[tuple[float, float]]) -> Summary:
    """The Aggregate's values of readings sorted by time, as one bucket (at least one)."""
    # The usual bucket of a batch (this runs for every series of every batch): no objects
    # but the tuple, the arithmetic in local variables.
    first_ts, first = readings[0]
    total = low = high = last = first
    increase = 0.0
    for _, value in islice(readings, 1, None):
        total += value
        if value < low:
            low = value
        elif value > high:
            high = value
        rise = value - last
        if rise > 0:
            increase += rise
        last = value
    return (len(readings), total, low, high, first, last, first_ts, readings[-1][0], increase)


def aggregate_sorted(readings: Sequence[tuple[float, float]], step: int) -> dict[int, Aggregate]:
    """Buckets of `step` seconds over readings sorted by time, in time order."""
    if not readings:
        return {}
    start = int(readings[0][0] // step) * step
    if int(readings[-1][0] // step) * step == start:  # all in one, as nearly always
        return {start: Aggregate(*summarise(readings))}
    buckets: dict[int, Aggregate] = {}
    current = -1
    agg: Aggregate | None = None
    for ts, value in readings:
        start = int(ts // step) * step
        if start != current or agg is None:
            agg = Aggregate(1, value, value, value, value, value, ts, ts, 0.0)
            buckets[start] = agg
            current = start
            continue
        agg.count += 1
        agg.sum += value
        if value < agg.min:
            agg.min = value
        elif value > agg.max:
            agg.max = value
        rise = value - agg.last
        if rise > 0:
            agg.increase += rise
        agg.last = value
        agg.last_ts = ts
    return buckets


def combine(earlier: Aggregate, later: Aggregate) -> Aggregate:
    """One bucket from two whose readings do not interleave (earlier ends before later)."""
    rise = later.first - earlier.last
    return Aggregate(  # positional: this runs for every series of every batch
        earlier.count + later.count,
        earlier.sum + later.sum,
        earlier.min if earlier.min < later.min else later.min,
        earlier.max if earlier.max > later.max else later.max,
        earlier.first,
        later.last,
        earlier.first_ts,
        later.last_ts,
        earlier.increase + later.increase + (rise if rise > 0 else 0.0),
    )


def merge(existing: Aggregate, new: Aggregate) -> Aggregate | None:
    """Add newly arrived readings to a stored bucket.

    None when the two sets of readings interleave in time: the order of readings inside
    the bucket is then unknown here, so `increase` must be recomputed from raw readings.
    """
    if existing.last_ts <= new.first_ts:
        return combine(existing, new)
    if new.last_ts <= existing.first_ts:
        return combine(new, existing)
    return None


def merge_ignoring_order(existing: Aggregate, new: Aggregate) -> Aggregate:
    """Like merge() for readings that interleave, for gauges: count, sum, min, max, first
    and last do not depend on the order the readings arrived in; `increase` does, and is
    left meaningless (gauges have no consumption)."""
    earlier_first = existing if existing.first_ts <= new.first_ts else new
    later_last = new if new.last_ts >= existing.last_ts else existing
    return Aggregate(
        existing.count + new.count,
        existing.sum + new.sum,
        existing.min if existing.min < new.min else new.min,
        existing.max if existing.max > new.max else new.max,
        earlier_first.first,
        later_last.last,
        earlier_first.first_ts,
        later_last.last_ts,
        existing.increase + new.increase,
    )


def regroup(buckets: dict[int, Aggregate], step: int) -> dict[int, Aggregate]:
    """Coarser buckets from finer ones given in time order (15 min -> 1 h -> 1 day)."""
    if len(buckets) == 1:  # the usual case: a batch covers minutes, not hours
        ((start, agg),) = buckets.items()
        return {start // step * step: agg}
    coarse: dict[int, Aggregate] = {}
    for start, agg in buckets.items():
        outer = start // step * step
        held = coarse.get(outer)
        coarse[outer] = agg if held is None else combine(held, agg)
    return coarse


def regroup_by(
    buckets: dict[int, Aggregate], outer_of: Callable[[int], int]
) -> dict[int, Aggregate]:
    """Coarser buckets from finer ones given in time order, each going to the bucket
    outer_of(its start) names (15 min -> local days)."""
    coarse: dict[int, Aggregate] = {}
    for start, agg in buckets.items():
        outer = outer_of(start)
        held = coarse.get(outer)
        coarse[outer] = agg if held is None else combine(held, agg)
    return coarse
