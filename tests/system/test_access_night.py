"""Issue 7's acceptance night, end to end with real parts: Mosquitto, the access simulator
publishing the compressed night in every shipped payload format, the edge agent (a
process: MQTT -> rules -> outbox -> uplink), and the central API (a process) read back
through GET /v1/alarms with a viewer token.

In the same run, as the field would have it: about 10,000 random and malformed payloads
on the subscribed topics between the valid events, and the broker restarted in the middle
of the night. The scenario file's `expect:` list is the ground truth (worked out by hand,
one comment per alarm): exactly those alarms, each raised once, at its time within its
tolerance, and no others.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as paho
import yaml
from central import add_edge, add_user, start_api
from mosquitto import mosquitto
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from servers import free_port, spawn, stop

from device_profiles.payload_maps import PayloadMapCatalog
from simulators.access import play
from simulators.access_scenario import (
    expected_alarms,
    load_scenario,
    render_passes,
    render_site,
    shipped,
)

SITE, BUILDING = "test-site", "b1"
CLIENT_ID = "edge-night-test"
JUNK_BURST = 323  # after each of the night's 31 events: 10,013 junk payloads in all
LEAD = 12.0  # seconds from writing the site file to the scenario's start
WAIT = 90.0  # a bound on waiting, never a timing assertion


def open_session_for_the_edge(port: int, topics: list[str]) -> None:
    """Create the edge's persistent session (its client id, its subscriptions) before the
    night starts, as a deployed edge would have: the broker then keeps every QoS 1
    message for it, however long the edge takes to start on a busy machine."""
    done = threading.Event()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_subscribe = lambda *a: done.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    client.subscribe([(t, 1) for t in topics])
    assert done.wait(WAIT), "the broker did not acknowledge the subscriptions"
    client.disconnect()
    client.loop_stop()


def edge_status(site: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "status", str(site), "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def all_alarms(api: str, token: str) -> list[dict]:
    headers = {"Authorization": f"Bearer {token}"}
    url: str | None = f"{api}/v1/alarms?site={SITE}&limit=100"
    out: list[dict] = []
    while url:
        page = httpx.get(url, headers=headers, timeout=10)
        page.raise_for_status()
        body = page.json()
        out += body["alarms"]
        url = body["next"] and f"{api}{body['next']}"
    return out


def test_compressed_night_yields_exactly_its_alarms_through_junk_and_a_broker_restart(
    tmp_path: Path,
):
    scenario = load_scenario(shipped("compressed-night"))
    # Every shipped payload format is used at least once.
    assert {d.map for d in scenario.site.mqtt.devices} == set(PayloadMapCatalog().ids())

    db, api_port = tmp_path / "central.sqlite", free_port()
    edge_token = add_edge(db)
    viewer = add_user(db, "vera", "viewer")
    operator = add_user(db, "otto", "operator")
    api_proc = start_api(db, api_port, tmp_path / "api.log")
    api = f"http://127.0.0.1:{api_port}"
    edge = None
    try:
        with mosquitto(tmp_path / "broker") as broker:
            topics = [t for b in scenario.bindings().values() for t in b.topics()]
            open_session_for_the_edge(broker.port, topics)

            start = math.ceil(time.time() + LEAD)
            for p in render_passes(scenario, start):  # booked by an operator
                r = httpx.post(
                    f"{api}/v1/visitor-passes",
                    json={"site": SITE, "building": BUILDING, **p},
                    headers={"Authorization": f"Bearer {operator}"},
                    timeout=10,
                )
                assert r.status_code in (200, 201), r.text
            sections = render_site(scenario, start, ("127.0.0.1", broker.port))
            sections["mqtt"].update(client_id=CLIENT_ID, reconnect_min=1, reconnect_max=2)
            site = tmp_path / "site.yaml"
            site.write_text(
                yaml.safe_dump(
                    {
                        "site": SITE,
                        "building": BUILDING,
                        "edge": "edge-a",
                        "outbox": {"path": "outbox.sqlite"},
                        "uplink": {"url": api, "token": edge_token, "max_age": "200ms"},
                        "directives": {"every": "1s"},
                        **sections,
                    },
                    sort_keys=False,
                )
            )
            edge = spawn(
                [sys.executable, "-m", "edge.cli", "run", str(site), "--status-every", "1"],
                tmp_path / "edge.log",
            )

            async def night():
                async def restart_broker_mid_night():
                    # Down from scenario second 39 to 41.5: the duress at 40 (a Steward-format
                    # payload, which carries its own time) and the junk after it are
                    # published while the broker is away, wait in the simulator's queue and
                    # arrive after the restart; the edge's session survives it.
                    await asyncio.sleep(max(0.0, start + 39 - time.time()))
                    await asyncio.to_thread(broker.stop)
                    await asyncio.sleep(max(0.0, start + 41.5 - time.time()))
                    await asyncio.to_thread(broker.start)

                restart = asyncio.create_task(restart_broker_mid_night())
                report = await play(
                    scenario,
                    ("127.0.0.1", broker.port),
                    start,
                    junk_every=1,
                    junk_burst=JUNK_BURST,
                    ack_timeout=WAIT,
                )
                await restart
                return report

            report = asyncio.run(night())
            junk = sum(report.junk.values())
            assert junk >= 10_000
            assert report.acknowledged == len(report.messages)
            assert report.sent_while_away > 0, "nothing was published during the restart"

            expected = expected_alarms(scenario, start)
            want = {(x.code, x.source) for x in expected}
            deadline = time.monotonic() + WAIT
            alarms: list[dict] = []
            while time.monotonic() < deadline:
                alarms = all_alarms(api, viewer)
                if want <= {(a["code"], a["source"]) for a in alarms}:
                    break
                time.sleep(1.0)
            time.sleep(3.0)  # anything extra the last ticks would raise gets there too
            alarms = all_alarms(api, viewer)
            status = edge_status(site)
    finally:
        if edge is not None:
            stop(edge)
        stop(api_proc)

    got = {(a["code"], a["source"]): a for a in alarms}
    assert set(got) == want, (
        f"missing: {sorted(want - set(got))}; extra: {sorted(set(got) - want)}; "
        f"see {tmp_path / 'edge.log'}"
    )
    for x in expected:
        a = got[(x.code, x.source)]
        assert a["raise_count"] == 1, f"{x.code} at {x.source} raised {a['raise_count']} times"
        assert abs(a["raised_at"] - x.ts) <= x.tolerance, (
            f"{x.code} at {x.source} raised at start+{a['raised_at'] - start:.1f} s, "
            f"expected start+{x.ts - start:.1f} +- {x.tolerance} s"
        )

    # The junk was counted by reason at the edge, and never stopped it.
    mqtt = status["agent"]["access"]["mqtt"]
    refused = mqtt["refused"]
    assert sum(refused.values()) + mqtt["ignored"] >= junk * 0.99, mqtt
    assert len(refused) >= 3, refused  # several reasons, each named
    assert edge.returncode == 0  # a clean stop after all that
