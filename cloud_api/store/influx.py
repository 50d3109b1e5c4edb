"""An optional InfluxDB sink: a Store that writes through to a primary store, then copies
the new readings to any server speaking the InfluxDB v2 write API (InfluxDB 2/3,
VictoriaMetrics). Every other method (queries, edges, users, alarms) is the primary's.

The primary store is the system of record: ingest returns once the primary has stored
the batch; the copy to InfluxDB happens on a background thread, so a slow or dead
InfluxDB never delays or fails ingest. Queries are served by the primary.

What is written, for each reading record the primary stored now (never a duplicate or a
replay): one line whose measurement is the record's `kind` tag (meter, hvac, ...) or
"device" when it has none; tags site, building and device (ours: an edge's own tags of
those names are overridden) plus the record's other tags with a non-empty value; one float
field per point, named after the point, for each reading whose quality is good and whose
value is a number; the record's timestamp, in milliseconds. Bad and stale readings, text
readings, units and gauge/counter kinds, and events stay in the primary store only.
A record whose kind or tags line protocol cannot carry (an empty tag key, a control
character, a kind starting with "#") is not written; its readings are counted in
steward_influx_points_dropped_total{reason="unwritable"} and logged. The API refuses such
tags at ingest, so this guards against what reaches the sink by another way.

When the sink cannot write: every failed attempt counts in
steward_influx_write_errors_total and is logged. Connection failures and 5xx/429 answers
are retried with backoff (up to 30 s apart) while further readings wait in a bounded
queue (influx_queue_points); readings that do not fit, or that the server refuses with
another 4xx, or that are still queued when the API stops, are counted in
steward_influx_points_dropped_total{reason} and logged. They remain in the primary store.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from cloud_api.metrics import ApiMetrics
from cloud_api.store.base import EdgeIdentity, IngestOutcome, Store
from edge.model import EventBatch, Quality, ReadingBatch, ReadingRecord

log = logging.getLogger("steward.api.influx")

_MAX_BACKOFF_S = 30.0

# Line protocol escapes, as the InfluxDB v2 line-protocol reference gives them: a backslash
# before `\\`, `,`, `=` or space escapes it, so a literal backslash is written doubled
# (else a value ending in `\\` would swallow the comma after it and merge two tags).
# Every case is checked against VictoriaMetrics in tests/cloud_api/test_influx_sink.py.
_MEASUREMENT_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\=", " ": "\\ "})
# What no escape can carry: a line break ends the line, and servers differ on the other
# control characters. A line holding one is refused whole (its readings counted), never
# written with the character dropped, which would merge two series into one.
_UNWRITABLE = re.compile(r"[\x00-\x1f\x7f]")
UNWRITABLE = "unwritable"  # the reason label of readings refused for that


def _esc(text: str) -> str:
    return text.translate(_KEY_ESCAPES)


def line_protocol(
    site: str, building: str, records: Iterable[ReadingRecord]
) -> tuple[list[str], int, int]:
    """InfluxDB line protocol for the good numeric readings of records (ms precision):
    the lines, how many readings (fields) they hold, and how many good numeric readings
    were left out because their record's measurement or tags cannot be written."""
    lines = []
    readings = 0
    unwritable = 0
    for record in records:
        fields = [
            f"{_esc(p.point)}={p.value!r}"
            for p in record.points
            if p.quality is Quality.GOOD and isinstance(p.value, float)
        ]
        if not fields:
            continue
        # An empty tag value is no tag (InfluxDB and VictoriaMetrics both read it so).
        tags = {k: v for k, v in record.tags.items() if k != "kind" and v}
        tags.update(site=site, building=building, device=record.device)  # these are ours
        measurement = record.tags.get("kind") or "device"
        tag_text = ",".join(f"{_esc(k)}={_esc(v)}" for k, v in sorted(tags.items()))
        line = (
            f"{measurement.translate(_MEASUREMENT_ESCAPES)},{tag_text} {','.join(fields)}"
            f" {round(record.ts * 1000)}"
        )
        # One search per line: the fields' text (floats) holds no control character itself.
        if measurement.startswith("#") or "" in tags or _UNWRITABLE.search(line):
            unwritable += len(fields)  # "#..." would be read as a comment
            continue
        readings += len(fields)
        lines.append(line)
    return lines, readings, unwritable


@dataclass(slots=True)
class _Queued:
    lines: list[str]
    points: int  # readings (fields) in the lines


