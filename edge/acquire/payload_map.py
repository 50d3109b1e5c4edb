"""Turn one MQTT message into access events, as its device's payload map says (pure).

(topic, payload bytes, arrival time, device binding) -> list[AccessEvent] or a Refusal
with a reason from a fixed list, so the caller can count refusals by reason and keep the
raw payload. An empty list means "understood, nothing to report" (a battery-only update,
another component's status). No I/O, no clock: arrival time is passed in.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from device_profiles.payload_schema import Message, PayloadMap, Rule, TimeSpec
from device_profiles.wire_rules import ACCESS_KINDS
from edge.rules.access_events import AccessEvent

RefusalReason = Literal[
    "too_large",  # over MAX_PAYLOAD bytes
    "not_utf8",
    "not_json",
    "not_object",  # JSON, but not an object
    "unknown_topic",  # no device is bound to the topic
    "no_match",  # no message of the map matches (e.g. an unknown method or version)
    "missing_field",  # none of the fields the message needs is there
    "bad_value",  # a field has a value the map cannot use (unknown event, a dict as card id)
]
REFUSAL_REASONS: tuple[str, ...] = RefusalReason.__args__  # type: ignore[attr-defined]
MAX_PAYLOAD = 64 * 1024  # access events are small; a big payload is a mistake or an attack

_MISSING = object()
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TYPES: dict[str, type | tuple[type, ...]] = {"bool": bool, "number": (int, float), "string": str}
_SWAP = {"door.opened": "door.closed", "door.closed": "door.opened"}


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: RefusalReason
    detail: str  # names the topic and the field, for the dead-letter list and the log


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    """One device on the broker: its id, its payload map and where it is.

    params override the map's parameter defaults (topic names, Shelly component);
    invert swaps door.opened/door.closed for a contact wired the other way.
    """

    device: str
    map: PayloadMap
    door: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    invert: bool = False
    naive_tz: str | None = None  # overrides the map's zone for times without one

    def __post_init__(self) -> None:
        unknown = set(self.params) - set(self.map.params)
        if unknown:
            has = ", ".join(sorted(self.map.params)) or "none"
            raise ValueError(
                f"device {self.device!r}: map {self.map.id!r} has no param "
                f"{', '.join(sorted(unknown))} (it has: {has})"
            )

    def values(self) -> dict[str, str]:
        """Every placeholder's value: the device id, then map defaults and overrides."""
        out = {"device": self.device}
        for name, default in self.map.params.items():
            out[name] = _fill(self.params.get(name, default), out)
        return out

    def topics(self) -> list[str]:
        """The exact topics to subscribe to for this device, in map order, no duplicates."""
        vals = self.values()
        return list(dict.fromkeys(_fill(m.topic, vals) for m in self.map.messages))


