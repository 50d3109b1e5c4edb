"""Fault injection for simulated devices, per unit, switchable while the simulator runs.

Kinds: no_answer (silence), exception=N (answer Modbus exception N, e.g. 2, 4, 6),
slow=SECONDS (answer late), drop (close the TCP connection), illegal_point=NAME (the
registers of one point answer ILLEGAL DATA ADDRESS, as on a model variant without it).
"""

from __future__ import annotations

from dataclasses import dataclass

from device_profiles.addressing import parse_units


@dataclass(frozen=True)
class Fault:
    kind: str  # no_answer | exception | slow | drop | illegal_point
    code: int = 0
    delay: float = 0.0
    point: str = ""

    def describe(self) -> str:
        extra = {
            "exception": f"={self.code}",
            "slow": f"={self.delay:g}",
            "illegal_point": f"={self.point}",
        }.get(self.kind, "")
        return self.kind + extra


def parse_fault(spec: str) -> tuple[list[int], Fault]:
    """'7:no_answer', '8-9:exception=6', '10:slow=2.5', '11:drop', '12:illegal_point=frequency'."""
    try:
        units_part, kind_part = spec.split(":", 1)
    except ValueError:
        raise ValueError(
            f"fault {spec!r}: write UNITS:KIND, e.g. 7:no_answer or 8-9:exception=6"
        ) from None
    units = parse_units(units_part)
    kind, _, arg = kind_part.partition("=")
    kind = kind.strip()
    if kind in ("no_answer", "drop") and not arg:
        return units, Fault(kind)
    if kind == "exception" and arg.strip().isdigit():
        return units, Fault(kind, code=int(arg))
    if kind == "slow":
        try:
            return units, Fault(kind, delay=float(arg))
        except ValueError:
            pass
    if kind == "illegal_point" and arg:
        return units, Fault(kind, point=arg.strip())
    raise ValueError(
        f"fault {spec!r}: kind must be no_answer, drop, exception=CODE, slow=SECONDS "
        "or illegal_point=POINT"
    )


class FaultTable:
    """Which unit misbehaves how, right now."""

    def __init__(self) -> None:
        self._faults: dict[int, Fault] = {}

    def set(self, unit: int, fault: Fault) -> None:
        self._faults[unit] = fault

    def clear(self, unit: int | None = None) -> None:
        if unit is None:
            self._faults.clear()
        else:
            self._faults.pop(unit, None)

    def get(self, unit: int) -> Fault | None:
        return self._faults.get(unit)

    def active(self) -> dict[int, Fault]:
        return dict(self._faults)
