"""Is the edge's wall clock right? Checked at start and all the time, against a floor and
against the central API's clock (the ``Date`` header of each of its answers).

An edge box without a battery-backed clock or NTP boots in 1970; one with a bad RTC can
be years off. Every record stamped by such a clock is wrong, and the API refuses it (or,
worse, stores it at the wrong time). The guard says when the clock cannot be trusted,
and the agent then holds what it stamps (``edge/clock_hold.py``) instead of sending it.

States:
- ``unset``: the wall clock is before ``floor`` (default 2024-01-01, before this code
  was written): no API answer needed to know it is wrong.
- ``skewed``: the wall clock is more than ``max_skew`` seconds from the API's clock.
- ``unchecked``: no API answer seen since this boot (only when an API is configured).
- ``ok``.

The API's time is carried forward with the boot clock (CLOCK_BOOTTIME, which counts
suspend and is never stepped), so the check goes on between answers and sees the wall
clock being stepped (by NTP, by hand) at once. The same link proves a held record's true
time: a record held at boot-clock instant ``b`` in this boot happened at
``api_time + (b - observed_boot)``, whatever the wall clock said (see
:meth:`ClockGuard.true_time`); a record held in an earlier boot cannot be proven.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

log = logging.getLogger("steward.edge")

CLOCK_FLOOR = 1_704_067_200.0  # 2024-01-01T00:00:00Z
DEFAULT_MAX_SKEW = 300.0  # seconds; the HTTP Date header alone has 1 s resolution
# A boot clock drifts from true time like any quartz: allow 100 ppm on top of the
# measurement's own uncertainty when carrying the API's time forward.
_DRIFT = 1e-4
_RECHECK_AFTER = 600.0  # seconds without an API answer before the uplink asks again


def boot_clock() -> float:
    """Seconds since boot, counting suspend; never stepped."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


def current_boot_id() -> str:
    """This boot's id (Linux); elsewhere an id of this process, so proofs stay in it."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return f"process-{os.getpid()}-{uuid.uuid4()}"


def parse_http_date(value: str | None) -> float | None:
    """An HTTP ``Date`` header as POSIX seconds (None if absent or unreadable)."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp()


@dataclass(frozen=True, slots=True)
class Observation:
    api_time: float  # the API's clock at boot-clock instant `boot`
    boot: float
    uncertainty: float  # seconds, either way


class ClockGuard:
    """Judges the wall clock that stamps records; fed with the API's ``Date`` headers."""

    def __init__(
        self,
        *,
        floor: float = CLOCK_FLOOR,
        max_skew: float = DEFAULT_MAX_SKEW,
        require_check: bool = False,
        wall: Callable[[], float] = time.time,
        boot: Callable[[], float] = boot_clock,
        boot_id: str | None = None,
    ) -> None:
        if max_skew <= 0:
            raise ValueError(f"max_skew must be positive, not {max_skew}")
        self.floor = floor
        self.max_skew = max_skew
        self.require_check = require_check
        self.wall = wall
        self.boot = boot
        self.boot_id = boot_id or current_boot_id()
        self.observation: Observation | None = None
        self.observations = 0
        self.unusable_dates = 0

    # ------------------------------------------------------------------ input

    def observe(self, date_header: str | None, sent_boot: float, received_boot: float) -> None:
        """One API answer: its ``Date`` header, and the boot clock when the request was sent
        and its answer received."""
        api = parse_http_date(date_header)
        if api is None or received_boot < sent_boot:
            self.unusable_dates += 1
            return
        # Date is truncated to the second: the true instant is up to 1 s after it; the
        # answer was stamped somewhere between sending and receiving.
        candidate = Observation(
            api_time=api + 0.5,
            boot=(sent_boot + received_boot) / 2,
            uncertainty=0.5 + (received_boot - sent_boot) / 2,
        )
        current = self.observation
        # Keep the sharper one unless it is old (its carried-forward error grows).
        if current is None or candidate.uncertainty <= self._uncertainty(current, candidate.boot):
            self.observation = candidate
        self.observations += 1

    def _uncertainty(self, obs: Observation, at_boot: float) -> float:
        return obs.uncertainty + abs(at_boot - obs.boot) * _DRIFT

    # ------------------------------------------------------------------ judgement

    def api_now(self) -> float | None:
        """The API's clock now, carried forward from the last answer (None: none yet)."""
        obs = self.observation
        if obs is None:
            return None
        return obs.api_time + (self.boot() - obs.boot)

    def offset(self) -> float | None:
        """API clock minus the wall clock, seconds (None: no API answer in this boot)."""
        now = self.api_now()
        return None if now is None else now - self.wall()

    def state(self) -> str:
        if self.wall() < self.floor:
            return "unset"
        offset = self.offset()
        if offset is None:
            return "unchecked"
        if abs(offset) > self.max_skew:
            return "skewed"
        return "ok"

    def holding(self) -> bool:
        """Must what the wall clock stamps now be held rather than sent?"""
        state = self.state()
        return state in ("unset", "skewed") or (state == "unchecked" and self.require_check)

    def needs_check(self) -> bool:
        """True when the uplink should ask the API for its time (no recent answer)."""
        obs = self.observation
        return obs is None or self.boot() - obs.boot > _RECHECK_AFTER

    def describe(self) -> str:
        state = self.state()
        wall = self.wall()
        offset = self.offset()
        if state == "unset":
            return (
                f"UNSET: the wall clock says {_iso(wall)}, before {_iso(self.floor)} (no RTC "
                "or NTP?); records are held, not sent"
            )
        if state == "skewed":
            assert offset is not None
            side = "behind" if offset > 0 else "ahead of"
            return (
                f"WRONG: the wall clock is {abs(offset):.0f} s {side} the API's clock (more "
                f"than {self.max_skew:g} s); records are held, not sent"
            )
        if state == "unchecked":
            held = "records are held until it is" if self.require_check else "not held"
            return f"not checked against the API yet ({held})"
        assert offset is not None
        side = "behind" if offset > 0 else "ahead of"
        return f"ok ({abs(offset):.1f} s {side} the API's clock)"

    def true_time(self, held_boot: float, held_boot_id: str) -> tuple[float, float] | None:
        """(the API's clock, uncertainty) at boot-clock instant ``held_boot`` of boot
        ``held_boot_id``; None when it cannot be proven (another boot, or no answer yet)."""
        obs = self.observation
        if obs is None or held_boot_id != self.boot_id:
            return None
        return obs.api_time + (held_boot - obs.boot), self._uncertainty(obs, held_boot)

    def as_dict(self) -> dict:
        obs = self.observation
        return {
            "state": self.state(),
            "describe": self.describe(),
            "wall": self.wall(),
            "floor": self.floor,
            "max_skew": self.max_skew,
            "offset": self.offset(),
            "uncertainty": None if obs is None else self._uncertainty(obs, self.boot()),
            "observations": self.observations,
        }


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
