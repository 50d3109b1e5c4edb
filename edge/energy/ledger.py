"""Counter ledger: the energy a cumulative register shows, reading after reading. Pure.

An energy register only grows, except when it
- glitches: one or a few readings far off (a 0 on a bus error, a torn 32-bit read),
  after which the readings continue from where they were;
- resets: cleared by an operator or a swapped meter; the register falls and stays low;
- rolls over: an integer register passes its largest value and starts again at 0. Its
  `wrap` is the register's modulus in the reading's unit: 2**32 * 0.01 = 42,949,672.96
  kWh for a u32 with scale 0.01 (see wrap_of);
- jumps implausibly: more than the meter's maximum rate could deliver in the time
  between two readings (a swapped meter that reads higher, a decoding error).

The rules, with B the base (the last trusted reading) and R a new reading:
1. R is a *good step* when 0 <= R - B <= max_rate * (t_R - t_B) (no max_rate: any rise).
   It books R - B over [t_B, t_R] and becomes the base. A fall of at most `jitter` * |B|
   is float noise: it books nothing and the base stays.
2. Any other R is *suspect* and waits. When a later reading is a good step from B, the
   waiting readings were a glitch: they are dropped (flag GLITCH) and that step is booked
   (1000 -> 0 -> 1000.1 books 0.1).
3. When `confirm` + 1 readings in a row are suspect, the first of them, P, is a new level:
   - P below B, a wrap known, B in the register's top half and P in its bottom half, and
     P + wrap - B a good step: a rollover (flag ROLLOVER), P + wrap - B is booked;
   - P below B otherwise: a reset (flag RESET); nothing is booked from B to P, counting
     restarts at P (1000 -> 0 -> 0.5 -> 1.2 books 0.5 + 0.7 = 1.2);
   - P above B: implausible (flag IMPLAUSIBLE); the rise is not booked but held out.
   P becomes the base and the readings after it are taken again, from P.
4. A step longer than `max_spread` seconds is held out whole (flag GAP_HELD): its energy
   is real but when it was used is not known well enough to put it in buckets. A step
   longer than `gap` seconds is booked with flag GAP: spread() spreads it over the gap.
5. A reading at or before the latest one the ledger took is late (flag LATE): ignored,
   its energy is already in the step that spans it.
6. A meter replacement (Replacement(ts, old_final, new_initial), declared by an
   operator) ends the old meter and starts the new one: old_final - B is booked over
   [t_B, ts] (flag REPLACED; held out as IMPLAUSIBLE or GAP_HELD when rules 1 and 4 say
   so, like any step), suspect readings still waiting are dropped (GLITCH: the old
   meter's final reading is the declared one), and counting continues from new_initial
   at ts. So a new meter is neither a reset (nothing booked) nor, when it reads higher
   than the old one, an implausible jump. feed() applies a replacement just before the
   first reading at or after its ts (a reading at exactly ts is then LATE: the
   declaration says what both meters read), or at the end of the call when no such
   reading comes; one at or before the latest reading the ledger took cannot be applied
   to the state (ValueError): feed the readings again from an empty state with it.

Energy between two readings is spread over time in proportion (spread()): the ledger
never knows more precisely when it was used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntFlag

POINT_BITS = {"u16": 16, "u32": 32, "u64": 64}  # unsigned register types that roll over


class Flag(IntFlag):
    GLITCH = 1  # readings dropped: the register came back to where it was
    RESET = 2  # the register fell and stayed low: the step into the fall is not booked
    ROLLOVER = 4  # the register wrapped; the step across the wrap is booked
    IMPLAUSIBLE = 8  # a rise faster than max_rate: held out, not booked
    GAP = 16  # energy of a step longer than `gap`, spread over the gap
    GAP_HELD = 32  # a step longer than max_spread: held out, not booked
    LATE = 64  # a reading older than one already taken: ignored by the ledger
    REPLACED = 128  # the old meter's last step, booked at a declared meter replacement
    REPAIRED = 256  # energy booked by a repair of a held-out amount (edge/energy/repairs.py)


def flag_names(flags: int) -> list[str]:
    return [f.name.lower() for f in Flag if flags & f]  # type: ignore[union-attr]


def wrap_of(point_type: str, scale: float) -> float | None:
    """The modulus of an unsigned integer register in its engineering unit, or None."""
    bits = POINT_BITS.get(point_type)
    return None if bits is None else float(2**bits) * abs(scale)


@dataclass(frozen=True, slots=True)
class CounterRules:
    wrap: float | None = None  # the register's modulus in its unit; None: it never wraps
    max_rate: float | None = None  # most the register can rise per hour; None: no bound
    confirm: int = 2  # readings after a suspect one that must agree before a new level
    gap: float = 900.0  # a step longer than this (s) is flagged GAP where it is spread
    max_spread: float = 31 * 86400.0  # a step longer than this (s) is held out
    jitter: float = 1e-6  # a fall of at most this fraction of the base is noise


@dataclass(slots=True)
class CounterState:
    """What the ledger remembers of one counter between batches."""

    base_ts: float | None = None
    base_value: float = 0.0
    pending: list[tuple[float, float]] = field(default_factory=list)  # suspect readings

    @property
    def latest_ts(self) -> float | None:
        return self.pending[-1][0] if self.pending else self.base_ts

    def as_list(self) -> list:
        return [self.base_ts, self.base_value, [list(p) for p in self.pending]]

    @classmethod
    def from_list(cls, data: list) -> CounterState:
        base_ts, base_value, pending = data
        return cls(base_ts, base_value, [(ts, value) for ts, value in pending])


@dataclass(frozen=True, slots=True)
class Booking:
    """`amount` used over [start, end], evenly as far as anyone knows."""

    start: float
    end: float
    amount: float
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Mark:
    """Something the ledger noticed at one instant, with energy it held out.

    `since` is the start of the step the mark is about (the base reading's ts) for the
    flags that concern a step: IMPLAUSIBLE and GAP_HELD (their `held` was used over
    [since, ts]), RESET, ROLLOVER and REPLACED; None for GLITCH and LATE.
    """

    ts: float
    flag: Flag
    held: float = 0.0
    since: float | None = None


@dataclass(frozen=True, slots=True)
class Replacement:
    """An operator's declaration: at `ts` the old meter read `old_final` for the last time
    and the new meter, installed in its place, read `new_initial` (both in the series'
    unit)."""

    ts: float
    old_final: float
    new_initial: float


@dataclass(slots=True)
class Entries:
    bookings: list[Booking] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def feed(
    state: CounterState,
    readings: Iterable[tuple[float, float]],
    rules: CounterRules,
    replacements: Iterable[Replacement] = (),
) -> Entries:
    """Take readings given in time order; what they book. Updates `state`.

    `replacements` (any order) are applied by rule 6 of the module docstring; pass each
    to one call only. ValueError for one at or before the state's latest reading, or
    whose old_final is below the old meter's last trusted reading.
    """
    out = Entries()
    bookings = out.bookings
    max_rate, gap, max_spread = rules.max_rate, rules.gap, rules.max_spread
    due = sorted(replacements, key=lambda r: r.ts, reverse=True)  # next one last
    latest = state.latest_ts
    if due and latest is not None and due[-1].ts <= latest:
        raise ValueError(
            f"a meter replacement at ts {due[-1].ts} is not after the ledger's latest reading"
            f" (ts {latest}): feed the readings again from an empty state with it"
        )
    next_at = due[-1].ts if due else math.inf
    for ts, value in readings:
        if ts >= next_at:
            while due and due[-1].ts <= ts:
                _replace(state, due.pop(), rules, out)
            next_at = due[-1].ts if due else math.inf
        # The usual reading, inlined (the store feeds every counter reading through here):
        # nothing pending, later than the base, a good step (rule 1) not longer than
        # max_spread. It does exactly what _take and _book would do with it.
        base_ts = state.base_ts
        if not state.pending and base_ts is not None and ts > base_ts:
            rise = value - state.base_value
            seconds = ts - base_ts
            if (
                rise >= 0
                and seconds <= max_spread
                and (max_rate is None or rise <= max_rate * seconds / 3600 * (1 + 1e-9))
            ):
                if rise:
                    bookings.append(Booking(base_ts, ts, rise, Flag.GAP if seconds > gap else 0))
                state.base_ts, state.base_value = ts, value
                continue
        latest = state.latest_ts
        if latest is not None and ts <= latest:
            out.marks.append(Mark(ts, Flag.LATE))
            continue
        _take(state, ts, value, rules, out)
    while due:
        _replace(state, due.pop(), rules, out)
    return out


def _replace(state: CounterState, r: Replacement, rules: CounterRules, out: Entries) -> None:
    base_ts = state.base_ts
    for pending_ts, _ in state.pending:
        out.marks.append(Mark(pending_ts, Flag.GLITCH))
    state.pending.clear()
    if base_ts is None:  # nothing of the old meter was taken: start from the new one
        out.marks.append(Mark(r.ts, Flag.REPLACED))
        state.base_ts, state.base_value = r.ts, r.new_initial
        return
    rise = r.old_final - state.base_value
    if rise < 0 and -rise > rules.jitter * abs(state.base_value):
        raise ValueError(
            f"meter replacement at ts {r.ts}: old_final {r.old_final} is below the old"
            f" meter's reading {state.base_value} at ts {base_ts}; a register does not run"
            " backwards: check the declared reading"
        )
    rise = max(rise, 0.0)
    out.marks.append(Mark(r.ts, Flag.REPLACED, 0.0, base_ts))
    if _good(rise, r.ts - base_ts, rules):
        _book(state, r.ts, r.new_initial, rise, Flag.REPLACED, rules, out)
    else:  # more than the meter could use in the time: held out, to be repaired
        out.marks.append(Mark(r.ts, Flag.IMPLAUSIBLE, rise, base_ts))
        state.base_ts, state.base_value = r.ts, r.new_initial


def _good(rise: float, seconds: float, rules: CounterRules) -> bool:
    if rise < 0:
        return False
    # A tiny relative allowance keeps a meter running exactly at max_rate good.
    return rules.max_rate is None or rise <= rules.max_rate * seconds / 3600 * (1 + 1e-9)


def _take(state: CounterState, ts: float, value: float, rules: CounterRules, out: Entries) -> None:
    if state.base_ts is None:
        state.base_ts, state.base_value = ts, value
        return
    rise = value - state.base_value
    noise = -rise <= rules.jitter * abs(state.base_value)
    if _good(rise, ts - state.base_ts, rules) or (rise < 0 and noise):
        for pending_ts, _ in state.pending:
            out.marks.append(Mark(pending_ts, Flag.GLITCH))
        state.pending.clear()
        if rise >= 0:
            _book(state, ts, value, rise, 0, rules, out)
        return
    state.pending.append((ts, value))
    if len(state.pending) <= rules.confirm:
        return
    pending, state.pending = state.pending, []
    (level_ts, level), rest = pending[0], pending[1:]
    _new_level(state, level_ts, level, rules, out)
    for again_ts, again in rest:
        _take(state, again_ts, again, rules, out)


def _new_level(
    state: CounterState, ts: float, value: float, rules: CounterRules, out: Entries
) -> None:
    base = state.base_value
    if value < base:
        wrap = rules.wrap
        if wrap is not None and base >= wrap / 2 > value:
            across = value + wrap - base
            if _good(across, ts - state.base_ts, rules):  # type: ignore[operator]
                out.marks.append(Mark(ts, Flag.ROLLOVER, 0.0, state.base_ts))
                _book(state, ts, value, across, Flag.ROLLOVER, rules, out)
                return
        out.marks.append(Mark(ts, Flag.RESET, 0.0, state.base_ts))
    else:
        out.marks.append(Mark(ts, Flag.IMPLAUSIBLE, value - base, state.base_ts))
    state.base_ts, state.base_value = ts, value


def _book(
    state: CounterState,
    ts: float,
    value: float,
    amount: float,
    flags: int,
    rules: CounterRules,
    out: Entries,
) -> None:
    start = state.base_ts
    assert start is not None
    seconds = ts - start
    if seconds > rules.max_spread:
        out.marks.append(Mark(ts, Flag.GAP_HELD, amount, start))
    elif amount:
        if seconds > rules.gap:
            flags |= Flag.GAP
        out.bookings.append(Booking(start, ts, amount, flags))
    state.base_ts, state.base_value = ts, value


def spread(entries: Entries, step: int) -> dict[int, tuple[float, float, int]]:
    """Per bucket of `step` seconds (by start): (booked, held out, flags).

    A booking is spread over the buckets its interval touches in proportion to time; a
    mark, and a booking of an instant (start == end: a repair that accepts a held-out
    amount where it was seen, edge/energy/repairs.py), land in the bucket of their instant.
    """
    out: dict[int, tuple[float, float, int]] = {}
    for b in entries.bookings:
        span = b.end - b.start
        bucket = int(b.start // step) * step
        if b.end <= bucket + step:  # inside one bucket, as most are: no loop
            share = b.amount * span / span if span > 0 else b.amount
            booked, held, flags = out.get(bucket, (0.0, 0.0, 0))
            out[bucket] = (booked + share, held, flags | b.flags)
            continue
        while bucket < b.end:
            overlap = min(b.end, bucket + step) - max(b.start, bucket)
            if overlap > 0:
                booked, held, flags = out.get(bucket, (0.0, 0.0, 0))
                out[bucket] = (booked + b.amount * overlap / span, held, flags | b.flags)
            bucket += step
    for m in entries.marks:
        bucket = int(m.ts // step) * step
        booked, held, flags = out.get(bucket, (0.0, 0.0, 0))
        out[bucket] = (booked, held + m.held, flags | m.flag)
    return out
