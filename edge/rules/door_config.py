"""Door rule settings: defaults, per-door overrides, heartbeats, visitor passes.

A small frozen tree built from the site file's `door_rules` mapping by `from_dict`, which
names the door and field of every bad value (a wrong threshold is worse than none).
Every duration is seconds (floats), so a day compresses to minutes in a test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from edge.rules.access_calendar import Calendar, CalendarError


class DoorConfigError(ValueError):
    """A door rule setting that cannot be used; the message names door and field."""


@dataclass(frozen=True, slots=True)
class DoorSettings:
    forced_window_s: float = 5.0  # a grant or exit request this soon before opening
    held_open_s: float = 30.0  # open this long: door.held_open (yellow)
    held_open_red_s: float | None = None  # open this long: the same alarm turns red
    tailgate_window_s: float = 10.0  # openings vs grants counted over this window
    denied_burst_count: int = 3  # this many denials ...
    denied_burst_window_s: float = 60.0  # ... within this window (per reader, per credential)
    after_hours: bool = True  # check grants against the site calendar
    passback: tuple[str, str] | None = None  # (from_area, to_area) this door leads between
    reset_s: float = 300.0  # a one-off condition (duress, tailgate...) clears after this quiet


_SECONDS = ("forced_window_s", "held_open_s", "tailgate_window_s", "denied_burst_window_s")
_FIELDS = {f.name for f in dataclasses.fields(DoorSettings)}


@dataclass(frozen=True, slots=True)
class VisitorPass:
    """A booked visit: the credential may open `doors` between valid_from and valid_to."""

    credential: str
    valid_from: float
    valid_to: float
    doors: frozenset[str]
    visitor: str = ""

    def to_dict(self) -> dict:
        return {
            "credential": self.credential,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "doors": sorted(self.doors),
            "visitor": self.visitor,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str = "pass") -> VisitorPass:
        if not isinstance(raw, Mapping):
            raise DoorConfigError(f"{where}: must be a mapping")
        cred = raw.get("credential")
        if not isinstance(cred, str) or not cred:
            raise DoorConfigError(f"{where}.credential: must be a non-empty string")
        where = f"pass {cred}"
        start = _instant(raw.get("valid_from"), f"{where}.valid_from")
        end = _instant(raw.get("valid_to"), f"{where}.valid_to")
        if end <= start:
            raise DoorConfigError(f"{where}: valid_to must be after valid_from")
        doors = raw.get("doors")
        if not isinstance(doors, list | tuple) or not all(isinstance(d, str) for d in doors):
            raise DoorConfigError(f"{where}.doors: must be a list of door ids")
        return cls(cred, start, end, frozenset(doors), str(raw.get("visitor", "")))


@dataclass(frozen=True, slots=True)
class DoorRulesConfig:
    defaults: DoorSettings = DoorSettings()
    doors: Mapping[str, DoorSettings] = field(default_factory=lambda: MappingProxyType({}))
    calendar: Calendar = field(default_factory=Calendar)
    # device id -> heartbeat seconds; silent longer than that: device.offline
    heartbeats: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def for_door(self, door: str) -> DoorSettings:
        return self.doors.get(door, self.defaults)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> DoorRulesConfig:
        """{"defaults": {...}, "doors": {"D1": {...overrides}}, "calendar": {...},
        "heartbeats": {"reader-1": 120}}; a door's overrides apply over the defaults."""
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise DoorConfigError("door_rules: must be a mapping")
        unknown = set(raw) - {"defaults", "doors", "calendar", "heartbeats"}
        if unknown:
            raise DoorConfigError(f"door_rules: unknown field(s) {sorted(unknown)}")
        defaults = _settings(DoorSettings(), raw.get("defaults") or {}, "defaults")
        doors_raw = raw.get("doors") or {}
        if not isinstance(doors_raw, Mapping):
            raise DoorConfigError("door_rules.doors: must map door id to settings")
        doors = {
            str(d): _settings(defaults, over or {}, f"door {d}") for d, over in doors_raw.items()
        }
        try:
            calendar = Calendar.from_dict(raw.get("calendar"))
        except CalendarError as exc:
            raise DoorConfigError(str(exc)) from None
        beats_raw = raw.get("heartbeats") or {}
        if not isinstance(beats_raw, Mapping):
            raise DoorConfigError("door_rules.heartbeats: must map device id to seconds")
        beats = {str(k): _positive(v, f"heartbeats.{k}") for k, v in beats_raw.items()}
        return cls(defaults, MappingProxyType(doors), calendar, MappingProxyType(beats))


def passes_from(items: Iterable[Mapping[str, Any]]) -> tuple[VisitorPass, ...]:
    return tuple(VisitorPass.from_dict(p, f"passes[{i}]") for i, p in enumerate(items))


def _settings(base: DoorSettings, over: Mapping[str, Any], where: str) -> DoorSettings:
    if not isinstance(over, Mapping):
        raise DoorConfigError(f"{where}: settings must be a mapping")
    unknown = set(over) - _FIELDS
    if unknown:
        raise DoorConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, v in over.items():
        here = f"{where}.{name}"
        if name in _SECONDS or name == "reset_s":
            values[name] = _positive(v, here)
        elif name == "held_open_red_s":
            values[name] = None if v is None else _positive(v, here)
        elif name == "denied_burst_count":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise DoorConfigError(f"{here}: must be a whole number >= 1, got {v!r}")
            values[name] = v
        elif name == "after_hours":
            if not isinstance(v, bool):
                raise DoorConfigError(f"{here}: must be true or false, got {v!r}")
            values[name] = v
        elif name == "passback":
            ok = isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(a, str) for a in v)
            if v is not None and not (ok and v[0] != v[1]):
                raise DoorConfigError(f"{here}: must be [from_area, to_area] (two different areas)")
            values[name] = None if v is None else (v[0], v[1])
    out = dataclasses.replace(base, **values)
    red = out.held_open_red_s
    if red is not None and red <= out.held_open_s:
        raise DoorConfigError(
            f"{where}.held_open_red_s: must exceed held_open_s ({red} <= {out.held_open_s})"
        )
    return out


def _positive(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise DoorConfigError(f"{where}: must be a positive number of seconds, got {v!r}")
    return float(v)


def _instant(v: Any, where: str) -> float:
    """Unix seconds, or an ISO 8601 time with its offset (a naive time is ambiguous)."""
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    if isinstance(v, str):
        try:
            t = dt.datetime.fromisoformat(v)
        except ValueError:
            raise DoorConfigError(f"{where}: {v!r} is not an ISO 8601 time") from None
        if t.tzinfo is None:
            raise DoorConfigError(f"{where}: {v!r} needs a UTC offset, e.g. +08:00")
        return t.timestamp()
    raise DoorConfigError(f"{where}: must be Unix seconds or an ISO 8601 time, got {v!r}")
