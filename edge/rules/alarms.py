"""The ISA-18.2 alarm lifecycle: one alarm per (code, source), pure (no I/O, no clock).

Rules emit Conditions (edge/rules/conditions.py); people act (ack, shelve, ...); time
passes (``tick(now)``). Each of these is a named transition that returns a small
``Transition`` record (the future audit trail). The edge and the API share this module.

States (ISA-18.2 / IEC 62682, as alerta's isa_18_2 model names them):

    normal          condition clear, nothing to acknowledge
    unack           condition active, not acknowledged
    acked           condition active, acknowledged
    rtn_unack       condition returned to normal before anyone acknowledged it
    shelved         hidden by an operator until an expiry; comes back when it expires
    suppressed      hidden by design (e.g. a door in maintenance)
    out_of_service  taken out of service (e.g. a broken sensor)

Choices the public tools got wrong, made explicit here:
- An acknowledged alarm whose colour rises goes back to unack (alerta, ISA-18.2).
- Acknowledging acts on exactly one alarm; nothing acknowledges "the alarm behind it"
  (phoebus #1928): ``AlarmBook.ack`` takes one key and touches one alarm.
- A shelved alarm is never reported as unacknowledged (Open MCT #5479):
  ``AlarmBook.unacknowledged()`` lists only unack and rtn_unack.
- Shelving needs an expiry (alerta #505). A manual unshelve returns to acked, an
  automatic one (the expiry) to unack (ISA-18.2 §11.7.3) -- but if the condition raised
  again or its colour rose while shelved, nobody has seen that raise, so a manual unshelve
  goes to unack too. With the condition clear, both go to normal.
- Every alarm carries an assignee (yamcs #498).

The set of alarms (create on first raise, act by key, snapshot/restore) is
``edge.rules.alarm_book.AlarmBook``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from edge.model import Colour

# The fixed codes and their default colours, re-exported so `from edge.rules.alarms import
# DOOR_FORCED` works.
from edge.rules.alarm_codes import *  # noqa: F403
from edge.rules.alarm_codes import ALARM_CODES, DEFAULT_COLOURS, default_colour  # noqa: F401
from edge.rules.conditions import Condition


class State(StrEnum):
    NORMAL = "normal"
    UNACK = "unack"
    ACKED = "acked"
    RTN_UNACK = "rtn_unack"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"


_RANK = {Colour.GREEN: 0, Colour.YELLOW: 1, Colour.RED: 2}
HIDDEN: frozenset[State] = frozenset({State.SHELVED, State.SUPPRESSED, State.OUT_OF_SERVICE})
SYSTEM = "system"  # the `by` of transitions driven by conditions and time

# What a person may do in each state (conditions and ticks are never refused).
ALLOWED: dict[State, tuple[str, ...]] = {
    State.NORMAL: ("shelve", "suppress", "remove_from_service", "assign"),
    State.UNACK: ("ack", "shelve", "suppress", "remove_from_service", "assign"),
    State.ACKED: ("shelve", "suppress", "remove_from_service", "assign"),
    State.RTN_UNACK: ("ack", "shelve", "suppress", "remove_from_service", "assign"),
    State.SHELVED: ("unshelve", "suppress", "remove_from_service", "assign"),
    State.SUPPRESSED: ("unsuppress", "remove_from_service", "assign"),
    State.OUT_OF_SERVICE: ("return_to_service", "assign"),
}


class InvalidTransition(ValueError):
    """A person's action that the alarm's state does not allow (the API answers 409)."""

    def __init__(self, key: tuple[str, str], state: State, action: str) -> None:
        self.key, self.state, self.action = key, state, action
        self.allowed = ALLOWED[state]
        super().__init__(
            f"cannot {action} alarm {key[0]} at {key[1]}: it is {state.value}; "
            f"allowed from {state.value}: {', '.join(self.allowed)}"
        )


class UnknownAlarm(LookupError):
    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        super().__init__(f"no alarm {key[0]} at {key[1]}")


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of one alarm's life: the audit record. from_state == to_state for a
    step that changes something else (colour, message, assignee, chattering flag)."""

    code: str
    source: str
    action: str  # raise, update, escalate, clear, ack, shelve, unshelve, shelve_expired, ...
    from_state: State
    to_state: State
    by: str  # a user name, or "system" for conditions and time
    ts: float
    note: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.code, self.source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "source": self.source,
            "action": self.action,
            "from": self.from_state.value,
            "to": self.to_state.value,
            "by": self.by,
            "ts": self.ts,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    """Chattering: raised more than ``chatter_count`` times within ``chatter_window_s``."""

    chatter_count: int = 5
    chatter_window_s: float = 600.0

    def __post_init__(self) -> None:
        if not (isinstance(self.chatter_count, int) and self.chatter_count >= 1):
            raise ValueError(
                f"AlarmConfig.chatter_count must be an int >= 1, got {self.chatter_count!r}"
            )
        w = self.chatter_window_s
        if not (isinstance(w, int | float) and math.isfinite(w) and w > 0):
            raise ValueError(f"AlarmConfig.chatter_window_s must be seconds > 0, got {w!r}")


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be finite Unix seconds, got {value!r}")
    return float(value)


