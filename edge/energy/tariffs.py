"""Time-of-use tariffs as dated versions: seasons, time windows, holiday rules, and cost.

A tariff version maps each local quarter hour of a day to a period (peak, valley, ...)
and each period to a price per kWh. Which windows apply: a holiday rule on its dates
(where its windows reach), else the season of the month, else `default_period`. Times are
local wall-clock times of the site (a repeated hour on a DST day is priced twice at its
clock time). Window boundaries must be on a quarter hour; a tariff whose boundaries are
all on the hour can price hourly buckets (step_needed 3600), otherwise 15-min ones (900).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise

import numpy as np

from edge.energy.calendar import LocalCalendar

QUARTER = 900
QUARTERS = 96  # per day
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def parse_hhmm(text: str, *, end: bool = False) -> int:
    """'07:30' -> 450 minutes since local midnight; '24:00' only as the end of a window."""
    m = _HHMM.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not a time of day: write 'HH:MM' in quotes, e.g. '07:00'")
    minutes = int(m.group(1)) * 60 + int(m.group(2))
    if minutes > 1440 or (minutes == 1440 and not end):
        raise ValueError(f"{text!r}: only the end of a window may be '24:00'")
    if minutes % 15:
        raise ValueError(f"{text!r}: tariff windows start and end on a quarter hour")
    return minutes


@dataclass(frozen=True)
class Window:
    """[start, end) minutes of the local day in a period; end <= start wraps past midnight."""

    start: int
    end: int
    period: str

    @classmethod
    def of(cls, start: str, end: str, period: str) -> Window:
        return cls(parse_hhmm(start), parse_hhmm(end, end=True), period)

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(f"window {self.label}: start and end are the same time")
        if not self.period:
            raise ValueError(f"window {self.label}: no period")

    @property
    def label(self) -> str:
        def hhmm(m: int) -> str:
            return f"{m // 60:02d}:{m % 60:02d}"

        return f"{hhmm(self.start)}-{hhmm(self.end)} {self.period}"

    def quarters(self) -> list[int]:
        """Indices (0..95) of the quarter hours this window covers."""
        first, last = self.start // 15, self.end // 15
        if last > first:
            return list(range(first, last))
        return list(range(first, QUARTERS)) + list(range(last))


def _paint(windows: Iterable[Window], what: str) -> list[str | None]:
    """Period of each quarter hour the windows cover (None elsewhere); overlaps are errors."""
    day: list[str | None] = [None] * QUARTERS
    owner: list[Window | None] = [None] * QUARTERS
    for w in windows:
        for q in w.quarters():
            other = owner[q]
            if other is not None:
                raise ValueError(f"{what}: windows {other.label} and {w.label} overlap")
            day[q], owner[q] = w.period, w
    return day


@dataclass(frozen=True)
class Season:
    months: frozenset[int]
    windows: tuple[Window, ...]
    name: str = ""


@dataclass(frozen=True)
class HolidayRule:
    """Windows for given dates, or for (month, day) pairs every year (`annual`)."""

    windows: tuple[Window, ...]
    dates: frozenset[date] = frozenset()
    annual: frozenset[tuple[int, int]] = frozenset()
    name: str = ""

    def applies(self, d: date) -> bool:
        return d in self.dates or (d.month, d.day) in self.annual


@dataclass(frozen=True)
class Tariff:
    """One dated version of a TOU tariff. `prices` are per kWh in `currency`."""

    version: str
    valid_from: date
    currency: str
    prices: Mapping[str, float]
    seasons: tuple[Season, ...]
    default_period: str
    holiday_rules: tuple[HolidayRule, ...] = ()
    source: str = ""
    example: bool = False  # prices are an illustration, not a bill
    _days: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"tariff {self.version}"
        for name, price in self.prices.items():
            if not (isinstance(price, int | float) and math.isfinite(price) and price >= 0):
                raise ValueError(f"{where}: price of {name} must be a number >= 0")
        used = {self.default_period} | {
            w.period for part in (*self.seasons, *self.holiday_rules) for w in part.windows
        }
        unpriced = sorted(used - set(self.prices))
        if unpriced:
            raise ValueError(f"{where}: no price for period(s) {', '.join(unpriced)}")
        seen: dict[int, str] = {}
        for i, season in enumerate(self.seasons):
            label = season.name or f"season {i + 1}"
            for m in sorted(season.months):
                if not 1 <= m <= 12:
                    raise ValueError(f"{where}, {label}: month {m} is not 1..12")
                if m in seen:
                    raise ValueError(f"{where}: month {m} is in both {seen[m]} and {label}")
                seen[m] = label
            _paint(season.windows, f"{where}, {label}")
        for i, rule in enumerate(self.holiday_rules):
            _paint(rule.windows, f"{where}, holiday rule {rule.name or i + 1}")

    def quarter_periods(self, d: date) -> tuple[str, ...]:
        """The period of each of the 96 local quarter hours of date d."""
        season = next((s for s in self.seasons if d.month in s.months), None)
        rule = next((r for r in self.holiday_rules if r.applies(d)), None)
        key = (id(season), id(rule))
        cached = self._days.get(key)
        if cached is None:
            base = _paint(season.windows, "") if season else [None] * QUARTERS
            over = _paint(rule.windows, "") if rule else [None] * QUARTERS
            cached = tuple(o or b or self.default_period for o, b in zip(over, base, strict=True))
            self._days[key] = cached
        return cached

    def period_at(self, local: datetime) -> str:
        """The period at a local wall-clock time."""
        q = (local.hour * 60 + local.minute) // 15
        return self.quarter_periods(local.date())[q]

    def boundaries(self) -> set[int]:
        """Minutes of the day at which some window starts or ends."""
        return {
            m
            for part in (*self.seasons, *self.holiday_rules)
            for w in part.windows
            for m in (w.start, w.end % 1440)
        }


@dataclass(frozen=True)
class CostResult:
    total: float
    by_period: dict[str, tuple[float, float]]  # period -> (kWh, cost)
    versions: tuple[str, ...]
    currency: str
    # Buckets whose kWh is missing (NaN): left out of every sum, never guessed.
    missing: int = 0


class TariffTable:
    """The dated versions of one tariff (one currency); the version valid on a day applies."""

    def __init__(self, versions: Iterable[Tariff]) -> None:
        ordered = sorted(versions, key=lambda t: t.valid_from)
        if not ordered:
            raise ValueError("a tariff table needs at least one version")
        for a, b in pairwise(ordered):
            if a.valid_from == b.valid_from:
                raise ValueError(
                    f"tariffs {a.version} and {b.version} both start on {a.valid_from}"
                )
        names = [t.version for t in ordered]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"tariff version(s) named twice: {', '.join(dup)}")
        currencies = sorted({t.currency for t in ordered})
        if len(currencies) > 1:
            raise ValueError(f"one tariff table, one currency (got {', '.join(currencies)})")
        self._versions = tuple(ordered)
        self._from = np.array([t.valid_from.toordinal() for t in ordered], np.int64)
        periods: dict[str, None] = {}
        for t in ordered:
            periods.update(dict.fromkeys(t.prices))
        self.periods: tuple[str, ...] = tuple(periods)  # period_index refers to these
        self.currency = currencies[0]
        self._rows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    @property
    def versions(self) -> tuple[Tariff, ...]:
        return self._versions

    def at(self, d: date) -> Tariff:
        """The version valid on local date d."""
        return self._versions[self._index(d)]

    def _index(self, d: date) -> int:
        i = int(np.searchsorted(self._from, d.toordinal(), side="right")) - 1
        if i < 0:
            first = self._versions[0]
            raise LookupError(
                f"no tariff is valid on {d.isoformat()}: the earliest version, "
                f"{first.version}, applies from {first.valid_from.isoformat()}"
            )
        return i

    def period_at(self, local: datetime) -> str:
        return self.at(local.date()).period_at(local)

    def step_needed(self) -> int:
        """3600 when every window boundary is on the hour, else 900."""
        return 3600 if all(m % 60 == 0 for t in self._versions for m in t.boundaries()) else 900

    def prices_at(
        self, calendar: LocalCalendar, bucket_start: np.ndarray, step: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(price per kWh, period index into .periods, version index) of each bucket.

        Buckets are whole local hours (step 3600) or quarter hours (900).
        """
        if step not in (QUARTER, 3600):
            raise ValueError(f"step must be 900 or 3600 seconds, not {step}")
        if step > self.step_needed():
            raise ValueError(
                "this tariff has a window boundary that is not on the hour: "
                "price 15-min buckets (step 900), not hourly ones"
            )
        bucket_start = np.asarray(bucket_start, np.float64)
        ordinal, clock = calendar.local_clock(bucket_start)
        off_grid = np.flatnonzero(clock % step)
        if off_grid.size:
            ts = float(bucket_start[off_grid[0]])
            unit = "hour" if step == 3600 else "quarter hour"
            raise ValueError(f"bucket at epoch {ts:.0f} does not start on a local {unit}")
        days, inverse = np.unique(ordinal, return_inverse=True)
        index = {p: i for i, p in enumerate(self.periods)}
        day_period = np.empty((len(days), QUARTERS), np.int16)
        day_price = np.empty((len(days), QUARTERS), np.float64)
        day_version = np.empty(len(days), np.int16)
        for row, o in enumerate(days.tolist()):
            d = date.fromordinal(o)
            day_version[row] = v = self._index(d)
            tariff = self._versions[v]
            quarters = tariff.quarter_periods(d)  # one cached tuple per kind of day
            rows = self._rows.get((v, id(quarters)))
            if rows is None:
                rows = (
                    np.array([index[p] for p in quarters], np.int16),
                    np.array([tariff.prices[p] for p in quarters], np.float64),
                )
                self._rows[(v, id(quarters))] = rows
            day_period[row], day_price[row] = rows
        q = (clock // QUARTER).astype(np.int64)
        return day_price[inverse, q], day_period[inverse, q], day_version[inverse]

    def price_per_hour(
        self, calendar: LocalCalendar, hour_start: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(price per kWh, period index into .periods) of each local hour."""
        price, period, _ = self.prices_at(calendar, hour_start, 3600)
        return price, period


def step_needed(table: TariffTable) -> int:
    """3600 when hourly buckets can be priced, 900 when a boundary is not on the hour."""
    return table.step_needed()


def cost(
    calendar: LocalCalendar,
    table: TariffTable,
    bucket_start: np.ndarray,
    kwh: np.ndarray,
    step: int,
) -> CostResult:
    """Cost of kWh per bucket (local hours or quarter hours), by period, naming versions."""
    kwh = np.asarray(kwh, np.float64)
    bucket_start = np.asarray(bucket_start, np.float64)
    if kwh.shape != bucket_start.shape:
        raise ValueError("cost: bucket_start and kwh must have the same length")
    known = ~np.isnan(kwh)
    price, period, version = table.prices_at(calendar, bucket_start[known], step)
    amount = kwh[known]
    money = amount * price
    by_period: dict[str, tuple[float, float]] = {}
    for i in np.unique(period).tolist():
        sel = period == i
        by_period[table.periods[i]] = (float(amount[sel].sum()), float(money[sel].sum()))
    return CostResult(
        total=float(money.sum()),
        by_period=by_period,
        versions=tuple(table.versions[i].version for i in np.unique(version).tolist()),
        currency=table.currency,
        missing=int((~known).sum()),
    )
