"""The safety checks every HVAC write from a rule passes: clamp or refuse, never exceed.

Defaults are domain-facts §C and issue 9 (engineering practice, not a standard): cooling
setpoint >= 26 degC and heating setpoint <= 20 degC (public buildings, per site), at most
0.5 K per step, one write per zone per 5 min, a shed lasts at most 2 h and is then released
for at least 15 min (one demand window), compressor minimum on and off times (3-5 min is
practice; 5 min here). Bounds come from the profile point's `write: {min, max}`.

The allowed value satisfies every interlock at once: the checks build one feasible interval
(bounds, floor/ceiling, step window around the current value) and clamp into it; when the
interval is empty, or something needed is unknown, the write is refused. A refused write
is not a write: the caller records only allowed ones (`record`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from device_profiles.schema import Profile

COOLING_SETPOINT = "cooling_setpoint"
HEATING_SETPOINT = "heating_setpoint"
ON_OFF = "on_off"
SETPOINTS = (COOLING_SETPOINT, HEATING_SETPOINT)


@dataclass(frozen=True)
class Bounds:
    """What the device accepts for one writable point (None: no limit that side)."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class ProposedWrite:
    """A rule's wish. `shed` marks a load shed (demand or budget); a write with shed=False
    while the zone is shed ends the shed (the release)."""

    zone: str
    point: str
    value: float
    shed: bool = False


@dataclass(frozen=True)
class ZoneHistory:
    """What the interlocks need to know about one zone (rebuild it on restart from the
    read-back values and the audit). None means unknown, and unknown refuses what needs it.
    """

    values: Mapping[str, float] = field(default_factory=dict)  # current value per point
    last_write_at: datetime | None = None
    shed_since: datetime | None = None  # None: not shed now
    released_at: datetime | None = None  # end of the last shed
    on_off_changed_at: datetime | None = None  # last on/off transition (compressor)


@dataclass(frozen=True)
class Decision:
    """`value` None: refused. Otherwise the value to write (clamped if reasons say so)."""

    value: float | None
    reasons: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.value is None


def _aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")


