"""A simulated HVAC building (6 zones + the main meter measuring them) and an edge site file
that limits its 15-minute demand: shared by the control system tests.

The simulator runs in the test process (tests/support/sim_thread.py), so a test can read
what each zone really holds and switch faults; the edge runs as its own process with the
simulator's clock (--sim-clock), so minutes pass in seconds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from simulators.clock import SimClock
from simulators.fleet import DeviceFleet
from simulators.hvac_cli import hvac_fleet
from tests.support.servers import python_module, spawn, stop

START = 1784095200.0  # 2026-07-15 14:00 +08:00, a summer afternoon: every zone cools
ZONES = (1, 2, 3, 4, 5, 6)
METER = 100
ZONE_KW = 20.0  # each zone's electrical input at full duty
BASE_KW = 20.0  # the meter's own load


def building(speed: float) -> tuple[DeviceFleet, float]:
    """The fleet and the wall-clock anchor of its simulated START."""
    anchor = time.time()
    fleet = hvac_fleet(
        ZONES, meter_unit=METER, base_kw=BASE_KW, clock=SimClock(START, speed), zone_kw=ZONE_KW
    )
    return fleet, anchor


def meter_kw(fleet: DeviceFleet) -> float:
    return float(fleet.meters[METER].values()["active_power"])


def site_yaml(
    path: Path,
    port: int,
    limit_kw: float,
    mode: str,
    extra_control: str = "",
    site: str = "s1",
    top: str = "",
) -> Path:
    zones = "\n".join(f"    - {{device: ahu-{u}, priority: {u}}}" for u in ZONES)
    path.write_text(
        f"""site: {site}
building: hall
outbox: {{path: outbox.sqlite}}
{top}buses:
  - {{id: hv, tcp: {{host: 127.0.0.1, port: {port}, max_connections: 4}}, timeout: 500ms,
     retries: 0, backoff_cap: 1s}}
devices:
  - {{id: 'ahu-{{unit}}', bus: hv, profile: steward/hvac-zone, units: '1-6', interval: 250ms}}
  - {{id: main, bus: hv, profile: chint/dtsu666, unit: {METER}, interval: 250ms}}
demand:
  meter: main
  limit_kw: {limit_kw:.1f}
  margin_kw: 3
control:
  mode: {mode}
  tick: 250ms
  lease: 10min
  link_timeout: 3min
  limiter: {{hold: 10min, stagger: 2min}}
{extra_control}  zones:
{zones}
"""
    )
    return path


@contextmanager
def edge(site: Path, anchor: float, speed: float, log: Path) -> Iterator:
    proc = spawn(
        python_module(
            "edge.cli", "run", str(site), "--sim-clock", f"{START}:{anchor}:{speed}",
            "--status-every", "5",
        ),
        log,
    )  # fmt: skip
    try:
        yield proc
    finally:
        stop(proc)


def outbox_events(outbox: Path, code_prefix: str = "") -> list[dict]:
    """Every record in the edge's events lane (nothing is sent: the site has no uplink)."""
    if not outbox.exists():
        return []
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT body FROM events ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
    out = [json.loads(r[0]) for r in rows]
    return [e for e in out if e["code"].startswith(code_prefix)]


def wait_for(predicate, timeout: float, every: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
