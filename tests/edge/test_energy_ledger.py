"""The counter ledger (edge/energy/ledger.py): glitches, resets, rollovers, gaps, implausible jumps.

Data-driven: testcases_energy/<name>/input.json holds the rules and readings (and any
meter replacements [ts, old_final, new_initial], and a repair of one of the marks:
edge/energy/repairs.py), and expected.json what they book, computed by hand (its "why"
shows the arithmetic). A mark is [ts, flag, held, since].
"""

from __future__ import annotations

import itertools
import json
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_profiles.schema import Profile
from edge.acquire.modbus.decode import CompiledRequest
from edge.acquire.modbus.plan import plan_requests
from edge.energy import (
    Booking,
    CounterRules,
    CounterState,
    Entries,
    Flag,
    Mark,
    Replacement,
    feed,
    flag_names,
    repair,
    repair_entries,
    spread,
    wrap_of,
)
from edge.model import ReadingRecord, Sample

CASES_DIR = Path(__file__).parent / "testcases_energy"
DAY0 = 1699920000.0
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())


def _load(name: str) -> tuple[dict, dict]:
    case = CASES_DIR / name
    return (
        json.loads((case / "input.json").read_text()),
        json.loads((case / "expected.json").read_text()),
    )


def _approx_rows(rows: list) -> list:
    return [[pytest.approx(x, abs=1e-6) if isinstance(x, float) else x for x in r] for r in rows]


def _booking_rows(bookings: list[Booking]) -> list:
    return [[b.start, b.end, b.amount, flag_names(b.flags)] for b in bookings]


def _assert_spread(entries: Entries, expected: dict, why: str) -> None:
    for step, buckets in expected.items():
        got = spread(entries, int(step))
        assert {str(k): [v[0], v[1], flag_names(v[2])] for k, v in got.items()} == {
            k: _approx_rows([v])[0] for k, v in buckets.items()
        }, (step, why)


@pytest.mark.parametrize("name", CASES)
def test_counter_ledger_books_what_the_hand_computation_says(name: str) -> None:
    given_, expected = _load(name)
    why = expected["why"]
    rules = CounterRules(**given_["rules"])
    replacements = [Replacement(*r) for r in given_.get("replacements", [])]
    entries = feed(CounterState(), [tuple(r) for r in given_["readings"]], rules, replacements)

    marks = [[m.ts, flag_names(m.flag)[0], m.held, m.since] for m in entries.marks]
    assert _booking_rows(entries.bookings) == _approx_rows(expected["bookings"]), why
    assert marks == _approx_rows(expected["marks"]), why
    assert sum(b.amount for b in entries.bookings) == pytest.approx(expected["booked"], abs=1e-6)
    _assert_spread(entries, expected.get("spread", {}), why)

    if "repair" in given_:  # as a store applies it: the repair's entries join the ledger's
        asked, wanted = given_["repair"], expected["repair"]
        mark = entries.marks[asked["mark"]]
        bookings = repair(mark, asked["action"], asked.get("estimate"))
        assert _booking_rows(bookings) == _approx_rows(wanted["bookings"]), why
        fix = repair_entries(mark, bookings)
        after = Entries(entries.bookings + fix.bookings, entries.marks + fix.marks)
        assert sum(b.amount for b in after.bookings) == pytest.approx(wanted["booked"], abs=1e-6)
        _assert_spread(after, wanted["spread"], why)
        assert entries.marks[asked["mark"]] == mark  # the original mark stays


def test_wrap_comes_from_the_register_type_and_scale() -> None:
    assert wrap_of("u32", 0.01) == pytest.approx(42949672.96)  # 4294967296 * 0.01
    assert wrap_of("u16", 1.0) == 65536.0
    assert wrap_of("u64", 1.0) == 2.0**64
    assert wrap_of("f32", 1.0) is None  # floats and signed registers do not wrap here
    assert wrap_of("i32", 0.01) is None


readings = st.lists(
    st.tuples(st.integers(1, 4000), st.floats(-30, 40) | st.sampled_from([-1e6, 0.0])),
    min_size=1,
    max_size=40,
)