def _user(user: str, action: str) -> str:
    if not isinstance(user, str) or not user.strip():
        raise ValueError(f"{action} needs the name of who does it, got {user!r}")
    return user


@dataclass(slots=True)
class Alarm:
    code: str
    source: str
    state: State = State.NORMAL
    active: bool = False  # the condition as the rules last reported it
    colour: Colour = Colour.YELLOW
    message: str = ""
    data: dict = field(default_factory=dict)
    raised_at: float | None = None
    cleared_at: float | None = None
    acked_by: str | None = None
    acked_at: float | None = None
    shelved_by: str | None = None
    shelved_until: float | None = None
    assignee: str | None = None
    # Raised again (or colour rose) while shelved: nobody has seen it, so a manual
    # unshelve must not mark it acknowledged.
    unseen_raise: bool = False
    raise_count: int = 0
    raise_times: list[float] = field(default_factory=list)  # the last N+1 raises only
    chattering: bool = False
    chatter_episodes: int = 0  # how many times it started chattering

    @property
    def key(self) -> tuple[str, str]:
        return (self.code, self.source)

    @property
    def unacknowledged(self) -> bool:
        """Waiting for a person; a shelved/suppressed/out-of-service alarm never is."""
        return self.state in (State.UNACK, State.RTN_UNACK)

    def allowed_actions(self) -> tuple[str, ...]:
        return ALLOWED[self.state]

    # -- helpers --------------------------------------------------------------------
    def _rec(self, action: str, frm: State, by: str, ts: float, note: str = "") -> Transition:
        return Transition(self.code, self.source, action, frm, self.state, by, ts, note)

    def _check(self, action: str) -> None:
        if action not in ALLOWED[self.state]:
            raise InvalidTransition(self.key, self.state, action)

    def _clear_ack(self) -> None:
        self.acked_by = self.acked_at = None

    def _clear_shelf(self) -> None:
        self.shelved_by = self.shelved_until = None
        self.unseen_raise = False

    def _back_from_hidden(self) -> None:
        """Leaving suppressed / out of service / an expired shelf: the condition decides."""
        self._clear_shelf()
        self._clear_ack()
        self.state = State.UNACK if self.active else State.NORMAL

    def _chatter(self, now: float, cfg: AlarmConfig) -> Transition | None:
        limit = now - cfg.chatter_window_s
        self.raise_times = [t for t in self.raise_times if t > limit]
        n = len(self.raise_times)
        if n > cfg.chatter_count and not self.chattering:
            self.chattering = True
            self.chatter_episodes += 1
            note = f"raised {n} times within {cfg.chatter_window_s:g} s"
            return self._rec("chatter", self.state, SYSTEM, now, note)
        if n <= cfg.chatter_count and self.chattering:
            self.chattering = False
            note = f"raised {n} times within {cfg.chatter_window_s:g} s"
            return self._rec("chatter_end", self.state, SYSTEM, now, note)
        return None

    # -- conditions -----------------------------------------------------------------
    def apply(self, cond: Condition, cfg: AlarmConfig) -> list[Transition]:
        """A rule's verdict. Returns the records (empty when nothing changed)."""
        if (cond.code, cond.source) != self.key:
            raise ValueError(
                f"condition {cond.code} at {cond.source} applied to {self.code} at {self.source}"
            )
        ts = _finite(f"condition {cond.code} at {cond.source} ts", cond.ts)
        frm = self.state
        if not cond.active:
            if not self.active:
                return []  # a clear of a clear: nothing happened
            self.active = False
            self.cleared_at = ts
            if self.state is State.UNACK:
                self.state = State.RTN_UNACK
            elif self.state is State.ACKED:
                self.state = State.NORMAL
            return [self._rec("clear", frm, SYSTEM, ts, cond.message)]

        try:
            colour = Colour(cond.colour)
        except ValueError:
            who = f"condition {cond.code} at {cond.source}"
            raise ValueError(f"{who}: colour {cond.colour!r} is not green, yellow or red") from None
        new_raise = not self.active
        rose = not new_raise and _RANK[colour] > _RANK[self.colour]
        changed = (colour, cond.message, cond.data) != (self.colour, self.message, self.data)
        self.active, self.colour, self.message = True, colour, cond.message
        self.data = dict(cond.data)
        out: list[Transition] = []
        if new_raise:
            self.raised_at, self.cleared_at = ts, None
            self.raise_count += 1
            self.raise_times = [*self.raise_times, ts][-(cfg.chatter_count + 1) :]
        if self.state in HIDDEN:
            if self.state is State.SHELVED and (new_raise or rose):
                self.unseen_raise = True
            if new_raise or changed:
                out.append(
                    self._rec("raise" if new_raise else "update", frm, SYSTEM, ts, cond.message)
                )
        elif new_raise:  # from normal or rtn_unack
            self.state = State.UNACK
            self._clear_ack()
            out.append(self._rec("raise", frm, SYSTEM, ts, cond.message))
        elif rose and self.state is State.ACKED:
            self.state = State.UNACK
            self._clear_ack()
            out.append(self._rec("escalate", frm, SYSTEM, ts, f"colour rose to {colour.value}"))
        elif changed:
            out.append(self._rec("update", frm, SYSTEM, ts, cond.message))
        if new_raise and (rec := self._chatter(ts, cfg)) is not None:
            out.append(rec)
        return out

    # -- time -----------------------------------------------------------------------
    def tick(self, now: float, cfg: AlarmConfig) -> list[Transition]:
        """Shelf expiry and the end of chattering, driven by ``now``."""
        now = _finite("tick now", now)
        out: list[Transition] = []
        if (
            self.state is State.SHELVED
            and self.shelved_until is not None
            and now >= self.shelved_until
        ):
            frm, until = self.state, self.shelved_until
            self._back_from_hidden()  # automatic unshelve: to unack if still active
            out.append(self._rec("shelve_expired", frm, SYSTEM, now, f"shelved until {until:g}"))
        if self.chattering and (rec := self._chatter(now, cfg)) is not None:
            out.append(rec)
        return out

    # -- people ---------------------------------------------------------------------
    def ack(self, user: str, now: float, note: str = "") -> Transition:
        user, now = _user(user, "ack"), _finite("ack now", now)
        self._check("ack")
        frm = self.state
        self.state = State.ACKED if self.state is State.UNACK else State.NORMAL
        self.acked_by, self.acked_at = user, now
        return self._rec("ack", frm, user, now, note)

    def shelve(self, user: str, until: float, now: float, note: str = "") -> Transition:
        user, now = _user(user, "shelve"), _finite("shelve now", now)
        until = _finite("shelve until", until)
        if until <= now:
            raise ValueError(
                f"shelve {self.code} at {self.source}: until {until:g} is not after now {now:g}"
            )
        self._check("shelve")
        frm = self.state
        self.state = State.SHELVED
        self.shelved_by, self.shelved_until, self.unseen_raise = user, until, False
        return self._rec("shelve", frm, user, now, note or f"until {until:g}")

    def unshelve(self, user: str, now: float, note: str = "") -> Transition:
        user, now = _user(user, "unshelve"), _finite("unshelve now", now)
        self._check("unshelve")
        frm, unseen = self.state, self.unseen_raise
        self._clear_shelf()
        if not self.active:
            self.state = State.NORMAL
        elif unseen:
            self.state = State.UNACK
            self._clear_ack()
        else:  # ISA-18.2: a manual unshelve is an acknowledgement by whoever unshelves
            self.state = State.ACKED
            self.acked_by, self.acked_at = user, now
        return self._rec("unshelve", frm, user, now, note)

    def suppress(self, user: str, now: float, note: str = "") -> Transition:
        user, now = _user(user, "suppress"), _finite("suppress now", now)
        self._check("suppress")
        frm = self.state
        self._clear_shelf()
        self.state = State.SUPPRESSED
        return self._rec("suppress", frm, user, now, note)

    def unsuppress(self, user: str, now: float, note: str = "") -> Transition:
        user, now = _user(user, "unsuppress"), _finite("unsuppress now", now)
        self._check("unsuppress")
        frm = self.state
        self._back_from_hidden()
        return self._rec("unsuppress", frm, user, now, note)

    def remove_from_service(self, user: str, now: float, note: str = "") -> Transition:
        user, now = _user(user, "remove_from_service"), _finite("remove_from_service now", now)
        self._check("remove_from_service")
        frm = self.state
        self._clear_shelf()
        self.state = State.OUT_OF_SERVICE
        return self._rec("remove_from_service", frm, user, now, note)

    def return_to_service(self, user: str, now: float, note: str = "") -> Transition:
        user, now = _user(user, "return_to_service"), _finite("return_to_service now", now)
        self._check("return_to_service")
        frm = self.state
        self._back_from_hidden()
        return self._rec("return_to_service", frm, user, now, note)

    def assign(self, user: str, assignee: str | None, now: float, note: str = "") -> Transition:
        """Give the alarm to someone (None: to nobody); the state does not change."""
        user, now = _user(user, "assign"), _finite("assign now", now)
        if assignee is not None and (not isinstance(assignee, str) or not assignee.strip()):
            who = f"{self.code} at {self.source}"
            raise ValueError(f"assign {who}: assignee must be a name or None, got {assignee!r}")
        self._check("assign")
        self.assignee = assignee
        return self._rec("assign", self.state, user, now, note or f"to {assignee or 'nobody'}")

    # -- persistence ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "source": self.source,
            "state": self.state.value,
            "active": self.active,
            "colour": self.colour.value,
            "message": self.message,
            "data": dict(self.data),
            "raised_at": self.raised_at,
            "cleared_at": self.cleared_at,
            "acked_by": self.acked_by,
            "acked_at": self.acked_at,
            "shelved_by": self.shelved_by,
            "shelved_until": self.shelved_until,
            "assignee": self.assignee,
            "unseen_raise": self.unseen_raise,
            "raise_count": self.raise_count,
            "raise_times": list(self.raise_times),
            "chattering": self.chattering,
            "chatter_episodes": self.chatter_episodes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alarm:
        try:
            return cls(
                code=d["code"],
                source=d["source"],
                state=State(d["state"]),
                active=bool(d["active"]),
                colour=Colour(d["colour"]),
                message=d["message"],
                data=dict(d["data"]),
                raised_at=d["raised_at"],
                cleared_at=d["cleared_at"],
                acked_by=d["acked_by"],
                acked_at=d["acked_at"],
                shelved_by=d["shelved_by"],
                shelved_until=d["shelved_until"],
                assignee=d["assignee"],
                unseen_raise=bool(d["unseen_raise"]),
                raise_count=int(d["raise_count"]),
                raise_times=[float(t) for t in d["raise_times"]],
                chattering=bool(d["chattering"]),
                chatter_episodes=int(d["chatter_episodes"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            who = f"{d.get('code')} at {d.get('source')}" if isinstance(d, dict) else repr(d)
            raise ValueError(f"alarm snapshot for {who} is unusable: {exc!r}") from exc
