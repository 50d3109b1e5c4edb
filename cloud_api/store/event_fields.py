"""Reading the fields of an event's data (a JSON object from an edge) for a derived table:
each getter returns the value or raises UnusableData naming the field and what it got."""

from __future__ import annotations

import math
from collections.abc import Sequence


class UnusableData(ValueError):
    """An event's data lacks a field of the contract, or has it in the wrong type."""


def text(data: dict, key: str, *, nullable: bool = False) -> str | None:
    value = data.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise UnusableData(f"data.{key} must be a non-empty string, got {value!r}")
    return value


def number(data: dict, key: str, *, nullable: bool = False) -> float | None:
    value = data.get(key)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        what = "a finite number or null" if nullable else "a finite number"
        raise UnusableData(f"data.{key} must be {what}, got {value!r}")
    return float(value)


def integer(data: dict, key: str, *, nullable: bool = False) -> int | None:
    value = data.get(key)
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnusableData(f"data.{key} must be an integer, got {value!r}")
    return value


def flag(data: dict, key: str, *, nullable: bool = False) -> bool | None:
    value = data.get(key)
    if value is None and nullable:
        return None
    if not isinstance(value, bool):
        raise UnusableData(f"data.{key} must be true or false, got {value!r}")
    return value


def one_of(data: dict, key: str, allowed: Sequence[str]) -> str:
    value = data.get(key)
    if value not in allowed:
        raise UnusableData(f"data.{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value  # type: ignore[return-value]
