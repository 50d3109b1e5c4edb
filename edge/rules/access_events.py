from __future__ import annotations

from dataclasses import dataclass, field

from device_profiles.wire_rules import AccessKind


@dataclass(frozen=True, slots=True)
class AccessEvent:
    ts: float  # event time (payload's own time or arrival time)
    kind: AccessKind
    device: str  # the reader / door sensor / checkpoint tag reader id
    door: str | None = None  # the door it belongs to (site file maps reader -> door)
    credential: str | None = None  # card number, plate, guard badge, checkpoint tag
    reason: str | None = None  # for access.denied: why (unknown card, expired, ...)
    data: dict = field(default_factory=dict)
