"""An operator overrides a zone through the central API and releases it (issue 9 Build 3):
the real API (a process), the real edge (a process, pulling its directives every second)
and the HVAC simulator over Modbus TCP. The override reaches the zone at priority 8,
ramped 0.5 K per step; the API lists it as an active command; after the release through
the API the zone goes back to its default and the command is reported released."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.central import add_edge, add_user, start_api
from tests.support.control_site import building, edge, site_yaml, wait_for
from tests.support.servers import free_port, stop
from tests.support.sim_thread import SimulatorThread

pytestmark = pytest.mark.slow
SPEED = 60.0


def test_an_override_through_the_api_reaches_the_zone_and_its_release_gives_the_default_back(
    tmp_path: Path,
) -> None:
    db = tmp_path / "central.sqlite"
    port = free_port()
    api_proc = start_api(db, port, tmp_path / "api.log")
    api = f"http://127.0.0.1:{port}"
    try:
        edge_token = add_edge(db)
        operator = {"Authorization": f"Bearer {add_user(db, 'olga', 'operator')}"}
        viewer = {"Authorization": f"Bearer {add_user(db, 'vic', 'viewer')}"}
        fleet, anchor = building(SPEED)
        with SimulatorThread(fleet) as sim:
            # A limit far above the load: only the operator acts.
            site = site_yaml(
                tmp_path / "site.yaml", sim.port, 1000.0, "control", site="test-site",
                top=f"uplink: {{url: '{api}', token: '{edge_token}', max_age: 200ms}}\n"
                "directives: {every: 1s}\n",
            )  # fmt: skip
            with edge(site, anchor, SPEED, tmp_path / "edge.log"):
                body = {
                    "site": "test-site", "building": "hall", "device": "ahu-2",
                    "point": "cooling_setpoint", "value": 27.0, "minutes": 120,
                    "reason": "meeting room too cold",
                }  # fmt: skip
                made = httpx.post(f"{api}/v1/control/overrides", json=body, headers=operator)
                assert made.status_code == 201, made.text
                oid = made.json()["id"]
                assert (
                    httpx.post(f"{api}/v1/control/overrides", json=body, headers=viewer).status_code
                    == 403
                )
                wait_for(
                    lambda: fleet.zones[2].setpoints["cooling_setpoint"] == 27.0,
                    60,
                    what="ahu-2 at the override's 27.0",
                )

                def active() -> list[dict]:
                    r = httpx.get(
                        f"{api}/v1/control/commands",
                        params={"site": "test-site", "building": "hall", "state": "active"},
                        headers=viewer,
                    )
                    return [c for c in r.json()["commands"] if c["slot"] == 8]

                (command,) = wait_for(active, 30, what="the command listed by the API")
                assert (command["device"], command["value"]) == ("ahu-2", 27.0)
                assert command["owner"] == f"operator:olga#{oid}"
                released = httpx.delete(f"{api}/v1/control/overrides/{oid}", headers=operator)
                assert released.status_code == 200, released.text
                wait_for(
                    lambda: fleet.zones[2].setpoints["cooling_setpoint"] == 26.0,
                    60,
                    what="ahu-2 back on its default",
                )
                wait_for(lambda: not active(), 30, what="the command reported released")
                audit = httpx.get(
                    f"{api}/v1/control/audit",
                    params={"site": "test-site", "building": "hall", "device": "ahu-2"},
                    headers=viewer,
                ).json()["entries"]
        writes = [a for a in audit if a["kind"] == "control.write"]
        # 26.0 -> 26.5 -> 27.0 (0.5 K a step), then 27.0 -> 26.5 -> 26.0 after the release.
        steps = sorted((a["ts"], a["before"], a["value"]) for a in writes)
        assert [(b, v) for _, b, v in steps] == [
            (26.0, 26.5), (26.5, 27.0), (27.0, 26.5), (26.5, 26.0)
        ]  # fmt: skip
        assert all(a["verified"] for a in writes)
        assert {"override.create", "override.release"} <= {a["kind"] for a in audit}
    finally:
        stop(api_proc)
