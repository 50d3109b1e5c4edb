"""The real edge, killed with SIGKILL with a door held open and a patrol round in progress,
yields each alarm exactly once after its restart; messages published at QoS 1 while it is
down arrive after it, each once. A real Mosquitto, the edge as a subprocess
(`python -m edge.cli run SITE`), an outbox and no uplink: the outbox file is the oracle.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from mosquitto import mosquitto
from paho.mqtt.enums import CallbackAPIVersion
from servers import spawn, stop

WAIT = 30.0  # a bound on waiting, never a timing assertion
HELD_OPEN_S = 6
EVERY_1S = ["--status-every", "1"]  # the status snapshot, for `steward-edge status`
ROOT = Path(__file__).resolve().parents[2]


def site_yaml(port: int, start: float) -> str:
    hms = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%H:%M:%S")
    # Round at `start` (opens 5 s before): A due +0 +-10 s; B due +10 +-3 s (its window
    # closes at start + 13); the round ends 3 s later (start + 16).
    return f"""\
site: s1
building: b1
outbox: {{path: outbox.sqlite}}
mqtt:
  port: {port}
  client_id: edge-restart-test
  reconnect_min: 1
  reconnect_max: 2
  devices:
    - {{id: d1-contact, map: zigbee2mqtt/contact, door: D1, params: {{friendly_name: d1}}}}
    - {{id: ctrl-2, map: steward/access-v1, door: D2}}
    - {{id: cp-a, map: tasmota/rfid-checkpoint, params: {{topic: cp_a}}}}
    - {{id: cp-b, map: tasmota/rfid-checkpoint, params: {{topic: cp_b}}}}
doors:
  defaults: {{held_open_s: {HELD_OPEN_S}, after_hours: false}}
patrol:
  tz: UTC
  routes:
    - route: R
      starts: ["{hms}"]
      open_before: 5
      late_grace: 3
      checkpoints:
        - {{id: A, tag: cp-a, offset: 0, tolerance: 10}}
        - {{id: B, tag: cp-b, offset: 10, tolerance: 3}}
