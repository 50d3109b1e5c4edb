"""Door and access rules: AccessEvents in, Conditions out (issue 7 item 3).

Pure and event-timed: no I/O, no wall clock. `feed(event)` judges one event at its own
time; `tick(now)` raises what time alone decides (a door held open, a silent reader) and
clears one-off conditions once they go quiet. Before judging an event, the rules first
catch up to its time, so a held-open door is raised at the moment its threshold passed
whether or not a tick came in between. A deadline fires once time is strictly past it;
the condition carries the deadline as its time.

One Condition per change, never one per event: a (code, source) already active stays
silent until it clears, or until its colour changes (held open long enough turns red).
Vehicle gates are doors whose credential is a plate or a card.

Clears: forced and held open clear when the door closes; tamper when every device on the
door reports it untampered; device.offline when the device is heard again; a denied burst
one full window after its last denial; after hours when the site next opens; duress,
tailgate, passback and a visitor outside the pass `reset_s` after their last occurrence.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable
from typing import Any

from device_profiles.wire_rules import ACCESS_KINDS
from edge.model import Colour
from edge.rules.access_events import AccessEvent
from edge.rules.conditions import Condition
from edge.rules.door_config import DoorRulesConfig, VisitorPass

log = logging.getLogger(__name__)

KINDS = frozenset(ACCESS_KINDS)
_INF = math.inf


def _finite(ts: Any) -> bool:
    return isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts)


class DoorRules:
    """State for every door, reader and credential of one site."""

    def __init__(self, config: DoorRulesConfig, passes: Iterable[VisitorPass] = ()) -> None:
        self.config = config
        self._clock: float | None = None  # the latest time seen (events or ticks)
        self._start: float | None = None  # heartbeats of never-heard devices count from here
        self._doors: dict[str, dict[str, Any]] = {}  # door -> {open, opened_at, held}
        self._grants: dict[str, list[float]] = {}  # door -> grant / exit request times
        self._opens: dict[str, list[float]] = {}  # door -> authorised opening times
        self._denials: dict[str, list[float]] = {}  # reader id or "credential:X" -> times
        self._areas: dict[str, str] = {}  # credential -> area it last entered
        self._heard: dict[str, float] = {}  # device -> last time heard
        self._tamper: dict[str, list[str]] = {}  # door -> devices reporting tamper
        self._active: dict[tuple[str, str], dict[str, Any]] = {}  # -> {colour, reset_at}
        self.dropped: dict[str, int] = {}  # events refused, by reason
        self._passes: dict[str, list[VisitorPass]] = {}
        self.set_passes(passes)
        self._next = _INF  # earliest pending deadline (a cache; recomputed on restore)

    # ---------------------------------------------------------------- public API

    def set_passes(self, passes: Iterable[VisitorPass]) -> None:
        """Replace the visitor passes (pulled from the API's directives)."""
        by_cred: dict[str, list[VisitorPass]] = {}
        for p in passes:
            by_cred.setdefault(p.credential, []).append(p)
        self._passes = by_cred

    def feed(self, event: AccessEvent) -> list[Condition]:
        """Judge one event; returns the conditions that changed, oldest first."""
        ts = event.ts
        if not _finite(ts):
            return self._drop("bad_ts", event)
        if event.kind not in KINDS:
            return self._drop("unknown_kind", event)
        if not isinstance(event.device, str) or not event.device:
            return self._drop("no_device", event)
        out = self._advance(ts)
        out += self._hear(event.device, ts)
        door = event.door or event.device  # a reader with no door is its own gate
        handler = getattr(self, "_on_" + event.kind.replace(".", "_"))
        handler(event, door, out)
        out += self._fire_due(self._clock)  # a late event may carry a deadline already past
        return out

    def tick(self, now: float) -> list[Condition]:
        """Let time pass to `now`: raise what a deadline decides, clear what went quiet."""
        if not _finite(now):
            self.dropped["bad_tick"] = self.dropped.get("bad_tick", 0) + 1
            return []
        return self._advance(now)

    def heard(self, device: str, ts: float) -> list[Condition]:
        """A device spoke without an access event (battery, status, heartbeat message)."""
        if not _finite(ts):
            self.dropped["bad_ts"] = self.dropped.get("bad_ts", 0) + 1
            return []
        out = self._advance(ts)
        return out + self._hear(device, ts)

    def active(self) -> dict[tuple[str, str], str]:
        """(code, source) -> colour of every condition now active."""
        return {k: v["colour"] for k, v in self._active.items()}

    # ---------------------------------------------------------------- events

    def _on_access_granted(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        s = self.config.for_door(door)
        self._add(self._grants, door, ev.ts, max(s.forced_window_s, s.tailgate_window_s))
        cred = ev.credential
        if s.after_hours and not self.config.calendar.is_open(ev.ts):
            self._raise(
                out,
                "access.after_hours",
                door,
                ev.ts,
                Colour.YELLOW,
                f"Access at door {door} outside working hours (credential {cred})",
                {"door": door, "credential": cred, "device": ev.device},
                self.config.calendar.next_open(ev.ts),
            )
        if s.passback and cred:
            src, dst = s.passback
            if self._areas.get(cred) == dst:
                self._raise(
                    out,
                    "access.passback",
                    cred,
                    ev.ts,
                    Colour.YELLOW,
                    f"Credential {cred} entered area {dst} through door {door} "
                    f"but never left it (anti-passback)",
                    {"door": door, "credential": cred, "from_area": src, "to_area": dst},
                    ev.ts + s.reset_s,
                )
            self._areas[cred] = dst
        self._check_pass(ev, door, out)

    def _on_access_denied(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        s = self.config.for_door(door)
        keys = [(ev.device, f"reader {ev.device}")]
        if ev.credential:
            keys.append((f"credential:{ev.credential}", f"credential {ev.credential}"))
        for key, what in keys:
            times = self._add(self._denials, key, ev.ts, s.denied_burst_window_s, strict=True)
            n = sum(1 for t in times if ev.ts - s.denied_burst_window_s < t <= ev.ts)
            if n >= s.denied_burst_count:
                # One alarm per episode: it ends a full window after the last denial,
                # not the moment the count dips below N (that would chatter).
                ends = times[-1] + s.denied_burst_window_s
                self._raise(
                    out,
                    "access.denied_burst",
                    key,
                    ev.ts,
                    Colour.YELLOW,
                    f"{n} denied attempts within {s.denied_burst_window_s:g} s at {what} "
                    f"(door {door})",
                    {"door": door, "credential": ev.credential, "count": n, "reason": ev.reason},
                    ends,
                )
        self._check_pass(ev, door, out)

    def _on_exit_request(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        s = self.config.for_door(door)
        self._add(self._grants, door, ev.ts, max(s.forced_window_s, s.tailgate_window_s))

    def _on_door_opened(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        st = self._doors.setdefault(door, {"open": False, "opened_at": None, "held": 0})
        if st["open"]:
            return  # a repeated "open" report is not a new opening
        s = self.config.for_door(door)
        st.update(open=True, opened_at=ev.ts, held=0)
        self._next = min(self._next, ev.ts + s.held_open_s)
        grants = self._grants.get(door, [])
        if not any(ev.ts - s.forced_window_s <= g <= ev.ts for g in grants):
            self._raise(
                out,
                "door.forced",
                door,
                ev.ts,
                Colour.RED,
                f"Door {door} forced open (no grant or exit request in the "
                f"{s.forced_window_s:g} s before)",
                {"door": door, "device": ev.device},
            )
            return  # a forced opening is not also counted as a tailgate
        opens = self._add(self._opens, door, ev.ts, s.tailgate_window_s)
        lo = ev.ts - s.tailgate_window_s
        n_open = sum(1 for t in opens if lo <= t <= ev.ts)
        n_grant = sum(1 for g in grants if lo <= g <= ev.ts)
        if n_open > n_grant:
            self._raise(
                out,
                "door.tailgate",
                door,
                ev.ts,
                Colour.YELLOW,
                f"Door {door} opened {n_open} times on {n_grant} grant(s) within "
                f"{s.tailgate_window_s:g} s",
                {"door": door, "openings": n_open, "grants": n_grant},
                ev.ts + s.reset_s,
            )

    def _on_door_closed(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        st = self._doors.get(door)
        if not st or not st["open"]:
            return
        st.update(open=False, opened_at=None, held=0)
        self._clear(out, "door.held_open", door, ev.ts, f"Door {door} closed")
        self._clear(out, "door.forced", door, ev.ts, f"Door {door} closed")

    def _on_door_tamper(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        devices = self._tamper.setdefault(door, [])
        on = ev.data.get("active", True) if isinstance(ev.data, dict) else True
        if on is not False:
            if ev.device not in devices:
                devices.append(ev.device)
            self._raise(
                out,
                "door.tamper",
                door,
                ev.ts,
                Colour.RED,
                f"Tamper at door {door} (device {ev.device})",
                {"door": door, "devices": sorted(devices)},
            )
            return
        if ev.device in devices:
            devices.remove(ev.device)
        if not devices:
            self._tamper.pop(door, None)
            self._clear(out, "door.tamper", door, ev.ts, f"Tamper at door {door} restored")

    def _on_access_duress(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        s = self.config.for_door(door)
        self._raise(
            out,
            "access.duress",
            door,
            ev.ts,
            Colour.RED,
            f"Duress code at door {door} (credential {ev.credential})",
            {"door": door, "credential": ev.credential, "device": ev.device},
            ev.ts + s.reset_s,
        )

    def _on_patrol_scan(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        return  # patrol rules judge scans; here a scan only proves the reader is alive

    def _check_pass(self, ev: AccessEvent, door: str, out: list[Condition]) -> None:
        passes = self._passes.get(ev.credential or "")
        if not passes:
            return  # not a visitor credential
        if any(p.valid_from <= ev.ts <= p.valid_to and door in p.doors for p in passes):
            return
        in_time = any(p.valid_from <= ev.ts <= p.valid_to for p in passes)
        why = "at a door not on the pass" if in_time else "outside the pass's time window"
        who = passes[0].visitor or ev.credential
        s = self.config.for_door(door)
        self._raise(
            out,
            "access.visitor_outside_pass",
            ev.credential,
            ev.ts,
            Colour.YELLOW,
            f"Visitor {who} at door {door} {why}",
            {"door": door, "credential": ev.credential, "why": why},
            ev.ts + s.reset_s,
        )

    # ---------------------------------------------------------------- time

    def _advance(self, t: float) -> list[Condition]:
        if self._clock is None:
            self._start = t
            self._clock = t
            self._next = self._earliest()[0]
        self._clock = max(self._clock, t)
        return self._fire_due(self._clock)

    def _hear(self, device: str, ts: float) -> list[Condition]:
        self._heard[device] = max(self._heard.get(device, ts), ts)
        beat = self.config.heartbeats.get(device)
        if beat is not None:
            self._next = min(self._next, self._heard[device] + beat)
        out: list[Condition] = []
        self._clear(out, "device.offline", device, ts, f"Device {device} heard again")
        return out

    def _earliest(self) -> tuple[float, str, str]:
        best: tuple[float, str, str] = (_INF, "", "")
        for door, st in self._doors.items():
            if st["open"]:
                s = self.config.for_door(door)
                if st["held"] == 0:
                    best = min(best, (st["opened_at"] + s.held_open_s, "held", door))
                elif st["held"] == 1 and s.held_open_red_s is not None:
                    best = min(best, (st["opened_at"] + s.held_open_red_s, "held", door))
        for (code, source), a in self._active.items():
            if a["reset_at"] is not None:
                best = min(best, (a["reset_at"], "reset", f"{code}\x1f{source}"))
        if self._start is not None:
            for device, beat in self.config.heartbeats.items():
                if ("device.offline", device) not in self._active:
                    since = self._heard.get(device, self._start)
                    best = min(best, (since + beat, "offline", device))
        return best

    def _fire_due(self, t: float | None) -> list[Condition]:
        out: list[Condition] = []
        if t is None:
            return out
        while self._next < t:
            at, kind, key = self._earliest()
            if not at < t:
                self._next = at
                break
            if kind == "held":
                self._held(key, at, out)
            elif kind == "reset":
                code, source = key.split("\x1f", 1)
                self._clear(out, code, source, at, "Quiet again")
            else:
                beat = self.config.heartbeats[key]
                self._raise(
                    out,
                    "device.offline",
                    key,
                    at,
                    Colour.YELLOW,
                    f"Device {key} silent for more than {beat:g} s",
                    {"device": key, "heartbeat_s": beat},
                )
        return out

    def _held(self, door: str, at: float, out: list[Condition]) -> None:
        st = self._doors[door]
        s = self.config.for_door(door)
        red = st["held"] == 1
        st["held"] += 1
        secs = s.held_open_red_s if red else s.held_open_s
        self._raise(
            out,
            "door.held_open",
            door,
            at,
            Colour.RED if red else Colour.YELLOW,
            f"Door {door} held open for more than {secs:g} s",
            {"door": door, "opened_at": st["opened_at"], "threshold_s": secs},
        )

    # ---------------------------------------------------------------- helpers

    def _add(
        self, table: dict[str, list[float]], key: str, ts: float, keep: float, strict: bool = False
    ) -> list[float]:
        """Insert a time in order; forget times older than `keep` before the newest."""
        times = table.setdefault(key, [])
        bisect.insort(times, ts)
        cut = times[-1] - keep
        i = bisect.bisect_right(times, cut) if strict else bisect.bisect_left(times, cut)
        del times[:i]
        return times

    def _raise(
        self,
        out: list[Condition],
        code: str,
        source: str,
        ts: float,
        colour: Colour,
        message: str,
        data: dict,
        reset_at: float | None = None,
    ) -> None:
        cur = self._active.get((code, source))
        if cur is not None and cur["colour"] == colour:
            if reset_at is not None and cur["reset_at"] is not None:
                cur["reset_at"] = max(cur["reset_at"], reset_at)  # still going: clear later
                self._next = min(self._next, cur["reset_at"])
            return
        self._active[(code, source)] = {"colour": str(colour), "reset_at": reset_at}
        if reset_at is not None:
            self._next = min(self._next, reset_at)
        out.append(Condition(code, source, True, ts, colour, message, data))

    def _clear(self, out: list[Condition], code: str, source: str, ts: float, message: str):
        if self._active.pop((code, source), None) is not None:
            out.append(Condition(code, source, False, ts, Colour.GREEN, message, {}))

    def _drop(self, reason: str, event: Any) -> list[Condition]:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        log.warning("door rules: event dropped (%s): %r", reason, event)
        return []

    # ---------------------------------------------------------------- restart

    def snapshot(self) -> dict:
        """Everything the rules know, JSON-able (save it; `restore` resumes from it)."""
        return {
            "version": 1,
            "clock": self._clock,
            "start": self._start,
            "doors": {d: dict(st) for d, st in self._doors.items()},
            "grants": {k: list(v) for k, v in self._grants.items()},
            "opens": {k: list(v) for k, v in self._opens.items()},
            "denials": {k: list(v) for k, v in self._denials.items()},
            "areas": dict(self._areas),
            "heard": dict(self._heard),
            "tamper": {k: list(v) for k, v in self._tamper.items()},
            "active": [[c, s, a["colour"], a["reset_at"]] for (c, s), a in self._active.items()],
            "passes": [p.to_dict() for ps in self._passes.values() for p in ps],
            "dropped": dict(self.dropped),
        }

    @classmethod
    def restore(cls, config: DoorRulesConfig, snap: dict) -> DoorRules:
        if snap.get("version") != 1:
            raise ValueError(f"door rules snapshot: unknown version {snap.get('version')!r}")
        passes = [
            VisitorPass(
                p["credential"],
                p["valid_from"],
                p["valid_to"],
                frozenset(p["doors"]),
                p.get("visitor", ""),
            )
            for p in snap.get("passes", [])
        ]
        r = cls(config, passes)
        r._clock, r._start = snap["clock"], snap["start"]
        r._doors = {d: dict(st) for d, st in snap["doors"].items()}
        r._grants = {k: list(v) for k, v in snap["grants"].items()}
        r._opens = {k: list(v) for k, v in snap["opens"].items()}
        r._denials = {k: list(v) for k, v in snap["denials"].items()}
        r._areas = dict(snap["areas"])
        r._heard = dict(snap["heard"])
        r._tamper = {k: list(v) for k, v in snap["tamper"].items()}
        r._active = {(c, s): {"colour": col, "reset_at": at} for c, s, col, at in snap["active"]}
        r.dropped = dict(snap.get("dropped", {}))
        r._next = r._earliest()[0] if r._clock is not None else _INF
        return r
