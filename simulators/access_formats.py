"""Render one neutral access event as the MQTT message a real device of a format would send.

The simulator's scenarios speak one vocabulary (SimEvent: a device, a kind, a credential,
...); each shipped payload map (device_profiles/catalog/payload_maps/) has a renderer
here that writes what such a device puts on the wire: its topic (from the device binding,
exactly as the edge subscribes) and its payload bytes, with the device's own time where
the format carries one. Pure: the event's real time is passed in.

A format that cannot say what the event says (a door contact cannot report a badge) is a
FormatError naming the device, the format and the kind, so a scenario fails at load time,
not at 3 a.m. in the middle of a run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from edge.acquire.payload_map import DeviceBinding

_SWAP = {"door.opened": "door.closed", "door.closed": "door.opened"}


class FormatError(ValueError):
    """The event cannot be rendered in its device's payload format."""


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One thing that happens in a scenario, in the edge's access vocabulary.

    `at` is scenario seconds from the start. `credential` is a card, plate, guard badge
    (for patrol.scan: the guard's badge; `guard:` in a scenario file is the same field).
    `door` and `reader` override the binding's door and device id (Steward format only).
    `variant` picks one of a format's message shapes (Tasmota: RDM6300 | PN532; Shelly
    Gen2: notify_status | notify_event | status). `active` is for door.tamper (false:
    the case is closed again). `data` holds holder, direction, area and any extras.
    """

    at: float
    device: str
    kind: str
    credential: str | None = None
    reason: str | None = None
    door: str | None = None
    reader: str | None = None
    variant: str | None = None
    active: bool = True
    data: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rendered:
    topic: str
    payload: bytes


def _topic(binding: DeviceBinding, index: int = 0) -> str:
    return binding.topics()[index]


def _json(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _ms(ts: float) -> float:
    return round(ts, 3)


def _need(ev: SimEvent, binding: DeviceBinding, kinds: tuple[str, ...]) -> None:
    if ev.kind not in kinds:
        raise FormatError(
            f"device {binding.device!r} ({binding.map.id}) cannot report {ev.kind}; "
            f"it reports {', '.join(kinds)}"
        )


def _wire_kind(ev: SimEvent, binding: DeviceBinding) -> str:
    """What the device itself reports: a contact wired the other way says the opposite."""
    return _SWAP.get(ev.kind, ev.kind) if binding.invert else ev.kind


def render_steward(ev: SimEvent, binding: DeviceBinding, ts: float) -> Rendered:
    """steward/access-v1: one JSON object per event (steward-access-v1.schema.json)."""
    if ev.kind == "access.denied" and not ev.reason:
        raise FormatError(f"device {binding.device!r}: access.denied needs a reason")
    needs_cred = ("access.granted", "access.denied", "access.duress", "patrol.scan")
    if ev.kind in needs_cred and not ev.credential:
        raise FormatError(f"device {binding.device!r}: {ev.kind} needs a credential")
    body: dict = {"v": 1, "ts": _ms(ts), "event": _wire_kind(ev, binding)}
    if ev.reader:
        body["reader"] = ev.reader
    if ev.door:
        body["door"] = ev.door
    if ev.credential:
        body["credential"] = ev.credential
    if ev.reason:
        body["reason"] = ev.reason
    extra = dict(ev.data)
    for key in ("holder", "direction", "area"):
        if key in extra:
            body[key] = extra.pop(key)
    if extra:
        body["data"] = extra
    return Rendered(_topic(binding), _json(body))


def render_zigbee_contact(ev: SimEvent, binding: DeviceBinding, ts: float) -> Rendered:
    """zigbee2mqtt/contact: the device's state object (Aqara-like: no tamper on contact
    reports; a tamper report carries only tamper), last_seen in ISO 8601 UTC."""
    _need(ev, binding, ("door.opened", "door.closed", "door.tamper"))
    seen = dt.datetime.fromtimestamp(_ms(ts), dt.UTC).isoformat(timespec="milliseconds")
    body: dict = {"battery": 97, "linkquality": 123, "voltage": 3005}
    if ev.kind == "door.tamper":
        body["tamper"] = ev.active
    else:
        body["contact"] = _wire_kind(ev, binding) == "door.closed"
    body["last_seen"] = seen.replace("+00:00", "Z")
    return Rendered(_topic(binding), _json(body))


def _tasmota(ev: SimEvent, binding: DeviceBinding, ts: float, kind: str) -> Rendered:
    _need(ev, binding, (kind,))
    if not ev.credential:
        raise FormatError(f"device {binding.device!r}: a Tasmota RFID read needs a credential")
    # Tasmota's Time is local wall-clock time without a zone, whole seconds.
    zone = ZoneInfo(binding.naive_tz or binding.map.naive_tz)
    local = dt.datetime.fromtimestamp(math.floor(ts), zone).replace(tzinfo=None)
    reader = ev.variant or "RDM6300"
    if reader == "RDM6300":
        read: dict = {"UID": ev.credential}
    elif reader == "PN532":
        read = {"UID": ev.credential, "DATA": ""}
    else:
        raise FormatError(f"device {binding.device!r}: Tasmota variant {reader!r} (RDM6300|PN532)")
    return Rendered(_topic(binding), _json({"Time": local.isoformat(), reader: read}))


def render_tasmota_badge(ev: SimEvent, binding: DeviceBinding, ts: float) -> Rendered:
    """tasmota/rfid-badge: a UID read is a grant (the reader's own rule opens the door)."""
    return _tasmota(ev, binding, ts, "access.granted")


def render_tasmota_checkpoint(ev: SimEvent, binding: DeviceBinding, ts: float) -> Rendered:
    """tasmota/rfid-checkpoint: a UID read is a guard's scan; the credential is the badge."""
    return _tasmota(ev, binding, ts, "patrol.scan")


def render_shelly_gen1(ev: SimEvent, binding: DeviceBinding, ts: float) -> Rendered:
    """shelly/dw-gen1: plain text open/close, no time (arrival time stamps it)."""
    _need(ev, binding, ("door.opened", "door.closed"))
    text = "open" if _wire_kind(ev, binding) == "door.opened" else "close"
    return Rendered(_topic(binding), text.encode())


def render_shelly_gen2(ev: SimEvent, binding: DeviceBinding, ts: float) -> Rendered:
    """shelly/input-gen2: input state true = contact closed = door closed (unless inverted)."""
    _need(ev, binding, ("door.opened", "door.closed"))
    vals = binding.values()
    prefix, component = vals["prefix"], vals["component"]
    cid = int(component.rsplit(":", 1)[-1]) if component[-1:].isdigit() else 0
    state = _wire_kind(ev, binding) == "door.closed"
    variant = ev.variant or "notify_status"
    stamp = round(ts, 2)  # Shelly sends centiseconds
    rpc = f"{prefix}/events/rpc"
    head = {"src": prefix, "dst": f"{prefix}/events"}
    if variant == "notify_status":
        params = {"ts": stamp, component: {"id": cid, "state": state}}
        return Rendered(rpc, _json({**head, "method": "NotifyStatus", "params": params}))
    if variant == "notify_event":
        item = {"component": component, "id": cid, "event": "toggle", "state": state, "ts": stamp}
        params = {"ts": stamp, "events": [item]}
        return Rendered(rpc, _json({**head, "method": "NotifyEvent", "params": params}))
    if variant == "status":
        return Rendered(f"{prefix}/status/{component}", _json({"id": cid, "state": state}))
    raise FormatError(
        f"device {binding.device!r}: Shelly Gen2 variant {variant!r} "
        "(notify_status|notify_event|status)"
    )


RENDERERS: dict[str, Callable[[SimEvent, DeviceBinding, float], Rendered]] = {
    "steward/access-v1": render_steward,
    "zigbee2mqtt/contact": render_zigbee_contact,
    "tasmota/rfid-badge": render_tasmota_badge,
    "tasmota/rfid-checkpoint": render_tasmota_checkpoint,
    "shelly/dw-gen1": render_shelly_gen1,
    "shelly/input-gen2": render_shelly_gen2,
}


def render(ev: SimEvent, binding: DeviceBinding, ts: float) -> Rendered:
    """The message `binding`'s device sends for `ev` happening at real time `ts`."""
    renderer = RENDERERS.get(binding.map.id)
    if renderer is None:
        known = ", ".join(sorted(RENDERERS))
        raise FormatError(
            f"device {binding.device!r}: no simulator renderer for map {binding.map.id!r} "
            f"(the simulator speaks {known})"
        )
    return renderer(ev, binding, ts)
