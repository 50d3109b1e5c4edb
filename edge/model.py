"""The wire vocabulary shared by the edge and the central API.

Edge-internal values are plain slotted dataclasses (cheap on the hot path); what crosses
the network is described by the pydantic models below, which the API validates and
publishes in its OpenAPI document.

Delivery contract (see edge/outbox.py, edge/uplink.py, cloud_api/ingest):
- An edge keeps two lanes, "events" (events and alarms) and "readings". Each lane numbers
  its records 1, 2, 3, ... and never reuses a number within one outbox file's history.
- A batch carries records of one lane with strictly consecutive seq numbers.
- Who numbered them: the batch's ``stream`` names the outbox file (``outbox``, a random id
  made when the file is created) and the ``generation`` that numbered the records (a
  random id made by each process that opens the file, the first time it appends; it
  covers the seqs from its ``first_seq`` up to the next generation's). A record's identity
  is (edge, outbox, generation, lane, seq), and the API keeps one cursor per (edge,
  outbox, generation, lane). Why a generation and not just the file's id: a file restored
  from an older copy, or rewound by a power loss (its last commits lost under
  synchronous=NORMAL), numbers its next records with seqs the API already holds from the
  lost history, possibly far past what the API holds (it may have been offline), so no
  comparison of seq numbers can tell them from replays. A rewind can only be noticed
  after a restart, and every restart that appends opens a new generation, so re-numbered
  records always arrive under a (generation, seq) the API has never seen. What such a
  file still holds from the old history keeps its old generation, and the API answers it
  as a replay: each record is delivered exactly once. A replaced (new, empty) file has a
  new outbox id. A batch never spans two generations. A batch without ``stream`` belongs
  to the edge's single default stream (first_seq 1), for simple clients and tools: such a
  client cannot have its file replaced or rewound safely.
- The API stores each record at most once and answers the highest contiguous seq it holds
  for the batch's stream and lane (``acked``); the edge deletes only records of that
  stream at or below it, and never more than the batch it sent.
- A batch that starts above acked + 1 (a new stream: above first_seq) means the edge let
  the records between go without delivering them (dropped from a full outbox, or moved to
  its dead letters); the edge says so with ``dropped_through``, the highest seq below the
  batch it let go. A jump that ``dropped_through`` does not cover is refused (422, naming
  ``dropped_through``), so one bad request cannot make the API take an edge's next
  records for replays; the API counts a covered jump as dropped at the edge. An operator
  can set a cursor back (``steward-api edges reset-cursor``).
- ``backlog`` reports what the edge holds once this batch is acknowledged (so /v1/edges
  shows 0 after a drain).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# The name and unit rules are shared with the profile loader, which checks them at load.
from device_profiles.wire_rules import (
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    PLAIN_TEXT,
    SOURCE_PATTERN,
    UNIT_MAX_LENGTH,
)


class Quality(StrEnum):
    GOOD = "good"
    BAD = "bad"  # the device did not deliver a usable value; reason says why
    STALE = "stale"  # a value is known but older than the device's poll interval allows


_GOOD = Quality.GOOD


class Colour(StrEnum):
    """The administration's three-colour code, for budgets, alarms and hazards alike."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


Lane = Literal["events", "readings"]
LANES: tuple[Lane, ...] = ("events", "readings")


@dataclass(slots=True)
class Reading:
    """One point of one device at one instant, as acquisition produced it."""

    ts: float
    device: str
    point: str
    value: float | int | str | None
    unit: str
    quality: Quality = Quality.GOOD
    reason: str | None = None
    kind: str = "gauge"
    wrap: float | None = None  # a counter register's modulus in `unit` (see edge/energy/ledger.py)

    def as_dict(self) -> dict:
        out = {
            "ts": self.ts,
            "device": self.device,
            "point": self.point,
            "value": self.value,
            "unit": self.unit,
            "quality": self.quality.value,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(slots=True)
class Sample:
    """Everything one poll of one device produced: the unit of the readings lane."""

    ts: float
    device: str
    readings: list[Reading]
    tags: dict[str, str] = field(default_factory=dict)
    interval: float | None = None  # the device's poll interval (s): the API's staleness yardstick

    def wire(self) -> dict:
        """The record body as sent upstream (seq is added by the outbox)."""
        points = []
        for r in self.readings:
            p = {
                "point": r.point,
                "value": r.value,
                "unit": r.unit,
                "kind": r.kind,
                "quality": r.quality.value,
            }
            if r.reason:
                p["reason"] = r.reason
            if r.wrap is not None:
                p["wrap"] = r.wrap
            points.append(p)
        body: dict = {"ts": self.ts, "device": self.device, "points": points}
        if self.tags:
            body["tags"] = self.tags
        if self.interval is not None:
            body["interval"] = self.interval
        return body


@dataclass(slots=True)
class Event:
    """Something that happened (a device went offline, a door was forced, a rule fired)."""

    ts: float
    source: str
    code: str
    message: str
    type: Literal["event", "alarm"] = "event"
    colour: Colour | None = None
    data: dict = field(default_factory=dict)
    # An alarm record is a rule's verdict on (code, source): True raises or updates the
    # alarm, False clears it (returns it to normal). None for a plain event.
    active: bool | None = None

    def wire(self) -> dict:
        body = {
            "ts": self.ts,
            "type": self.type,
            "source": self.source,
            "code": self.code,
            "message": self.message,
            "data": self.data,
        }
        if self.colour is not None:
            body["colour"] = self.colour.value
        if self.active is not None:
            body["active"] = self.active
        return body


# ---------------------------------------------------------------- wire models (pydantic)


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)]
Source = Annotated[
    str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=SOURCE_PATTERN)
]  # an event's subject: a name, or a credential in any script
Timestamp = Annotated[
    float, AfterValidator(_finite), Field(gt=946684800, lt=4102444800)
]  # 2000..2100
Seq = Annotated[int, Field(ge=1, le=2**62)]
INT64_MAX = 2**63 - 1  # SQLite's and orjson's integers end here
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]


