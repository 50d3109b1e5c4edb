"""The body of GET /v1/edges/self/directives: what an edge should enforce now.

- visitor_passes: the passes of its site and building(s) not yet expired;
- budget: the worst colour of the budgets scoped to its building(s), for the current
  period (red > yellow > green; a tie: the latest evaluated), with the budget, its
  building and `as_of` (when the evaluator gave that colour). A budget is scoped to a
  building when its body names site and building; a site-wide budget (no building) is
  not any one building's and is not sent. A colour saved for an earlier period (the
  evaluator has not run since the period turned) does not count: a budget with no
  colour for this period gives colour null with its id. No budget: everything null.
- overrides: the active operator overrides of its site and building(s), oldest first.

An edge registered for any building of its site (buildings None) gets those of every
building of the site.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from cloud_api.energy.budgets import period_bounds
from cloud_api.energy_config import EnergyConfig
from cloud_api.store import sqlite_budgets, sqlite_overrides, sqlite_passes

_RANK = {"green": 0, "yellow": 1, "red": 2}
NO_BUDGET: dict[str, Any] = {"colour": None, "budget_id": None, "as_of": None, "building": None}


def budget_directive(
    db: sqlite3.Connection,
    config: EnergyConfig,
    site: str,
    buildings: Sequence[str] | None,
    now: float,
) -> dict[str, Any]:
    """{colour, budget_id, as_of, building} for the edge's buildings (see the module)."""
    best: tuple[tuple[int, float], dict[str, Any]] | None = None
    unevaluated: dict[str, Any] | None = None
    for plan in sqlite_budgets.list_plans(db, "budget"):
        body = plan.body
        building = body.get("building")
        if body.get("site") != site or building is None:
            continue
        if buildings is not None and building not in buildings:
            continue
        saved = sqlite_budgets.last_colour(db, plan.id)
        _, period_start, _ = period_bounds(config.calendar(site), body["period"], now)
        if saved is None or saved.period_start != period_start or saved.colour not in _RANK:
            if unevaluated is None:
                unevaluated = {**NO_BUDGET, "budget_id": plan.id, "building": building}
            continue
        _, colour, evaluated_at = saved
        key = (_RANK[colour], evaluated_at)
        if best is None or key > best[0]:
            found = {"colour": colour, "budget_id": plan.id, "as_of": evaluated_at}
            best = (key, {**found, "building": building})
    if best is not None:
        return best[1]
    return unevaluated or dict(NO_BUDGET)


def directives_body(
    db: sqlite3.Connection,
    config: EnergyConfig,
    site: str,
    buildings: Sequence[str] | None,
    now: float,
) -> dict[str, Any]:
    passes = sqlite_passes.passes_for_edge(db, site, buildings, now)
    overrides = sqlite_overrides.overrides_for_edge(db, site, buildings, now)
    return {
        "generated_at": now,
        "visitor_passes": [p.directive() for p in passes],
        "budget": budget_directive(db, config, site, buildings, now),
        "overrides": [o.directive() for o in overrides],
    }
