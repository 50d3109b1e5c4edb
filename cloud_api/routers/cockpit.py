"""The cockpit's own reads (read): what the page needs in one request each.

GET /v1/cockpit/buildings?site     every known building: its time zone, main meters'
                                   active power series, meter groups (`system`), budget
                                   and contract ids (cloud_api/cockpit/places.py)
GET /v1/cockpit/overview?site      per building: budget colour, last demand block, main
                                   meters' power now, today's energy, open alarms,
                                   today's patrols (cloud_api/cockpit/overview.py)
GET /v1/cockpit/doors?site&building  each door's state now: open, closed, forced,
                                   held_open or unknown, since when, and the kind of its
                                   latest access event (cloud_api/cockpit/doors.py)

site (and building) filter; without site, every site. A site named but unknown to the
buildings list and the overview is a 404 (a misspelt site is not a site without
buildings); building without site is a 422 naming `building`. Each figure of the
overview is the one the API's own endpoint gives for it (see overview.py).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError

from cloud_api.auth import require_permission
from cloud_api.body_types import Name
from cloud_api.clock import request_now
from cloud_api.cockpit.doors import door_states
from cloud_api.cockpit.overview import building_overview
from cloud_api.cockpit.places import Place, places
from cloud_api.store import sqlite_budgets
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["cockpit"], dependencies=[Depends(require_permission("read"))])


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _known(found: list[Place], site: str | None) -> list[Place]:
    if site is not None and not found:
        raise HTTPException(404, detail=f"no building is known for site {site!r}")
    return found


@router.get("/v1/cockpit/buildings", summary="Buildings and what each has")
def buildings(request: Request, site: Name | None = None) -> Response:
    config = request.app.state.energy_config
    with sqlite_store(request.app.state.store).reading() as db:
        found = _known(places(db, config, site), site)
    return _json({"buildings": [p.to_dict() for p in found]})


@router.get("/v1/cockpit/overview", summary="Each building's figures now")
def overview(request: Request, site: Name | None = None) -> Response:
    config = request.app.state.energy_config
    now = request_now(request)
    store = sqlite_store(request.app.state.store)
    store.tick_alarms(now)  # expired shelves first, as GET /v1/alarms does
    with store.reading() as db:
        plans = {kind: sqlite_budgets.list_plans(db, kind) for kind in ("budget", "contract")}
        found = _known(places(db, config, site, plans), site)
        budgets = {row.id: row for row in plans["budget"]}
        out = [building_overview(db, config, place, now, budgets) for place in found]
    return _json({"generated_at": now, "buildings": out})


@router.get("/v1/cockpit/doors", summary="Each door's state now")
def doors(request: Request, site: Name | None = None, building: Name | None = None) -> Response:
    if building is not None and site is None:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "building"),
                    "msg": "give site too: a building is named within its site",
                    "type": "value_error",
                }
            ]
        )
    # Door alarms count by their condition (`active`), which time does not change: no
    # tick_alarms here.
    with sqlite_store(request.app.state.store).reading() as db:
        found = door_states(db, site, building)
    return _json({"doors": found})