class InfluxSink:
    """The Store protocol: the primary's, plus a background copy of readings to InfluxDB."""

    def __init__(
        self,
        primary: Store,
        *,
        url: str,
        token: str,
        org: str,
        bucket: str,
        metrics: ApiMetrics,
        batch_points: int = 5000,
        flush_seconds: float = 1.0,
        queue_points: int = 1_000_000,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.primary = primary
        self.name = f"{primary.name}+influx"
        self._url = url
        self._org = org
        self._bucket = bucket
        self._metrics = metrics
        self._batch_points = batch_points
        self._flush_seconds = flush_seconds
        self._queue_points = queue_points
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout_seconds * 1000)
        )
        self._writer = self._client.write_api(write_options=SYNCHRONOUS)
        self._queue: deque[_Queued] = deque()
        self._queued_points = 0
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="influx-sink", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the Store protocol

    def __getattr__(self, name: str) -> Any:
        """Everything this class does not define is the primary's (queries, edges, users,
        alarms, ...): a store method added later needs no pass-through here."""
        # Private names stay private (and "primary" before __init__ set it: no recursion).
        if name.startswith("_") or name == "primary":
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return getattr(self.primary, name)

    def ingest(
        self, edge: EdgeIdentity, batch: ReadingBatch | EventBatch, received_at: float
    ) -> IngestOutcome:
        outcome = self.primary.ingest(edge, batch, received_at)
        if isinstance(batch, ReadingBatch) and outcome.new_records:
            lines, points, unwritable = line_protocol(
                batch.site,
                batch.building,
                outcome.new_records,  # type: ignore[arg-type]
            )
            if unwritable:
                self._metrics.sink_dropped.labels(reason=UNWRITABLE).inc(unwritable)
                log.warning(
                    "InfluxDB sink: %d readings of %s/%s not copied: their record's kind or"
                    " tags hold what line protocol cannot carry (empty key, control character,"
                    " leading #)",
                    unwritable,
                    batch.site,
                    batch.building,
                )
            if lines:
                self._enqueue(lines, points, f"{batch.site}/{batch.building}")
        return outcome

    def ping(self) -> None:
        self.primary.ping()  # the sink being down is a metric, not ill health

    def close(self, timeout: float = 5.0) -> None:
        """Stop after writing what is queued, waiting at most `timeout` seconds."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._thread.join(timeout)
        with self._wake:
            left = self._queued_points
            self._queue.clear()
            self._queued_points = 0
        if left:
            self._metrics.sink_dropped.labels(reason="shutdown").inc(left)
            log.warning("InfluxDB sink stopped with %d readings unwritten", left)
        self._client.close()
        self.primary.close()

    # ------------------------------------------------------------------ the copy

    def _enqueue(self, lines: list[str], points: int, where: str) -> None:
        with self._wake:
            if self._queued_points + points > self._queue_points:
                full = True
            else:
                full = False
                self._queue.append(_Queued(lines, points))
                self._queued_points += points
                self._metrics.sink_queue.set(self._queued_points)
                self._wake.notify()
        if full:
            self._metrics.sink_dropped.labels(reason="queue_full").inc(points)
            log.warning(
                "InfluxDB sink queue full (%d readings): %d readings of %s not copied",
                self._queue_points,
                points,
                where,
            )

    def _take(self) -> list[_Queued]:
        """Up to batch_points of queued readings; waits up to flush_seconds to fill them."""
        with self._wake:
            while not self._queue and not self._stopping:
                self._wake.wait()
            deadline = time.monotonic() + self._flush_seconds
            while self._queued_points < self._batch_points and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
            taken: list[_Queued] = []
            points = 0
            while self._queue and (
                not taken or points + self._queue[0].points <= self._batch_points
            ):
                item = self._queue.popleft()
                taken.append(item)
                points += item.points
            return taken

    def _release(self, items: list[_Queued]) -> None:
        with self._wake:
            self._queued_points -= sum(item.points for item in items)
            self._metrics.sink_queue.set(self._queued_points)

    def _run(self) -> None:
        while True:
            items = self._take()
            if not items:
                return  # stopping, and nothing left
            lines = [line for item in items for line in item.lines]
            points = sum(item.points for item in items)
            try:
                self._write(lines, points)
            except Exception:  # a bug here must not kill the thread silently
                log.exception("InfluxDB sink failed on %d readings", points)
                self._metrics.sink_dropped.labels(reason="error").inc(points)
            finally:
                self._release(items)

    def _write(self, lines: list[str], points: int) -> None:
        delay = 0.5
        while True:
            try:
                self._writer.write(
                    bucket=self._bucket,
                    org=self._org,
                    record="\n".join(lines),
                    write_precision=WritePrecision.MS,
                )
            except ApiException as e:
                self._metrics.sink_errors.inc()
                if e.status is not None and 400 <= e.status < 500 and e.status != 429:
                    log.error(
                        "InfluxDB at %s refused %d readings (%s %s): dropped",
                        self._url,
                        points,
                        e.status,
                        (e.body or e.reason or "")[:300],
                    )
                    self._metrics.sink_dropped.labels(reason="refused").inc(points)
                    return
                log.warning(
                    "InfluxDB at %s answered %s; retrying in %.1f s", self._url, e.status, delay
                )
            except Exception as e:  # connection refused, timeout, DNS: all retryable
                self._metrics.sink_errors.inc()
                log.warning(
                    "InfluxDB at %s unreachable (%s); retrying in %.1f s", self._url, e, delay
                )
            else:
                self._metrics.sink_written.inc(points)
                return
            with self._wake:
                if self._stopping:
                    self._metrics.sink_dropped.labels(reason="shutdown").inc(points)
                    return
                self._wake.wait(delay)
                if self._stopping:
                    self._metrics.sink_dropped.labels(reason="shutdown").inc(points)
                    return
            delay = min(delay * 2, _MAX_BACKOFF_S)
