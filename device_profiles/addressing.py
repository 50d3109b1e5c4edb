"""Modbus unit-id ranges as written in site files and simulator options: '1-50', '1-8,12'."""

from __future__ import annotations

import re

_PART = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


def parse_units(spec: str | int) -> list[int]:
    """'1-50' or '1-8,12,20-22' -> unit ids within Modbus's 1..247."""
    units: list[int] = []
    for part in str(spec).split(","):
        m = _PART.fullmatch(part)
        if not m:
            raise ValueError(f"{spec!r} is not a unit range; write e.g. 1-50 or 1-8,12")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo > hi or lo < 1 or hi > 247:
            raise ValueError(f"unit range {part.strip()!r} must lie within 1..247, low to high")
        units.extend(range(lo, hi + 1))
    return units
