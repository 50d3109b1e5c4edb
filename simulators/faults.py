"""Fault injection for simulated devices, per unit, switchable while the simulator runs.

Kinds: no_answer (silence), exception=N (answer Modbus exception N, e.g. 2, 4, 6),
slow=SECONDS or slow=MIN-MAX (answer late; a range draws each delay at random, so some
answers come in time and some after the client's timeout), split=SECONDS (send the
answer's header, pause, then the rest: a timeout in the middle of a frame), drop (close
the TCP connection), illegal_point=NAME (the registers of one point answer ILLEGAL DATA
ADDRESS, as on a model variant without it), ignore_writes (a write gets the normal
success echo but changes nothing, as a controller in local/hand mode silently ignores the
BMS; reads answer normally). Append ",every=N" to hit only every Nth request of the unit
(e.g. 7:split=0.5,every=3).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from device_profiles.addressing import parse_units

KINDS = ("no_answer", "exception", "slow", "split", "drop", "illegal_point", "ignore_writes")

# The --fault help of every steward-sim subcommand that serves Modbus.
FAULT_HELP = (
    "UNITS:KIND[,every=N], kinds no_answer, drop, exception=N, slow=SECONDS, "
    "slow=MIN-MAX (random delay per answer), split=SECONDS (header, pause, rest), "
    "illegal_point=NAME, ignore_writes (writes answered OK but change nothing); "
    "every=N hits only every Nth request"
)
FAULT_FILE_HELP = (
    "a file of fault specs, one per line as for --fault (# comments); re-read when it"
    " changes (checked every 0.5 s), its faults replace those it set before; empty or"
    " absent: none from the file; a bad line is reported and the faults stay"
)


@dataclass(frozen=True)
class Fault:
    kind: str  # one of KINDS
    code: int = 0
    delay: float = 0.0
    delay_max: float = 0.0  # slow=MIN-MAX: each delay drawn uniformly from [delay, delay_max]
    point: str = ""
    every: int = 1  # hit every Nth request of the unit only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.every < 1:
            raise ValueError(f"fault {self.kind}: every must be 1 or more, got {self.every}")
        if self.delay < 0 or (self.delay_max and self.delay_max < self.delay):
            raise ValueError(f"fault {self.kind}: bad delay {self.delay}-{self.delay_max}")

    def pick_delay(self, rng: random.Random) -> float:
        if self.delay_max > self.delay:
            return rng.uniform(self.delay, self.delay_max)
        return self.delay

    def describe(self) -> str:
        delay = f"={self.delay:g}" + (f"-{self.delay_max:g}" if self.delay_max else "")
        extra = {
            "exception": f"={self.code}",
            "slow": delay,
            "split": delay,
            "illegal_point": f"={self.point}",
        }.get(self.kind, "")
        return self.kind + extra + (f",every={self.every}" if self.every > 1 else "")


_USAGE = (
    "kind must be no_answer, drop, ignore_writes, exception=CODE, slow=SECONDS, "
    "slow=MIN-MAX, split=SECONDS or illegal_point=POINT, optionally followed by ,every=N"
)


def parse_fault(spec: str) -> tuple[list[int], Fault]:
    """'7:no_answer', '8-9:exception=6', '10:slow=2.5', '10:slow=0.1-0.5', '11:drop',
    '12:illegal_point=frequency', '13:split=0.5,every=3', '5:ignore_writes'."""
    try:
        units_part, kind_part = spec.split(":", 1)
    except ValueError:
        raise ValueError(
            f"fault {spec!r}: write UNITS:KIND, e.g. 7:no_answer or 8-9:exception=6"
        ) from None
    units = parse_units(units_part)
    kind_part, _, every_part = kind_part.partition(",")
    every = 1
    if every_part:
        key, _, value = every_part.partition("=")
        if key.strip() != "every" or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"fault {spec!r}: after the kind write ,every=N (N >= 1)")
        every = int(value)
    kind, _, arg = kind_part.partition("=")
    kind, arg = kind.strip(), arg.strip()
    if kind in ("no_answer", "drop", "ignore_writes") and not arg:
        return units, Fault(kind, every=every)
    if kind == "exception" and arg.isdigit():
        return units, Fault(kind, code=int(arg), every=every)
    if kind in ("slow", "split") and arg:
        low, _, high = arg.partition("-")
        try:
            if kind == "split" and high:
                raise ValueError
            delay = float(low)
            delay_max = float(high) if high else 0.0
            return units, Fault(kind, delay=delay, delay_max=delay_max, every=every)
        except ValueError:
            pass
    if kind == "illegal_point" and arg:
        return units, Fault(kind, point=arg)
    raise ValueError(f"fault {spec!r}: {_USAGE}")


class FaultTable:
    """Which unit misbehaves how, right now."""

    def __init__(self, seed: int = 1) -> None:
        self._faults: dict[int, Fault] = {}
        self._seen: Counter = Counter()  # requests per unit since its fault was set
        self.rng = random.Random(seed)  # random delays repeat from run to run

    def set(self, unit: int, fault: Fault) -> None:
        self._faults[unit] = fault
        self._seen[unit] = 0

    def clear(self, unit: int | None = None) -> None:
        if unit is None:
            self._faults.clear()
        else:
            self._faults.pop(unit, None)

    def get(self, unit: int) -> Fault | None:
        return self._faults.get(unit)

    def for_request(self, unit: int) -> Fault | None:
        """The fault that hits this request of `unit` (counts it, for every=N)."""
        fault = self._faults.get(unit)
        if fault is None:
            return None
        self._seen[unit] += 1
        return fault if self._seen[unit] % fault.every == 0 else None

    def active(self) -> dict[int, Fault]:
        return dict(self._faults)
