"""Energy maths, pure (no I/O): what the edge's demand rule and the central API share.

- ledger.py: counter readings -> validated consumption (rollover, reset, glitch, gaps,
  implausible jumps held out).

`from edge.energy import feed, ...` keeps working: the ledger's names are re-exported.
"""

from edge.energy.ledger import (
    POINT_BITS,
    Booking,
    CounterRules,
    CounterState,
    Entries,
    Flag,
    Mark,
    feed,
    flag_names,
    spread,
    wrap_of,
)

__all__ = [
    "POINT_BITS",
    "Booking",
    "CounterRules",
    "CounterState",
    "Entries",
    "Flag",
    "Mark",
    "feed",
    "flag_names",
    "spread",
    "wrap_of",
]
