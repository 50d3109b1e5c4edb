"""The buildings the cockpit shows, and what each has (GET /v1/cockpit/buildings).

A building is known when the store holds something of it (a series, an alarm, a door, a
patrol round) or the energy configuration, a budget or a contract names
it. For each:
- its main meters: the meters whose energy is the building's total, chosen as
  GET /v1/energy chooses them (cloud_api/energy/service.py scope_meters), and their
  active power series (point `active_power`; `main_power_series`);
- `systems`: its meter groups by the tag `system` (what /v1/energy?system= takes), less
  `main` (the building's total, not a part of it);
- the ids of the budgets and contracts whose scope is the building (a budget of a whole
  site is not any one building's).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import orjson

from cloud_api.energy.service import ENERGY_POINT, Meter, Scope, scope_meters
from cloud_api.store import sqlite_budgets

POWER_POINT = "active_power"
MAIN_SYSTEM = "main"
# Tables that name buildings, small next to readings and events (one row per series,
# alarm, door, round): a DISTINCT over them stays cheap. Demand blocks (96 a day) come
# from a meter whose readings are in `series` already.
_PLACE_TABLES = ("series", "alarms", "door_state", "patrol_rounds")


@dataclass(frozen=True)
class PowerSeries:
    series_id: int
    device: str
    unit: str


@dataclass
class Place:
    site: str
    building: str
    timezone: str
    meters: list[Meter] = field(default_factory=list)  # main meters (energy counters)
    power: dict[str, PowerSeries] = field(default_factory=dict)  # main meter device -> series
    systems: list[str] = field(default_factory=list)
    budgets: list[str] = field(default_factory=list)
    contracts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "site": self.site,
            "building": self.building,
            "timezone": self.timezone,
            "main_power_series": [self.power[d].series_id for d in sorted(self.power)],
            "systems": self.systems,
            "budgets": self.budgets,
            "contracts": self.contracts,
        }


def _named(db: sqlite3.Connection, site: str | None) -> set[tuple[str, str]]:
    where, params = ("WHERE site = ?", (site,)) if site is not None else ("", ())
    found: set[tuple[str, str]] = set()
    for table in _PLACE_TABLES:
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
        ).fetchone()
        if exists:
            found.update(db.execute(f"SELECT DISTINCT site, building FROM {table} {where}", params))
    return found


def places(
    db: sqlite3.Connection,
    config,
    site: str | None = None,
    plans: dict[str, list[sqlite_budgets.PlanRow]] | None = None,
) -> list[Place]:
    """Every known building (of `site`; None: of every site), by site and building.
    `plans`: the budgets and contracts by kind, when the caller has read them already."""
    if plans is None:
        plans = {kind: sqlite_budgets.list_plans(db, kind) for kind in ("budget", "contract")}
    names = _named(db, site)
    for name in config.sites if site is None else (site,):
        names.update((name, b.building) for b in config.buildings(name))
    owned: dict[tuple[str, str], dict[str, list[str]]] = {}
    for kind, rows in plans.items():
        for row in rows:
            where = (row.body.get("site"), row.body.get("building"))
            if where[1] is None or (site is not None and where[0] != site):
                continue  # a site-wide plan is not one building's
            names.add(where)  # type: ignore[arg-type]
            owned.setdefault(where, {}).setdefault(kind, []).append(row.id)  # type: ignore[arg-type]
    out = []
    for s, b in sorted(n for n in names if n[1]):  # "": the site's own (central) alarms
        place = Place(s, b, config.timezone(s))
        place.meters = scope_meters(db, Scope(s, b))
        place.power = _power_series(db, s, b, [m.device for m in place.meters])
        place.systems = _systems(db, s, b)
        place.budgets = owned.get((s, b), {}).get("budget", [])
        place.contracts = owned.get((s, b), {}).get("contract", [])
        out.append(place)
    return out


def _power_series(
    db: sqlite3.Connection, site: str, building: str, devices: list[str]
) -> dict[str, PowerSeries]:
    if not devices:
        return {}
    marks = ",".join("?" * len(devices))
    rows = db.execute(
        f"SELECT id, device, unit FROM series WHERE site = ? AND building = ? AND device IN"
        f" ({marks}) AND point = ?",
        (site, building, *devices, POWER_POINT),
    )
    return {device: PowerSeries(series_id, device, unit) for series_id, device, unit in rows}


def _systems(db: sqlite3.Connection, site: str, building: str) -> list[str]:
    found: set[str] = set()
    for (tags,) in db.execute(
        "SELECT tags FROM series WHERE site = ? AND building = ? AND point = ?"
        " AND kind = 'counter'",
        (site, building, ENERGY_POINT),
    ):
        system = orjson.loads(tags).get("system")
        if isinstance(system, str) and system != MAIN_SYSTEM:
            found.add(system)
    return sorted(found)