@given(readings, st.lists(st.integers(1, 39), max_size=6), st.booleans())
def test_feeding_in_pieces_through_a_saved_state_books_the_same(
    steps: list[tuple[int, float]], cuts: list[int], wrap: bool
) -> None:
    """Batches end anywhere, and the state is saved between them (as the store does)."""
    rules = CounterRules(wrap=1000.0 if wrap else None, max_rate=3600.0, max_spread=50_000)
    series, ts, value = [], 0.0, 500.0
    for dt, delta in steps:
        ts += dt
        value = (value + delta) % 1000.0 if delta > -1e5 else 0.0
        series.append((ts, value))

    whole = feed(CounterState(), series, rules)

    state, pieces = CounterState(), Entries()
    bounds = [0, *sorted(set(c for c in cuts if c < len(series))), len(series)]
    for lo, hi in itertools.pairwise(bounds):
        state = CounterState.from_list(json.loads(json.dumps(state.as_list())))
        part = feed(state, series[lo:hi], rules)
        pieces.bookings += part.bookings
        pieces.marks += part.marks
    assert pieces == whole
    # energy is never negative, and spreading keeps every bit of it
    assert all(b.amount > 0 for b in whole.bookings)
    total = sum(b.amount for b in whole.bookings)
    assert sum(v[0] for v in spread(whole, 900).values()) == pytest.approx(total)


def test_a_u32_counter_reading_carries_its_wrap_to_the_api() -> None:
    """The wrap comes from the profile's register type and scale, over the wire."""
    profile = Profile.model_validate(
        {
            "id": "test/u32-counter",
            "vendor": "T",
            "model": "M",
            "kind": "io",
            "verified": False,
            "points": {
                "energy": {
                    "table": "holding",
                    "address": 0,
                    "type": "u32",
                    "scale": 0.01,
                    "kind": "counter",
                    "unit": "kWh",
                },
                "power": {"table": "holding", "address": 2, "type": "u16", "unit": "kW"},
            },
        }
    )
    (request,) = [CompiledRequest(r) for r in plan_requests(profile.points, profile.quirks)]
    payload = struct.pack(">IH", 4294967295, 7)  # the u32's top value; 7 kW
    readings = {r.point: r for r in request.decode(payload, DAY0, "m1")}
    assert readings["energy"].value == pytest.approx(42949672.95)
    assert readings["energy"].wrap == pytest.approx(42949672.96)  # 2**32 * 0.01
    assert readings["power"].wrap is None  # a gauge has none
    body = Sample(DAY0, "m1", list(readings.values())).wire()
    wire = {p["point"]: p for p in body["points"]}
    assert wire["energy"]["wrap"] == pytest.approx(42949672.96) and "wrap" not in wire["power"]
    record = ReadingRecord.model_validate({"seq": 1, **body})
    assert record.points[0].wrap == pytest.approx(42949672.96)


def _case_readings(name: str) -> tuple[CounterRules, list[tuple[float, float]], list]:
    given_, _ = _load(name)
    readings = [(float(t), float(v)) for t, v in given_["readings"]]
    return CounterRules(**given_["rules"]), readings, given_.get("replacements", [])


def test_an_undeclared_new_meter_that_reads_higher_is_implausible() -> None:
    rules, readings, _ = _case_readings("replacement-new-meter-higher")
    entries = feed(CounterState(), readings, rules)  # no declaration
    # 20002 - 1010 = 18992 in 1800 s, where 100 kWh/h allows 50: held out, since 900
    assert entries.marks == [Mark(2700, Flag.IMPLAUSIBLE, 18992.0, 900)]
    assert sum(b.amount for b in entries.bookings) == pytest.approx(10 + 5 + 5)


@pytest.mark.parametrize("cut", range(6))
def test_a_replacement_fed_with_any_batch_books_the_same(cut: int) -> None:
    """Batches end anywhere; the replacement goes with the batch that reaches its ts, or
    alone once the old meter's readings are in (declared before the new meter reads)."""
    rules, readings, declared = _case_readings("replacement")
    (r,) = [Replacement(*d) for d in declared]
    whole = feed(CounterState(), readings, rules, [r])

    state = CounterState()
    first, second = readings[:cut], readings[cut:]
    reaches = any(ts >= r.ts for ts, _ in first)
    got = feed(state, first, rules, [r] if reaches else [])
    if not reaches and not any(ts < r.ts for ts, _ in second):
        got_r = feed(state, [], rules, [r])  # declared between the batches
        got.bookings += got_r.bookings
        got.marks += got_r.marks
        rest = feed(state, second, rules)
    else:
        rest = feed(state, second, rules, [] if reaches else [r])
    assert got.bookings + rest.bookings == whole.bookings
    assert got.marks + rest.marks == whole.marks


