"""Fixtures of the cockpit page's browser tests: one API (seeded, its clock at the seed's
NOW) and one Chromium per test module. The API tests' kits (tests/cloud_api) are put on
the path here."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent))

from cockpit_kit import PASSWORD, Cockpit, chromium


@pytest.fixture(scope="module")
def cockpit(tmp_path_factory) -> Iterator[Cockpit]:
    from api_testkit import add_user, in_process_api, register_edge
    from cockpit_seed import NOW, SITE, energy_yaml, seed

    directory = tmp_path_factory.mktemp("cockpit")
    db = directory / "steward.sqlite"
    tokens = {
        "edge": register_edge(db, "edge-1", SITE),
        "operator": add_user(db, "olga", "operator", password=PASSWORD),
        "viewer": add_user(db, "vera", "viewer", password=PASSWORD),
        "manager": add_user(db, "mia", "energy_manager"),
    }
    # The budget evaluator every 2 s: the overview's budget colours (and budget alarms).
    settings = {"energy_config": energy_yaml(directory), "energy_evaluate_seconds": 2}
    with in_process_api(directory, now=NOW, **settings) as api:
        seeded = seed(api.client, tokens)
        yield Cockpit(str(api.client.base_url).rstrip("/"), api, tokens, seeded)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as browser:
        yield browser
