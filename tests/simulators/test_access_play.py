"""`play` against a real Mosquitto: every message of a scenario (junk included) reaches a
subscriber at QoS 1, in order, even when the broker restarts in the middle of the run."""

from __future__ import annotations

import asyncio
import threading
import time

import paho.mqtt.client as paho
import pytest
from mosquitto import Mosquitto, mosquitto
from paho.mqtt.enums import CallbackAPIVersion

from simulators.access import load_scenario, play, shipped

WAIT = 30.0  # a bound on waiting, never a timing assertion


class Subscriber:
    """A persistent QoS 1 session on every topic, like an edge that never goes away."""

    def __init__(self, port: int):
        self.got: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="test-subscriber", clean_session=False
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.got.append((msg.topic, bytes(msg.payload)))

    def received(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.got)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def at_least_once_in_order(sent: list, got: list) -> None:
    """Every sent message arrived, in the order sent; anything extra is a redelivery of a
    message that had already arrived, never something new or out of order."""
    i, seen = 0, set()
    for n, m in enumerate(got):
        if i < len(sent) and m == sent[i]:
            seen.add(m)
            i += 1
        else:
            assert m in seen, f"message {n} {m[0]} {m[1][:60]!r} is new or out of order"
    assert i == len(sent), f"{len(sent) - i} of {len(sent)} messages never arrived"


def run(broker: Mosquitto, restart_after: int | None, **kw) -> tuple[list, list, object]:
    scenario = load_scenario(shipped("compressed-night"))
    sub = Subscriber(broker.port)
    assert sub.subscribed.wait(WAIT)

    async def scenario_with_restart():
        published = asyncio.Event()
        count = 0

        def on_message(msg) -> None:
            nonlocal count
            count += 1
            if count == restart_after:
                published.set()

        async def restart() -> None:
            await published.wait()
            await asyncio.to_thread(broker.restart)  # down for a moment, messages queue

        task = asyncio.create_task(restart()) if restart_after else None
        start = time.time() + 0.5
        report = await play(scenario, ("127.0.0.1", broker.port), start, speed=20.0,
                            on_message=on_message, **kw)  # fmt: skip
        if task:
            await task
        return report

    try:
        report = asyncio.run(scenario_with_restart())
        sent = [(m.topic, m.payload) for m in report.messages]
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and len(sub.received()) < len(sent):
            time.sleep(0.05)
        time.sleep(0.3)  # let any redelivery in flight land too
        return sent, sub.received(), report
    finally:
        sub.close()


def test_play_delivers_every_event_once_in_order(tmp_path):
    with mosquitto(tmp_path) as broker:
        sent, got, report = run(broker, restart_after=None)
    scenario = load_scenario(shipped("compressed-night"))
    assert report.events == len(scenario.events) == len(sent)
    assert report.acknowledged == len(sent) and not report.junk
    assert got == sent  # no broker restart: exactly once, in order


def test_messages_published_while_the_broker_restarts_still_arrive_in_order(tmp_path):
    with mosquitto(tmp_path) as broker:
        sent, got, report = run(broker, restart_after=12, junk_every=3, junk_burst=2)
    assert report.connects >= 2  # the player reconnected by itself
    assert report.sent_while_away > 0  # the restart really fell in the middle of the run
    assert sum(report.junk.values()) == 2 * (report.events // 3)
    assert report.acknowledged == len(sent) == report.events + sum(report.junk.values())
    at_least_once_in_order(sent, got)


def test_no_broker_at_the_start_is_an_error_naming_the_address():
    from servers import free_port

    port = free_port()
    scenario = load_scenario(shipped("compressed-night"))
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        asyncio.run(play(scenario, ("127.0.0.1", port), time.time(), connect_timeout=1.0))