def test_a_replacement_must_come_after_what_the_ledger_took() -> None:
    state = CounterState()
    feed(state, [(0.0, 100.0), (900.0, 110.0)], CounterRules())
    with pytest.raises(ValueError, match=r"not after the ledger's latest reading \(ts 900"):
        feed(state, [], CounterRules(), [Replacement(900.0, 111.0, 0.0)])
    assert state.base_ts == 900.0 and state.base_value == 110.0  # untouched


def test_a_replacement_whose_old_final_is_below_the_old_meter_is_refused() -> None:
    state = CounterState()
    feed(state, [(0.0, 100.0), (900.0, 110.0)], CounterRules())
    below = re.escape("old_final 105.0 is below the old meter's reading 110.0 at ts 900.0")
    with pytest.raises(ValueError, match=below):
        feed(state, [], CounterRules(), [Replacement(1800.0, 105.0, 0.0)])


def test_a_replacement_before_any_reading_starts_the_new_meter() -> None:
    state = CounterState()
    entries = feed(state, [(1800.0, 3.0)], CounterRules(), [Replacement(900.0, 50.0, 1.0)])
    # nothing of the old meter was taken: 3 - 1 = 2 over 900..1800 from the new one
    assert entries.bookings == [Booking(900.0, 1800.0, 2.0)]
    assert entries.marks == [Mark(900.0, Flag.REPLACED)]


def test_a_declared_replacement_faster_than_the_rating_is_held_out() -> None:
    """A typo in old_final must not become a spike: it is held out like any jump."""
    rules = CounterRules(max_rate=100.0)
    entries = feed(
        CounterState(), [(0.0, 100.0), (2700.0, 3.0)], rules, [Replacement(1800.0, 10_100.0, 0.0)]
    )
    # 10100 - 100 = 10000 in 1800 s, where 100 kWh/h allows 50; then 3 - 0 = 3
    assert entries.marks == [
        Mark(1800.0, Flag.REPLACED, 0.0, 0.0),
        Mark(1800.0, Flag.IMPLAUSIBLE, 10_000.0, 0.0),
    ]
    assert entries.bookings == [Booking(1800.0, 2700.0, 3.0)]


def test_a_long_gap_split_goes_evenly_over_its_days_and_accept_on_its_last() -> None:
    rules, readings, _ = _case_readings("long-gap-is-held-out")
    entries = feed(CounterState(), readings, rules)
    (held,) = [m for m in entries.marks if m.flag is Flag.GAP_HELD]  # 50 over 0..172800
    day = 86400
    split = spread(repair_entries(held, repair(held, "split")), day)
    assert split == {0: (25.0, 0.0, Flag.REPAIRED), day: (25.0, 0.0, Flag.REPAIRED),
                     2 * day: (0.0, -50.0, Flag.GAP_HELD)}  # fmt: skip
    accept = spread(repair_entries(held, repair(held, "accept")), day)
    assert accept == {2 * day: (50.0, -50.0, Flag.GAP_HELD | Flag.REPAIRED)}


@pytest.mark.parametrize(
    ("mark", "action", "estimate", "message"),
    [
        (Mark(60.0, Flag.GLITCH), "accept", None, "GLITCH"),
        (Mark(60.0, Flag.IMPLAUSIBLE, 5.0), "accept", None, "with a `since`"),
        (Mark(60.0, Flag.IMPLAUSIBLE, 5.0, 0.0), "undo", None, "action: 'undo' is not one of"),
        (Mark(60.0, Flag.IMPLAUSIBLE, 5.0, 0.0), "estimate", None, "needs the amount"),
        (Mark(60.0, Flag.IMPLAUSIBLE, 5.0, 0.0), "accept", 1.0, "only the action 'estimate'"),
        (Mark(60.0, Flag.IMPLAUSIBLE, 5.0, 0.0), "estimate", -1.0, "finite amount >= 0"),
        (Mark(60.0, Flag.GAP_HELD, 5.0, 0.0), "estimate", float("nan"), "finite amount >= 0"),
    ],
)
def test_a_repair_that_cannot_be_done_says_why(
    mark: Mark, action: str, estimate: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        repair(mark, action, estimate)  # type: ignore[arg-type]
