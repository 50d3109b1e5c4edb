"""AlarmBook: every alarm by (code, source), and its snapshot so it survives a restart.

Pure like alarms.py (no I/O, no clock). The edge feeds it conditions and ticks; the API
(the alarms' record) applies people's actions; both persist ``snapshot()`` as JSON.
"""

from __future__ import annotations

from typing import Any

from edge.rules.alarms import Alarm, AlarmConfig, State, Transition, UnknownAlarm, _finite
from edge.rules.conditions import Condition

SNAPSHOT_VERSION = 1


def _check_key(code: str, source: str) -> None:
    for name, v in (("code", code), ("source", source)):
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"alarm {name} must be a non-empty string, got {v!r}")


class AlarmBook:
    """Every alarm by (code, source). Conditions create alarms; people act on one key."""

    def __init__(self, config: AlarmConfig | None = None) -> None:
        self.config = config or AlarmConfig()
        self._alarms: dict[tuple[str, str], Alarm] = {}
        # Shelved or chattering: the only alarms time changes, so the only ones `tick`
        # visits. Kept up to date by every method here; `get()` is for reading.
        self._timed: set[tuple[str, str]] = set()

    def __len__(self) -> int:
        return len(self._alarms)

    def get(self, code: str, source: str) -> Alarm | None:
        return self._alarms.get((code, source))

    def alarms(self) -> list[Alarm]:
        return [self._alarms[k] for k in sorted(self._alarms)]

    def unacknowledged(self) -> list[Alarm]:
        """unack and rtn_unack only: never a shelved, suppressed or out-of-service one."""
        return [a for a in self.alarms() if a.unacknowledged]

    def chatter_episodes(self) -> int:
        return sum(a.chatter_episodes for a in self._alarms.values())

    def _track(self, alarm: Alarm) -> None:
        if alarm.state is State.SHELVED or alarm.chattering:
            self._timed.add(alarm.key)
        else:
            self._timed.discard(alarm.key)

    def _one(self, code: str, source: str) -> Alarm:
        alarm = self._alarms.get((code, source))
        if alarm is None:
            raise UnknownAlarm((code, source))
        return alarm

    def _new(self, code: str, source: str) -> Alarm:
        _check_key(code, source)
        return self._alarms.setdefault((code, source), Alarm(code, source))

    def apply(self, cond: Condition) -> list[Transition]:
        alarm = self._alarms.get((cond.code, cond.source))
        if alarm is None:
            _check_key(cond.code, cond.source)
            alarm = Alarm(cond.code, cond.source)
            if not cond.active:
                alarm.apply(cond, self.config)  # still refuses a bad ts
                return []  # a clear for an alarm never raised: nothing to record
            alarm = self._new(cond.code, cond.source)
        out = alarm.apply(cond, self.config)
        self._track(alarm)
        return out

    def tick(self, now: float) -> list[Transition]:
        # Only a shelf expiry or the end of chattering is driven by time; the agent ticks
        # every second, so the other alarms are not visited, not even to look at their
        # state (bench/rules.py: that scan was 60 % of the time with 1,000 alarms kept).
        now = _finite("tick now", now)
        out: list[Transition] = []
        for key in sorted(self._timed):
            alarm = self._alarms[key]
            out.extend(alarm.tick(now, self.config))
            self._track(alarm)
        return out

    def ack(self, code: str, source: str, user: str, now: float, note: str = "") -> Transition:
        alarm = self._one(code, source)
        return self._acted(alarm, alarm.ack(user, now, note))

    def shelve(
        self, code: str, source: str, user: str, until: float, now: float, note: str = ""
    ) -> Transition:
        alarm = self._one(code, source)
        return self._acted(alarm, alarm.shelve(user, until, now, note))

    def unshelve(self, code: str, source: str, user: str, now: float, note: str = "") -> Transition:
        alarm = self._one(code, source)
        return self._acted(alarm, alarm.unshelve(user, now, note))

    def suppress(self, code: str, source: str, user: str, now: float, note: str = "") -> Transition:
        # By design, before anything was raised (a door going into maintenance).
        alarm = self._new(code, source)
        return self._acted(alarm, alarm.suppress(user, now, note))

    def unsuppress(
        self, code: str, source: str, user: str, now: float, note: str = ""
    ) -> Transition:
        alarm = self._one(code, source)
        return self._acted(alarm, alarm.unsuppress(user, now, note))

    def remove_from_service(
        self, code: str, source: str, user: str, now: float, note: str = ""
    ) -> Transition:
        alarm = self._new(code, source)
        return self._acted(alarm, alarm.remove_from_service(user, now, note))

    def return_to_service(
        self, code: str, source: str, user: str, now: float, note: str = ""
    ) -> Transition:
        alarm = self._one(code, source)
        return self._acted(alarm, alarm.return_to_service(user, now, note))

    def assign(
        self, code: str, source: str, user: str, assignee: str | None, now: float, note: str = ""
    ) -> Transition:
        alarm = self._one(code, source)
        return self._acted(alarm, alarm.assign(user, assignee, now, note))

    def _acted(self, alarm: Alarm, record: Transition) -> Transition:
        self._track(alarm)  # after the action (a refused one raised and changed nothing)
        return record

    def snapshot(self) -> dict[str, Any]:
        """JSON-able; ``restore`` gives a book that behaves exactly like this one."""
        return {"version": SNAPSHOT_VERSION, "alarms": [a.to_dict() for a in self.alarms()]}

    @classmethod
    def restore(cls, config: AlarmConfig | None, snap: dict[str, Any]) -> AlarmBook:
        if not isinstance(snap, dict) or snap.get("version") != SNAPSHOT_VERSION:
            got = snap.get("version") if isinstance(snap, dict) else type(snap).__name__
            raise ValueError(
                f"alarm book snapshot: version {SNAPSHOT_VERSION} expected, got {got!r}"
            )
        book = cls(config)
        for d in snap.get("alarms", []):
            alarm = Alarm.from_dict(d)
            if alarm.key in book._alarms:
                raise ValueError(f"alarm book snapshot: {alarm.code} at {alarm.source} twice")
            book._alarms[alarm.key] = alarm
            book._track(alarm)
        return book
