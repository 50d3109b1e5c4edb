"""Meter tree and balance (edge/energy/meter_tree.py), against sums done by hand."""

from __future__ import annotations

import math

import pytest

from edge.energy.meter_tree import balance, build_tree

BUILDING = {
    "M": {"system": "main"},
    "L1": {"system": "lighting-sockets", "parent": "M"},
    "H1": {"system": "hvac", "parent": "M"},
    "H1a": {"parent": "H1"},  # a chiller's own meter below the HVAC meter: no system tag
    "P1": {"system": "power"},  # no parent: directly below the only main
    "X1": {"system": "elevator", "parent": "M"},  # not one of the four systems
}
ENERGY = {"M": 1000.0, "L1": 300.0, "H1": 450.0, "H1a": 200.0, "P1": 150.0, "X1": 20.0}


def test_systems_children_and_top_level_sub_meters() -> None:
    tree = build_tree(BUILDING)
    assert tree.problems == []
    assert tree.mains == ("M",)
    assert tree.children("M") == ["H1", "L1", "X1"]
    assert tree.children("H1") == ["H1a"]
    assert tree.system_of("H1a") == "hvac"  # inherited from H1
    assert tree.system_of("X1") == "unclassified"
    assert tree.system_of("M") == "main"
    assert tree.unknown_systems == {"X1": "elevator"}
    assert tree.by_system() == {
        "hvac": ["H1"],
        "lighting-sockets": ["L1"],
        "power": ["P1"],
        "unclassified": ["X1"],
    }


def test_balance_by_hand() -> None:
    got = balance(build_tree(BUILDING), ENERGY)
    # Directly below M: L1 300 + H1 450 + P1 150 + X1 20 = 920 (H1a is inside H1's 450).
    # Unaccounted 1000 - 920 = 80; share 80 / 1000 = 0.08.
    assert (got.meter, got.main, got.accounted) == ("M", 1000.0, 920.0)
    assert got.unaccounted == pytest.approx(80.0)
    assert got.share == pytest.approx(0.08)
    assert got.sub_meters == ("H1", "L1", "P1", "X1")
    assert got.note == ""


@pytest.mark.parametrize(
    ("energy", "note"),
    [
        ({**ENERGY, "H1": math.nan}, "no energy for sub-meter(s) H1"),
        ({k: v for k, v in ENERGY.items() if k != "P1"}, "no energy for sub-meter(s) P1"),
        ({k: v for k, v in ENERGY.items() if k != "M"}, "no energy for the main meter 'M'"),
        ({**ENERGY, "M": 0.0}, "the main meter 'M' measured 0"),
    ],
)
def test_no_share_when_a_figure_is_missing_or_main_is_zero(energy: dict, note: str) -> None:
    got = balance(build_tree(BUILDING), energy)
    assert got.share is None
    assert got.note == note


def test_tree_problems_are_named_and_stop_the_balance() -> None:
    tree = build_tree(
        {
            "M": {"system": "main"},
            "M2": {"system": "main"},
            "A": {"system": "hvac", "parent": "B"},
            "B": {"system": "hvac", "parent": "A"},
            "C": {"system": "power", "parent": "M9"},
            "D": {"system": "power", "parent": "D"},
        }
    )
    assert tree.problems == [
        "meter 'C': parent 'M9' is not a known meter",
        "meter 'D': parent is itself",
        "meters form a cycle of parents: A -> B -> A",
        "several main meters without a parent: M, M2 (give the others `parent:` or check "
        "the tags; the balance needs one)",
    ]
    got = balance(tree, {"M": 10.0, "M2": 5.0})
    assert got.share is None and got.note.startswith("several main meters without a parent")
    # Naming a main does not hide the problems either.
    got = balance(tree, {"M": 10.0, "M2": 5.0}, main="M")
    assert got.share is None and got.note.startswith("meter tree has problems")


def test_no_main_meter() -> None:
    got = balance(build_tree({"L1": {"system": "lighting-sockets"}}), {"L1": 5.0})
    assert (got.share, got.note) == (None, "no main meter (tag one `system: main`)")
