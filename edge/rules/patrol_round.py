"""One patrol round's state and its result, as plain JSON-able data (it survives restarts).

Each checkpoint ends in exactly one status: on_time, early, late or missed ("pending"
only while its window is open). A checkpoint whose window closed unscanned is missed;
if the guard still scans it before the round ends it becomes late (the missed alarm
clears and a late one is raised), so the final status is always one of the four.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.rules.patrol_plan import PatrolPlan

FINAL = ("on_time", "late", "early", "missed")


@dataclass(slots=True)
class CheckpointState:
    status: str = "pending"  # pending | on_time | late | early | missed
    scanned_at: float | None = None  # the first scan that counted
    missed_at: float | None = None  # when its window closed unscanned
    out_of_order: bool = False
    scans: int = 0  # every scan of it in this round, duplicates included

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "scanned_at": self.scanned_at,
            "missed_at": self.missed_at,
            "out_of_order": self.out_of_order,
            "scans": self.scans,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckpointState:
        return cls(**d)


@dataclass(slots=True)
class PatrolRound:
    """A round of one route started at `start` (Unix seconds)."""

    route: str
    start: float
    checkpoints: list[CheckpointState]
    guard: str | None = None  # the first assigned guard who scanned in this round
    last_activity: float = 0.0  # the latest scan (or the start) for guard inactivity
    inactive: bool = False  # patrol.guard_inactive is raised for this round
    closes_done: int = 0  # how many windows (in order of closing) were checked
    finished: bool = False
    # the last tag each guard scanned in this round: a repeat is a duplicate scan
    last_tag: dict[str, str] = field(default_factory=dict)
    # code -> sources this round raised and has not cleared yet
    active: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def begin(cls, plan: PatrolPlan, start: float) -> PatrolRound:
        return cls(
            route=plan.route,
            start=start,
            checkpoints=[CheckpointState() for _ in plan.checkpoints],
            last_activity=start,
        )

    def is_active(self, code: str, source: str) -> bool:
        return source in self.active.get(code, [])

    def set_active(self, code: str, source: str, on: bool) -> bool:
        """Record a raise/clear; False when nothing changes (no condition to emit)."""
        sources = self.active.setdefault(code, [])
        if on == (source in sources):
            return False
        if on:
            sources.append(source)
        else:
            sources.remove(source)
            if not sources:
                del self.active[code]
        return True

    def result(self, plan: PatrolPlan) -> dict[str, Any]:
        """The round as `GET /v1/patrols/rounds` will show it (per checkpoint status)."""
        cps = []
        for cp, st in zip(plan.checkpoints, self.checkpoints, strict=True):
            lo, hi = cp.window(self.start)
            cps.append(
                {
                    "checkpoint": cp.id,
                    "tag": cp.tag,
                    "expected_at": self.start + cp.offset,
                    "window": [lo, hi],
                    **st.to_dict(),
                }
            )
        counts = {s: sum(1 for c in self.checkpoints if c.status == s) for s in FINAL}
        return {
            "route": self.route,
            "day": plan.local_day(self.start),
            "start": self.start,
            "end": self.start + plan.span,
            "guard": self.guard,
            "state": "finished" if self.finished else "running",
            "complete": self.finished and counts["missed"] == 0,
            "counts": counts,
            "checkpoints": cps,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "start": self.start,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "guard": self.guard,
            "last_activity": self.last_activity,
            "inactive": self.inactive,
            "closes_done": self.closes_done,
            "finished": self.finished,
            "last_tag": dict(self.last_tag),
            "active": {k: list(v) for k, v in self.active.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PatrolRound:
        return cls(
            route=d["route"],
            start=d["start"],
            checkpoints=[CheckpointState.from_dict(c) for c in d["checkpoints"]],
            guard=d["guard"],
            last_activity=d["last_activity"],
            inactive=d["inactive"],
            closes_done=d["closes_done"],
            finished=d["finished"],
            last_tag=dict(d["last_tag"]),
            active={k: list(v) for k, v in d["active"].items()},
        )
