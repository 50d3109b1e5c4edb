"""The demo's demand limit and HVAC control: a `steward-sim hvac` building of five zones and
the meter that measures them, their site-file entries with `demand:` and `control:`, and
the demand part of the one-line status.

The HVAC simulator is its own process, so the tower's main incomer (in the meters'
simulator) cannot measure it: its meter and zones are read without their energy counters
(`points:`), which keeps the tower's meter balance true, and the demand rule takes the
meter's power. The limit is DEMO value: 90 % of what this HVAC building draws, left
alone, in the demo's first simulated hour, computed by running the same model (same seed,
same start) ahead in this process, so the demo sheds within minutes at any time of day.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from device_profiles import load
from simulators.clock import SimClock
from simulators.hvac_cli import ZONE_PROFILE, hvac_fleet

ZONES = (1, 2, 3, 4, 5)
METER_UNIT = 100
METER_PROFILE = "chint/dtsu666"
ZONE_KW = 20.0  # every zone's electrical input at full duty (DEMO value)
BASE_KW = 20.0  # the HVAC board's own constant load (fans, pumps; DEMO value)
LIMIT_SHARE = 0.9
METER = "hvac-board"
BUS = "hvac"
ENERGY_POINTS = ("energy_import", "energy_export")


def zone_id(unit: int) -> str:
    return f"ahu-{unit}"


def uncontrolled_kw(start: float, hours: float = 1.0) -> float:
    """The HVAC meter's mean kW over [start, start + hours] with nothing written: the
    simulator's model stepped ahead on a frozen clock (same seed, same start)."""
    clock = SimClock(start, 0.0)
    fleet = hvac_fleet(ZONES, METER_UNIT, METER_PROFILE, BASE_KW, clock=clock, zone_kw=ZONE_KW)
    before = fleet.meters[METER_UNIT].values()["energy_import"]
    clock.freeze_at(start + hours * 3600.0)
    after = fleet.meters[METER_UNIT].values()["energy_import"]
    return (after - before) / hours


def _points(profile: str) -> list[str]:
    return [p for p in load(profile).points if p not in ENERGY_POINTS]


@dataclass(frozen=True)
class ControlPlan:
    """The HVAC side of the demo: where its simulator listens and what the edge does."""

    port: int
    start: float
    speed: float
    poll: float  # s between polls of the HVAC devices and between control steps (wall)
    limit_kw: float

    @classmethod
    def for_demo(cls, port: int, start: float, speed: float, interval: float) -> ControlPlan:
        # A poll at most a simulated minute apart: the demand rule takes a step longer than
        # 5 minutes as a gap, and the limiter judges a shed after 5 minutes.
        poll = max(0.25, min(interval, 60.0 / speed)) if speed > 0 else interval
        limit = math.floor(LIMIT_SHARE * uncontrolled_kw(start))
        return cls(port, start, speed, poll, float(max(limit, 1)))

    def simulator_command(self) -> list[str]:
        first, last = ZONES[0], ZONES[-1]
        return [
            *(sys.executable, "-m", "simulators.cli", "hvac", "--port", str(self.port)),
            *("--zone-units", f"{first}-{last}", "--meter-unit", str(METER_UNIT)),
            *("--meter-profile", METER_PROFILE, "--base-kw", f"{BASE_KW:g}"),
            *("--zone-kw", f"{ZONE_KW:g}", "--speed", f"{self.speed:g}"),
            *("--start", datetime.fromtimestamp(self.start, UTC).isoformat()),
        ]

    def bus_line(self) -> str:
        return (
            f"  - {{id: {BUS}, tcp: {{host: 127.0.0.1, port: {self.port}, max_connections: 2}},"
            " timeout: 1s, retries: 0, backoff_cap: 10s}"
        )

    def device_lines(self) -> list[str]:
        poll = f"{round(self.poll * 1000)}ms"
        first, last = ZONES[0], ZONES[-1]
        zone_points = ", ".join(_points(ZONE_PROFILE))
        meter_points = ", ".join(_points(METER_PROFILE))
        return [
            "  # The HVAC simulator (steward-sim hvac): its own process, which the main incomer",
            "  # cannot measure, so energy counters are left unread here (points:) and the",
            "  # tower's meter balance stays true; demand: below reads the board's power.",
            f"  - {{id: 'ahu-{{unit}}', bus: {BUS}, profile: {ZONE_PROFILE}, units: "
            f"'{first}-{last}', interval: {poll}, tags: {{system: hvac}},",
            f"     points: [{zone_points}]}}",
            f"  - {{id: {METER}, bus: {BUS}, profile: {METER_PROFILE}, unit: {METER_UNIT}, "
            f"interval: {poll}, tags: {{system: hvac}},",
            f"     points: [{meter_points}]}}",
        ]

    def site_sections(self) -> dict[str, Any]:
        """demand: and control: (mode control, every zone sheddable, budget setup on)."""
        return {
            "demand": {
                "meter": METER,
                "limit_kw": self.limit_kw,
                "margin_kw": round(0.05 * self.limit_kw, 1),
                "from": "power",
            },
            "control": {
                "mode": "control",
                "tick": f"{round(self.poll * 1000)}ms",
                "lease": "10min",
                "budget": {"setup_k": 1.0},
                "zones": [
                    {
                        "device": zone_id(u),
                        "priority": u,
                        "defaults": {"cooling_setpoint": 26.0, "heating_setpoint": 20.0},
                    }
                    for u in ZONES
                ],
            },
        }

    def banner(self, api: str, site: str, building: str) -> str:
        place = f"site={site}&building={building}"
        return f"""  demand blocks       {api}/v1/demand?{place}
  control commands    {api}/v1/control/commands?state=active
  control audit       {api}/v1/control/audit
  HVAC simulator      127.0.0.1:{self.port}: {len(ZONES)} zones ({ZONE_KW:g} kW each) and {METER}
                      (unit {METER_UNIT}); demand limit {self.limit_kw:g} kW, mode control
"""


def demand_status(api: str, viewer: str, site: str, building: str, at: float) -> str:
    """'demand: last block 72.4 kW vs limit 68 kW (over), 2 zones shed now', from the API
    (GET /v1/demand over the last simulated hours, GET /v1/control/commands active)."""
    headers = {"Authorization": f"Bearer {viewer}"}
    place = {"site": site, "building": building}
    try:
        demand = httpx.get(
            f"{api}/v1/demand",
            params={**place, "from": f"{at - 4 * 3600:.0f}"},
            headers=headers,
            timeout=10,
        ).json()
        commands = httpx.get(
            f"{api}/v1/control/commands",
            params={**place, "state": "active"},
            headers=headers,
            timeout=10,
        ).json()["commands"]
        blocks, limit = demand["blocks"], demand["summary"]["limit_kw"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return f"demand: API not answering ({exc.__class__.__name__})"
    shed = {c["device"] for c in commands if c["owner"] == "demand" and c["value"] is not None}
    zones = f"{len(shed)} zone{'' if len(shed) == 1 else 's'} shed now"
    if not blocks:
        return f"demand: no block closed yet; {zones}"
    last = blocks[-1]
    kw = "incomplete" if last["demand_kw"] is None else f"{last['demand_kw']:.1f} kW"
    over = " (over)" if last["over"] else ""
    when = last["label"][11:16]  # the block's local start, e.g. 10:15
    return f"demand: last block {when} {kw} vs limit {limit:g} kW{over}, {zones}"
