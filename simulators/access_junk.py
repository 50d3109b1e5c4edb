"""Malformed and random payloads for the topics the edge subscribes to.

Each junk message is one of a few kinds (random bytes, truncated JSON, wrong types,
unknown fields, huge, bad UTF-8, another format's payload) on a real device topic. Junk
must never mean an event: every candidate is checked with the edge's own mapper (pure)
and redrawn if it would map to one, so valid events sent between junk still make exactly
the scenario's alarms. Seeded: the same seed gives the same junk.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable

from edge.acquire.payload_map import MAX_PAYLOAD, DeviceBinding, map_payload
from simulators.access_formats import SimEvent, render

JUNK_KINDS = (
    "random_bytes",
    "truncated_json",
    "wrong_types",
    "unknown_fields",
    "huge",
    "bad_utf8",
    "wrong_format",
)

_SAMPLE_TS = 1796220065.25  # a fixed time for truncated samples: the same seed, the same junk

# A valid payload of each format, to truncate or to send on another format's topic.
_SAMPLES: dict[str, bytes] = {
    "steward/access-v1": b'{"v":1,"event":"access.granted","credential":"C1","ts":1}',
    "zigbee2mqtt/contact": b'{"battery":97,"contact":false,"linkquality":120}',
    "tasmota": b'{"Time":"2025-03-03T22:00:05","RDM6300":{"UID":"0012AB34"}}',
    "shelly/dw-gen1": b"open",
    "shelly/input-gen2": b'{"method":"NotifyStatus","params":{"ts":1,"input:0":{"state":false}}}',
    "shelly/status": b'{"id":0,"state":true}',
}

# Values of the wrong JSON type for the fields each format reads.
_WRONG_TYPES: dict[str, list[dict]] = {
    "steward/access-v1": [
        {"v": 1, "event": 5},
        {"v": 1, "event": "access.granted", "credential": {"id": 1}},
        {"v": 1, "event": "access.granted", "credential": True},
        {"v": 1, "event": ["door.opened"]},
        {"v": 1, "event": "door.opened", "door": ""},
    ],
    "zigbee2mqtt/contact": [
        {"contact": "false"},
        {"contact": 0},
        {"tamper": "yes"},
        {"contact": True, "battery": "full"},
    ],
    "tasmota": [
        {"Time": "2025-03-03T22:00:05", "RDM6300": {"UID": ["00", "12"]}},
        {"Time": "2025-03-03T22:00:05", "PN532": {"UID": {"x": 1}}},
        {"Time": "2025-03-03T22:00:05", "RDM6300": {"UID": True}},
    ],
    "shelly/input-gen2": [
        {"method": "NotifyStatus", "params": {"ts": 1, "input:0": {"state": 1}}},
        {"method": "NotifyStatus", "params": {"ts": 1, "input:0": {"state": "on"}}},
        {"method": "NotifyEvent", "params": {"ts": 1, "events": "toggle"}},
    ],
    "shelly/status": [{"id": 0, "state": "true"}, {"id": 0, "state": 0}],
}

_UNKNOWN_FIELDS: dict[str, list[dict]] = {
    "steward/access-v1": [{"v": 1, "evnt": "access.granted", "card": "C1"}, {"v": 2, "x": 1}],
    "zigbee2mqtt/contact": [{"occupancy": True, "illuminance": 3}, {"battery": 50}],
    "tasmota": [{"Time": "2025-03-03T22:00:05", "UID": "0012AB34"}],
    "shelly/input-gen2": [{"method": "NotifyWhatever", "params": {"ts": 1}}],
    "shelly/status": [{"id": 0, "output": True}],
}


def _family(binding: DeviceBinding, topic: str) -> str:
    mid = binding.map.id
    if mid.startswith("tasmota/"):
        return "tasmota"
    if mid == "shelly/input-gen2" and "/status/" in topic:
        return "shelly/status"
    return mid


class JunkGenerator:
    """Junk for the given devices' topics; `next()` -> (kind, topic, payload)."""

    def __init__(self, bindings: Iterable[DeviceBinding], seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.targets = [(b, t) for b in bindings for t in b.topics()]
        if not self.targets:
            raise ValueError("junk needs at least one device topic")
        self.counts: dict[str, int] = {}

    def next(self) -> tuple[str, str, bytes]:
        for _ in range(100):
            binding, topic = self.rng.choice(self.targets)
            kind = self.rng.choice(JUNK_KINDS)
            payload = self._payload(kind, binding, topic)
            if payload is not None and self._means_nothing(topic, payload, binding):
                self.counts[kind] = self.counts.get(kind, 0) + 1
                return kind, topic, payload
        # Cannot happen with the shipped formats (bad UTF-8 never maps); keep it total.
        self.counts["bad_utf8"] = self.counts.get("bad_utf8", 0) + 1
        return "bad_utf8", self.targets[0][1], b"\xff\xfe"

    @staticmethod
    def _means_nothing(topic: str, payload: bytes, binding: DeviceBinding) -> bool:
        result = map_payload(topic, payload, time.time(), binding)
        return not isinstance(result, list) or not result

    def _payload(self, kind: str, binding: DeviceBinding, topic: str) -> bytes | None:
        rng, fam = self.rng, _family(binding, topic)
        if kind == "random_bytes":
            return rng.randbytes(rng.randrange(1, 200))
        if kind == "bad_utf8":
            return b"\xc3\x28" + rng.randbytes(rng.randrange(0, 40)) + b"\xff"
        if kind == "huge":
            return b'{"v":1,"pad":"' + b"x" * (MAX_PAYLOAD + rng.randrange(1, 4096)) + b'"}'
        if kind == "truncated_json":
            sample = self._valid(binding, topic)
            return sample[: rng.randrange(0, len(sample))]
        if kind == "wrong_types":
            options = _WRONG_TYPES.get(fam)
            if not options:  # a text format has no types: send a word it does not know
                return rng.choice([b"opened", b"OPEN!", b"1", b"closing"])
            return json.dumps(rng.choice(options)).encode()
        if kind == "unknown_fields":
            options = _UNKNOWN_FIELDS.get(fam)
            if not options:
                return json.dumps({"state": "open", "extra": rng.random()}).encode()
            return json.dumps(rng.choice(options)).encode()
        others = [p for f, p in _SAMPLES.items() if f != fam]
        return rng.choice(others)

    def _valid(self, binding: DeviceBinding, topic: str) -> bytes:
        """A real payload for this topic (to truncate)."""
        fam = _family(binding, topic)
        kinds = {
            "steward/access-v1": ("access.granted", None),
            "tasmota": (
                "patrol.scan" if binding.map.id.endswith("checkpoint") else "access.granted",
                None,
            ),
            "shelly/status": ("door.opened", "status"),
        }
        kind, variant = kinds.get(fam, ("door.opened", None))
        ev = SimEvent(0, binding.device, kind, credential="0012AB34", variant=variant)
        return render(ev, binding, _SAMPLE_TS).payload