# Text from the field that ends up in logs, dashboards and other tools carries no control
# characters (C0, DEL, C1: a newline forges a log line, ESC drives a terminal) and no
# Unicode bidi embeddings, overrides or isolates, which make text display as something it
# is not. One pattern, checked by pydantic's compiled regex; written with \uXXXX escapes
# so that JSON Schema (ECMA-262) validators can compile it from the OpenAPI document.
# PLAIN_TEXT itself lives in device_profiles/wire_rules.py: profile units are checked with it.
# Free text the edge writes (event messages, reasons) may span lines and hold tabs.
PLAIN_LINES = (
    r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f"  # all C0 controls but tab, LF and CR
    r"\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
)

MAX_TEXT_VALUE = 1024  # characters of a text reading (a Modbus string is at most 250 bytes)
MAX_TAGS = 32
MAX_EVENT_DATA_BYTES = 16 * 1024  # an event's data, as JSON
MAX_EVENT_DATA_KEYS = 64
MAX_INTERVAL = 31 * 86400.0  # a device polled less often than monthly is not being polled

TagKey = Annotated[str, Field(min_length=1, max_length=64, pattern=PLAIN_TEXT)]
TagValue = Annotated[str, Field(max_length=256, pattern=PLAIN_TEXT)]


def _tags_schema(schema: dict) -> None:
    # pydantic states a key's pattern as patternProperties, which lets other keys through;
    # propertyNames says what it means: every key must match.
    schema.pop("patternProperties", None)
    schema["propertyNames"] = {"minLength": 1, "maxLength": 64, "pattern": PLAIN_TEXT}
    schema["additionalProperties"] = {"type": "string", "maxLength": 256, "pattern": PLAIN_TEXT}


def _event_data(data: dict) -> dict:
    # Events are few, so serialising each once here is cheap; it is also the only way to
    # find an integer the store's JSON encoder (and SQLite) cannot hold, at any depth.
    try:
        size = len(orjson.dumps(data))
    except orjson.JSONEncodeError as e:
        if "64-bit" in str(e):
            raise ValueError("must not hold an integer beyond 64 bits") from None
        raise ValueError(f"cannot be stored as JSON: {e}") from None
    if size > MAX_EVENT_DATA_BYTES:
        raise ValueError(f"must be at most {MAX_EVENT_DATA_BYTES} bytes as JSON, got {size}")
    return data


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A reading's value: a finite number (not a boolean), a string, or null when bad.
Value = (
    Annotated[float, Field(allow_inf_nan=False, strict=True)]
    | Annotated[str, Field(max_length=MAX_TEXT_VALUE, pattern=PLAIN_TEXT)]
    | None
)


class WirePoint(_Wire):
    point: Name
    value: Value
    unit: str = Field("", max_length=UNIT_MAX_LENGTH, pattern=PLAIN_TEXT)
    kind: Literal["gauge", "counter"] = "gauge"
    quality: Quality = Quality.GOOD
    reason: str | None = Field(None, max_length=500, pattern=PLAIN_LINES)
    wrap: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="counters read from an unsigned integer register: its modulus in `unit`"
        " (2**bits * scale, e.g. 42949672.96 for a u32 with scale 0.01); a fall across it is"
        " a rollover, not a reset",
    )


