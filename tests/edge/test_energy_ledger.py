"""The counter ledger (edge/energy/ledger.py): glitches, resets, rollovers, gaps, implausible jumps.

Data-driven: testcases_energy/<name>/input.json holds the rules and readings, and
expected.json what they book, computed by hand (its "why" shows the arithmetic).
"""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_profiles.schema import Profile
from edge.acquire.modbus.decode import CompiledRequest
from edge.acquire.modbus.plan import plan_requests
from edge.energy import CounterRules, CounterState, Entries, feed, flag_names, spread, wrap_of
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


@pytest.mark.parametrize("name", CASES)
def test_counter_ledger_books_what_the_hand_computation_says(name: str) -> None:
    given_, expected = _load(name)
    rules = CounterRules(**given_["rules"])
    entries = feed(CounterState(), [tuple(r) for r in given_["readings"]], rules)

    bookings = [[b.start, b.end, b.amount, flag_names(b.flags)] for b in entries.bookings]
    marks = [[m.ts, flag_names(m.flag)[0], m.held] for m in entries.marks]
    assert bookings == _approx_rows(expected["bookings"]), expected["why"]
    assert marks == _approx_rows(expected["marks"]), expected["why"]
    assert sum(b.amount for b in entries.bookings) == pytest.approx(expected["booked"], abs=1e-6)
    for step, buckets in expected.get("spread", {}).items():
        got = spread(entries, int(step))
        assert {str(k): [v[0], v[1], flag_names(v[2])] for k, v in got.items()} == {
            k: _approx_rows([v])[0] for k, v in buckets.items()
        }, (step, expected["why"])


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
