"""Demand limiter (issue 9 Build item 2): which HVAC zones get a cooling setup, and how much.

Pure: no I/O, no wall clock; `now` (epoch seconds) is passed in and must not go back.
It decides setups only (K above each zone's default cooling setpoint); the runtime writes
them at slot 10 (DEMAND_LIMIT) through the interlocks, which ramp, floor and cap the shed
time. Nothing here repeats those interlocks.

States, in the manner of VOLTTRON ILC:
  inactive   nothing shed. demand.at_risk or demand.over -> curtail (a new episode).
  curtail    a shed step every `confirm` s while at risk or over (the first one at once,
             unless the previous step, of any episode, was less than `confirm` ago).
             Neither at risk nor over -> holding.
  holding    nothing changes; `hold` s in a row neither at risk nor over -> releasing.
  releasing  one zone back to setup 0 every `stagger` s (the first as soon as the state
             is entered, if the last release was at least `stagger` ago); none left ->
             inactive, the episode ends.
  At risk or over again in holding or releasing -> curtail at once, releasing no more; the
  holding time starts again from zero when the demand is next fine.

A shed step adds `step_k` (not beyond the zone's max_setup_k) to at most
`max_zones_per_step` zones, chosen in this order:
  1. zones already shed, lowest priority number first, until each is at its max_setup_k;
  2. then zones not shed yet, lowest priority number first, as long as the zones shed
     (setup > 0) stay at most max(1, floor(max_shed_share * number of loads)) (floor
     with 1e-9 slack against float noise; 0 loads: nothing to shed).
  Equal priorities go in the order of `loads`. Skipped: unavailable zones (link down or
  not in the zones given) and zones found futile in this episode.
  Release order is the reverse: highest priority number first (last of `loads` first on
  equal priorities), so the zones shed last are given back first.
  No candidate at a step while at risk: an Action "nothing_left" says so once per episode
  ("nothing left to shed: N zones shed, M futile, K unavailable, at most C at once").

Futility: a zone's own power just before its first shed step of the episode (the power
in the update that takes the step) against its power in the first update at least
`confirm` s later. A fall of less than `futility_kw` makes it futile: setup back to 0 at
once (not staggered: it did nothing), not shed again this episode, an Action "futile"
says so. Either power unknown (None or not finite): not judged futile, counted as
"futility_unknown". Judged in any state, before that update's step, so a futile zone's
place is used by the next step.

Link loss: a shed zone that is unavailable (or missing) in an update has its setup
dropped at once: it leaves setups() (the runtime releases its leases on link loss and
reports that as "link_lost") and no longer counts as shed; it gets no Action, only the
count "dropped_unavailable". When it comes back it is a zone not shed, with a new first
shed step (and futility judgement) if it is shed again.

Actions say what changed in an update: "shed" (setup_k = the new setup), "release" and
"futile" (setup_k = 0.0), "nothing_left" (zone "", setup_k 0.0); `state` is the state the
limiter was in when it acted. counts: "episodes", "sheds" (zone steps), "releases",
"futile", "futility_unknown", "nothing_left", "dropped_unavailable".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SNAPSHOT_VERSION = 1
STATES = ("inactive", "curtail", "holding", "releasing")
KINDS = ("shed", "release", "futile", "nothing_left")
COUNTS = (
    "episodes",
    "sheds",
    "releases",
    "futile",
    "futility_unknown",
    "nothing_left",
    "dropped_unavailable",
)
_SLACK = 1e-9  # floor(share * n) of e.g. 0.7 * 10 must be 7, not 6


@dataclass(frozen=True)
class Load:
    """One sheddable HVAC zone."""

    zone: str  # device id
    priority: int  # shed order: 1 is shed first; release goes in reverse order
    max_setup_k: float = 2.0  # the most its cooling setpoint is raised for demand


@dataclass(frozen=True)
class LimiterConfig:
    loads: tuple[Load, ...]
    step_k: float = 0.5  # setup added per zone per shed step
    max_zones_per_step: int = 2  # cap per step
    max_shed_share: float = 0.5  # never more than this share of the loads shed at once
    confirm: float = 300.0  # s after a step before judging it / taking the next
    hold: float = 900.0  # s under the limit (not at risk) before releasing
    stagger: float = 300.0  # s between successive releases
    futility_kw: float = 0.3  # a zone whose own power fell by less than this is futile

    def __post_init__(self) -> None:
        def bad(msg: str) -> ValueError:
            return ValueError(f"limiter config: {msg}")

        def number(name: str, value: object) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad(f"{name} {value!r} is not a number")
            if not math.isfinite(value):
                raise bad(f"{name} {value!r} is not finite")
            return float(value)

        if not isinstance(self.loads, tuple):
            raise bad(f"loads must be a tuple of Load, not {type(self.loads).__name__}")
        step = number("step_k", self.step_k)
        if step <= 0:
            raise bad(f"step_k {self.step_k!r} must be > 0")
        k = self.max_zones_per_step
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise bad(f"max_zones_per_step {k!r} must be a whole number >= 1")
        share = number("max_shed_share", self.max_shed_share)
        if not 0 < share <= 1:
            raise bad(f"max_shed_share {self.max_shed_share!r} must be in (0, 1]")
        if number("confirm", self.confirm) <= 0:
            raise bad(f"confirm {self.confirm!r} must be > 0 s")
        for name in ("hold", "stagger", "futility_kw"):
            if number(name, getattr(self, name)) < 0:
                raise bad(f"{name} {getattr(self, name)!r} must be >= 0")
        seen: set[str] = set()
        for i, load in enumerate(self.loads):
            where = f"loads[{i}]"
            if not isinstance(load, Load):
                raise bad(f"{where} is a {type(load).__name__}, not a Load")
            if not isinstance(load.zone, str) or not load.zone:
                raise bad(f"{where}.zone {load.zone!r} must be a non-empty string")
            if load.zone in seen:
                raise bad(f"{where}.zone {load.zone!r} appears twice; zones must be unique")
            seen.add(load.zone)
            p = load.priority
            if isinstance(p, bool) or not isinstance(p, int) or p < 1:
                raise bad(f"{where}.priority {p!r} ({load.zone}) must be a whole number >= 1")
            top = number(f"{where}.max_setup_k", load.max_setup_k)
            if top < step:
                raise bad(
                    f"{where}.max_setup_k {load.max_setup_k!r} ({load.zone}) is below "
                    f"step_k {self.step_k!r}"
                )

    def max_shed(self) -> int:
        """The most zones shed at once: floor(share * loads), at least 1 if any load."""
        n = len(self.loads)
        return 0 if n == 0 else max(1, math.floor(self.max_shed_share * n + _SLACK))


@dataclass(frozen=True)
class DemandView:
    """From DemandRule after each feed/tick."""

    at_risk: bool
    over: bool
    predicted_kw: float | None
    limit_kw: float


@dataclass(frozen=True)
class ZoneView:
    """From the zone's latest polled values."""

    available: bool  # polled OK recently (link up)
    power_kw: float | None  # the zone's own active_power


