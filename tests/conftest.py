"""Shared fixtures live in tests/support (on sys.path via pyproject's pythonpath)."""

from __future__ import annotations

from pathlib import Path

import pytest

SYSTEM = Path(__file__).parent / "system"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest files first: tests/system, then files with a test marked slow, then
    the rest, each file whole and in its own order. ./quickstart.sh test runs the suite on
    two workers, one file at a time each (pytest-xdist, --dist loadfile, in this order);
    left for last, the minute-long files would run while the other worker sat idle."""
    rank: dict[Path, int] = {}
    for item in items:
        if item.path.is_relative_to(SYSTEM):
            here = 0
        elif item.get_closest_marker("slow") is not None:
            here = 1
        else:
            here = 2
        rank[item.path] = min(rank.get(item.path, 2), here)
    items.sort(key=lambda item: rank[item.path])
