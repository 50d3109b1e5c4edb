"""A report as the renderers see it: a title, a few facts, and sections of tables and
notes, with each value kept as a number (or None) and its kind, so HTML, CSV and PDF show
the same figures, each formatted for its reader:

- shown(): for people (HTML, PDF): grouped digits, a sensible number of decimals, shares
  in per cent, times in the site's local time; None is "—" (the reason is in a note or
  the cell's `why`);
- plain(): for machines (CSV): no digit grouping, more decimals, shares as fractions;
  None is an empty cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DASH = "—"

# kind: (decimals shown, decimals in CSV); shares are per cent when shown, fractions in CSV
_DECIMALS = {
    "kwh": (1, 3),
    "kgce": (1, 3),
    "co2": (1, 3),
    "money": (2, 2),
    "kw": (1, 3),
    "rate": (2, 4),
    "hours": (1, 2),
    "number": (2, 4),
    "share": (1, 4),
}


@dataclass(frozen=True)
class Cell:
    """A value with its own kind (a facts table mixes kinds) or the reason it is None."""

    value: Any
    kind: str | None = None
    why: str | None = None


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = "text"  # text, int, kwh, kgce, co2, money, kw, rate, hours, share, time, ...

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "time", "date", "colour")


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    total_rows: int = 0  # the last rows that are totals (set in bold)


@dataclass
class Section:
    title: str
    table: Table | None = None
    notes: list[str] = field(default_factory=list)
    empty: str | None = None  # said instead of an empty table


@dataclass
class Document:
    kind: str  # energy, patrol, alarms, hazards
    lang: str  # zh or en
    title: str
    subtitle: str
    timezone: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    colour_names: dict[str, str] = field(default_factory=dict)
    csv_table: Table | None = None  # when set, the CSV is this one table alone

    def local_time(self, ts: float, with_seconds: bool = False) -> str:
        moment = datetime.fromtimestamp(ts, ZoneInfo(self.timezone))
        return moment.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def unpack(value: Any, kind: str) -> tuple[Any, str, str | None]:
    """(value, kind, why) of a table entry, a Cell or a bare value."""
    if isinstance(value, Cell):
        return value.value, value.kind or kind, value.why
    return value, kind, None


def shown(doc: Document, value: Any, kind: str) -> str:
    """The value as a person reads it."""
    if value is None:
        return DASH
    if kind in _DECIMALS:
        decimals = _DECIMALS[kind][0]
        if kind == "share":
            return f"{value * 100:,.{decimals}f}%"
        return f"{value:,.{decimals}f}"
    if kind == "int":
        return f"{int(value):,d}"
    if kind == "time":
        return doc.local_time(value)
    if kind == "colour":
        return doc.colour_names.get(value, str(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def plain(doc: Document, value: Any, kind: str) -> str:
    """The value as a program reads it (CSV)."""
    if value is None:
        return ""
    if kind in _DECIMALS:
        return f"{value:.{_DECIMALS[kind][1]}f}"
    if kind == "int":
        return str(int(value))
    if kind == "time":
        return doc.local_time(value, with_seconds=True)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
