"""The emulated BACnet priority array: slot order, leases, relinquish, snapshot."""

from datetime import UTC, datetime, timedelta

import pytest

from edge.control.priority import (
    BUDGET,
    OPERATOR,
    SCHEDULE,
    SLOT_NAMES,
    PriorityArray,
)

T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_empty_array_gives_relinquish_default():
    assert PriorityArray(26.0).effective(T0) == (26.0, None)
    assert PriorityArray().effective(T0) == (None, None)


def test_highest_live_slot_wins_and_relinquish_falls_back():
    a = PriorityArray(26.0)
    a.write(SCHEDULE, 25.0, "schedule", T0 + 10 * H, T0)
    a.write(BUDGET, 27.0, "budget-rule", T0 + 2 * H, T0)
    assert a.effective(T0) == (27.0, 11)
    a.write(OPERATOR, 24.0, "op:alice", T0 + H, T0)
    assert a.effective(T0) == (24.0, 8)
    assert a.relinquish(OPERATOR, "op:alice") is True
    assert a.relinquish(OPERATOR, "op:alice") is False  # already empty
    assert a.effective(T0) == (27.0, 11)
    a.write(BUDGET, None, "budget-rule", T0 + H, T0)  # NULL relinquishes
    assert a.effective(T0) == (25.0, 16)


def test_lease_drops_out_exactly_at_lease_until():
    a = PriorityArray(26.0)
    a.write(BUDGET, 27.0, "budget-rule", T0 + H, T0)
    assert a.effective(T0 + H - timedelta(seconds=1)) == (27.0, 11)
    assert a.effective(T0 + H) == (26.0, None)
    gone = a.expire(T0 + H)
    assert [(slot, c.owner, c.value) for slot, c in gone] == [(11, "budget-rule", 27.0)]
    assert a.active(T0) == []  # expired entries are gone, not merely hidden


def test_relinquish_by_another_owner_is_refused_and_names_the_holder():
    a = PriorityArray()
    a.write(OPERATOR, 24.0, "op:alice", T0 + H, T0)
    with pytest.raises(PermissionError, match="op:alice"):
        a.relinquish(OPERATOR, "demand-rule")
    assert a.effective(T0) == (24.0, 8)


@pytest.mark.parametrize(
    ("slot", "value", "lease", "match"),
    [
        (0, 1.0, T0 + H, "slot"),
        (17, 1.0, T0 + H, "slot"),
        (True, 1.0, T0 + H, "slot"),
        (8, float("nan"), T0 + H, "value"),
        (8, 1.0, T0, "not after now"),
        (8, 1.0, datetime(2026, 7, 1, 10), "timezone-aware"),
    ],
)
def test_bad_writes_say_what_is_wrong(slot, value, lease, match):
    with pytest.raises(ValueError, match=match):
        PriorityArray().write(slot, value, "x", lease, T0)


def test_snapshot_restore_round_trip_keeps_leases():
    a = PriorityArray(26.0)
    a.write(BUDGET, 27.0, "budget-rule", T0 + H, T0)
    a.write(SCHEDULE, 25.0, "schedule", T0 + 10 * H, T0)
    b = PriorityArray.restore(a.snapshot())
    assert b.snapshot() == a.snapshot()
    assert b.effective(T0) == (27.0, 11)
    assert b.effective(T0 + H) == (25.0, 16)  # the lease still ends after a restart


def test_restore_names_the_bad_slot():
    data = PriorityArray(26.0).snapshot()
    data["slots"] = {"11": {"value": 27.0, "owner": "r", "lease_until": "soon", "written_at": ""}}
    with pytest.raises(ValueError, match=r"slots\['11'\]"):
        PriorityArray.restore(data)


def test_named_slots_follow_domain_facts():
    assert {k: SLOT_NAMES[k] for k in (1, 2, 5, 6, 8, 16)} == {
        1: "manual life safety",
        2: "automatic life safety",
        5: "equipment protection",
        6: "minimum on/off",
        8: "operator",
        16: "schedule",
    }
    assert all(10 <= s <= 12 for s, n in SLOT_NAMES.items() if "demand" in n or "budget" in n)
