"""Energy maths, pure (no I/O): what the edge's demand rule and the central API share.

- ledger.py: counter readings -> validated consumption (rollover, reset, glitch, gaps,
  meter replacements, implausible jumps held out).
- repairs.py: what a person's repair of a held-out amount books (accept, split, estimate).
- calendar.py: a site's local calendar (time zone, holidays, make-up workdays 调休): local
  day/month/year bounds, day types, local hours and vectorised hour features.
- factors.py: kWh -> kgce and kgCO2 as dated, versioned factors (sourced defaults).
- tariffs.py: time-of-use tariffs as dated versions (seasons, windows, holiday rules) and
  the cost of hourly or 15-min kWh by period.
- meter_tree.py: main and sub-meters by system from device tags; main-vs-sub balance.

`from edge.energy import feed, ...` keeps working: the ledger's names are re-exported,
and so are the main names of the other modules.
"""

from edge.energy.calendar import DAY_TYPES, DayType, LocalCalendar
from edge.energy.factors import Factor, FactorTable
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
from edge.energy.meter_tree import Balance, MeterTree, balance, build_tree
from edge.energy.repairs import ACTIONS, REPAIRABLE, Action, repair, repair_entries
from edge.energy.tariffs import CostResult, Tariff, TariffTable, cost

__all__ = [
    "ACTIONS",
    "DAY_TYPES",
    "POINT_BITS",
    "REPAIRABLE",
    "Action",
    "Balance",
    "Booking",
    "CostResult",
    "CounterRules",
    "CounterState",
    "DayType",
    "Entries",
    "Factor",
    "FactorTable",
    "Flag",
    "LocalCalendar",
    "Mark",
    "MeterTree",
    "Replacement",
    "Tariff",
    "TariffTable",
    "balance",
    "build_tree",
    "cost",
    "feed",
    "flag_names",
    "repair",
    "repair_entries",
    "spread",
    "wrap_of",
]