class ReadingRecord(_Wire):
    seq: Seq
    ts: Timestamp
    device: Name
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=MAX_TAGS, json_schema_extra=_tags_schema
    )
    points: list[WirePoint] = Field(min_length=1, max_length=2000)
    interval: float | None = Field(
        None,
        gt=0,
        le=MAX_INTERVAL,
        allow_inf_nan=False,
        description="the device's poll interval in seconds; the API calls a series stale when"
        " its latest reading is older than three of them. Absent (older edges): unknown",
    )

    @model_validator(mode="after")
    def _good_points_have_values(self) -> ReadingRecord:
        # One check per record rather than per point: ingest validates 100k points/s.
        points = self.points
        for p in points:
            if p.value is None and p.quality is _GOOD:  # pydantic gives the enum's member
                i = points.index(p)
                raise ValueError(f"points[{i}] ({p.point}): a good reading needs a value")
        if len({p.point for p in points}) != len(points):  # two readings of one point
            first: dict[str, int] = {}
            for i, p in enumerate(points):
                if p.point in first:
                    raise ValueError(
                        f"points[{i}] ({p.point}) repeats points[{first[p.point]}]:"
                        " a record holds one reading per point"
                    )
                first[p.point] = i
        return self


class EventRecord(_Wire):
    seq: Seq
    ts: Timestamp
    type: Literal["event", "alarm"] = "event"
    source: Source
    code: Name
    message: str = Field("", max_length=2000, pattern=PLAIN_LINES)
    colour: Colour | None = None
    data: Annotated[dict, AfterValidator(_event_data)] = Field(
        default_factory=dict,
        max_length=MAX_EVENT_DATA_KEYS,
        description=f"at most {MAX_EVENT_DATA_BYTES} bytes as JSON; integers within 64 bits",
    )
    active: bool | None = Field(
        None,
        description="alarms only, and required there: true raises or updates the alarm "
        "(code, source), false clears it",
    )

    @model_validator(mode="after")
    def _alarm_says_active(self) -> EventRecord:
        if self.type == "alarm" and self.active is None:
            raise ValueError("an alarm record needs active: true (raise/update) or false (clear)")
        if self.type == "event" and self.active is not None:
            raise ValueError("active belongs to alarm records only (type: alarm)")
        return self


class Backlog(_Wire):
    """What the edge still holds, reported with every batch so operators can see it."""

    records: Count = 0
    oldest_ts: float | None = None
    dropped: Count = 0
    quarantined: Count = Field(0, description="records the API refused, kept aside at the edge")
    drops: dict[Name, Count] = Field(
        default_factory=dict,
        max_length=16,
        description="records the edge dropped from this lane since its outbox was created, "
        "by reason: full (readings bound), events_full, alarms_full, dead_letters_full, "
        "clock_held_full",
    )


class Stream(_Wire):
    """Which numbering a batch's seq numbers belong to (see the delivery contract)."""

    outbox: str = Field(pattern=r"^[0-9a-f]{32}$", description="the outbox file's random id")
    generation: str = Field(
        pattern=r"^[0-9a-f]{16}$", description="the random id of the process that numbered them"
    )
    first_seq: Seq = Field(description="the first seq this generation numbered in this lane")


class _Batch(_Wire):
    site: Name
    building: Name
    backlog: dict[Lane, Backlog] = Field(
        default_factory=dict, description="what the edge holds once this batch is acknowledged"
    )
    stream: Stream | None = None
    dropped_through: int = Field(
        0,
        ge=0,
        le=2**62,
        description="the highest seq below this batch that the edge let go undelivered",
    )

    @model_validator(mode="after")
    def _consecutive(self) -> _Batch:
        records = self.records  # type: ignore[attr-defined]
        for before, after in itertools.pairwise(records):
            if after.seq != before.seq + 1:
                raise ValueError(
                    f"records must carry consecutive seq numbers: seq {after.seq} follows "
                    f"{before.seq}"
                )
        first = records[0].seq
        if self.stream is not None and first < self.stream.first_seq:
            raise ValueError(
                f"stream.first_seq: records[0].seq {first} is below the generation's first "
                f"seq {self.stream.first_seq}"
            )
        if self.dropped_through >= first:
            raise ValueError(
                f"dropped_through: {self.dropped_through} must be below the batch's first "
                f"seq {first}"
            )
        return self


class ReadingBatch(_Batch):
    lane: Literal["readings"]
    records: list[ReadingRecord] = Field(min_length=1)


class EventBatch(_Batch):
    lane: Literal["events"]
    records: list[EventRecord] = Field(min_length=1)


IngestBatch = Annotated[ReadingBatch | EventBatch, Field(discriminator="lane")]


class IngestAck(_Wire):
    lane: Lane
    acked: int = Field(
        description="highest contiguous seq the API holds for this lane of the batch's stream"
    )
    accepted: int = Field(description="records of this batch stored now")
    duplicates: int = Field(0, description="records of this batch the API already had")
    dropped_at_edge: int = Field(0, description="seq numbers skipped because the edge dropped them")
