"""The ISA-18.2 alarm-load figures of a period, pure: from the raises of the alarms (when,
which code at which source) and the spells each alarm stood (raised until back to normal).

Definitions (ANSI/ISA-18.2-2016 clause 16 and Table 5, IEC 62682, EEMUA 191; the
figures are per operator, `operators` being the consoles sharing the load):
- rate: annunciated alarms per operator hour (the period's average) and per day;
  the peak is the most raised in one 10-minute interval. Intervals are fixed, 10 minutes
  from the period's start (as the targets count them: "per 10 minutes");
- flood: a 10-minute interval with more than 10 alarms per operator; adjacent flood
  intervals make one flood period; the share of time in flood is flood intervals over all;
- chattering: an alarm (one code at one source) raised 3 or more times within 60 s
  (ISA-TR18.2.5), judged on the raises' own times, not on the lifecycle's own chattering
  flag (which uses the edge's AlarmConfig);
- stale: an alarm that stood (unacknowledged or active) for more than 24 h; "present on
  a day" counts the alarms stale at the end of that local day;
- top ten: the ten sources that raised the most, with their share of all raises.

The targets beside the figures are Table 5's (as quoted by EEMUA 191 and IEC 62682):
~6 per hour (12 at most manageable), ~1 per 10 minutes (2), ~150 per day (300),
< 1 % of 10-minute intervals with more than 10 alarms, at most 10 in any 10 minutes,
< 1 % of the time in flood, < 1 % of hours with more than 30 alarms, the top ten < 1 %
to 5 % of the load, no chattering alarms, fewer than 5 stale alarms on any day.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

INTERVAL_S = 600.0  # the 10-minute interval of the rate and flood figures
FLOOD_ABOVE = 10  # alarms per operator in one interval
HOUR_ABOVE = 30  # alarms per operator in one hour ("% of hours with more than 30")
CHATTER_COUNT = 3  # raises of one alarm ...
CHATTER_WINDOW_S = 60.0  # ... within this many seconds
STALE_AFTER_S = 24 * 3600.0
TOP = 10


@dataclass(frozen=True)
class Raise:
    ts: float
    code: str
    source: str


@dataclass(frozen=True)
class Standing:
    """One spell of an alarm standing: from a raise until it was back to normal (None:
    still standing)."""

    code: str
    source: str
    since: float
    until: float | None


@dataclass(frozen=True)
class Target:
    figure: str  # a key of AlarmLoad's figures (see TARGETS)
    limit: float  # the figure is within target when <= limit (< for "less than")
    strict: bool  # True: within when figure < limit
    text: str  # how the standard puts it


# The figure's key, its limit, strictness, and the target as written.
TARGETS: tuple[Target, ...] = (
    Target("per_operator_hour", 6.0, False, "~6 (12 max manageable)"),
    Target("per_operator_day", 150.0, False, "~150 (300 max manageable)"),
    Target("peak_10min_per_operator", 10.0, False, "≤ 10"),
    Target("flood_interval_share", 0.01, True, "< 1 %"),
    Target("flood_time_share", 0.01, True, "< 1 %"),
    Target("busy_hour_share", 0.01, True, "< 1 %"),
    Target("top_ten_share", 0.05, False, "~1 % to 5 % max"),
    Target("chattering_alarms", 0.0, False, "0"),
    Target("stale_max_per_day", 5.0, True, "< 5"),
)


@dataclass(frozen=True)
class Flood:
    start: float
    end: float
    raised: int


@dataclass(frozen=True)
class Chattering:
    code: str
    source: str
    raised: int  # in the period
    most_in_window: int  # the most raises within CHATTER_WINDOW_S
    bursts: int  # runs of raises each within CHATTER_WINDOW_S of the run's first, >= 3


@dataclass(frozen=True)
class Stale:
    code: str
    source: str
    since: float
    until: float | None  # None: still standing at the report's time
    hours: float  # how long it stood (to `until`, or to the report's time)


@dataclass(frozen=True)
class TopSource:
    source: str
    raised: int
    share: float
    codes: dict[str, int]


@dataclass(frozen=True)
class AlarmLoad:
    start: float
    end: float  # the figures run to here (the period's end, or now)
    operators: int
    raised: int
    hours: float
    per_operator_hour: float | None
    per_operator_day: float | None
    peak_10min: int
    peak_10min_start: float | None
    peak_10min_per_operator: float
    intervals: int
    flood_intervals: int
    flood_interval_share: float | None
    flood_time_share: float | None  # the same share, as the time it covers
    floods: list[Flood]
    busy_hours: int  # hours with more than HOUR_ABOVE per operator
    busy_hour_share: float | None
    chattering: list[Chattering]
    stale: list[Stale]
    stale_max_per_day: int
    top: list[TopSource]
    top_ten_share: float | None

    @property
    def chattering_alarms(self) -> int:
        return len(self.chattering)

    def value(self, figure: str) -> float | None:
        return getattr(self, figure)

    def verdicts(self) -> list[tuple[Target, float | None, bool | None]]:
        """Each target with the figure and whether it is met (None: no figure)."""
        out = []
        for target in TARGETS:
            value = self.value(target.figure)
            ok = None
            if value is not None:
                ok = value < target.limit if target.strict else value <= target.limit
            out.append((target, value, ok))
        return out


def alarm_load(
    raises: Sequence[Raise],
    standing: Sequence[Standing],
    start: float,
    end: float,
    day_ends: Sequence[float],
    operators: int = 1,
) -> AlarmLoad:
    """The figures of [start, end) (`end`: the period's end, or now for a running one).

    raises: every annunciated raise (any order; those outside [start, end) are ignored);
    standing: the alarms' standing spells overlapping the period; day_ends: the ends of
    the local days in the period (for "stale alarms present on any day")."""
    if not end > start:
        raise ValueError(f"end ({end}) must be after start ({start})")
    if isinstance(operators, bool) or not isinstance(operators, int) or operators < 1:
        raise ValueError(f"operators must be a whole number >= 1, got {operators!r}")
    inside = sorted((r for r in raises if start <= r.ts < end), key=lambda r: r.ts)
    n = len(inside)
    hours = (end - start) / 3600.0
    intervals = math.ceil((end - start) / INTERVAL_S)
    per_interval = Counter(int((r.ts - start) // INTERVAL_S) for r in inside)
    per_hour = Counter(int((r.ts - start) // 3600.0) for r in inside)
    flooded = sorted(i for i, k in per_interval.items() if k / operators > FLOOD_ABOVE)
    peak_i, peak = max(per_interval.items(), key=lambda kv: (kv[1], -kv[0]), default=(None, 0))
    busy = sum(1 for k in per_hour.values() if k / operators > HOUR_ABOVE)
    by_source = Counter(r.source for r in inside)
    top = sorted(by_source.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    codes_of: dict[str, Counter] = defaultdict(Counter)
    for r in inside:
        codes_of[r.source][r.code] += 1
    return AlarmLoad(
        start=start,
        end=end,
        operators=operators,
        raised=n,
        hours=hours,
        per_operator_hour=n / operators / hours,
        per_operator_day=n / operators / (hours / 24.0),
        peak_10min=peak,
        peak_10min_start=None if peak_i is None else start + peak_i * INTERVAL_S,
        peak_10min_per_operator=peak / operators,
        intervals=intervals,
        flood_intervals=len(flooded),
        flood_interval_share=len(flooded) / intervals,
        flood_time_share=_flood_seconds(flooded, start, end) / (end - start),
        floods=_floods(flooded, per_interval, start, end),
        busy_hours=busy,
        busy_hour_share=busy / math.ceil(hours),
        chattering=_chattering(inside),
        stale=_stale(standing, start, end),
        stale_max_per_day=_stale_per_day(standing, start, end, day_ends),
        top=[
            TopSource(source, k, k / n, dict(sorted(codes_of[source].items()))) for source, k in top
        ],
        top_ten_share=sum(k for _, k in top) / n if n else None,
    )


def _flood_seconds(flooded: list[int], start: float, end: float) -> float:
    """The time the flood intervals cover (the last interval may be cut by `end`)."""
    return sum(min(start + (i + 1) * INTERVAL_S, end) - (start + i * INTERVAL_S) for i in flooded)


def _floods(flooded: list[int], per_interval: Counter, start: float, end: float) -> list[Flood]:
    """Adjacent flood intervals joined into flood periods."""
    out: list[Flood] = []
    for i in flooded:
        lo, hi = start + i * INTERVAL_S, min(start + (i + 1) * INTERVAL_S, end)
        if out and out[-1].end == lo:
            last = out[-1]
            out[-1] = Flood(last.start, hi, last.raised + per_interval[i])
        else:
            out.append(Flood(lo, hi, per_interval[i]))
    return out


def _chattering(inside: list[Raise]) -> list[Chattering]:
    """Alarms raised CHATTER_COUNT or more times within CHATTER_WINDOW_S (inclusive)."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in inside:  # in time order
        times[(r.code, r.source)].append(r.ts)
    out = []
    for (code, source), ts in times.items():
        most, j = 0, 0
        for i in range(len(ts)):  # two pointers: ts[i..j] within the window
            j = max(j, i)
            while j + 1 < len(ts) and ts[j + 1] - ts[i] <= CHATTER_WINDOW_S:
                j += 1
            most = max(most, j - i + 1)
        if most < CHATTER_COUNT:
            continue
        bursts, i = 0, 0
        while i < len(ts):  # greedy runs from each run's first raise
            j = i
            while j + 1 < len(ts) and ts[j + 1] - ts[i] <= CHATTER_WINDOW_S:
                j += 1
            if j - i + 1 >= CHATTER_COUNT:
                bursts += 1
                i = j + 1
            else:
                i += 1
        out.append(Chattering(code, source, len(ts), most, bursts))
    return sorted(out, key=lambda c: (-c.raised, c.code, c.source))


def _stale(standing: Sequence[Standing], start: float, end: float) -> list[Stale]:
    """Spells that, inside the period, had stood for more than STALE_AFTER_S."""
    out = []
    for s in standing:
        stop = end if s.until is None else min(s.until, end)
        if s.since >= end or stop <= start:
            continue  # not in the period
        if stop - s.since > STALE_AFTER_S:
            until = s.until if s.until is not None and s.until <= end else None
            out.append(Stale(s.code, s.source, s.since, until, (stop - s.since) / 3600.0))
    return sorted(out, key=lambda s: (s.since, s.code, s.source))


def _stale_per_day(
    standing: Sequence[Standing], start: float, end: float, day_ends: Sequence[float]
) -> int:
    """The most alarms stale at the end of one local day of the period (a running day
    counts at `end`)."""
    most = 0
    for day_end in day_ends:
        at = min(day_end, end)
        if at <= start:
            continue
        present = sum(
            1
            for s in standing
            if at - s.since > STALE_AFTER_S and (s.until is None or s.until > at)
        )
        most = max(most, present)
        if day_end >= end:
            break
    return most
