"""MQTT acquisition: access events from door sensors, badge readers and patrol checkpoints.

    async with MqttSource(config) as source:
        async for event in source:      # AccessEvent, in arrival order
            ...

paho-mqtt 2.x runs its own network thread; every message is mapped there (pure, fast)
and the events are handed to the asyncio loop with call_soon_threadsafe, so the loop
never waits on the network and the network never waits on the loop. QoS 1 with a
persistent session (fixed client id; MQTT 5 session expiry, or clean_session False on
3.1.1): the broker keeps messages while the edge is away. paho reconnects with
exponential backoff between reconnect_min and reconnect_max. A payload that does not map
is counted by reason and kept, with its raw bytes, in a bounded dead-letter list; it
never stops the source.

Delivery note: a QoS 1 message is acknowledged (PUBACK) only when its consumer says so,
after it has committed what the message produced (`get()` then `ack(delivery)`), so a
kill -9 loses nothing: the broker sends again what was not acknowledged. PUBACKs go out
in the order the messages came, whatever order the consumer acks them in (refused and
duplicate messages take their turn too), and only on the connection the message came
on (a message id means nothing on the next one; the broker resends those). Iterating the
source (`async for event in source`) is the simple form: a message is acknowledged as
soon as it is taken, which suits a consumer that keeps nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field

from device_profiles.payload_maps import PayloadMapCatalog
from device_profiles.schema import Duration
from edge.acquire.payload_map import MAX_PAYLOAD, DeviceBinding, Refusal, map_payload
from edge.rules.access_events import AccessEvent

log = logging.getLogger(__name__)
RECENT_MESSAGES = 1000  # how many (topic, payload) pairs the duplicate check remembers


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsSettings(_Strict):
    """Passed through to paho's tls_set; a CA file alone is server-verified TLS."""

    ca_file: Path | None = None
    cert_file: Path | None = None  # client certificate (mutual TLS)
    key_file: Path | None = None
    insecure: bool = False  # skip host-name checking (self-signed lab brokers only)


class MqttDevice(_Strict):
    id: str = Field(min_length=1)
    map: str = Field(min_length=1)  # payload map id, e.g. "zigbee2mqtt/contact"
    door: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    invert: bool = False


