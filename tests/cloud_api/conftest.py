"""Fixtures shared by the central API's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_api.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path):
    """A SQLite store in a fresh file."""
    s = SqliteStore(tmp_path / "steward.sqlite")
    yield s
    s.close()
