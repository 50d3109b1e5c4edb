"""The demo's access side: a Mosquitto broker, the building-day scenario's site sections
and visitor passes, and the access simulator playing the scenario as a child process.

The scenario runs at real time whatever the demo's --speed (which drives the meters):
door and patrol rules work on the edge's real clock. Before the edge starts, the demo
opens the edge's persistent MQTT session (its client id and subscriptions), so the broker
keeps every event published before the edge is connected, however slowly it starts.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from simulators.access_scenario import (
    DAY,
    Scenario,
    load_scenario,
    render_passes,
    render_site,
    shipped,
)

SCENARIO = "building-day"
DEFAULT_LOOPS = 24  # building-day is 10 minutes: 4 hours of doors, badges and rounds
LEAD = 5.0  # seconds from writing the site file to the scenario's second 0
SESSION_EXPIRY = 7 * 86400  # as the edge asks for (edge.acquire.mqtt.MqttConfig)

MOSQUITTO_MISSING = (
    "demo: Mosquitto (the MQTT broker) is not installed, so the demo runs without its "
    "access side (doors, badges, visitors, guard patrols, alarms).\n"
    "      Install it with `sudo apt-get install mosquitto` (./quickstart.sh demo does) and "
    "start the demo again; --no-access skips the access side without this message."
)


def find_mosquitto() -> str | None:
    """The broker's binary: on PATH, or where Debian puts it (/usr/sbin is not on every
    user's PATH)."""
    found = shutil.which("mosquitto")
    if found is None and os.access("/usr/sbin/mosquitto", os.X_OK):
        found = "/usr/sbin/mosquitto"
    return found


def broker_command(binary: str, workdir: Path, port: int) -> list[str]:
    """Write the broker's config into the demo's directory; the command that runs it."""
    data = workdir / "mosquitto"
    data.mkdir(exist_ok=True)
    lines = [
        "# Written by steward-sim demo: loopback only, anonymous, sessions kept on disk.",
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {data}/",
        "log_dest stdout",  # into mosquitto.log, which the demo opens
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    if os.geteuid() == 0:  # started as root, mosquitto would drop to user "mosquitto"
        lines.append("user root")
    config = workdir / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n")
    return [binary, "-c", str(config)]


def max_loops(scenario: Scenario) -> int:
    """The patrol schedule is daily: the loops must fit in a day."""
    return max(1, math.ceil(DAY / scenario.length) - 1)


def choose_loops(loops: int | None, duration: float | None) -> int:
    """--access-loops, or enough loops for --duration, or DEFAULT_LOOPS; at most a day."""
    scenario = load_scenario(shipped(SCENARIO))
    if loops is None:
        loops = DEFAULT_LOOPS if duration is None else math.ceil(duration / scenario.length)
    most = max_loops(scenario)
    if not 1 <= loops <= most:
        raise ValueError(f"--access-loops {loops}: give 1 to {most} (the loops fit in a day)")
    return loops


@dataclass(frozen=True, slots=True)
class AccessPlan:
    """One run of the scenario: where (the broker), from when (Unix seconds), how often."""

    scenario: Scenario
    port: int
    start: float
    loops: int
    client_id: str

    @classmethod
    def for_demo(cls, port: int, loops: int, client_id: str) -> AccessPlan:
        """The plan of a demo starting now: scenario second 0 comes LEAD seconds later."""
        scenario = load_scenario(shipped(SCENARIO))
        return cls(scenario, port, math.ceil(time.time() + LEAD), loops, client_id)

    @property
    def broker(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def site_sections(self) -> dict[str, Any]:
        """mqtt, doors, patrol (rendered for this start) and directives (visitor passes)."""
        sections = render_site(self.scenario, self.start, self.broker, loops=self.loops)
        sections["mqtt"]["client_id"] = self.client_id
        sections["directives"] = {"every": "5s"}
        return sections

    def topics(self) -> list[str]:
        return [t for b in self.scenario.bindings().values() for t in b.topics()]

    def iso_start(self) -> str:
        zone = self.scenario.start.tzinfo
        return dt.datetime.fromtimestamp(self.start, dt.UTC).astimezone(zone).isoformat()

    def simulator_command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "simulators.cli", "access"),
            *("--broker", f"127.0.0.1:{self.port}", "--scenario", SCENARIO),
            *("--start", self.iso_start(), "--loops", str(self.loops)),
        ]

    def book_passes(self, api: str, operator: str, site: str, building: str) -> int:
        """Book the scenario's visitor passes as an operator would (POST /v1/visitor-passes)."""
        headers = {"Authorization": f"Bearer {operator}"}
        passes = render_passes(self.scenario, self.start, loops=self.loops)
        with httpx.Client(base_url=api, headers=headers, timeout=10) as client:
            for p in passes:
                r = client.post(
                    "/v1/visitor-passes", json={"site": site, "building": building, **p}
                )
                if r.status_code != 201:
                    raise RuntimeError(f"booking a visitor pass: {r.status_code} {r.text}")
        return len(passes)

    def open_session_for_the_edge(self, timeout: float = 30.0) -> None:
        """Start the edge's persistent session afresh (clean start: nothing left over from
        an earlier demo) with its subscriptions, so the broker keeps what is published
        before the edge connects."""
        done = threading.Event()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.on_subscribe = lambda *_: done.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY
        try:
            client.connect("127.0.0.1", self.port, clean_start=True, properties=props)
        except OSError as exc:
            raise RuntimeError(f"cannot connect to the broker on port {self.port}: {exc}") from None
        client.loop_start()
        try:
            client.subscribe([(t, 1) for t in self.topics()])
            if not done.wait(timeout):
                raise RuntimeError("the broker did not acknowledge the edge's subscriptions")
        finally:
            client.disconnect()
            client.loop_stop()

    def banner(self, api: str) -> str:
        length = self.scenario.length
        return f"""  alarms              {api}/v1/alarms
  access events       {api}/v1/access-events
  patrol rounds       {api}/v1/patrols/rounds
  MQTT broker         127.0.0.1:{self.port} (Mosquitto), e.g. mosquitto_sub -p {self.port} -t '#' -v
  access scenario     {SCENARIO}: staff, a visitor, vehicles, two guard rounds and three
                      anomalies every {length / 60:g} minutes at real time, {self.loops} loop(s)
                      from {self.iso_start()}
"""


def _count(api: str, path: str, key: str, headers: dict[str, str]) -> int:
    count, url = 0, f"{api}{path}?limit=1000"
    while url:
        page = httpx.get(url, headers=headers, timeout=5).json()
        count += len(page[key])
        url = page["next"] and f"{api}{page['next']}"  # a path on the same API
    return count


def access_status(api: str, viewer: str) -> str:
    """'N alarms, M access events' as the API has them (read with the viewer's token)."""
    headers = {"Authorization": f"Bearer {viewer}"}
    try:
        alarms = _count(api, "/v1/alarms", "alarms", headers)
        events = _count(api, "/v1/access-events", "events", headers)
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return f"alarms and access events not answering ({exc.__class__.__name__})"
    return f"{alarms} alarms, {events} access events"
