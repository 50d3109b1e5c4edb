"""Main meter against its sub-meters: how much of a building's energy no sub-meter saw.

The tree comes from the devices' tags (edge/energy/meter_tree.py); the energy of each
meter over [start, end) from the ledger's hourly buckets. The share unaccounted is
(main - sub-meters) / main. Past `balance_threshold` (energy configuration, default
10 %) either way — the sub-meters also must not add up to more than the main — the
balance is yellow and the central evaluator raises `energy.unaccounted` for the main
meter (cloud_api/energy/evaluator.py); back inside, it clears.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from cloud_api.energy.service import ENERGY_POINT, HOUR, KWH_PER_UNIT
from edge.energy.meter_tree import balance, build_tree


def buildings_with_meters(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """(site, building) of every building that has energy meters."""
    return db.execute(
        "SELECT DISTINCT site, building FROM series WHERE point=? AND kind='counter'"
        " ORDER BY site, building",
        (ENERGY_POINT,),
    ).fetchall()


def building_balance(
    db: sqlite3.Connection, config: Any, site: str, building: str, start: float, end: float
) -> dict:
    rows = db.execute(
        "SELECT id, device, tags, unit FROM series WHERE site=? AND building=? AND point=?"
        " AND kind='counter' AND unit IN ('Wh', 'kWh', 'MWh') ORDER BY device",
        (site, building, ENERGY_POINT),
    ).fetchall()
    tags = {device: orjson.loads(text) for _, device, text, _ in rows}
    tree = build_tree(tags)
    ids = {series_id: device for series_id, device, _, _ in rows}
    scale = {series_id: KWH_PER_UNIT[unit] for series_id, _, _, unit in rows}
    energy = dict.fromkeys(tags, 0.0)
    held = dict.fromkeys(tags, 0.0)
    if ids:
        marks = ",".join("?" * len(ids))
        for series_id, booked, held_out in db.execute(
            f"SELECT series_id, SUM(booked), SUM(held_out) FROM energy WHERE step={HOUR}"
            f" AND bucket_start >= ? AND bucket_start < ? AND series_id IN ({marks})"
            " GROUP BY series_id",
            (start, end, *ids),
        ):
            energy[ids[series_id]] = booked * scale[series_id]
            held[ids[series_id]] = held_out * scale[series_id]
    result = balance(tree, energy)
    threshold = config.balance_threshold
    colour = None
    if result.share is not None:
        colour = "yellow" if abs(result.share) > threshold else "green"
    by_system: dict[str, float] = {}
    for system, devices in tree.by_system().items():
        by_system[system] = sum(energy[d] for d in devices)
    held_total = sum(held.values())
    note = result.note
    if held_total:
        note = (note + "; " if note else "") + (
            f"{held_total:.1f} kWh held out for review (see /v1/energy/quality) is not counted"
        )
    return {
        "site": site,
        "building": building,
        "main": result.meter,
        "main_kwh": result.main,
        "sub_meters": [
            {"device": d, "system": tree.system_of(d), "kwh": energy[d]} for d in result.sub_meters
        ],
        "accounted_kwh": result.accounted,
        "unaccounted_kwh": result.unaccounted,
        "share": result.share,
        "threshold": threshold,
        "colour": colour,
        "by_system": by_system,
        "note": note or None,
        "problems": list(tree.problems),
        "unknown_systems": dict(tree.unknown_systems),
    }
