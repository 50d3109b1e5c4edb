"""What each writable HVAC point should be, and the one safe write that moves it there.

Pure (no I/O; time is epoch seconds passed in). Per writable point of each zone (a zone
is one HVAC device) a PriorityArray holds the leased commands of rules and operators; the
winning value is the point's target. `plan` proposes, per point off its target, the one
write the interlocks allow now (so a 2 K setup becomes four 0.5 K writes 5 min apart).
The runtime sends each write, reads it back and reports it with `wrote`.

The relinquish default of a point is the zone's own value, the one it gets back when no
command holds it: configured per point, or learned once from the first value read (and
kept in the state, so a restart does not learn a shed value as the default). A default
outside the interlocks (a learned 24 degC cooling setpoint under the 26 degC floor) is
raised into them, and said so: nothing Steward writes breaks an interlock.

Leases end by themselves (`expire`); a zone whose link is lost has every command dropped
("link_lost"), and when it answers again its target is its default. Sheds (the demand and
budget slots) obey the interlocks' maximum shed time: past it the shed slots are ignored
until the zone has been released for the minimum release time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from edge.control.interlocks import (
    COOLING_SETPOINT,
    HEATING_SETPOINT,
    ON_OFF,
    Decision,
    Interlocks,
    ProposedWrite,
    ZoneHistory,
    record,
)
from edge.control.priority import BUDGET, DEMAND_LIMIT, DEMAND_LIMIT_LOW, SLOT_NAMES, PriorityArray

SNAPSHOT_VERSION = 1
SHED_SLOTS = frozenset({DEMAND_LIMIT, BUDGET, DEMAND_LIMIT_LOW})


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@dataclass(frozen=True)
class PointSpec:
    """A writable point of a zone: its configured default (None: learn it) and how close a
    read-back must be to count as the value written (half the register's resolution)."""

    default: float | None = None
    tolerance: float = 0.05


@dataclass(frozen=True)
class CommandChange:
    """A slot that changed: the runtime reports it as a `control.command` event."""

    ts: float
    device: str
    point: str
    slot: int
    owner: str
    value: float | None
    lease_until: float | None
    state: str  # active | released | expired | link_lost | replaced
    reason: str

    @classmethod
    def emptied(
        cls, ts: float, device: str, point: str, slot: int, owner: str, state: str, reason: str
    ) -> CommandChange:
        """A slot that no longer holds a command (released, expired, link lost...)."""
        return cls(ts, device, point, slot, owner, None, None, state, reason)

    @property
    def slot_name(self) -> str:
        return SLOT_NAMES.get(self.slot, f"priority {self.slot}")


@dataclass(frozen=True)
class WriteIntent:
    """One write the interlocks allow now, toward the point's target."""

    device: str
    point: str
    value: float  # what to write (a step toward `target`)
    target: float  # the winning command's value, or the default
    before: float | None
    slot: int | None  # the winning slot; None: the relinquish default
    owner: str
    reason: str
    shed: bool
    clamped: tuple[str, ...] = ()
    final: bool = False  # the stop's last write: the default at once (see `final_intents`)


@dataclass
class _Point:
    array: PriorityArray
    spec: PointSpec
    learned: bool = False  # the default was learned from a read
    reasons: dict[int, str] = field(default_factory=dict)  # slot -> why it was commanded


class ControlCore:
    """Priority arrays, zone histories and link state of every controlled zone."""

    def __init__(
        self, interlocks: Interlocks, points: Mapping[str, Mapping[str, PointSpec]]
    ) -> None:
        self.interlocks = interlocks
        self._points: dict[tuple[str, str], _Point] = {}
        self.histories: dict[str, ZoneHistory] = {}
        self.link_down: set[str] = set()
        # Back after a lost link: the default first (shed slots wait until it holds it).
        self.returning: set[str] = set()
        self.refusals: dict[tuple[str, str], tuple[str, ...]] = {}  # the latest, per point
        self.notes: list[str] = []  # things an operator should read (defaults raised...)
        for device, specs in points.items():
            self.histories[device] = ZoneHistory()
            for point, spec in specs.items():
                if point not in interlocks.bounds:
                    raise ValueError(f"zone {device}: {point!r} is not a writable point")
                default = spec.default
                if default is not None:
                    fixed = self._within(point, default)
                    if fixed != default:
                        raise ValueError(
                            f"zone {device}: default {point} {default:g} is outside the "
                            f"interlocks (nearest allowed {fixed:g})"
                        )
                self._points[(device, point)] = _Point(PriorityArray(default), spec)

    # ---------------------------------------------------------------- inputs

    def devices(self) -> list[str]:
        return list(self.histories)

    def default(self, device: str, point: str) -> float | None:
        return self._point(device, point).array.relinquish_default

    def tolerance(self, device: str, point: str) -> float:
        return self._point(device, point).spec.tolerance

    def current(self, device: str, point: str) -> float | None:
        return self.histories[device].values.get(point)

    def observe(self, device: str, values: Mapping[str, float], now: float) -> None:
        """Values just read from the zone (good readings only): the link is up."""
        if device not in self.histories:
            return
        if device in self.link_down:
            self.link_down.discard(device)
            self.returning.add(device)
        history = self.histories[device]
        known = dict(history.values)
        changed_at = history.on_off_changed_at
        for (dev, point), p in self._points.items():
            if dev != device or point not in values:
                continue
            value = float(values[point])
            if not math.isfinite(value):
                continue
            if point == ON_OFF and known.get(ON_OFF) not in (None, value):
                changed_at = _dt(now)  # switched at the panel: the compressor timer restarts
            known[point] = value
            if p.array.relinquish_default is None:
                default = self._within(point, value)
                p.array.relinquish_default = default
                p.learned = True
                if default != value:
                    self.notes.append(
                        f"zone {device}: {point} read {value:g}, outside the interlocks; "
                        f"its default is {default:g}"
                    )
        if ON_OFF in values and history.on_off_changed_at is None:
            changed_at = _dt(now)  # unknown before: count from the first read (safe side)
        self.histories[device] = replace(history, values=known, on_off_changed_at=changed_at)
        self._check_returned(device)

    def _check_returned(self, device: str) -> None:
        """A zone back from a lost link has its default again: rules may act on it."""
        if device not in self.returning:
            return
        values = self.histories[device].values
        for (dev, point), p in self._points.items():
            default = p.array.relinquish_default
            if dev != device or default is None:
                continue
            current = values.get(point)
            if current is None or abs(current - default) > p.spec.tolerance:
                return
        self.returning.discard(device)

    def link_lost(self, device: str, now: float, why: str) -> list[CommandChange]:
        """Drop every command of the zone (its leases end with the link)."""
        if device not in self.histories or device in self.link_down:
            return []
        self.link_down.add(device)
        changes = []
        for (dev, point), p in self._points.items():
            if dev != device:
                continue
            for slot, cmd in p.array.clear():
                changes.append(
                    CommandChange.emptied(
                        now, dev, point, slot, cmd.owner, "link_lost", f"link lost: {why}"
                    )
                )
                p.reasons.pop(slot, None)
        # What the zone holds now is unknown until it answers again.
        self.histories[device] = replace(self.histories[device], values={})
        return changes

    def command(
        self,
        device: str,
        point: str,
        slot: int,
        value: float | None,
        owner: str,
        reason: str,
        lease_until: float,
        now: float,
    ) -> list[CommandChange]:
        """Put (or renew, or with None relinquish) a command. A change of value, owner or
        an empty slot filled is reported; a renewal with the same value is not."""
        p = self._point(device, point)
        if device in self.link_down and value is not None:
            raise LinkDown(f"zone {device} is not answering; no command is taken for it")
        held = p.array.held(slot)
        if value is None:
            if held is None:
                return []
            p.array.relinquish(slot, owner)  # someone else's: PermissionError names them
            p.reasons.pop(slot, None)
            return [CommandChange(now, device, point, slot, owner, None, None, "released", reason)]
        p.array.write(slot, value, owner, _dt(lease_until), _dt(now))
        p.reasons[slot] = reason
        out = []
        if held is not None and held.live(_dt(now)) and held.owner != owner:
            out.append(
                CommandChange.emptied(
                    now, device, point, slot, held.owner, "replaced", f"replaced by {owner}"
                )
            )
        if held is None or not held.live(_dt(now)) or held.owner != owner or held.value != value:
            out.append(
                CommandChange(
                    now, device, point, slot, owner, float(value), lease_until, "active", reason
                )
            )
        return out

    def holder(self, device: str, point: str, slot: int) -> str | None:
        held = self._point(device, point).array.held(slot)
        return None if held is None else held.owner

    def expire(self, now: float) -> list[CommandChange]:
        """Leases that ended at or before `now`."""
        changes = []
        for (device, point), p in self._points.items():
            for slot, cmd in p.array.expire(_dt(now)):
                p.reasons.pop(slot, None)
                changes.append(
                    CommandChange.emptied(
                        now,
                        device,
                        point,
                        slot,
                        cmd.owner,
                        "expired",
                        f"lease ended at {cmd.lease_until.isoformat()}",
                    )
                )
        return changes

    def active(self, now: float) -> list[CommandChange]:
        """Every live command, as 'active' changes (for a status or a restart report)."""
        out = []
        for (device, point), p in self._points.items():
            for slot, cmd in p.array.active(_dt(now)):
                out.append(
                    CommandChange(
                        now,
                        device,
                        point,
                        slot,
                        cmd.owner,
                        cmd.value,
                        cmd.lease_until.timestamp(),
                        "active",
                        p.reasons.get(slot, ""),
                    )
                )
        return out

    # ---------------------------------------------------------------- planning

    def target(self, device: str, point: str, now: float) -> tuple[float | None, int | None]:
        """(value, slot) the point should hold at `now`: the highest live command, leaving
        out the shed slots while the zone must rest from a shed; else the default."""
        p = self._point(device, point)
        if device in self.returning:
            return p.array.relinquish_default, None
        history = self.histories[device]
        resting = not self._may_shed(history, now)
        for slot, cmd in p.array.active(_dt(now)):
            if resting and slot in SHED_SLOTS:
                continue
            return cmd.value, slot
        return p.array.relinquish_default, None

    def may_shed(self, device: str, now: float) -> bool:
        """False while the zone must rest from a shed (after 2 h shed, or within the
        minimum release time of its last release) or is getting its default back after a
        lost link."""
        return device not in self.returning and self._may_shed(self.histories[device], now)

    def _may_shed(self, history: ZoneHistory, now: float) -> bool:
        il, at = self.interlocks, _dt(now)
        if il.must_release(history, at):
            return False
        released = history.released_at
        resting = history.shed_since is None and released is not None
        return not (resting and at - released < il.min_release)

    def plan(self, now: float) -> list[WriteIntent]:
        """At most one write per zone (the interlocks' rate is per zone): the first point
        off target, in the order points were configured."""
        intents = []
        for device in self.histories:
            if device in self.link_down:
                continue
            for (dev, point), p in self._points.items():
                if dev != device:
                    continue
                intent = self._plan_point(device, point, p, now)
                if intent is not None:
                    intents.append(intent)
                    break
        return intents

    def _plan_point(self, device: str, point: str, p: _Point, now: float) -> WriteIntent | None:
        history = self.histories[device]
        current = history.values.get(point)
        target, slot = self.target(device, point, now)
        if target is None or current is None or abs(current - target) <= p.spec.tolerance:
            self.refusals.pop((device, point), None)
            return None
        shed = slot in SHED_SLOTS
        decision: Decision = self.interlocks.check(
            ProposedWrite(device, point, target, shed=shed), history, _dt(now)
        )
        if decision.value is None:
            self.refusals[(device, point)] = decision.reasons
            return None
        self.refusals.pop((device, point), None)
        held = None if slot is None else p.array.held(slot)
        owner = "default" if held is None else held.owner
        reason = "relinquish default" if slot is None else p.reasons.get(slot, "")
        return WriteIntent(
            device,
            point,
            decision.value,
            target,
            current,
            slot,
            owner,
            reason,
            shed,
            decision.reasons,
        )

    def wrote(self, intent: WriteIntent, now: float, read_back: float | None) -> bool:
        """Record a write sent at `now` (or advice: read_back is what the zone still holds).
        True when the read-back shows the value written (within the point's tolerance)."""
        history = self.histories[intent.device]
        write = ProposedWrite(intent.device, intent.point, intent.value, shed=intent.shed)
        after = record(history, write, Decision(intent.value), _dt(now))
        values = dict(after.values)
        if read_back is None:
            values.pop(intent.point, None)  # unknown until the next poll
        else:
            values[intent.point] = read_back
        self.histories[intent.device] = replace(after, values=values)
        self._check_returned(intent.device)
        tol = self._point(intent.device, intent.point).spec.tolerance
        return read_back is not None and abs(read_back - intent.value) <= tol

    def final_intents(self, now: float) -> tuple[list[CommandChange], list[WriteIntent]]:
        """The agent is stopping: every command is released, and each point off its
        default gets the default at once (nobody remains to ramp it). Defaults lie within
        the interlocks' bounds, floor and ceiling by construction."""
        changes = []
        for (device, point), p in self._points.items():
            for slot, cmd in p.array.clear():
                changes.append(
                    CommandChange.emptied(
                        now, device, point, slot, cmd.owner, "released", "agent stopping"
                    )
                )
            p.reasons.clear()
        intents = []
        for (device, point), p in self._points.items():
            current = self.histories[device].values.get(point)
            default = p.array.relinquish_default
            if device in self.link_down or current is None or default is None:
                continue
            if abs(current - default) > p.spec.tolerance:
                intents.append(
                    WriteIntent(
                        device,
                        point,
                        default,
                        default,
                        current,
                        None,
                        "default",
                        "agent stopping: relinquish default",
                        False,
                        (),
                        final=True,
                    )
                )
        return changes, intents

    # ---------------------------------------------------------------- helpers

    def _point(self, device: str, point: str) -> _Point:
        try:
            return self._points[(device, point)]
        except KeyError:
            raise UnknownPoint(f"zone {device} has no controlled point {point!r}") from None

    def points(self) -> Iterable[tuple[str, str]]:
        return list(self._points)

    def _within(self, point: str, value: float) -> float:
        """`value` moved into the point's bounds and the floor/ceiling (no step limit)."""
        b = self.interlocks.bounds[point]
        lo = -math.inf if b.min is None else b.min
        hi = math.inf if b.max is None else b.max
        if point == COOLING_SETPOINT:
            lo = max(lo, self.interlocks.cooling_floor_c)
        elif point == HEATING_SETPOINT:
            hi = min(hi, self.interlocks.heating_ceiling_c)
        return min(max(value, lo), hi)

    # ---------------------------------------------------------------- state

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "points": [
                {
                    "device": d,
                    "point": pt,
                    "array": p.array.snapshot(),
                    "learned": p.learned,
                    "reasons": {str(k): v for k, v in p.reasons.items()},
                }
                for (d, pt), p in self._points.items()
            ],
            "histories": {
                d: {
                    "values": dict(h.values),
                    "last_write_at": _ts(h.last_write_at),
                    "shed_since": _ts(h.shed_since),
                    "released_at": _ts(h.released_at),
                    "on_off_changed_at": _ts(h.on_off_changed_at),
                }
                for d, h in self.histories.items()
            },
            "link_down": sorted(self.link_down),
            "returning": sorted(self.returning),
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        """Take back a snapshot's arrays and histories for the zones still configured
        (a configured default wins over a learned one)."""
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"control snapshot: version {snap.get('version')!r} not supported")
        for item in snap["points"]:
            key = (item["device"], item["point"])
            p = self._points.get(key)
            if p is None:
                continue
            array = PriorityArray.restore(item["array"])
            if p.spec.default is not None:
                array.relinquish_default = p.spec.default
                p.learned = False
            elif array.relinquish_default is not None:
                array.relinquish_default = self._within(key[1], array.relinquish_default)
                p.learned = bool(item.get("learned", True))
            p.array = array
            p.reasons = {int(k): str(v) for k, v in item.get("reasons", {}).items()}
        for device, h in snap["histories"].items():
            if device not in self.histories:
                continue

            def at(name: str, h: Mapping[str, Any] = h) -> datetime | None:
                v = h.get(name)
                return None if v is None else _dt(float(v))

            self.histories[device] = ZoneHistory(
                values={k: float(v) for k, v in h["values"].items()},
                last_write_at=at("last_write_at"),
                shed_since=at("shed_since"),
                released_at=at("released_at"),
                on_off_changed_at=at("on_off_changed_at"),
            )
        self.link_down = {d for d in snap.get("link_down", []) if d in self.histories}
        self.returning = {d for d in snap.get("returning", []) if d in self.histories}


class UnknownPoint(KeyError):
    """A command for a zone or point that is not under control."""


class LinkDown(RuntimeError):
    """A command for a zone that is not answering."""
