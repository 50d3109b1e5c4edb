"""MqttSource against a real Mosquitto: every shipped format end to end, a persistent
session across broker restarts, and junk that is counted but never stops the source."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from mosquitto import Mosquitto, mosquitto
from paho.mqtt.enums import CallbackAPIVersion

from device_profiles.payload_maps import load_map
from edge.acquire.mqtt import MqttConfig, MqttDevice, MqttSource
from edge.acquire.payload_map import DeviceBinding

CASES = Path(__file__).parent / "testcases_payloads"
WAIT = 20.0  # seconds: a generous bound on waiting, never a timing assertion


def devices_from_cases() -> list[MqttDevice]:
    out = []
    for b in sorted(CASES.glob("*/binding.json")):
        spec = json.loads(b.read_text())
        out.append(
            MqttDevice(
                id=spec["device"],
                map=spec["map"],
                door=spec.get("door"),
                params=spec.get("params", {}),
                invert=spec.get("invert", False),
            )
        )
    return out


def config(broker: Mosquitto, devices: list[MqttDevice], **kw) -> MqttConfig:
    return MqttConfig(port=broker.port, client_id="edge-under-test", devices=devices, **kw)


class Publisher:
    """A second client, as the devices would be: QoS 1, waits for each PUBACK."""

    def __init__(self, port: int):
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def take(source: MqttSource, n: int) -> list:
    return [await asyncio.wait_for(source.__anext__(), WAIT) for _ in range(n)]


async def take_until(source: MqttSource, wanted: list[str], limit: int = 50) -> list:
    """Events until every credential in `wanted` has come (QoS 1 is at least once: a
    message whose PUBACK the broker had not stored when it went down comes again)."""
    got: list = []
    while not set(wanted) <= {e.credential for e in got} and len(got) < limit:
        got.append(await asyncio.wait_for(source.__anext__(), WAIT))
    return got


def at_least_once(got: list, wanted: list[str], earlier: list[str]) -> None:
    """Every wanted credential arrived, in order; anything else is a redelivery of a
    message taken before, never something new or made up."""
    credentials = [e.credential for e in got]
    assert [c for c in credentials if c in wanted] == wanted, credentials
    assert set(credentials) - set(wanted) <= set(earlier), credentials


def event_cases() -> list[tuple[str, bytes, list[dict]]]:
    out = []
    for exp in sorted(CASES.glob("*/*/expected.json")):
        expected = json.loads(exp.read_text())
        if expected.get("events"):
            payload = next(exp.parent.glob("payload.*")).read_bytes()
            topic = (exp.parent / "topic.txt").read_text().strip()
            out.append((topic, payload, expected["events"]))
    return out


def what(e) -> tuple:
    """Everything but the time (arrival time is the test's own clock)."""
    return (e["kind"], e["device"], e["door"], e["credential"], e["reason"])


def test_every_shipped_format_arrives_as_access_events_through_a_real_broker(tmp_path):
    cases = event_cases()
    maps_used = {json.loads(b.read_text())["map"] for b in CASES.glob("*/binding.json")}
    assert {
        "steward/access-v1",
        "zigbee2mqtt/contact",
        "tasmota/rfid-checkpoint",
        "tasmota/rfid-badge",
        "shelly/dw-gen1",
        "shelly/input-gen2",
    } <= maps_used

    async def scenario(broker: Mosquitto) -> list:
        async with MqttSource(config(broker, devices_from_cases())) as source:
            await asyncio.wait_for(source.ready(), WAIT)
            pub = Publisher(broker.port)
            try:
                for topic, payload, _ in cases:
                    pub.publish(topic, payload)
                got = await take(source, sum(len(ev) for _, _, ev in cases))
            finally:
                pub.close()
            assert source.counts()["refused"] == {}
            return got

    with mosquitto(tmp_path) as broker:
        got = asyncio.run(scenario(broker))
    expected = [what(e) for _, _, evs in cases for e in evs]
    # Devices publish on different topics, so only each topic's own order is guaranteed.
    assert sorted(map(repr, (what(_as_dict(e)) for e in got))) == sorted(map(repr, expected))


def _as_dict(e) -> dict:
    return {k: getattr(e, k) for k in ("kind", "device", "door", "credential", "reason")}


def steward_device() -> MqttDevice:
    return MqttDevice(id="ctrl-b1", map="steward/access-v1", door="door-101")


def grant(i: int) -> str:
    return json.dumps({"v": 1, "event": "access.granted", "credential": f"card-{i}"})


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_qos1_messages_published_while_the_edge_is_away_arrive_after_broker_restarts(
    tmp_path, protocol
):
    topic = "steward/access/ctrl-b1/event"

    async def live_then_restart(broker) -> tuple[list, dict]:
        async with MqttSource(config(broker, [steward_device()], protocol=protocol)) as source:
            await asyncio.wait_for(source.ready(), WAIT)
            pub = Publisher(broker.port)
            for i in range(0, 5):
                pub.publish(topic, grant(i))
            first = await take(source, 5)
            pub.close()
            # Mid-stream: the broker goes down and comes back; the edge reconnects by itself.
            broker.restart()
            pub = Publisher(broker.port)
            for i in range(5, 10):
                pub.publish(topic, grant(i))
            pub.close()
            rest = await take_until(source, [f"card-{i}" for i in range(5, 10)])
            return first + rest, source.counts()

    async def connect_and_take_until(broker, wanted: list[str]) -> tuple[list, dict]:
        async with MqttSource(config(broker, [steward_device()], protocol=protocol)) as source:
            await asyncio.wait_for(source.ready(), WAIT)
            return await take_until(source, wanted), source.counts()

    with mosquitto(tmp_path) as broker:
        got, counts = asyncio.run(live_then_restart(broker))
        first_ten = [f"card-{i}" for i in range(10)]
        at_least_once(got, first_ten, first_ten)
        assert counts["connects"] >= 2 and counts["disconnects"] >= 1
        # Now the edge is away (cleanly disconnected, session kept), the broker restarts
        # (the session and its queue survive on disk), a device publishes, the edge returns.
        broker.restart()
        pub = Publisher(broker.port)
        for i in range(10, 15):
            pub.publish(topic, grant(i))
        pub.close()
        broker.restart()
        got, counts = asyncio.run(
            connect_and_take_until(broker, [f"card-{i}" for i in range(10, 15)])
        )
    at_least_once(got, [f"card-{i}" for i in range(10, 15)], first_ten)
    assert counts["session_present"] is True


def junk_for(topic: str, rng: random.Random) -> tuple[bytes, str]:
    """A payload the map must refuse, and the reason it must give."""
    choice = rng.randrange(5)
    if choice == 0:
        return b"\xff" + rng.randbytes(rng.randrange(0, 40)), "not_utf8"
    if topic.endswith("/sensor/state"):  # Shelly Gen1 plain text
        return f"junk-{rng.random()}".encode(), "no_match"
    if choice == 1:
        return f"junk {rng.random()}".encode(), "not_json"
    if choice == 2:
        return json.dumps([rng.random(), "x"]).encode(), "not_object"
    if choice == 3:
        return ("{" * rng.randrange(1, 30)).encode(), "not_json"
    return b"x" * (64 * 1024 + 1 + rng.randrange(100)), "too_large"


def test_a_thousand_junk_payloads_are_counted_by_reason_and_valid_ones_between_still_map(
    tmp_path,
):
    rng = random.Random(7)
    devices = devices_from_cases()
    bindings = [
        DeviceBinding(d.id, load_map(d.map), d.door, dict(d.params), d.invert) for d in devices
    ]
    topics = [t for b in bindings for t in b.topics()]
    steward_topic = "steward/access/ctrl-b1/event"
    expected_reasons: dict[str, int] = {}
    plan: list[tuple[str, bytes]] = []
    valid = 0
    for i in range(1000):
        if i % 50 == 25:
            plan.append((steward_topic, grant(i).encode()))
            valid += 1
        topic = rng.choice(topics)
        payload, reason = junk_for(topic, rng)
        plan.append((topic, payload))
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    plan.append((steward_topic, grant(9999).encode()))  # the last one: all before it are in

    async def scenario(broker) -> tuple[list, dict, list]:
        async with MqttSource(config(broker, devices, dead_letters=100)) as source:
            await asyncio.wait_for(source.ready(), WAIT)
            pub = Publisher(broker.port)
            for topic, payload in plan:
                pub.publish(topic, payload)
            pub.close()
            got = await take(source, valid + 1)
            for _ in range(int(WAIT * 10)):  # the junk after the last event is counted too
                if source.counts()["received"] == len(plan):
                    break
                await asyncio.sleep(0.1)
            return got, source.counts(), list(source.dead_letters)

    with mosquitto(tmp_path) as broker:
        got, counts, dead = asyncio.run(scenario(broker))
    assert [e.credential for e in got] == [f"card-{i}" for i in range(25, 1000, 50)] + ["card-9999"]
    assert counts["received"] == len(plan)
    assert counts["refused"] == expected_reasons
    assert sum(expected_reasons.values()) == 1000
    assert len(dead) == 100  # bounded: the most recent 100, each with its raw payload
    last_topic, last_payload = plan[-2]
    assert dead[-1].topic == last_topic and dead[-1].payload == last_payload[: 64 * 1024]


def test_identical_messages_that_are_not_redeliveries_all_count(tmp_path):
    # Only the broker's DUP-flagged resends are dropped; a sensor repeating "close" is news.
    dev = MqttDevice(id="dw-201", map="shelly/dw-gen1", door="door-201")
    topic = "shellies/dw-201/sensor/state"

    async def scenario(broker):
        async with MqttSource(config(broker, [dev])) as source:
            await asyncio.wait_for(source.ready(), WAIT)
            pub = Publisher(broker.port)
            for word in ("close", "close", "open", "open", "close"):
                pub.publish(topic, word)
            pub.close()
            return await take(source, 5), source.counts()

    with mosquitto(tmp_path) as broker:
        got, counts = asyncio.run(scenario(broker))
    assert [e.kind for e in got] == ["door.closed"] * 2 + ["door.opened"] * 2 + ["door.closed"]
    assert counts["duplicates"] == 0


def test_two_devices_on_one_topic_is_refused_naming_both():
    cfg = MqttConfig(
        devices=[
            MqttDevice(id="a", map="zigbee2mqtt/contact", params={"friendly_name": "x"}),
            MqttDevice(id="b", map="zigbee2mqtt/contact", params={"friendly_name": "x"}),
        ]
    )
    with pytest.raises(ValueError, match="'a' and 'b' both use topic 'zigbee2mqtt/x'"):
        MqttSource(cfg)


def test_an_unknown_map_is_refused_listing_the_known_ones():
    from device_profiles.catalog import ProfileNotFound

    cfg = MqttConfig(devices=[MqttDevice(id="a", map="zigbee2mqtt/contakt")])
    with pytest.raises(ProfileNotFound, match="zigbee2mqtt/contact"):
        cfg.bindings()


def test_a_message_is_acknowledged_only_when_the_consumer_acks_it_and_in_arrival_order(
    tmp_path,
):
    # A consumer that commits before it acks: what it never acked comes again on the next
    # session. PUBACKs keep arrival order, so acking card-1 alone acks nothing yet.
    topic = "steward/access/ctrl-b1/event"

    async def take_and_ack(broker, ack: list[int], n: int = 3) -> list:
        async with MqttSource(config(broker, [steward_device()])) as source:
            await asyncio.wait_for(source.ready(), WAIT)
            got = [await asyncio.wait_for(source.get(), WAIT) for _ in range(n)]
            for i in ack:
                source.ack(got[i])  # queued before the DISCONNECT that leaving sends
            return got

    with mosquitto(tmp_path) as broker:
        pub = Publisher(broker.port)
        asyncio.run(take_and_ack(broker, [], n=0))  # subscribes: the session exists from now
        for i in range(3):
            pub.publish(topic, grant(i))
        pub.close()
        first = asyncio.run(take_and_ack(broker, [1]))  # card-1 waits for card-0
        second = asyncio.run(take_and_ack(broker, [0, 1]))  # now 0 and 1 go; 2 stays
        pub = Publisher(broker.port)
        pub.publish(topic, grant(3))
        pub.close()
        third = asyncio.run(take_and_ack(broker, [0, 1], n=2))

    def creds(ds):
        return [e.credential for d in ds for e in d.events]

    assert creds(first) == ["card-0", "card-1", "card-2"]
    assert [d.dup for d in first] == [False, False, False]
    assert creds(second) == ["card-0", "card-1", "card-2"]  # none was acknowledged
    assert [d.dup for d in second] == [True, True, True]
    assert creds(third) == ["card-2", "card-3"]
    assert third[0].dup is True and third[0].device == "ctrl-b1"
    assert third[0].digest == second[2].digest
