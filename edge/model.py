"""The wire vocabulary shared by the edge and the central API.

Edge-internal values are plain slotted dataclasses (cheap on the hot path); what crosses
the network is described by the pydantic models below, which the API validates and
publishes in its OpenAPI document.

Delivery contract (see edge/outbox.py, edge/uplink.py, cloud_api/ingest):
- An edge keeps two lanes, "events" (events and alarms) and "readings". Each lane numbers
  its records 1, 2, 3, ... and never reuses a number.
- A batch carries records of one lane with strictly consecutive seq numbers.
- The API stores each (edge, lane, seq) at most once and answers the highest contiguous
  seq it holds for that lane; the edge deletes only records at or below that ack.
- A batch that starts above ack + 1 means the edge dropped the records between (its
  outbox was full); the API counts them as dropped at the edge and moves on.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


class Quality(StrEnum):
    GOOD = "good"
    BAD = "bad"  # the device did not deliver a usable value; reason says why
    STALE = "stale"  # a value is known but older than the device's poll interval allows


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
    wrap: float | None = None  # a counter register's modulus in `unit` (see edge/energy.py)

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
        return body


# ---------------------------------------------------------------- wire models (pydantic)


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-/]+$")]
Timestamp = Annotated[
    float, AfterValidator(_finite), Field(gt=946684800, lt=4102444800)
]  # 2000..2100
Seq = Annotated[int, Field(ge=1, le=2**62)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A reading's value: a finite number (not a boolean), a string, or null when bad.
Value = Annotated[float, Field(allow_inf_nan=False, strict=True)] | str | None


class WirePoint(_Wire):
    point: Name
    value: Value
    unit: str = Field("", max_length=32)
    kind: Literal["gauge", "counter"] = "gauge"
    quality: Quality = Quality.GOOD
    reason: str | None = Field(None, max_length=500)
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
    tags: dict[str, str] = Field(default_factory=dict)
    points: list[WirePoint] = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _good_points_have_values(self) -> ReadingRecord:
        # One check per record rather than per point: ingest validates 100k points/s.
        for i, p in enumerate(self.points):
            if p.value is None and p.quality == Quality.GOOD:
                raise ValueError(f"points[{i}] ({p.point}): a good reading needs a value")
        return self


class EventRecord(_Wire):
    seq: Seq
    ts: Timestamp
    type: Literal["event", "alarm"] = "event"
    source: Name
    code: Name
    message: str = Field("", max_length=2000)
    colour: Colour | None = None
    data: dict = Field(default_factory=dict)


class Backlog(_Wire):
    """What the edge still holds, reported with every batch so operators can see it."""

    records: int = Field(0, ge=0)
    oldest_ts: float | None = None
    dropped: int = Field(0, ge=0)
    quarantined: int = Field(0, ge=0, description="records the API refused, kept aside at the edge")


class _Batch(_Wire):
    site: Name
    building: Name
    backlog: dict[Lane, Backlog] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consecutive(self) -> _Batch:
        records = self.records  # type: ignore[attr-defined]
        for before, after in itertools.pairwise(records):
            if after.seq != before.seq + 1:
                raise ValueError(
                    f"records must carry consecutive seq numbers: seq {after.seq} follows "
                    f"{before.seq}"
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
    acked: int = Field(description="highest contiguous seq the API holds for this lane")
    accepted: int = Field(description="records of this batch stored now")
    duplicates: int = Field(0, description="records of this batch the API already had")
    dropped_at_edge: int = Field(0, description="seq numbers skipped because the edge dropped them")
