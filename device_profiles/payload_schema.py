"""What an MQTT payload map is: topics, how to read a payload, and which access events it means.

A payload map is data, like a register map: a new sensor or reader format is a new YAML
file in `catalog/payload_maps/`, never new code. The mapper (edge/acquire/payload_map.py)
interprets it. Paths are dotted (`params.input:0.state`); `{name}` placeholders in topics,
paths and `where` values are filled from the device binding (its params, `{device}`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from device_profiles.schema import Duration
from device_profiles.wire_rules import AccessKind

# The one access vocabulary lives with the wire's other rules.
Kind = AccessKind
Scalar = str | int | float | bool | None
TimeFormat = Literal["auto", "iso", "epoch_s", "epoch_ms"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class When(_Strict):
    """A test on one value: equal to `equals`, one of `in`, or (neither given) present, not null."""

    field: str
    equals: Scalar = None
    in_: list[Scalar] | None = Field(None, alias="in")
    present: bool = True  # with neither equals nor in: the field must exist (and not be null)


class Rule(_Strict):
    """One event a message may yield. Every rule whose test passes yields an event."""

    when: When | None = None  # json payloads
    text: list[str] | None = None  # text payloads: the stripped text is one of these
    kind: Kind | None = None
    kind_from: str | None = None  # a path whose value is the kind (Steward's own format)
    kind_values: dict[str, Kind] = Field(default_factory=dict)  # vendor word -> kind
    device: str | None = None  # a path overriding the binding's device id
    door: str | None = None  # a path; else the binding's door
    credential: str | None = None
    reason: str | None = None
    data: dict[str, str] = Field(default_factory=dict)  # event.data key -> path
    fixed_data: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> Rule:
        if (self.kind is None) == (self.kind_from is None):
            raise ValueError("a rule needs exactly one of kind: or kind_from:")
        if self.kind_values and self.kind_from is None:
            raise ValueError("kind_values: only goes with kind_from:")
        if self.when is not None and self.text is not None:
            raise ValueError("a rule tests either when: (json) or text:, not both")
        return self


class TimeSpec(_Strict):
    """Where the payload carries its own event time. Arrival time is used when absent or insane."""

    fields: list[str]  # paths tried in order; `$.` prefix = message root inside `each`
    format: TimeFormat = "auto"  # auto: numbers > 1e11 are ms, strings are ISO 8601


class Message(_Strict):
    """One kind of message on one topic. Messages on the same topic are tried in order."""

    topic: str  # exact topic with {placeholders}; MQTT wildcards are not allowed
    payload: Literal["json", "text"]
    match: dict[str, Scalar] = Field(default_factory=dict)  # path -> value the message must have
    require_any: list[str] = Field(default_factory=list)  # at least one must be present
    # When none of require_any is present: refuse (dead letter) or ignore (normal traffic
    # that carries something else, e.g. a Tasmota SENSOR message from another sensor).
    otherwise: Literal["refuse", "ignore"] = "refuse"
    # Fields that, when present, must have this JSON type: "false" (a string) for a contact
    # is a wrong value, and a wrong value is refused rather than read as no event.
    types: dict[str, Literal["bool", "number", "string"]] = Field(default_factory=dict)
    each: str | None = None  # a path to a list: rules apply to each item (e.g. NotifyEvent)
    where: dict[str, Scalar] = Field(default_factory=dict)  # item filter inside `each`
    time: TimeSpec | None = None
    rules: list[Rule]
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Message:
        if "+" in self.topic or "#" in self.topic:
            raise ValueError(f"topic {self.topic!r}: wildcards are not allowed; name the topic")
        if not self.rules:
            raise ValueError("a message needs at least one rule")
        for i, rule in enumerate(self.rules):
            if self.payload == "text" and rule.text is None:
                raise ValueError(f"rules[{i}]: a text payload rule needs text:")
            if self.payload == "json" and rule.text is not None:
                raise ValueError(f"rules[{i}]: text: is for text payloads")
        if self.where and self.each is None:
            raise ValueError("where: filters the items of each:; set each:")
        return self


class PayloadMap(_Strict):
    id: str
    name: str
    description: str = ""
    verified: bool  # false until checked against a real device
    notes: str = ""
    sources: list[str] = Field(default_factory=list)
    # Binding parameters and their defaults, e.g. {friendly_name: "{device}"}.
    params: dict[str, str] = Field(default_factory=dict)
    # Bounds on a payload's own time relative to arrival; outside them arrival time wins.
    max_age: Duration = 86400.0  # a persistent session may deliver day-old messages
    max_ahead: Duration = 60.0  # device clock ahead of the edge
    naive_tz: str = "Asia/Shanghai"  # zone for times without one (Tasmota local time)
    messages: list[Message]

    @model_validator(mode="after")
    def _known_placeholders(self) -> PayloadMap:
        if not self.messages:
            raise ValueError("a payload map needs at least one message")
        known = {"device", *self.params}
        for i, msg in enumerate(self.messages):
            texts = [msg.topic, *msg.match, *msg.require_any, *(str(v) for v in msg.where.values())]
            for rule in msg.rules:
                texts += [p for p in (rule.when.field if rule.when else None,) if p]
                texts += [p for p in (rule.kind_from, rule.credential, rule.door) if p]
            for text in texts:
                unknown = placeholders(text) - known
                if unknown:
                    raise ValueError(
                        f"messages[{i}]: {text!r} uses {{{', '.join(sorted(unknown))}}}, "
                        f"not a param (known: {', '.join(sorted(known))})"
                    )
        return self