@dataclass(frozen=True)
class Interlocks:
    """Interlock settings for one site plus its points' bounds."""

    bounds: Mapping[str, Bounds] = field(default_factory=dict)
    cooling_floor_c: float = 26.0
    heating_ceiling_c: float = 20.0
    max_step_k: float = 0.5
    min_write_interval: timedelta = timedelta(minutes=5)
    max_shed: timedelta = timedelta(hours=2)
    min_release: timedelta = timedelta(minutes=15)
    compressor_min_on: timedelta = timedelta(minutes=5)
    compressor_min_off: timedelta = timedelta(minutes=5)

    @classmethod
    def from_profile(cls, profile: Profile, **settings: object) -> Interlocks:
        """Bounds from every writable point of `profile` (`write.min`/`write.max`); bit
        points get 0..1. `settings` override the defaults (per site)."""
        bounds: dict[str, Bounds] = {}
        for name, point in profile.points.items():
            if point.write is None:
                continue
            if point.type == "bit":
                bounds[name] = Bounds(0.0, 1.0)
            else:
                bounds[name] = Bounds(point.write.min, point.write.max)
        return cls(bounds=bounds, **settings)  # type: ignore[arg-type]

    def must_release(self, history: ZoneHistory, now: datetime) -> bool:
        """True once a shed has run its maximum time: the caller must release it now."""
        _aware("now", now)
        return history.shed_since is not None and now - history.shed_since >= self.max_shed

    def check(self, write: ProposedWrite, history: ZoneHistory, now: datetime) -> Decision:
        """Clamp `write` into what every interlock allows at `now`, or refuse it."""
        _aware("now", now)
        point, wanted = write.point, write.value
        if isinstance(wanted, bool) or not isinstance(wanted, int | float):
            return Decision(None, (f"{point}: value {wanted!r} is not a number",))
        if not math.isfinite(wanted):
            return Decision(None, (f"{point}: value {wanted!r} is not finite",))
        if point not in self.bounds:
            return Decision(None, (f"{point}: not a writable point of this zone's profile",))

        refusals: list[str] = []
        last = history.last_write_at
        if last is not None and now - last < self.min_write_interval:
            refusals.append(
                f"rate: zone {write.zone} was written at {last.isoformat()}, "
                f"less than {self.min_write_interval} ago"
            )
        refusals += self._shed_refusals(write, history, now)
        if refusals:
            return Decision(None, tuple(refusals))

        if point == ON_OFF:
            return self._check_on_off(wanted, history, now)
        if point in SETPOINTS:
            return self._check_setpoint(point, float(wanted), history)
        return self._check_enumeration(point, wanted)

    def _shed_refusals(
        self, write: ProposedWrite, history: ZoneHistory, now: datetime
    ) -> list[str]:
        if not write.shed:
            return []
        since = history.shed_since
        if since is not None:
            if now - since >= self.max_shed:
                return [
                    f"max shed: zone {write.zone} has been shed since {since.isoformat()}, "
                    f"{self.max_shed} is the most; release it"
                ]
            return []
        released = history.released_at
        if released is not None and now - released < self.min_release:
            return [
                f"min release: zone {write.zone} was released at {released.isoformat()}, "
                f"it stays released at least {self.min_release}"
            ]
        return []

    def _check_setpoint(self, point: str, wanted: float, history: ZoneHistory) -> Decision:
        current = history.values.get(point)
        if current is None:
            return Decision(None, (f"step: current {point} unknown; read it back first",))
        lo, hi = -math.inf, math.inf
        limits: list[tuple[float, float, str]] = []  # (lo, hi, name) each interlock allows
        bounds = self.bounds[point]
        limits.append(
            (
                -math.inf if bounds.min is None else bounds.min,
                math.inf if bounds.max is None else bounds.max,
                "profile bounds",
            )
        )
        if point == COOLING_SETPOINT:
            limits.append((self.cooling_floor_c, math.inf, "cooling floor"))
        else:
            limits.append((-math.inf, self.heating_ceiling_c, "heating ceiling"))
        limits.append((current - self.max_step_k, current + self.max_step_k, "step"))
        for low, high, _ in limits:
            lo, hi = max(lo, low), min(hi, high)
        if lo > hi:
            shown = ", ".join(f"{name} [{low:g}, {high:g}]" for low, high, name in limits)
            return Decision(
                None, (f"{point}: no value meets every interlock from {current:g}: {shown}",)
            )
        allowed = min(max(wanted, lo), hi)
        if allowed == wanted:
            return Decision(allowed)
        broken = [name for low, high, name in limits if not low <= wanted <= high]
        return Decision(
            allowed, (f"{point}: {wanted:g} clamped to {allowed:g} by {', '.join(broken)}",)
        )

    def _check_on_off(self, wanted: float, history: ZoneHistory, now: datetime) -> Decision:
        if wanted not in (0, 1):
            return Decision(None, (f"{ON_OFF}: {wanted!r} is neither 0 nor 1",))
        current = history.values.get(ON_OFF)
        if current is None:
            return Decision(None, (f"{ON_OFF}: current state unknown; read it back first",))
        if wanted == current:
            return Decision(float(wanted))
        changed = history.on_off_changed_at
        if changed is None:
            return Decision(None, (f"{ON_OFF}: time of the last on/off change unknown",))
        hold = self.compressor_min_on if current == 1 else self.compressor_min_off
        if now - changed < hold:
            state = "on" if current == 1 else "off"
            return Decision(
                None,
                (f"min on/off: compressor {state} since {changed.isoformat()}, less than {hold}",),
            )
        return Decision(float(wanted))

    def _check_enumeration(self, point: str, wanted: float) -> Decision:
        bounds = self.bounds[point]
        if wanted != int(wanted):
            return Decision(None, (f"{point}: {wanted!r} is not a whole number",))
        if (bounds.min is not None and wanted < bounds.min) or (
            bounds.max is not None and wanted > bounds.max
        ):
            return Decision(
                None, (f"{point}: {wanted:g} outside profile bounds [{bounds.min}, {bounds.max}]",)
            )
        return Decision(float(wanted))


def record(
    history: ZoneHistory, write: ProposedWrite, decision: Decision, now: datetime
) -> ZoneHistory:
    """The zone's history after an allowed write went out at `now` (refused: unchanged)."""
    _aware("now", now)
    if decision.value is None:
        return history
    values = dict(history.values)
    before = values.get(write.point)
    values[write.point] = decision.value
    changes: dict[str, object] = {"values": values, "last_write_at": now}
    if write.point == ON_OFF and before is not None and before != decision.value:
        changes["on_off_changed_at"] = now
    if write.shed and history.shed_since is None:
        changes["shed_since"] = now
    elif not write.shed and history.shed_since is not None:
        changes["shed_since"] = None
        changes["released_at"] = now
    return replace(history, **changes)  # type: ignore[arg-type]