def _fill(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _get(obj: Any, path: str, root: Any = None) -> Any:
    """Value at a dotted path, or _MISSING. `$.` starts at the message root inside `each`."""
    if path.startswith("$.") and root is not None:
        obj, path = root, path[2:]
    for part in path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return _MISSING
    return obj


def _present(value: Any) -> bool:
    return value is not _MISSING and value is not None


def _same(a: Any, b: Any) -> bool:
    # JSON true must not equal 1: a contact's `true` and a counter's 1 are different facts.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def parse_time(value: Any, fmt: str, naive_tz: str) -> float | None:
    """A payload time as Unix seconds, or None when it cannot be read."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if fmt == "iso":
            return None
        seconds = float(value) / 1000.0 if fmt == "epoch_ms" else float(value)
        if fmt == "auto" and abs(value) > 1e11:  # 1e11 s is year 5138; it must be ms
            seconds = float(value) / 1000.0
        return seconds if math.isfinite(seconds) else None
    if isinstance(value, str) and fmt in ("auto", "iso"):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=ZoneInfo(naive_tz))
        return dt.timestamp()
    return None


def _event_time(
    spec: TimeSpec | None, item: Any, root: Any, arrival: float, binding: DeviceBinding
) -> tuple[float, dict]:
    """The payload's own time when present and sane, else arrival; with a note for data."""
    if spec is None:
        return arrival, {"ts_source": "arrival"}
    pmap = binding.map
    tz = binding.naive_tz or pmap.naive_tz
    for path in spec.fields:
        raw = _get(item, path, root)
        if not _present(raw):
            continue
        ts = parse_time(raw, spec.format, tz)
        if ts is not None and arrival - pmap.max_age <= ts <= arrival + pmap.max_ahead:
            return ts, {"ts_source": "payload"}
        # Present but unreadable or out of bounds: a wrong time is worse than arrival time.
        return arrival, {"ts_source": "arrival", "ts_rejected": str(raw)[:64]}
    return arrival, {"ts_source": "arrival"}


def _text_field(item: Any, path: str | None, root: Any, what: str) -> str | Refusal | None:
    if path is None:
        return None
    value = _get(item, path, root)
    if not _present(value):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return Refusal("bad_value", f"{what} ({path}) is {type(value).__name__}, not text")
    text = str(value).strip()
    if not text or len(text) > 256:
        return Refusal("bad_value", f"{what} ({path}) is empty or longer than 256 characters")
    return text


def _rule_fires(rule: Rule, item: Any, text: str | None, vals: dict[str, str]) -> bool:
    if rule.text is not None:
        return text is not None and text in rule.text
    if rule.when is None:
        return True
    value = _get(item, _fill(rule.when.field, vals))
    if rule.when.in_ is not None:
        return value is not _MISSING and any(_same(value, v) for v in rule.when.in_)
    if rule.when.equals is not None:
        return value is not _MISSING and _same(value, rule.when.equals)
    return _present(value) == rule.when.present


def _event(
    rule: Rule, item: Any, root: Any, ts: float, tnote: dict, binding: DeviceBinding, topic: str
) -> AccessEvent | Refusal:
    vals = binding.values()
    if rule.kind_from is not None:
        raw = _get(item, _fill(rule.kind_from, vals), root)
        kind = rule.kind_values.get(raw, raw) if isinstance(raw, str) else raw
        if kind not in ACCESS_KINDS:
            return Refusal(
                "bad_value", f"{topic}: {rule.kind_from}={str(raw)[:40]!r} is not an event kind"
            )
    else:
        kind = rule.kind
    if binding.invert:
        kind = _SWAP.get(kind, kind)
    fields = {}
    for name in ("device", "door", "credential", "reason"):
        path = getattr(rule, name)
        got = _text_field(item, _fill(path, vals) if path else None, root, name)
        if isinstance(got, Refusal):
            return Refusal(got.reason, f"{topic}: {got.detail}")
        fields[name] = got
    data: dict = {}
    for key, path in rule.data.items():
        value = _get(item, _fill(path, vals), root)
        if _present(value):
            data[key] = value
    data.update(rule.fixed_data)
    data.update(tnote)
    return AccessEvent(
        ts=ts,
        kind=kind,
        device=fields["device"] or binding.device,
        door=fields["door"] or binding.door,
        credential=fields["credential"],
        reason=fields["reason"],
        data=data,
    )


def _apply(
    msg: Message, obj: Any, text: str | None, topic: str, arrival: float, binding: DeviceBinding
) -> list[AccessEvent] | Refusal:
    vals = binding.values()
    if msg.require_any and not any(_present(_get(obj, _fill(p, vals))) for p in msg.require_any):
        if msg.otherwise == "ignore":
            return []
        return Refusal("missing_field", f"{topic}: none of {', '.join(msg.require_any)} is there")
    for path, want in msg.types.items():
        value = _get(obj, _fill(path, vals))
        wrong = not isinstance(value, _TYPES[want]) or (want != "bool" and isinstance(value, bool))
        if _present(value) and wrong:
            return Refusal("bad_value", f"{topic}: {path} is {str(value)[:20]!r}, not a {want}")
    if msg.each is not None:
        items = _get(obj, _fill(msg.each, vals))
        if not isinstance(items, list):
            return Refusal("missing_field", f"{topic}: {msg.each} is not a list")
        where = {k: _fill(str(v), vals) if isinstance(v, str) else v for k, v in msg.where.items()}
        items = [
            i
            for i in items
            if isinstance(i, dict) and all(_same(_get(i, k), v) for k, v in where.items())
        ]
    else:
        items = [obj]
    events: list[AccessEvent] = []
    for item in items:
        ts, tnote = _event_time(msg.time, item, obj, arrival, binding)
        for rule in msg.rules:
            if _rule_fires(rule, item, text, vals):
                ev = _event(rule, item, obj, ts, tnote, binding, topic)
                if isinstance(ev, Refusal):
                    return ev  # one bad field spoils the message: never half of it
                events.append(ev)
    return events


def map_payload(
    topic: str, payload: bytes, arrival: float, binding: DeviceBinding
) -> list[AccessEvent] | Refusal:
    """The access events one message means, or why it means nothing usable."""
    if len(payload) > MAX_PAYLOAD:
        return Refusal("too_large", f"{topic}: {len(payload)} bytes > {MAX_PAYLOAD}")
    vals = binding.values()
    candidates = [m for m in binding.map.messages if _fill(m.topic, vals) == topic]
    if not candidates:
        return Refusal("unknown_topic", f"{topic}: not a topic of {binding.device}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal("not_utf8", f"{topic}: payload is not UTF-8")
    obj: Any = None
    if any(m.payload == "json" for m in candidates):
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            if all(m.payload == "json" for m in candidates):
                return Refusal("not_json", f"{topic}: payload is not JSON: {text[:40]!r}")
    for msg in candidates:
        if msg.payload == "text":
            result = _apply(msg, None, text.strip(), topic, arrival, binding)
            if result:
                return result
            continue
        if not isinstance(obj, dict):
            return Refusal("not_object", f"{topic}: JSON {type(obj).__name__}, not an object")
        if all(_same(_get(obj, _fill(k, vals)), v) for k, v in msg.match.items()):
            return _apply(msg, obj, None, topic, arrival, binding)
    return Refusal("no_match", f"{topic}: no message of {binding.map.id} matches {text[:60]!r}")
