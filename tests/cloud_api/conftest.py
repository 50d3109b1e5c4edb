"""Fixtures shared by the central API's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_api.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path):
    """A SQLite store in a fresh file; its sites keep UTC days (the day figures of the
    store's tests are written so; local days: test_local_days.py)."""
    s = SqliteStore(tmp_path / "steward.sqlite", timezone_of=lambda site: "UTC")
    yield s
    s.close()
