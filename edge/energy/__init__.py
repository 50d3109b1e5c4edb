"""Energy maths, pure (no I/O): what the edge's demand rule and the central API share.

- ledger.py: counter readings -> validated consumption (rollover, reset, glitch, gaps,
  meter replacements, implausible jumps held out).
- repairs.py: what a person's repair of a held-out amount books (accept, split, estimate).

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
    Replacement,
    feed,
    flag_names,
    spread,
    wrap_of,
)
from edge.energy.repairs import ACTIONS, REPAIRABLE, Action, repair, repair_entries

__all__ = [
    "ACTIONS",
    "POINT_BITS",
    "REPAIRABLE",
    "Action",
    "Booking",
    "CounterRules",
    "CounterState",
    "Entries",
    "Flag",
    "Mark",
    "Replacement",
    "feed",
    "flag_names",
    "repair",
    "repair_entries",
    "spread",
    "wrap_of",
]