class MqttConfig(_Strict):
    """The MQTT part of a site: the broker, the session, and the devices on it."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    # Fixed, not random: the broker keys the persistent session (and its queue) on it.
    client_id: str = Field("steward-edge", min_length=1, max_length=128)
    protocol: Literal["3.1.1", "5"] = "5"
    session_expiry: Duration = 7 * 86400.0  # MQTT 5: how long the broker keeps the session
    keepalive: int = Field(30, ge=5, le=3600)
    username: str | None = None
    password_file: Path | None = None  # one line; read at connect, never logged
    tls: TlsSettings | None = None
    reconnect_min: int = Field(1, ge=1)  # seconds (paho's backoff takes whole seconds)
    reconnect_max: int = Field(60, ge=1)
    dead_letters: int = Field(1000, ge=0)  # the most recent unmapped payloads kept
    # MQTT 5: how many QoS 1 messages the broker may send before our PUBACKs. We ack only
    # after the commit, so this caps a commit's batch; Mosquitto's default (20 when the
    # client says nothing) kept batches too small to catch up after a stall (bench/
    # access_latency.py). On 3.1.1 the broker's own max_inflight_messages applies.
    receive_maximum: int = Field(256, ge=1, le=65535)
    devices: list[MqttDevice]

    def bindings(self, catalog: PayloadMapCatalog | None = None) -> list[DeviceBinding]:
        catalog = catalog or PayloadMapCatalog()
        return [
            DeviceBinding(
                device=d.id,
                map=catalog.load(d.map),
                door=d.door,
                params=dict(d.params),
                invert=d.invert,
            )
            for d in self.devices
        ]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    arrival: float
    topic: str
    reason: str
    detail: str
    payload: bytes  # raw, cut at MAX_PAYLOAD bytes
    size: int  # the payload's real size


@dataclass(slots=True)
class Delivery:
    """One message from a bound device, to be acknowledged with MqttSource.ack once what
    it produced is safe. `device` spoke (heard), even when `events` is empty (a battery
    report) or the payload was refused."""

    ticket: int
    topic: str
    device: str
    arrival: float
    events: list[AccessEvent]
    dup: bool  # the broker's DUP flag: maybe a resend of one taken before
    digest: bytes  # of topic and payload: tells a resend from a new message
    refused: str | None = None  # the refusal reason, when the payload did not map


def message_digest(topic: str, payload: bytes) -> bytes:
    return hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=16).digest()


@dataclass(slots=True)
class _Pending:
    mid: int
    qos: int
    connection: int
    done: bool = False


@dataclass(slots=True)
class MqttStats:
    received: int = 0
    events: int = 0
    ignored: int = 0  # understood, nothing to report (battery update, other component)
    duplicates: int = 0  # QoS 1 redeliveries (DUP flag) of a message already taken
    refused: Counter = field(default_factory=Counter)  # reason -> count
    connects: int = 0
    connect_refusals: int = 0  # the broker said no (bad password, not authorised, ...)
    disconnects: int = 0
    session_present: bool | None = None  # the broker still had our session at last connect


def topic_index(bindings: Iterable[DeviceBinding]) -> dict[str, DeviceBinding]:
    """Topic -> its one device; two devices on one topic is a configuration error."""
    index: dict[str, DeviceBinding] = {}
    for b in bindings:
        for topic in b.topics():
            if topic in index:
                raise ValueError(
                    f"devices {index[topic].device!r} and {b.device!r} both use topic {topic!r}"
                )
            index[topic] = b
    return index


class MqttSource:
    """Access events from an MQTT broker; an async iterator of AccessEvent."""

    def __init__(
        self,
        config: MqttConfig,
        bindings: list[DeviceBinding] | None = None,
        clock: Any = time.time,
    ):
        self.config = config
        self.index = topic_index(bindings if bindings is not None else config.bindings())
        self.stats = MqttStats()
        self.dead_letters: deque[DeadLetter] = deque(maxlen=config.dead_letters)
        self._clock = clock
        self._lock = threading.Lock()  # stats and dead letters are written by paho's thread
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._taken: deque[AccessEvent] = deque()  # iteration: events of a taken message
        # PUBACKs wait here in arrival order until every earlier message is acked too.
        self._pending: dict[int, _Pending] = {}  # ticket -> message (insertion = arrival)
        self._next_ticket = 0
        self._connection = 0  # counts connections: a mid belongs to one
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribed = asyncio.Event()
        self._client: paho.Client | None = None
        # QoS 1 is at-least-once: a broker that restarts before our PUBACK reached its disk
        # sends the message again with the DUP flag. Those we have already taken are dropped.
        self._recent: deque[tuple[str, bytes]] = deque(maxlen=RECENT_MESSAGES)
        self._recent_set: Counter = Counter()

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> MqttSource:
        self._loop = asyncio.get_running_loop()
        self._client = self._make_client()
        cfg = self.config
        props = None
        if cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = int(cfg.session_expiry)
            props.ReceiveMaximum = cfg.receive_maximum
            self._client.connect_async(
                cfg.host, cfg.port, cfg.keepalive, clean_start=False, properties=props
            )
        else:
            self._client.connect_async(cfg.host, cfg.port, cfg.keepalive)
        self._client.loop_start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            # A plain DISCONNECT keeps the session: the broker queues for us until we return.
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    def __aiter__(self) -> MqttSource:
        return self

    async def __anext__(self) -> AccessEvent:
        while not self._taken:
            delivery = await self._queue.get()
            self.ack(delivery)  # the simple form: taken is done
            self._taken.extend(delivery.events)
        return self._taken.popleft()

    async def get(self) -> Delivery:
        """The next message from a bound device; `ack` it once what it produced is safe."""
        return await self._queue.get()

    def get_nowait(self) -> Delivery | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def ack(self, delivery: Delivery) -> None:
        """The consumer is done with `delivery`: PUBACK it once all before it are done."""
        self._done(delivery.ticket)

    def _done(self, ticket: int) -> None:
        # Called from the loop (ack) and from paho's thread (refused, duplicate messages).
        with self._lock:
            p = self._pending.get(ticket)
            if p is None:
                return
            p.done = True
            release = []
            while self._pending:
                first = next(iter(self._pending))
                if not self._pending[first].done:
                    break
                release.append(self._pending.pop(first))
            client, connection = self._client, self._connection
            if client is not None:
                for r in release:
                    if r.connection == connection and r.qos > 0:
                        client.ack(r.mid, r.qos)  # paho: thread-safe, queues the PUBACK

    async def ready(self) -> None:
        """Wait until the first connection's subscriptions are acknowledged."""
        await self._subscribed.wait()

    def counts(self) -> dict[str, Any]:
        """A JSON-able summary for the status line: received, events, refused by reason."""
        with self._lock:
            s = self.stats
            return {
                "received": s.received,
                "events": s.events,
                "ignored": s.ignored,
                "duplicates": s.duplicates,
                "refused": dict(s.refused),
                "connects": s.connects,
                "connect_refusals": s.connect_refusals,
                "disconnects": s.disconnects,
                "session_present": s.session_present,
                "dead_letters": len(self.dead_letters),
            }

    # -- paho side (its network thread) ------------------------------------------------------
    def _make_client(self) -> paho.Client:
        cfg = self.config
        if cfg.protocol == "5":
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=cfg.client_id,
                protocol=MQTTProtocolVersion.MQTTv5,
                manual_ack=True,
            )
        else:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=cfg.client_id,
                clean_session=False,
                protocol=MQTTProtocolVersion.MQTTv311,
                manual_ack=True,
            )
        if cfg.username is not None:
            password = None
            if cfg.password_file is not None:
                password = cfg.password_file.read_text(encoding="utf-8").rstrip("\r\n")
            client.username_pw_set(cfg.username, password)
        if cfg.tls is not None:
            client.tls_set(
                ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
                certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
                keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(cfg.tls.insecure)
        client.reconnect_delay_set(cfg.reconnect_min, max(cfg.reconnect_min, cfg.reconnect_max))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            with self._lock:
                self.stats.connect_refusals += 1
            log.warning(
                "MQTT broker %s:%s refused us: %s", self.config.host, self.config.port, reason_code
            )
            return
        with self._lock:
            self.stats.connects += 1
            self.stats.session_present = bool(flags.session_present)
        log.info("MQTT connected (session present: %s)", flags.session_present)
        # Subscribe on every connect: harmless when the session kept them, needed when not.
        topics = [(t, 1) for t in self.index]
        if topics:
            client.subscribe(topics)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("MQTT subscriptions refused: %s", failed)
        self._to_loop(self._subscribed.set)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._lock:
            self.stats.disconnects += 1
            self._connection += 1  # unacked messages of that connection come again
        log.warning("MQTT disconnected (%s); paho reconnects with backoff", reason_code)

    def _seen_before(self, topic: str, payload: bytes, dup: bool) -> bool:
        key = (topic, payload)
        if dup and self._recent_set[key]:
            return True
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            self._recent_set[old] -= 1
            if not self._recent_set[old]:
                del self._recent_set[old]
        self._recent.append(key)
        self._recent_set[key] += 1
        return False

    def _on_message(self, client, userdata, msg: paho.MQTTMessage) -> None:
        arrival = self._clock()
        with self._lock:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._pending[ticket] = _Pending(msg.mid, msg.qos, self._connection)
        if self._seen_before(msg.topic, msg.payload, bool(msg.dup)):
            with self._lock:
                self.stats.received += 1
                self.stats.duplicates += 1
            self._done(ticket)  # in turn: after the first copy is acked
            return
        binding = self.index.get(msg.topic)
        try:
            if binding is None:
                result: list[AccessEvent] | Refusal = Refusal(
                    "unknown_topic", f"{msg.topic}: no device is bound to it"
                )
            else:
                result = map_payload(msg.topic, msg.payload, arrival, binding)
        except Exception as exc:  # a mapper bug must not kill paho's thread (or the agent)
            log.exception("mapping a message on %s failed", msg.topic)
            result = Refusal("bad_value", f"{msg.topic}: mapper error {type(exc).__name__}: {exc}")
        with self._lock:
            self.stats.received += 1
            if isinstance(result, Refusal):
                self.stats.refused[result.reason] += 1
                self.dead_letters.append(
                    DeadLetter(
                        arrival,
                        msg.topic,
                        result.reason,
                        result.detail,
                        bytes(msg.payload[:MAX_PAYLOAD]),
                        len(msg.payload),
                    )
                )
            elif not result:
                self.stats.ignored += 1
            else:
                self.stats.events += len(result)
        if isinstance(result, Refusal):
            log.debug("MQTT dead letter (%s): %s", result.reason, result.detail)
        if binding is None:
            self._done(ticket)  # nobody to hear: nothing to commit
            return
        delivery = Delivery(
            ticket,
            msg.topic,
            binding.device,
            arrival,
            [] if isinstance(result, Refusal) else list(result),
            bool(msg.dup),
            message_digest(msg.topic, bytes(msg.payload)),
            result.reason if isinstance(result, Refusal) else None,
        )
        self._to_loop(self._queue.put_nowait, delivery)

    def _to_loop(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)
