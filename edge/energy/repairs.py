"""Repairs of energy the ledger held out (edge/energy/ledger.py): pure.

The ledger holds out an amount it cannot place: an IMPLAUSIBLE rise (faster than the
meter's rating allows) or a GAP_HELD step (longer than max_spread). Its Mark says how
much (`held`) and over which interval ([since, ts]). A person decides what it was:

- accept: the amount is real and was used where the ledger saw it. One booking of the
  held amount at the instant ts (start == end == ts): spread() puts all of it in the
  bucket of ts at every step, the very bucket whose held_out holds it. For an implausible
  jump this is "the meter's reading is right".
- split: the amount is real but was used evenly over [since, ts]: one booking over that
  interval, spread() shares it among the buckets in proportion to time. Differs from
  accept whenever [since, ts] reaches beyond the bucket of ts (a gap of days: accept puts
  days of energy in one 15-min bucket, split a share in each).
- estimate: the held amount is wrong; what was used is `estimate` (kWh from the caller,
  e.g. a baseline model's prediction for [since, ts]), booked evenly over [since, ts].

Every repair is new bookings (flag REPAIRED); the mark stays as it was. A store applies
a repair with repair_entries(): the bookings, plus the held amount taken back out of the
bucket that held it.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

from edge.energy.ledger import Booking, Entries, Flag, Mark

Action = Literal["accept", "split", "estimate"]
ACTIONS: tuple[str, ...] = get_args(Action)
REPAIRABLE = Flag.IMPLAUSIBLE | Flag.GAP_HELD


def repair(mark: Mark, action: Action, estimate: float | None = None) -> list[Booking]:
    """The bookings that repair `mark` by `action` (see the module docstring).

    ValueError, naming what is wrong: a mark that holds nothing out or has no `since`, an
    unknown action, an estimate missing (estimate) or given (accept, split), or one that
    is not a finite amount >= 0.
    """
    if not mark.flag & REPAIRABLE or mark.since is None:
        raise ValueError(
            f"the mark at ts {mark.ts} ({mark.flag.name}) holds out no interval's energy:"
            " only implausible and gap_held marks with a `since` can be repaired"
        )
    if action not in ACTIONS:
        raise ValueError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    if action != "estimate":
        if estimate is not None:
            raise ValueError(f"estimate: only the action 'estimate' takes one, not {action!r}")
        start = mark.ts if action == "accept" else mark.since
        return [Booking(start, mark.ts, mark.held, Flag.REPAIRED)]
    if estimate is None:
        raise ValueError("estimate: the action 'estimate' needs the amount used over the gap")
    if not math.isfinite(estimate) or estimate < 0:
        raise ValueError(f"estimate: must be a finite amount >= 0, got {estimate}")
    return [Booking(mark.since, mark.ts, float(estimate), Flag.REPAIRED)]


def repair_entries(mark: Mark, bookings: list[Booking]) -> Entries:
    """What a store adds to its buckets for a repair: the bookings, and a mark taking the
    held amount out of the bucket that held it (the same instant, so the same bucket)."""
    return Entries(list(bookings), [Mark(mark.ts, mark.flag, -mark.held, mark.since)])
