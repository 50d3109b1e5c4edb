"""The site's rules as one pure engine: AccessEvents in, wire records (model.Event) out.

DoorRules and PatrolEngine judge; this turns what they say into the three record kinds
of the wire contract (issue 7 contract §1):
  - the access event itself (type "event", code = its kind, source = the device),
  - one alarm record per Condition (type "alarm", active true raises, false clears),
  - a "patrol.round" result (source = the route) whenever a round's result changed.
No I/O and no wall clock: time comes from the events and from `tick(now)`. `snapshot()`
is everything it knows; `restore()` from it continues exactly where it left off, so the
same inputs give the same records whether or not the process restarted in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from edge.model import Event
from edge.rules.access_events import AccessEvent
from edge.rules.conditions import Condition
from edge.rules.door_config import DoorRulesConfig, VisitorPass
from edge.rules.doors import DoorRules
from edge.rules.patrol import PatrolEngine
from edge.rules.patrol_plan import PatrolPlan

SNAPSHOT_VERSION = 1
ROUND_CODE = "patrol.round"
_KEEP_SENT = 256  # round results remembered to tell a change from a repeat


def access_record(event: AccessEvent) -> Event:
    """The access event as it travels (contract §1): keys with None left out."""
    data: dict[str, Any] = {
        k: v
        for k, v in (
            ("door", event.door),
            ("credential", event.credential),
            ("reason", event.reason),
            ("device", event.device),
        )
        if v is not None
    }
    data.update(event.data)
    return Event(ts=event.ts, source=event.device, code=event.kind, message="", data=data)


def alarm_record(c: Condition) -> Event:
    return Event(
        ts=c.ts,
        source=c.source,
        code=c.code,
        message=c.message,
        type="alarm",
        colour=c.colour,
        data=dict(c.data),
        active=c.active,
    )


class RuleEngine:
    """Door and patrol rules of one site, with what they produced counted."""

    def __init__(
        self,
        doors: DoorRulesConfig,
        plans: Sequence[PatrolPlan],
        since: float,
        passes: Iterable[VisitorPass] = (),
    ) -> None:
        self.doors_config = doors
        self.plans = list(plans)
        self.doors = DoorRules(doors, passes)
        self.patrol = PatrolEngine(self.plans, since=since)
        # (route, start) -> the result last sent, to send a round only when it changed
        self._sent: dict[tuple[str, float], dict[str, Any]] = {}
        self.counters: dict[str, int] = {
            "events": 0,
            "heard": 0,
            "ticks": 0,
            "access_records": 0,
            "alarms_raised": 0,
            "alarms_cleared": 0,
            "round_results": 0,
        }

    # ---------------------------------------------------------------- inputs

    def feed(self, event: AccessEvent) -> list[Event]:
        """One access event: its own record, then the alarms and round changes it causes."""
        self.counters["events"] += 1
        out: list[Event] = []
        if isinstance(event.ts, int | float) and math.isfinite(event.ts):
            out.append(access_record(event))
            self.counters["access_records"] += 1
        conditions = self.doors.feed(event)
        if event.kind == "patrol.scan":
            conditions += self.patrol.feed(event)
            out += self._alarms(conditions)
            out += self._round_changes(event.ts)
        else:
            out += self._alarms(conditions)
        return out

    def heard(self, device: str, ts: float) -> list[Event]:
        """A bound device spoke (any message, even one that maps to no event)."""
        self.counters["heard"] += 1
        return self._alarms(self.doors.heard(device, ts))

    def tick(self, now: float) -> list[Event]:
        """Time passes: held-open doors, closed checkpoint windows, silent devices."""
        self.counters["ticks"] += 1
        conditions = self.doors.tick(now) + self.patrol.tick(now)
        return self._alarms(conditions) + self._round_changes(now)

    def set_passes(self, passes: Iterable[VisitorPass]) -> None:
        self.doors.set_passes(passes)

    # ---------------------------------------------------------------- records

    def _alarms(self, conditions: list[Condition]) -> list[Event]:
        for c in conditions:
            self.counters["alarms_raised" if c.active else "alarms_cleared"] += 1
        return [alarm_record(c) for c in conditions]

    def _round_changes(self, ts: float) -> list[Event]:
        out = []
        for result in self.patrol.live_rounds():
            key = (result["route"], result["start"])
            if self._sent.get(key) == result:
                continue
            self._sent[key] = result
            self.counters["round_results"] += 1
            out.append(
                Event(ts=ts, source=result["route"], code=ROUND_CODE, message="", data=result)
            )
        while len(self._sent) > _KEEP_SENT:
            del self._sent[next(iter(self._sent))]  # oldest first (insertion order)
        return out

    # ---------------------------------------------------------------- restart

    def snapshot(self) -> dict[str, Any]:
        """Everything the engine knows, JSON-able."""
        return {
            "version": SNAPSHOT_VERSION,
            "doors": self.doors.snapshot(),
            "patrol": self.patrol.snapshot(),
            "sent": [[r, s, res] for (r, s), res in self._sent.items()],
            "counters": dict(self.counters),
        }

    @classmethod
    def restore(
        cls, doors: DoorRulesConfig, plans: Sequence[PatrolPlan], snap: dict[str, Any]
    ) -> RuleEngine:
        """Continue from `snapshot()` with the site's (possibly edited) configuration."""
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"rule engine snapshot: unknown version {snap.get('version')!r}")
        eng = cls(doors, plans, since=float(snap["patrol"]["now"]))
        eng.doors = DoorRules.restore(doors, snap["doors"])
        eng.patrol = PatrolEngine.restore(eng.plans, snap["patrol"])
        eng._sent = {(r, float(s)): res for r, s, res in snap["sent"]}
        eng.counters.update({str(k): int(v) for k, v in snap["counters"].items()})
        return eng

    def counts(self) -> dict[str, Any]:
        """For the status line: what went through, what the rules dropped, what is active."""
        return {
            **self.counters,
            "active_door_conditions": len(self.doors.active()),
            "doors_dropped": dict(self.doors.dropped),
            "patrol": dict(self.patrol.counters),
        }
