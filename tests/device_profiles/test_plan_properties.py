"""Properties of the request planner over random point sets and quirks."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from device_profiles import CANONICAL_METER_POINTS, Point, Quirks, load
from device_profiles.schema import BIT_TABLES, REGISTER_COUNT
from edge.acquire.modbus.plan import ReadRequest, plan_requests, summarize

REGISTER_TYPES = sorted(REGISTER_COUNT)


@st.composite
def points_strategy(draw: st.DrawFn, tables: list[str], spread: int) -> Point:
    table = draw(st.sampled_from(tables))
    # Cluster addresses near a few bases so that gaps and limits actually bite; the top
    # base tests the end of the 16-bit address space.
    base = draw(st.sampled_from([0, 100, 0x2000, 0xFFF0]))
    if table in BIT_TABLES:
        address = min(base + draw(st.integers(0, 16 * spread)), 0xFFFF)
        return Point(table=table, address=address, type="bit")
    kind = draw(st.sampled_from(["number", "number", "number", "bit", "string"]))
    if kind == "bit":
        address = min(base + draw(st.integers(0, spread)), 0xFFFF)
        return Point(table=table, address=address, type="bit", bit=draw(st.integers(0, 15)))
    if kind == "string":
        length = draw(st.integers(1, 12))
        address = min(base + draw(st.integers(0, spread)), 0x10000 - length)
        return Point(table=table, address=address, type="string", length=length)
    type_ = draw(st.sampled_from(REGISTER_TYPES))
    size = REGISTER_COUNT[type_]
    address = min(base + draw(st.integers(0, spread)), 0x10000 - size)
    order = draw(st.sampled_from(["ABCD", "CDAB", "BADC", "DCBA"]))
    return Point(table=table, address=address, type=type_, order=order)


quirks_strategy = st.builds(
    Quirks,
    max_registers_per_request=st.one_of(st.integers(12, 125), st.just(125), st.integers(1, 125)),
    max_bits_per_request=st.one_of(st.integers(1, 2000), st.integers(1, 40)),
    max_gap=st.one_of(st.just(0), st.integers(0, 10), st.integers(0, 125)),
    one_request_per_point=st.booleans(),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Point], Quirks, set[str]]:
    tables = draw(
        st.lists(st.sampled_from(["holding", "input", "coil", "discrete"]), min_size=1, max_size=4)
    )
    spread = draw(st.sampled_from([8, 30, 60, 200]))
    names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
    points = draw(st.dictionaries(names, points_strategy(tables, spread), max_size=40))
    quirks = draw(quirks_strategy)
    exclude = draw(st.sets(st.sampled_from(sorted(points)))) if points else set()
    return points, quirks, exclude


def _limit(request: ReadRequest, quirks: Quirks) -> int:
    return quirks.max_bits_per_request if request.is_bits else quirks.max_registers_per_request


def _gap(request: ReadRequest, quirks: Quirks) -> int:
    return quirks.max_gap * 16 if request.is_bits else quirks.max_gap


def _fits(points: dict[str, Point], quirks: Quirks) -> bool:
    return all(
        p.size
        <= (
            quirks.max_bits_per_request
            if p.table in BIT_TABLES
            else quirks.max_registers_per_request
        )
        for p in points.values()
    )


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_plan_properties(scenario: tuple[dict[str, Point], Quirks, set[str]]) -> None:
    points, quirks, exclude = scenario
    included = {n: p for n, p in points.items() if n not in exclude}
    assume(_fits(included, quirks))
    requests = plan_requests(points, quirks, exclude)

    seen: list[str] = []
    for r in requests:
        assert r.count >= 1
        # Never more than the device accepts in one read.
        assert r.count <= _limit(r, quirks)
        # Never past the end of the 16-bit address space.
        assert r.address + r.count <= 0x10000
        ranges = []
        for pp in r.points:
            seen.append(pp.name)
            # Tables are never mixed, and each point lies entirely inside its request.
            assert pp.point.table == r.table
            assert pp.point is points[pp.name]
            assert pp.offset == pp.point.address - r.address
            assert pp.offset >= 0 and pp.offset + pp.point.size <= r.count
            ranges.append((pp.offset, pp.offset + pp.point.size))
        # The read starts at its first point and ends at its last: no wasted edges.
        assert min(a for a, _ in ranges) == 0
        assert max(b for _, b in ranges) == r.count
        # Holes between covered ranges are at most max_gap (x16 for bit tables).
        ranges.sort()
        end = ranges[0][1]
        for start, stop in ranges[1:]:
            assert start - end <= _gap(r, quirks), (r.describe(), ranges)
            end = max(end, stop)
        if quirks.one_request_per_point:
            assert len(r.points) == 1

    # Every included point exactly once; excluded points never.
    assert sorted(seen) == sorted(included)
    assert not set(seen) & exclude
    if quirks.one_request_per_point:
        assert len(requests) == len(included)
    summary = summarize(requests)
    assert summary.points == len(included)
    assert summary.registers_used <= summary.registers_read


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_plan_is_greedy_maximal(scenario: tuple[dict[str, Point], Quirks, set[str]]) -> None:
    """A request ends only when the next point of its table could not have joined it."""
    points, quirks, exclude = scenario
    assume(not quirks.one_request_per_point)
    assume(_fits({n: p for n, p in points.items() if n not in exclude}, quirks))
    requests = plan_requests(points, quirks, exclude)
    for before, after in itertools.pairwise(requests):
        if before.table != after.table:
            continue
        first = after.points[0].point
        end = before.address + before.count
        too_far = first.address - end > _gap(before, quirks)
        too_long = max(end, first.address + first.size) - before.address > _limit(before, quirks)
        assert too_far or too_long, (before.describe(), after.describe())


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_point_order(
    scenario: tuple[dict[str, Point], Quirks, set[str]], rnd: random.Random
) -> None:
    points, quirks, exclude = scenario
    assume(_fits({n: p for n, p in points.items() if n not in exclude}, quirks))
    items = list(points.items())
    rnd.shuffle(items)
    assert plan_requests(dict(items), quirks, exclude) == plan_requests(points, quirks, exclude)


def test_point_larger_than_a_request_is_an_error() -> None:
    points = {"serial": Point(table="holding", address=0, type="string", length=20)}
    with pytest.raises(ValueError, match="serial needs 20 registers"):
        plan_requests(points, Quirks(max_registers_per_request=10))
    # ... unless it is excluded.
    assert plan_requests(points, Quirks(max_registers_per_request=10), exclude={"serial"}) == []


def test_empty_point_set_plans_nothing() -> None:
    assert plan_requests({}, Quirks()) == []


@pytest.mark.parametrize("max_gap", [0, 1, 7, 100])
def test_gap_boundary(max_gap: int) -> None:
    """A hole of exactly max_gap is read through; one register more splits the read."""

    def plan(hole: int) -> list[tuple[int, int]]:
        points = {
            "a": Point(table="holding", address=10, type="f32"),
            "b": Point(table="holding", address=12 + hole, type="u16"),
        }
        return [(r.address, r.count) for r in plan_requests(points, Quirks(max_gap=max_gap))]

    assert plan(max_gap) == [(10, 3 + max_gap)]
    assert plan(max_gap + 1) == [(10, 2), (13 + max_gap, 1)]


@pytest.mark.parametrize("limit", [1, 2, 10, 125])
def test_request_size_boundary(limit: int) -> None:
    """limit registers fit in one read; the next register starts a new one."""
    points = {f"r{i:03}": Point(table="input", address=i, type="u16") for i in range(limit + 1)}
    requests = plan_requests(points, Quirks(max_registers_per_request=limit))
    assert [(r.address, r.count) for r in requests] == [(0, limit), (limit, 1)]
    bits = {f"c{i:03}": Point(table="discrete", address=i, type="bit") for i in range(limit + 1)}
    requests = plan_requests(bits, Quirks(max_bits_per_request=limit))
    assert [(r.address, r.count, r.function) for r in requests] == [(0, limit, 2), (limit, 1, 2)]


def test_bit_gap_is_sixteen_bits_per_register_of_max_gap() -> None:
    coils = {
        "a": Point(table="coil", address=0, type="bit"),
        "b": Point(table="coil", address=17, type="bit"),  # hole of 16 bits
        "c": Point(table="coil", address=35, type="bit"),  # hole of 17 bits
    }
    requests = plan_requests(coils, Quirks(max_gap=1))
    assert [(r.address, r.count) for r in requests] == [(0, 18), (35, 1)]
    assert requests[0].function == 1


def test_dtsu666_all_canonical_points_in_at_most_three_requests() -> None:
    profile = load("chint/dtsu666")
    canonical = {n: p for n, p in profile.points.items() if n in CANONICAL_METER_POINTS}
    assert set(canonical) == set(CANONICAL_METER_POINTS)
    requests = plan_requests(canonical, profile.quirks)
    assert len(requests) <= 3
    assert {r.function for r in requests} == {3}
