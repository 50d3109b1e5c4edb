"""Patrol rules (issue 7 item 4): guard-tour rounds judged from `patrol.scan` events.

Pure: no I/O, no wall clock. Time comes from the events and from `tick(now)`.

A scan is an AccessEvent of kind "patrol.scan" whose `device` is the checkpoint's tag
(or its reader id: whatever the plan lists as the checkpoint's `tag`) and whose
`credential` is the guard's badge.

Conditions (codes fixed by issue 7 item 6; sources "<route>:<checkpoint>" or "<route>"):
  patrol.missed        a checkpoint's window closed with no scan; raised at that moment
                       by time alone (tick), never waiting for the next scan. Cleared if
                       the guard still scans it before the round ends (it is then late).
  patrol.late          scanned after its window (before the round ended)
  patrol.early         scanned before its window opened
  patrol.out_of_order  (ordered routes) scanned while an earlier checkpoint is still due
  patrol.unknown_checkpoint  a guard in a running round scanned a tag no route knows
                       (source "<route>:<tag>")
  patrol.incomplete    the round ended with checkpoints missed (source "<route>")
  patrol.guard_inactive  no scan for guard_inactive_after s while the round runs
                       (source "<route>"); cleared by the next scan or the round's end
A round's conditions stay active until the next round of the same route opens: "the last
round missed cp3" is true until a new round starts; then they are cleared.
Duplicate consecutive scans (same guard, same tag, same round) are counted, not judged.
Every scan that is not judged is counted by reason in `counters`.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from edge.model import Colour
from edge.rules.access_events import AccessEvent
from edge.rules.conditions import Condition
from edge.rules.patrol_plan import DAY, PatrolPlan, parse_plans
from edge.rules.patrol_round import PatrolRound

SNAPSHOT_VERSION = 1
RED_CODES = frozenset({"patrol.missed", "patrol.incomplete", "patrol.guard_inactive"})

# deadline kinds, in the order they run when due at the same instant
_CLOSE, _INACTIVE, _END, _OPEN = 0, 1, 2, 3


@dataclass(slots=True)
class _Route:
    plan: PatrolPlan
    by_tag: dict[str, int]
    close_order: list[int]  # checkpoint indices in the order their windows close
    next_start: float
    current: PatrolRound | None = None
    history: deque[PatrolRound] = field(default_factory=deque)  # finished rounds


class PatrolEngine:
    """All patrol routes of a site. `since`: rounds opening before it are not judged."""

    def __init__(
        self,
        plans: Sequence[PatrolPlan] | Mapping[str, Any],
        since: float,
        keep_rounds: int = 64,
    ) -> None:
        self.plans = _as_plans(plans)
        self.keep_rounds = max(1, keep_rounds)
        self.now = since
        self.counters: dict[str, int] = {}
        self._routes = {p.route: self._new_route(p, since) for p in self.plans}
        self._tags = {t for p in self.plans for t in p.by_tag()}

    def _new_route(self, plan: PatrolPlan, since: float) -> _Route:
        order = sorted(range(len(plan.checkpoints)), key=lambda i: _close(plan, 0.0, i))
        return _Route(
            plan=plan,
            by_tag=plan.by_tag(),
            close_order=order,
            next_start=plan.next_start(since + plan.open_before),
            history=deque(maxlen=self.keep_rounds),
        )

    # ---- inputs -------------------------------------------------------------------

    def tick(self, now: float) -> list[Condition]:
        """Advance time: close windows, end and open rounds, notice idle guards."""
        out: list[Condition] = []
        self._advance(now, out)
        return out

    def feed(self, event: AccessEvent) -> list[Condition]:
        """Judge one access event (only `patrol.scan` concerns patrols)."""
        if event.kind != "patrol.scan":
            self._count("not_a_scan")
            return []
        out: list[Condition] = []
        self._advance(event.ts, out)
        guard = event.credential or ""
        tag = event.device
        targets = [
            rs
            for rs in self._routes.values()
            if rs.current is not None
            and rs.current.start - rs.plan.open_before <= event.ts <= _end(rs.plan, rs.current)
            and (not rs.plan.guards or guard in rs.plan.guards)
        ]
        judged = False
        for rs in targets:
            assert rs.current is not None
            i = rs.by_tag.get(tag)
            if i is not None:
                self._scan(rs, rs.current, i, event, guard, out)
                judged = True
            elif tag not in self._tags:
                self._unknown(rs, rs.current, event, guard, out)
                judged = True
        if not judged:
            self._count_unjudged(event, guard, tag)
        return out

    def _count_unjudged(self, event: AccessEvent, guard: str, tag: str) -> None:
        if not guard:
            self._count("scan_without_guard_badge")
        elif tag not in self._tags:
            self._count("unknown_tag_outside_round")
        elif not any(
            guard in rs.plan.guards or not rs.plan.guards
            for rs in self._routes.values()
            if tag in rs.by_tag
        ):
            self._count("guard_not_assigned")
        elif any(
            rs.current is None and rs.history and _end(rs.plan, rs.history[-1]) >= event.ts
            for rs in self._routes.values()
            if tag in rs.by_tag
        ):
            self._count("scan_after_round_ended")  # arrived after its round was closed
        else:
            self._count("scan_outside_round")

    # ---- time ---------------------------------------------------------------------

    def _advance(self, t: float, out: list[Condition]) -> None:
        while True:
            best: tuple[float, int, str] | None = None
            for name, rs in self._routes.items():
                for due in self._deadlines(rs):
                    d, kind = due
                    ready = d <= t if kind == _OPEN else d < t
                    if ready and (best is None or (d, kind, name) < best):
                        best = (d, kind, name)
            if best is None:
                break
            self._fire(self._routes[best[2]], best[0], best[1], out)
        self.now = max(self.now, t)

    def _deadlines(self, rs: _Route) -> Iterable[tuple[float, int]]:
        r, plan = rs.current, rs.plan
        if r is None:
            yield rs.next_start - plan.open_before, _OPEN
            return
        if r.closes_done < len(rs.close_order):
            yield _close(plan, r.start, rs.close_order[r.closes_done]), _CLOSE
        end = _end(plan, r)
        if plan.guard_inactive_after is not None and not r.inactive:
            d = r.last_activity + plan.guard_inactive_after
            if d < end:
                yield d, _INACTIVE
        yield end, _END

    def _fire(self, rs: _Route, d: float, kind: int, out: list[Condition]) -> None:
        plan, r = rs.plan, rs.current
        if kind == _OPEN:
            if rs.history:  # the previous round's verdicts return to normal now
                self._clear_all(rs.history[-1], d, out)
            rs.current = PatrolRound.begin(plan, rs.next_start)
            later = [s for s in plan.round_starts(rs.next_start, rs.next_start + 2 * DAY)]
            rs.next_start = next(s for s in later if s > rs.next_start)
            self._count("rounds_started")
            return
        assert r is not None
        if kind == _CLOSE:
            i = rs.close_order[r.closes_done]
            r.closes_done += 1
            cs = r.checkpoints[i]
            if cs.status == "pending":
                cs.status, cs.missed_at = "missed", d
                cp = plan.checkpoints[i]
                lo, hi = cp.window(r.start)
                msg = (
                    f"Patrol route {plan.route}: checkpoint {cp.id} not scanned by "
                    f"{_hms(plan, hi)} (due {_hms(plan, r.start + cp.offset)})"
                )
                data = {"checkpoint": cp.id, "tag": cp.tag, "window": [lo, hi]}
                self._emit(
                    r, plan, "patrol.missed", f"{plan.route}:{cp.id}", True, d, msg, data, out
                )
        elif kind == _INACTIVE:
            r.inactive = True
            who = f"guard {r.guard}" if r.guard else "the assigned guard"
            msg = (
                f"Patrol route {plan.route}: no scan from {who} for "
                f"{plan.guard_inactive_after:g} s (since {_hms(plan, r.last_activity)})"
            )
            data = {"guard": r.guard, "last_activity": r.last_activity}
            self._emit(r, plan, "patrol.guard_inactive", plan.route, True, d, msg, data, out)
        else:  # _END
            r.finished = True
            if r.inactive:
                r.inactive = False
                self._emit(r, plan, "patrol.guard_inactive", plan.route, False, d, "", {}, out)
            missed = [cp.id for cp, cs in zip(plan.checkpoints, r.checkpoints, strict=True)
                      if cs.status == "missed"]  # fmt: skip
            if missed:
                n = len(plan.checkpoints)
                msg = (
                    f"Patrol route {plan.route}: round of {plan.local_day(r.start)} "
                    f"{_hms(plan, r.start)} ended with {len(missed)} of {n} checkpoints "
                    f"missed: {', '.join(missed)}"
                )
                data = {"missed": missed, "guard": r.guard}
                self._emit(r, plan, "patrol.incomplete", plan.route, True, d, msg, data, out)
            rs.history.append(r)
            rs.current = None
            self._count("rounds_finished")

    # ---- scans --------------------------------------------------------------------

    def _scan(
        self, rs: _Route, r: PatrolRound, i: int, ev: AccessEvent, guard: str,
        out: list[Condition],
    ) -> None:  # fmt: skip
        plan, cs, cp = rs.plan, r.checkpoints[i], rs.plan.checkpoints[i]
        cs.scans += 1
        self._alive(rs, r, ev.ts, out)
        if r.guard is None:
            r.guard = guard
        if r.last_tag.get(guard) == cp.tag:
            self._count("duplicate_scans_suppressed")
            return
        r.last_tag[guard] = cp.tag
        if cs.status not in ("pending", "missed"):
            self._count("rescans")  # visited already; the first scan is the verdict
            return
        src = f"{plan.route}:{cp.id}"
        lo, hi = cp.window(r.start)
        base = {"checkpoint": cp.id, "guard": guard, "scanned_at": ev.ts, "window": [lo, hi]}
        if plan.ordered:
            due = [j for j in range(i) if r.checkpoints[j].status == "pending"]
            if due:
                cs.out_of_order = True
                first = plan.checkpoints[due[0]].id
                msg = (
                    f"Patrol route {plan.route}: guard {guard} scanned {cp.id} before "
                    f"{first} (order broken)"
                )
                data = {**base, "expected_next": first}
                self._emit(r, plan, "patrol.out_of_order", src, True, ev.ts, msg, data, out)
        if cs.status == "missed":
            self._emit(r, plan, "patrol.missed", src, False, ev.ts, "", {}, out)
        cs.scanned_at = ev.ts
        if ev.ts < lo:
            cs.status = "early"
            msg = (
                f"Patrol route {plan.route}: guard {guard} scanned {cp.id} at "
                f"{_hms(plan, ev.ts)}, {lo - ev.ts:g} s before its window opened"
            )
            self._emit(r, plan, "patrol.early", src, True, ev.ts, msg, base, out)
        elif ev.ts <= hi:
            cs.status = "on_time"
        else:
            cs.status = "late"
            msg = (
                f"Patrol route {plan.route}: guard {guard} scanned {cp.id} at "
                f"{_hms(plan, ev.ts)}, {ev.ts - hi:g} s after its window closed"
            )
            self._emit(r, plan, "patrol.late", src, True, ev.ts, msg, base, out)

    def _unknown(
        self, rs: _Route, r: PatrolRound, ev: AccessEvent, guard: str, out: list[Condition]
    ) -> None:
        self._alive(rs, r, ev.ts, out)
        if r.last_tag.get(guard) == ev.device:
            self._count("duplicate_scans_suppressed")
            return
        r.last_tag[guard] = ev.device
        self._count("unknown_tag_scans")
        plan = rs.plan
        msg = f"Patrol route {plan.route}: guard {guard} scanned unknown tag {ev.device}"
        data = {"tag": ev.device, "guard": guard, "scanned_at": ev.ts}
        src = f"{plan.route}:{ev.device}"
        self._emit(r, plan, "patrol.unknown_checkpoint", src, True, ev.ts, msg, data, out)

    def _alive(self, rs: _Route, r: PatrolRound, ts: float, out: list[Condition]) -> None:
        r.last_activity = max(r.last_activity, ts)
        if r.inactive:
            r.inactive = False
            self._emit(r, rs.plan, "patrol.guard_inactive", rs.plan.route, False, ts, "", {}, out)

    # ---- conditions ---------------------------------------------------------------

    def _emit(
        self, r: PatrolRound, plan: PatrolPlan, code: str, source: str, active: bool,
        ts: float, message: str, data: dict[str, Any], out: list[Condition],
    ) -> None:  # fmt: skip
        if not r.set_active(code, source, active):
            return
        if not active:
            message = f"Patrol route {plan.route}: {code} on {source} returned to normal"
        colour = Colour.RED if code in RED_CODES else Colour.YELLOW
        full = {"route": plan.route, "round_start": r.start, **data}
        out.append(Condition(code, source, active, ts, colour, message, full if active else {}))

    def _clear_all(self, r: PatrolRound, ts: float, out: list[Condition]) -> None:
        plan = self._routes[r.route].plan
        for code in sorted(r.active):
            for source in list(r.active.get(code, [])):
                self._emit(r, plan, code, source, False, ts, "", {}, out)

    def _count(self, reason: str) -> None:
        self.counters[reason] = self.counters.get(reason, 0) + 1

    # ---- results and persistence --------------------------------------------------

    def rounds(self, route: str | None = None, day: str | None = None) -> list[dict[str, Any]]:
        """Kept rounds (finished, then running), per checkpoint status, oldest first."""
        res = []
        for rs in self._routes.values():
            if route is not None and rs.plan.route != route:
                continue
            for r in [*rs.history, *([rs.current] if rs.current else [])]:
                item = r.result(rs.plan)
                if day is None or item["day"] == day:
                    res.append(item)
        return sorted(res, key=lambda x: (x["start"], x["route"]))

    def live_rounds(self) -> list[dict[str, Any]]:
        """Per route, the running round and the latest finished one (results): what a
        scan or a tick can have changed."""
        res = []
        for rs in self._routes.values():
            if rs.history:
                res.append(rs.history[-1].result(rs.plan))
            if rs.current is not None:
                res.append(rs.current.result(rs.plan))
        return res

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state; `restore` continues exactly where this left off."""
        return {
            "version": SNAPSHOT_VERSION,
            "now": self.now,
            "counters": dict(self.counters),
            "routes": {
                name: {
                    "next_start": rs.next_start,
                    "current": rs.current.to_dict() if rs.current else None,
                    "history": [r.to_dict() for r in rs.history],
                }
                for name, rs in self._routes.items()
            },
        }

    @classmethod
    def restore(
        cls, config: Sequence[PatrolPlan] | Mapping[str, Any], snap: Mapping[str, Any]
    ) -> PatrolEngine:
        """Rebuild from `snapshot()`. A route new in the config starts fresh at the
        snapshot's time; a route whose checkpoints changed count drops its old rounds."""
        if snap.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"patrol snapshot: version {snap.get('version')!r} not supported")
        eng = cls(config, since=float(snap["now"]))
        eng.counters = {str(k): int(v) for k, v in snap["counters"].items()}
        for name, saved in snap["routes"].items():
            rs = eng._routes.get(name)
            if rs is None:
                eng._count("restore_route_no_longer_planned")
                continue
            rounds = [PatrolRound.from_dict(d) for d in saved["history"]]
            cur = saved["current"] and PatrolRound.from_dict(saved["current"])
            n = len(rs.plan.checkpoints)
            if any(len(r.checkpoints) != n for r in [*rounds, *([cur] if cur else [])]):
                eng._count("restore_route_plan_changed")
                continue
            rs.next_start = float(saved["next_start"])
            rs.current = cur or None
            rs.history.extend(rounds)
        return eng


def _as_plans(plans: Sequence[PatrolPlan] | Mapping[str, Any]) -> list[PatrolPlan]:
    if isinstance(plans, Mapping):
        return parse_plans(plans)
    items = list(plans)
    if all(isinstance(p, PatrolPlan) for p in items):
        return items
    return parse_plans(items)


def _close(plan: PatrolPlan, start: float, i: int) -> float:
    cp = plan.checkpoints[i]
    return start + cp.offset + cp.tolerance


def _end(plan: PatrolPlan, r: PatrolRound) -> float:
    return r.start + plan.span


def _hms(plan: PatrolPlan, ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(plan.tz)).strftime("%H:%M:%S")
