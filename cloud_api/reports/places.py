"""Which sites and buildings a report may name: those the store has data for, and those
the energy configuration names. An unknown one is an error naming the known ones (a
misspelt building must not come back as an empty report)."""

from __future__ import annotations

import sqlite3

from cloud_api.reports.errors import UnknownPlaceError

# Small tables (or ones whose index starts with site, building); the events table is
# left out: the places of its alarms, rounds and demand blocks are in these.
_TABLES = ("series", "alarms", "patrol_rounds", "demand_blocks", "hazards")


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,))
    return row.fetchone() is not None


def known_places(db: sqlite3.Connection, config) -> dict[str, list[str]]:
    """Site -> its buildings, sorted, from the store and the energy configuration."""
    found: dict[str, set[str]] = {}
    for table in _TABLES:
        if not _has_table(db, table):
            continue
        for site, building in db.execute(f"SELECT DISTINCT site, building FROM {table}"):
            found.setdefault(site, set()).add(building)
    if config is not None:
        for site in config.sites:
            names = found.setdefault(site, set())
            names.update(info.building for info in config.buildings(site))
    return {site: sorted(b) for site, b in sorted(found.items())}


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def resolve_site(db: sqlite3.Connection, config, site: str | None) -> str:
    """The site asked for, or the only one the store knows when none was given."""
    places = known_places(db, config)
    if site is None:
        if len(places) == 1:
            return next(iter(places))
        raise UnknownPlaceError(
            "site",
            f"required when the store holds more than one site (known: {_listing(list(places))})"
            if places
            else "the store holds no data for any site yet",
        )
    if site not in places:
        raise UnknownPlaceError(
            "site", f"unknown site {site!r}; known sites: {_listing(list(places))}"
        )
    return site


def check_building(db: sqlite3.Connection, config, site: str, building: str) -> None:
    """UnknownPlaceError naming the site's known buildings when `building` is not one."""
    places = known_places(db, config)
    if site not in places:
        raise UnknownPlaceError(
            "site", f"unknown site {site!r}; known sites: {_listing(list(places))}"
        )
    if building not in places[site]:
        raise UnknownPlaceError(
            "building",
            f"unknown building {building!r} in site {site}; known buildings:"
            f" {_listing(places[site])}",
        )
