"""Request planning: a device's points -> the fewest Modbus reads that cover them. Pure.

Per register table, points are sorted and merged into one read while the span stays
within the request limit and the hole between neighbours is no wider than the profile's
max_gap (holes are read and thrown away). The planner knows nothing about sockets; the bus
runs whatever it returns and re-plans when a point is quarantined.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from device_profiles.schema import BIT_TABLES, Point, Quirks, RegisterTable

READ_FUNCTION: dict[str, int] = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}


@dataclass(frozen=True, slots=True)
class PlannedPoint:
    name: str
    point: Point
    offset: int  # registers (bits for coil/discrete) from the start of the request


@dataclass(frozen=True, slots=True)
class ReadRequest:
    table: RegisterTable
    address: int
    count: int  # registers, or bits for coil/discrete
    points: tuple[PlannedPoint, ...]

    @property
    def function(self) -> int:
        return READ_FUNCTION[self.table]

    @property
    def is_bits(self) -> bool:
        return self.table in BIT_TABLES

    @property
    def used(self) -> int:
        """Registers (bits) of this read that some point actually needs."""
        covered: set[int] = set()
        for p in self.points:
            covered.update(range(p.offset, p.offset + p.point.size))
        return len(covered)

    def describe(self) -> str:
        unit = "bits" if self.is_bits else "registers"
        names = ", ".join(p.name for p in self.points)
        return f"FC{self.function} {self.table} {self.address}+{self.count} {unit} -> {names}"


def plan_requests(
    points: Mapping[str, Point], quirks: Quirks, exclude: Collection[str] = ()
) -> list[ReadRequest]:
    """Cover every point not in exclude with the fewest reads the quirks allow."""
    by_table: dict[str, list[tuple[str, Point]]] = {}
    for name, point in points.items():
        if name not in exclude:
            by_table.setdefault(point.table, []).append((name, point))

    requests: list[ReadRequest] = []
    for table in ("holding", "input", "coil", "discrete"):
        members = sorted(
            by_table.get(table, ()), key=lambda np: (np[1].address, -np[1].size, np[0])
        )
        if not members:
            continue
        bits = table in BIT_TABLES
        limit = quirks.max_bits_per_request if bits else quirks.max_registers_per_request
        # max_gap is in registers; a register's worth of coils is 16 bits.
        max_gap = quirks.max_gap * 16 if bits else quirks.max_gap
        group: list[tuple[str, Point]] = []
        start = end = 0
        for name, point in members:
            if point.size > limit:
                raise ValueError(
                    f"point {name} needs {point.size} registers but the profile allows "
                    f"{limit} per request"
                )
            p_end = point.address + point.size
            fits = (
                group
                and not quirks.one_request_per_point
                and point.address - end <= max_gap
                and max(end, p_end) - start <= limit
            )
            if fits:
                group.append((name, point))
                end = max(end, p_end)
                continue
            if group:
                requests.append(_request(table, start, end, group))
            group, start, end = [(name, point)], point.address, p_end
        requests.append(_request(table, start, end, group))
    return requests


def _request(table: str, start: int, end: int, group: list[tuple[str, Point]]) -> ReadRequest:
    planned = tuple(PlannedPoint(n, p, p.address - start) for n, p in group)
    return ReadRequest(table, start, end - start, planned)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class PlanSummary:
    requests: int
    registers_read: int
    registers_used: int
    points: int


def summarize(requests: list[ReadRequest]) -> PlanSummary:
    return PlanSummary(
        requests=len(requests),
        registers_read=sum(r.count for r in requests),
        registers_used=sum(r.used for r in requests),
        points=sum(len(r.points) for r in requests),
    )
