"""An emulated BACnet priority array: 16 slots per writable point, 1 the highest.

BACnet semantics (domain-facts §C): the highest-priority (lowest-numbered) non-NULL slot
wins; writing NULL relinquishes a slot; with all 16 NULL the relinquish default applies.
Every command here is a lease: it drops out by itself at `lease_until`, so an agent that
dies or loses its reason cannot leave an orphaned override. Time is event time, passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SLOTS = 16

# Named slots (domain-facts §C suggested mapping).
MANUAL_LIFE_SAFETY = 1
AUTOMATIC_LIFE_SAFETY = 2
EQUIPMENT_PROTECTION = 5
MINIMUM_ON_OFF = 6
OPERATOR = 8
DEMAND_LIMIT = 10
BUDGET = 11
DEMAND_LIMIT_LOW = 12
SCHEDULE = 16

SLOT_NAMES: dict[int, str] = {
    MANUAL_LIFE_SAFETY: "manual life safety",
    AUTOMATIC_LIFE_SAFETY: "automatic life safety",
    EQUIPMENT_PROTECTION: "equipment protection",
    MINIMUM_ON_OFF: "minimum on/off",
    OPERATOR: "operator",
    DEMAND_LIMIT: "demand limit",
    BUDGET: "budget",
    DEMAND_LIMIT_LOW: "demand limit (low)",
    SCHEDULE: "schedule",
}


def _check_slot(slot: object) -> int:
    if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot <= SLOTS:
        raise ValueError(f"slot must be an integer 1..{SLOTS}, not {slot!r}")
    return slot


def _check_time(name: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")
    return value


def _check_value(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class Command:
    """One slot's content: a value held by an owner until its lease ends."""

    value: float
    owner: str
    lease_until: datetime
    written_at: datetime

    def live(self, now: datetime) -> bool:
        """A lease is live strictly before `lease_until`; at that instant it has dropped."""
        return now < self.lease_until


class PriorityArray:
    """16 leased slots plus a relinquish default (None: the point has no default)."""

    def __init__(self, relinquish_default: float | None = None) -> None:
        self.relinquish_default = (
            None
            if relinquish_default is None
            else _check_value("relinquish_default", relinquish_default)
        )
        self._slots: dict[int, Command] = {}

    def write(
        self, slot: int, value: float | None, owner: str, lease_until: datetime, now: datetime
    ) -> None:
        """Put `value` in `slot` for `owner` until `lease_until`. None relinquishes (BACnet
        NULL). A later write to the same slot replaces it, whoever held it (BACnet)."""
        _check_slot(slot)
        if not owner or not isinstance(owner, str):
            raise ValueError(f"owner must be a non-empty string, not {owner!r}")
        if value is None:
            self.relinquish(slot, owner)
            return
        value = _check_value("value", value)
        _check_time("now", now)
        _check_time("lease_until", lease_until)
        if lease_until <= now:
            raise ValueError(f"lease_until {lease_until.isoformat()} is not after now")
        self._slots[slot] = Command(value, owner, lease_until, now)

    def relinquish(self, slot: int, owner: str) -> bool:
        """Empty `slot` if `owner` holds it. True if something was released, False if the
        slot was already empty; a slot held by someone else raises (name who holds it)."""
        _check_slot(slot)
        held = self._slots.get(slot)
        if held is None:
            return False
        if held.owner != owner:
            raise PermissionError(f"slot {slot} is held by {held.owner!r}, not {owner!r}")
        del self._slots[slot]
        return True

    def held(self, slot: int) -> Command | None:
        """What `slot` holds, live or not (None: empty)."""
        return self._slots.get(_check_slot(slot))

    def clear(self) -> list[tuple[int, Command]]:
        """Empty every slot (a lost link, a stop); return what was held, for the audit."""
        gone = sorted(self._slots.items())
        self._slots.clear()
        return gone

    def expire(self, now: datetime) -> list[tuple[int, Command]]:
        """Drop the leases that ended at or before `now`; return them (for the audit)."""
        _check_time("now", now)
        gone = [(s, c) for s, c in sorted(self._slots.items()) if not c.live(now)]
        for slot, _ in gone:
            del self._slots[slot]
        return gone

    def active(self, now: datetime) -> list[tuple[int, Command]]:
        """Live commands at `now`, highest priority first (does not modify the array)."""
        _check_time("now", now)
        return [(s, c) for s, c in sorted(self._slots.items()) if c.live(now)]

    def effective(self, now: datetime) -> tuple[float | None, int | None]:
        """(value, slot) that wins at `now`; (relinquish default, None) when all are empty."""
        live = self.active(now)
        if live:
            slot, command = live[0]
            return command.value, slot
        return self.relinquish_default, None

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready dict; `restore` gives an equal array back."""
        return {
            "relinquish_default": self.relinquish_default,
            "slots": {
                str(s): {
                    "value": c.value,
                    "owner": c.owner,
                    "lease_until": c.lease_until.isoformat(),
                    "written_at": c.written_at.isoformat(),
                }
                for s, c in sorted(self._slots.items())
            },
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> PriorityArray:
        """Rebuild from `snapshot()`; bad data raises naming the slot and field."""
        array = cls(data.get("relinquish_default"))
        slots = data.get("slots", {})
        if not isinstance(slots, dict):
            raise ValueError("snapshot.slots must be an object")
        for key, raw in slots.items():
            where = f"snapshot.slots[{key!r}]"
            try:
                slot = _check_slot(int(key))
                owner = raw["owner"]
                if not owner or not isinstance(owner, str):
                    raise ValueError(f"owner must be a non-empty string, not {owner!r}")
                command = Command(
                    value=_check_value("value", raw["value"]),
                    owner=owner,
                    lease_until=_check_time(
                        "lease_until", datetime.fromisoformat(raw["lease_until"])
                    ),
                    written_at=_check_time("written_at", datetime.fromisoformat(raw["written_at"])),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{where}: {exc!r}") from exc
            array._slots[slot] = command
        return array