@dataclass(frozen=True)
class Action:
    """What changed; the runtime turns it into events."""

    kind: str  # "shed" | "release" | "futile" | "nothing_left"
    zone: str
    setup_k: float
    reason: str
    state: str


@dataclass
class _Zone:
    """What the limiter keeps about one load."""

    setup: float = 0.0
    last_increase: float | None = None
    first_shed_at: float | None = None  # this shed's first step (None: not shed)
    power_before: float | None = None  # the zone's power in that update
    judged: bool = False  # futility judged for this shed
    futile: bool = False  # this episode


def _power(view: ZoneView | None) -> float | None:
    if view is None or view.power_kw is None:
        return None
    p = view.power_kw
    if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p):
        return None
    return float(p)


def _kw(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} kW"


class DemandLimiter:
    def __init__(self, config: LimiterConfig) -> None:
        self.config = config
        self.state = "inactive"
        self.counts: dict[str, int] = dict.fromkeys(COUNTS, 0)
        self._zones = {load.zone: _Zone() for load in config.loads}
        self._index = {load.zone: i for i, load in enumerate(config.loads)}
        self._shed_order = sorted(config.loads, key=lambda ld: (ld.priority, self._index[ld.zone]))
        self._last_now: float | None = None
        self._last_step: float | None = None  # last shed step, any episode
        self._last_release: float | None = None  # last staggered release, any episode
        self._fine_since: float | None = None  # start of holding
        self._said_nothing_left = False  # this episode

    # ---- reading -------------------------------------------------------------------

    def setups(self) -> dict[str, float]:
        """Zone -> K above its default asked for now (zones with a setup only)."""
        return {z: s.setup for z, s in self._zones.items() if s.setup > 0}

    # ---- the update ----------------------------------------------------------------

    def update(self, now: float, demand: DemandView, zones: Mapping[str, ZoneView]) -> list[Action]:
        """Advance to `now` with the latest demand and zone views; return what changed."""
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise ValueError(f"limiter update: now {now!r} is not a finite epoch time")
        if self._last_now is not None and now < self._last_now:
            raise ValueError(
                f"limiter update: now {now!r} is before the previous update's {self._last_now!r}"
            )
        self._last_now = float(now)
        out: list[Action] = []
        self._drop_unavailable(zones)
        self._judge_futility(now, zones, out)
        if demand.at_risk or demand.over:
            if self.state == "inactive":
                self._start_episode()
            self.state = "curtail"
            self._fine_since = None
            if self._last_step is None or now - self._last_step >= self.config.confirm:
                self._step(now, demand, zones, out)
            return out
        if self.state == "curtail":
            self.state, self._fine_since = "holding", float(now)
        if self.state == "holding":
            assert self._fine_since is not None
            if now - self._fine_since >= self.config.hold:
                self.state = "releasing"
        if self.state == "releasing":
            self._release(now, out)
            if not self.setups():
                self.state, self._fine_since = "inactive", None
        return out

    def _start_episode(self) -> None:
        self.counts["episodes"] += 1
        self._said_nothing_left = False
        for z in self._zones.values():
            z.futile = False

    def _drop_unavailable(self, zones: Mapping[str, ZoneView]) -> None:
        for name, z in self._zones.items():
            view = zones.get(name)
            if z.setup > 0 and (view is None or not view.available):
                self._clear(z)
                self.counts["dropped_unavailable"] += 1

    @staticmethod
    def _clear(z: _Zone) -> None:
        z.setup, z.first_shed_at, z.power_before, z.judged = 0.0, None, None, False

    def _judge_futility(self, now: float, zones: Mapping[str, ZoneView], out: list[Action]) -> None:
        cfg = self.config
        for name, z in self._zones.items():
            if z.setup <= 0 or z.judged or z.first_shed_at is None:
                continue
            waited = now - z.first_shed_at
            if waited < cfg.confirm:
                continue
            z.judged = True
            before, after = z.power_before, _power(zones.get(name))
            if before is None or after is None:
                self.counts["futility_unknown"] += 1
                continue
            fall = before - after
            if fall >= cfg.futility_kw:
                continue
            self._clear(z)
            z.futile = True
            self.counts["futile"] += 1
            out.append(
                Action(
                    "futile",
                    name,
                    0.0,
                    f"its power fell {fall:.2f} kW ({_kw(before)} -> {_kw(after)}) in "
                    f"{waited:.0f} s after its first shed step, less than {cfg.futility_kw:g} "
                    "kW: released, not shed again this episode",
                    self.state,
                )
            )

    def _step(
        self, now: float, demand: DemandView, zones: Mapping[str, ZoneView], out: list[Action]
    ) -> None:
        cfg = self.config
        cap = cfg.max_shed()

        def usable(name: str) -> bool:
            view = zones.get(name)
            return view is not None and bool(view.available) and not self._zones[name].futile

        chosen: list[Load] = [
            ld
            for ld in self._shed_order
            if self._zones[ld.zone].setup > 0
            and self._zones[ld.zone].setup < ld.max_setup_k
            and usable(ld.zone)
        ][: cfg.max_zones_per_step]
        shed = len(self.setups())
        for ld in self._shed_order:
            if len(chosen) >= cfg.max_zones_per_step or shed >= cap:
                break
            if self._zones[ld.zone].setup == 0 and usable(ld.zone):
                chosen.append(ld)
                shed += 1
        if not chosen:
            self._nothing_left(zones, out)
            return
        self._last_step = float(now)
        why = "demand over the limit" if demand.over else "demand at risk"
        for ld in chosen:
            z = self._zones[ld.zone]
            if z.setup == 0:
                z.first_shed_at, z.power_before, z.judged = (
                    float(now),
                    _power(zones[ld.zone]),
                    False,
                )
            z.setup = min(ld.max_setup_k, round(z.setup + cfg.step_k, 9))
            z.last_increase = float(now)
            self.counts["sheds"] += 1
            out.append(
                Action(
                    "shed",
                    ld.zone,
                    z.setup,
                    f"{why} (predicted {_kw(demand.predicted_kw)}, limit "
                    f"{demand.limit_kw:g} kW): setup +{cfg.step_k:g} K to {z.setup:g} K "
                    f"(priority {ld.priority}, max {ld.max_setup_k:g} K)",
                    self.state,
                )
            )

    def _nothing_left(self, zones: Mapping[str, ZoneView], out: list[Action]) -> None:
        if self._said_nothing_left:
            return
        self._said_nothing_left = True
        self.counts["nothing_left"] += 1
        shed = len(self.setups())
        futile = sum(1 for z in self._zones.values() if z.futile)
        down = sum(1 for n in self._zones if zones.get(n) is None or not zones[n].available)
        out.append(
            Action(
                "nothing_left",
                "",
                0.0,
                f"nothing left to shed: {shed} zones shed, {futile} futile, {down} unavailable"
                f", at most {self.config.max_shed()} at once",
                self.state,
            )
        )

    def _release(self, now: float, out: list[Action]) -> None:
        cfg = self.config
        if self._last_release is not None and now - self._last_release < cfg.stagger:
            return
        for ld in reversed(self._shed_order):
            z = self._zones[ld.zone]
            if z.setup <= 0:
                continue
            was = z.setup
            self._clear(z)
            self._last_release = float(now)
            self.counts["releases"] += 1
            assert self._fine_since is not None
            out.append(
                Action(
                    "release",
                    ld.zone,
                    0.0,
                    f"demand fine for {now - self._fine_since:.0f} s (hold {cfg.hold:g} s): "
                    f"setup {was:g} K back to 0, one zone every {cfg.stagger:g} s, "
                    f"highest priority number first (priority {ld.priority})",
                    self.state,
                )
            )
            return

    # ---- restarts ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state; `restore` with the same config continues identically."""
        return {
            "version": SNAPSHOT_VERSION,
            "state": self.state,
            "counts": dict(self.counts),
            "last_now": self._last_now,
            "last_step": self._last_step,
            "last_release": self._last_release,
            "fine_since": self._fine_since,
            "said_nothing_left": self._said_nothing_left,
            "zones": {
                name: {
                    "setup": z.setup,
                    "last_increase": z.last_increase,
                    "first_shed_at": z.first_shed_at,
                    "power_before": z.power_before,
                    "judged": z.judged,
                    "futile": z.futile,
                }
                for name, z in self._zones.items()
            },
        }

    @classmethod
    def restore(cls, config: LimiterConfig, snap: Mapping[str, Any]) -> DemandLimiter:
        """A limiter from `snapshot()`. Zones no longer in `config` are left out (the
        runtime's leases cover them); zones new in `config` start not shed."""

        def bad(msg: str) -> ValueError:
            return ValueError(f"limiter snapshot: {msg}")

        if not isinstance(snap, Mapping):
            raise bad(f"expected a mapping, got {type(snap).__name__}")
        if snap.get("version") != SNAPSHOT_VERSION:
            raise bad(f"version {snap.get('version')!r}, expected {SNAPSHOT_VERSION}")
        lim = cls(config)
        try:
            state = snap["state"]
            if state not in STATES:
                raise bad(f"state {state!r} is not one of {', '.join(STATES)}")
            lim.state = state
            for key, value in dict(snap["counts"]).items():
                lim.counts[str(key)] = int(value)
            lim._last_now = _opt(snap["last_now"], "last_now")
            lim._last_step = _opt(snap["last_step"], "last_step")
            lim._last_release = _opt(snap["last_release"], "last_release")
            lim._fine_since = _opt(snap["fine_since"], "fine_since")
            lim._said_nothing_left = bool(snap["said_nothing_left"])
            for name, z in dict(snap["zones"]).items():
                if name not in lim._zones:
                    continue
                where = f"zones.{name}"
                lim._zones[name] = _Zone(
                    setup=float(z["setup"]),
                    last_increase=_opt(z["last_increase"], f"{where}.last_increase"),
                    first_shed_at=_opt(z["first_shed_at"], f"{where}.first_shed_at"),
                    power_before=_opt(z["power_before"], f"{where}.power_before"),
                    judged=bool(z["judged"]),
                    futile=bool(z["futile"]),
                )
        except KeyError as exc:
            raise bad(f"missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            if str(exc).startswith("limiter snapshot"):
                raise
            raise bad(str(exc)) from exc
        top = {ld.zone: ld.max_setup_k for ld in config.loads}
        for name, z in lim._zones.items():
            z.setup = min(z.setup, top[name])  # a lowered max_setup_k applies at once
        if lim.state in ("holding", "releasing") and lim._fine_since is None:
            raise bad(f"state {lim.state!r} without fine_since")
        return lim


def _opt(value: object, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"limiter snapshot: {name} {value!r} is not a number")
    return float(value)