"""


class Publisher:
    def __init__(self, port: int):
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-devices")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: dict) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def records(outbox: Path) -> list[dict]:
    if not outbox.exists():
        return []
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=10)
    try:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM events ORDER BY seq")]
    except sqlite3.OperationalError:  # the edge has not made its tables yet
        return []
    finally:
        db.close()


def wait_for(outbox: Path, check, what: str) -> list[dict]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        got = records(outbox)
        if check(got):
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; outbox holds {summary(records(outbox))}")


def summary(recs: list[dict]) -> list[tuple]:
    return [(r["code"], r["source"], r.get("active")) for r in recs]


def has(code: str, source: str | None = None, active: bool | None = None):
    def check(recs: list[dict]) -> bool:
        return any(
            r["code"] == code
            and (source is None or r["source"] == source)
            and (active is None or r.get("active") is active)
            for r in recs
        )

    return check


@pytest.mark.slow
def test_kill_9_with_a_door_held_open_and_a_round_running_yields_each_alarm_once(tmp_path):
    edge_dir = tmp_path / "edge"
    edge_dir.mkdir()
    outbox = edge_dir / "outbox.sqlite"
    log = edge_dir / "edge.log"

    def start_edge():
        return spawn(
            [sys.executable, "-m", "edge.cli", "run", str(edge_dir / "site.yaml"), *EVERY_1S],
            log,
            cwd=ROOT,
        )

    with mosquitto(tmp_path / "broker") as broker:
        launched = time.time()
        start = math.ceil(launched) + 15  # the round opens at start - 5, after the edge is up
        (edge_dir / "site.yaml").write_text(site_yaml(broker.port, start))
        edge = start_edge()
        pub = Publisher(broker.port)
        try:
            # Until the edge has subscribed, a message is lost (no session yet): repeat a
            # harmless door.closed until one is committed.
            deadline = time.monotonic() + WAIT
            while not has("door.closed")(records(outbox)):
                assert time.monotonic() < deadline, log.read_text()
                assert edge.poll() is None, log.read_text()
                pub.publish("zigbee2mqtt/d1", {"contact": True})
                time.sleep(0.5)
            wait_for(outbox, has("patrol.round", "R"), "the round to open")
            # Door D1 opens (no grant: also forced); the guard scans A, on time.
            pub.publish("zigbee2mqtt/d1", {"contact": False})
            pub.publish("tele/cp_a/SENSOR", {"PN532": {"UID": "G1"}})
            got = wait_for(
                outbox,
                lambda r: has("door.opened")(r) and has("patrol.scan")(r),
                "door.opened and patrol.scan committed",
            )
            opened = next(r for r in got if r["code"] == "door.opened")
            edge.send_signal(signal.SIGKILL)  # (spawn made it a group leader; no children)
            edge.wait(WAIT)
            killed_at = time.time()
            # The edge died before the door was held open too long and before B was due.
            assert killed_at < opened["ts"] + HELD_OPEN_S and killed_at < start + 13
            assert not has("door.held_open")(records(outbox))
            # While it is down: three grants at D2, QoS 1 (the broker queues them).
            for i in range(3):
                pub.publish(
                    "steward/access/ctrl-2/event",
                    {"v": 1, "ts": time.time(), "event": "access.granted", "credential": f"C{i}"},
                )
            # Door D2 opens and closes 1 s later, while the edge is down (the controller
            # stamps its events): after the restart that is no held-open door.
            t = time.time()
            for ts, kind in ((t, "door.opened"), (t + 1, "door.closed")):
                pub.publish("steward/access/ctrl-2/event", {"v": 1, "ts": ts, "event": kind})
            # Both deadlines pass while the edge is down; then it comes back.
            time.sleep(max(0.0, max(opened["ts"] + HELD_OPEN_S, start + 13) + 1 - time.time()))
            edge = start_edge()
            final = wait_for(
                outbox,
                lambda r: (
                    has("patrol.incomplete", "R", True)(r)
                    and sum(1 for x in r if x["code"] == "access.granted") >= 3
                ),
                "the round's end and the queued grants",
            )
            time.sleep(2.0)  # anything doubled would come now (two more ticks)
            status = subprocess.run(
                [sys.executable, "-m", "edge.cli", "status", str(edge_dir / "site.yaml")],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=WAIT,
                check=True,
            ).stdout
        finally:
            pub.close()
            stop(edge)
        final = records(outbox)

    raised = Counter((r["code"], r["source"]) for r in final if r.get("active") is True)
    assert raised[("door.held_open", "D1")] == 1, summary(final)
    assert raised[("patrol.missed", "R:B")] == 1, summary(final)
    assert raised[("door.forced", "D1")] == 1, summary(final)
    assert raised[("patrol.incomplete", "R")] == 1, summary(final)
    assert ("door.held_open", "D2") not in raised, summary(final)
    held = next(r for r in final if r["code"] == "door.held_open")
    assert held["ts"] == opened["ts"] + HELD_OPEN_S  # raised at the moment it became true
    access = Counter(r["code"] for r in final if r["type"] == "event")
    assert access["door.opened"] == 2 and access["patrol.scan"] == 1, summary(final)
    grants = [r["data"]["credential"] for r in final if r["code"] == "access.granted"]
    assert grants == ["C0", "C1", "C2"]
    rounds = [json.dumps(r["data"], sort_keys=True) for r in final if r["code"] == "patrol.round"]
    assert len(rounds) == len(set(rounds)), "a round result was sent twice"
    last = json.loads(rounds[-1])
    assert [c["status"] for c in last["checkpoints"]] == ["on_time", "missed"]
    assert last["state"] == "finished"
    # What the operator sees: the restarted edge's MQTT counts and rule counters.
    mqtt_line = next(line for line in status.splitlines() if "mqtt:" in line)
    assert "5 messages received, 5 access events" in mqtt_line and "refused: none" in mqtt_line, (
        status
    )
    assert "rules:" in status and "alarms raised" in status, status
