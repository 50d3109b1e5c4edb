"""The access simulator: plays a scenario's door, badge, visitor and patrol events onto an
MQTT broker, each in its device's own payload format, at QoS 1.

    scenario = load_scenario(shipped("compressed-night"))
    site = render_site(scenario, start, ("127.0.0.1", port))   # for the edge's site file
    report = await play(scenario, ("127.0.0.1", port), start)
    expected_alarms(scenario, start)                            # what the edge must raise

Delivery: paho keeps every QoS 1 message in its own queue until the broker's PUBACK and
sends it again (DUP) after a reconnect, so a broker restart in the middle of a scenario
loses nothing: messages published while the broker is down go out, in order, once it is
back. `play` returns after every message is acknowledged (or raises naming how many were
not). Messages are published at their scheduled time; a late one goes out at once, with
its scheduled time in the payload.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from simulators.access_junk import JunkGenerator
from simulators.access_scenario import (
    ExpectedAlarm,
    Scenario,
    Scheduled,
    expected_alarms,
    load_scenario,
    render_passes,
    render_site,
    schedule,
    shipped,
)

__all__ = [
    "ExpectedAlarm",
    "PlayReport",
    "Published",
    "Scenario",
    "expected_alarms",
    "load_scenario",
    "play",
    "render_passes",
    "render_site",
    "schedule",
    "shipped",
]

ACK_TIMEOUT = 120.0  # seconds to wait for the last PUBACKs (a broker restart included)


@dataclass(frozen=True, slots=True)
class Published:
    ts: float  # scheduled real time (the time in the payload, where the format has one)
    topic: str
    payload: bytes
    junk: str | None = None  # the junk kind, or None for a scenario event
    device: str | None = None
    kind: str | None = None


@dataclass(slots=True)
class PlayReport:
    """What `play` sent, in order: scenario events and junk (counted by kind)."""

    messages: list[Published] = field(default_factory=list)
    junk: Counter = field(default_factory=Counter)
    events: int = 0
    acknowledged: int = 0
    late: int = 0  # events published more than a second after their time
    connects: int = 0
    sent_while_away: int = 0  # published while the broker was unreachable (queued by paho)
    started: float = 0.0
    finished: float = 0.0

    def summary(self) -> str:
        junk = ", ".join(f"{k} {n}" for k, n in sorted(self.junk.items())) or "none"
        return (
            f"{self.events} events and {sum(self.junk.values())} junk messages ({junk}) "
            f"acknowledged by the broker; {self.late} late; {self.connects} connection(s), "
            f"{self.sent_while_away} sent while the broker was away"
        )


class _Publisher:
    """paho at QoS 1; counts PUBACKs per message id (ids are reused after 65535)."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)  # unbounded: nothing is dropped while away
        self.client.reconnect_delay_set(1, 2)  # a restarted broker is back within seconds
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self._sent: Counter = Counter()
        self._acked: Counter = Counter()
        self.connects = 0
        self.while_away = 0
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            with self._lock:
                self.connects += 1
            self.connected.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self._acked[mid] += 1

    def publish(self, topic: str, payload: bytes) -> None:
        # While the broker is away paho answers "no connection" but keeps the message
        # queued and sends it after reconnecting; only a full queue is a real failure.
        info = self.client.publish(topic, payload, qos=1)
        if info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            raise RuntimeError(f"paho refused to queue a message for {topic}")
        with self._lock:
            self._sent[info.mid] += 1
            self.while_away += info.rc == paho.MQTT_ERR_NO_CONN

    def unacknowledged(self) -> int:
        with self._lock:
            return sum(max(0, n - self._acked[mid]) for mid, n in self._sent.items())

    async def wait_connected(self, timeout: float, where: str) -> None:
        # Only the first connection is waited for: a broker that is not there at all is a
        # mistake to report; one that goes away later is waited out (messages queue).
        if not await asyncio.to_thread(self.connected.wait, timeout):
            raise ConnectionError(f"no MQTT broker accepted a connection at {where} "
                                  f"within {timeout:g} s")  # fmt: skip

    async def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.unacknowledged():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.unacknowledged()} message(s) not acknowledged by the broker "
                    f"within {timeout:g} s"
                )
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)


async def play(
    scenario: Scenario,
    broker: tuple[str, int],
    start: float,
    speed: float = 1.0,
    junk_every: int = 0,
    junk_seed: int = 1,
    junk_burst: int = 1,
    loops: int = 1,
    client_id: str | None = None,
    ack_timeout: float = ACK_TIMEOUT,
    connect_timeout: float = 15.0,
    clock: Callable[[], float] = time.time,
    on_message: Callable[[Published], None] | None = None,
) -> PlayReport:
    """Publish the scenario's events at start + at / speed (real Unix seconds).

    junk_every K > 0: after every K-th event, `junk_burst` junk messages on random
    subscribed topics (seeded by junk_seed). Returns once the broker acknowledged all.
    A broker that does not answer at the start is a ConnectionError (an OSError); one
    that restarts later is waited out: paho queues and resends, in order.
    """
    if junk_every < 0 or junk_burst < 0:
        raise ValueError("junk_every and junk_burst must be >= 0")
    plan: list[Scheduled] = schedule(scenario, start, speed, loops)
    junk = JunkGenerator(scenario.bindings().values(), junk_seed) if junk_every else None
    host, port = broker
    pub = _Publisher(host, port, client_id or f"steward-sim-{scenario.name}-{int(start)}")
    report = PlayReport(started=clock())
    counter = itertools.count(1)
    try:
        await pub.wait_connected(connect_timeout, f"{host}:{port}")
        for item in plan:
            delay = item.ts - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                report.late += 1
            ev = item.event
            _send(pub, report, on_message,
                  Published(item.ts, item.message.topic, item.message.payload, None,
                            ev.device, ev.kind))  # fmt: skip
            report.events += 1
            if junk is not None and next(counter) % junk_every == 0:
                for _ in range(junk_burst):
                    kind, topic, payload = junk.next()
                    report.junk[kind] += 1
                    _send(pub, report, on_message, Published(clock(), topic, payload, kind))
        await pub.drain(ack_timeout)
        report.acknowledged = len(report.messages)
    finally:
        report.connects = pub.connects
        report.sent_while_away = pub.while_away
        report.finished = clock()
        await pub.close()
    return report


def _send(
    pub: _Publisher,
    report: PlayReport,
    on_message: Callable[[Published], None] | None,
    msg: Published,
) -> None:
    pub.publish(msg.topic, msg.payload)
    report.messages.append(msg)
    if on_message is not None:
        on_message(msg)
