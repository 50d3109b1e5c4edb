"""Counters and gauges, rendered in the Prometheus text exposition format (version 0.0.4).

The app keeps one Registry in app.state; families computed at scrape time (from the
store) are rendered alongside it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Kind = Literal["counter", "gauge"]
LabelValues = tuple[str, ...]


@dataclass
class Family:
    """One metric name with its samples, one per combination of label values."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    samples: dict[LabelValues, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _key(self, labels: Mapping[str, str]) -> LabelValues:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(labels)}")
        return tuple(str(labels[name]) for name in self.labels)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if self.kind == "counter" and amount < 0:
            raise ValueError(f"counter {self.name} cannot go down")
        key = self._key(labels)
        with self._lock:
            self.samples[key] = self.samples.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            self.samples[key] = value

    def value(self, **labels: str) -> float:
        return self.samples.get(self._key(labels), 0.0)


class Registry:
    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def counter(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Family:
        return self._add(Family(name, "counter", help, labels))

    def gauge(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Family:
        return self._add(Family(name, "gauge", help, labels))

    def _add(self, family: Family) -> Family:
        if family.name in self._families:
            raise ValueError(f"metric {family.name} is already registered")
        self._families[family.name] = family
        return family

    def families(self) -> list[Family]:
        return list(self._families.values())


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        with family._lock:
            samples = sorted(family.samples.items())
        if not samples and not family.labels:
            samples = [((), 0.0)]  # an unlabelled counter exists from the start
        for values, number in samples:
            if family.labels:
                pairs = ",".join(
                    f'{name}="{_escape_label(value)}"'
                    for name, value in zip(family.labels, values, strict=True)
                )
                lines.append(f"{family.name}{{{pairs}}} {_number(number)}")
            else:
                lines.append(f"{family.name} {_number(number)}")
    return "\n".join(lines) + "\n"


class ApiMetrics:
    """The counters the API updates as it works."""

    def __init__(self) -> None:
        self.registry = registry = Registry()
        self.requests = registry.counter(
            "steward_ingest_requests_total", "ingest requests answered, by HTTP status", ("code",)
        )
        self.rejected = registry.counter(
            "steward_ingest_rejected_total",
            "ingest requests refused, by reason (nothing of them was stored)",
            ("reason",),
        )
        self.records = registry.counter(
            "steward_ingest_records_total",
            "records received, by lane and outcome (accepted: stored now; duplicate: already"
            " held, skipped)",
            ("lane", "outcome"),
        )
        self.points = registry.counter("steward_ingest_points_total", "readings stored")
        self.dropped_at_edge = registry.counter(
            "steward_ingest_dropped_at_edge_total",
            "seq numbers the edges skipped because they dropped those records",
            ("lane",),
        )
        self.busy_seconds = registry.counter(
            "steward_ingest_busy_seconds_total",
            "time the ingest worker spent decoding, validating and storing batches",
        )
        self.sink_written = registry.counter(
            "steward_influx_points_written_total", "readings written to the InfluxDB sink"
        )
        self.sink_errors = registry.counter(
            "steward_influx_write_errors_total", "failed write attempts to the InfluxDB sink"
        )
        self.sink_dropped = registry.counter(
            "steward_influx_points_dropped_total",
            "readings the InfluxDB sink gave up on (they remain in the primary store)",
            ("reason",),
        )
        self.sink_queue = registry.gauge(
            "steward_influx_queue_points", "readings waiting to be written to the InfluxDB sink"
        )
