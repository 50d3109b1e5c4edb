"""One device: its plan, its quarantined points, and one poll through a link session.

When a read answers ILLEGAL DATA ADDRESS (or function/value), the poller finds out which
point caused it by reading the request's points one at a time, quarantines the culprit
(re-plans without it, reports it) and keeps reading the rest. If every point reads fine
alone, the holes between them are what the device rejects, and the device is re-planned
without gap filling. Quarantined points are retried now and then: firmware and wiring
get fixed (a point that reads again is announced as modbus.point_recovered).

A poll works on a snapshot of its plan, so a re-plan half-way through still reports every
point exactly once. Each request's readings are stamped with the time the request was
sent: after the link is held, or the link's own `sent_at` when it has one (RS-485).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from device_profiles.schema import Quirks
from edge.acquire.modbus.decode import CompiledRequest
from edge.acquire.modbus.errors import (
    ADDRESSING_CODES,
    LinkDown,
    ModbusExceptionResponse,
    NoAnswer,
    TransactionError,
)
from edge.acquire.modbus.plan import PlannedPoint, ReadRequest, plan_requests
from edge.config import DeviceConfig
from edge.model import Colour, Event, Quality, Reading


class Session(Protocol):
    """One use of a link (a TCP connection or the RS-485 line): polls read, control writes."""

    async def read(
        self, unit: int, function: int, address: int, count: int, timeout: float
    ) -> bytes: ...

    async def write(
        self,
        unit: int,
        function: int,
        address: int,
        payload: bytes | int,
        count: int,
        timeout: float,
    ) -> None: ...


@dataclass
class DeviceStats:
    polls: int = 0
    failed_polls: int = 0
    requests: int = 0
    registers_read: int = 0
    registers_used: int = 0
    points_good: int = 0
    points_bad: int = 0
    overruns: int = 0
    latency_total: float = 0.0
    latency_max: float = 0.0
    # Seconds this device held its link (RS-485: the line) in transactions, and the part
    # of it spent waiting for answers that never came: what a silent device costs the rest.
    line_seconds: float = 0.0
    timeout_seconds: float = 0.0
    errors: Counter = field(default_factory=Counter)
    last_error: str | None = None

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "errors"}
        d["errors"] = dict(self.errors)
        d["latency_avg"] = self.latency_total / self.requests if self.requests else 0.0
        return d


@dataclass(slots=True)
class PollResult:
    readings: list[Reading]
    events: list[Event]
    reachable: bool  # False when the device did not answer at all (timeouts, link down)
    error: str | None = None


class DevicePoller:
    def __init__(
        self,
        config: DeviceConfig,
        timeout: float,
        retries: int,
        quarantine_retry: float = 900.0,
        clock=time.time,
    ):
        self.config = config
        self.id = config.id
        self.unit = config.unit
        self.timeout = timeout
        self.retries = retries
        self.quarantine_retry = quarantine_retry
        self.clock = clock
        self.points = {n: config.profile.points[n] for n in config.points}
        self.quirks: Quirks = config.profile.quirks
        self.quarantined: dict[str, str] = {}  # point -> reason
        self._reported: set[str] = set()  # quarantines already announced
        self._retrying: set[str] = set()  # out of quarantine, not yet read fine again
        self._quarantine_since = 0.0
        self.stats = DeviceStats()
        self.consecutive_failures = 0
        self.requests: list[CompiledRequest] = []
        self.sent_at = 0.0  # the last request's send time (self.clock)
        self._sent_mono = 0.0
        self.replan()

    def replan(self) -> None:
        planned = plan_requests(self.points, self.quirks, exclude=self.quarantined)
        self.requests = [CompiledRequest(r) for r in planned]

    @property
    def plan(self) -> list[ReadRequest]:
        return [c.request for c in self.requests]

    async def poll(self, session: Session, ts: float | None = None) -> PollResult:
        """Read every planned request once; never raises for device faults.

        Each request's readings carry the time that request was sent (see _read); `ts`
        (default: the first send, or now) only stamps points no request was sent for.
        """
        if self.quarantined and self.clock() - self._quarantine_since > self.quarantine_retry:
            self._retrying.update(self.quarantined)  # give quarantined points another chance
            self.quarantined.clear()
            self.replan()
        left_out = list(self.quarantined.items())  # not in this poll's plan
        readings: list[Reading] = []
        events: list[Event] = []
        answered = False
        error: str | None = None
        pause = self.quirks.pause_between_requests
        stats = self.stats
        # This poll works on a snapshot: _isolate re-plans (self.requests changes) mid-poll,
        # and the rest of this poll must still be the rest of the plan it started with.
        plan = self.requests
        for i, creq in enumerate(plan):
            if i and pause:
                await asyncio.sleep(pause)
            try:
                payload = await self._read(session, creq.request)
            except ModbusExceptionResponse as exc:
                sent = self.sent_at
                answered = True
                if exc.code in ADDRESSING_CODES:
                    readings.extend(await self._isolate(session, creq, exc, sent, events))
                else:
                    error = str(exc)
                    readings.extend(creq.fail(sent, self.id, error))
                continue
            except (NoAnswer, LinkDown) as exc:
                # The device is not answering: do not spend the rest of the poll waiting.
                # The requests left out are stamped with the failed one's send time.
                error = str(exc)
                for rest in plan[i:]:
                    readings.extend(rest.fail(self.sent_at, self.id, error))
                break
            except TransactionError as exc:
                answered = True
                error = str(exc)
                readings.extend(creq.fail(self.sent_at, self.id, error))
                continue
            answered = True
            stats.registers_used += creq.used
            readings.extend(creq.decode(payload, self.sent_at, self.id))

        if ts is None:
            ts = readings[0].ts if readings else self.clock()
        if self._retrying:
            self._note_recoveries(readings, events)
        # Still visible in the data, not silently gone: one bad reading per poll.
        readings.extend(self._quarantined_readings(left_out, ts))
        stats.polls += 1
        good = sum(1 for r in readings if r.value is not None)
        stats.points_good += good
        stats.points_bad += len(readings) - good
        if error:
            stats.last_error = error
        if not answered:
            stats.failed_polls += 1
        return PollResult(readings, events, answered, error)

    def _note_recoveries(self, readings: list[Reading], events: list[Event]) -> None:
        """A retried point that now reads fine is news (firmware or wiring was fixed); one
        refused again stays quarantined without a second announcement."""
        for r in readings:
            name = r.point
            if name not in self._retrying:
                continue
            if name in self.quarantined:
                self._retrying.discard(name)
            elif r.quality == Quality.GOOD:
                self._retrying.discard(name)
                self._reported.discard(name)  # a later quarantine is announced again
                events.append(
                    Event(
                        r.ts,
                        self.id,
                        "modbus.point_recovered",
                        f"{self.id}: point {name} reads again after its quarantine",
                        colour=Colour.GREEN,
                        data={"point": name},
                    )
                )
            # any other failure (a timeout): still retrying, decided by a later poll

    def _quarantined_readings(self, left_out: list[tuple[str, str]], ts: float) -> list[Reading]:
        out = []
        for name, reason in left_out:
            point = self.points[name]
            out.append(
                Reading(
                    ts,
                    self.id,
                    name,
                    None,
                    point.unit,
                    Quality.BAD,
                    f"quarantined: {reason}",
                    point.kind,
                )
            )
        return out

    def fail_all(self, ts: float, reason: str) -> list[Reading]:
        """Every point bad once, for a poll that could not start (no connection, a bug):
        the planned ones with `reason`, the quarantined ones with their own."""
        readings = [r for c in self.requests for r in c.fail(ts, self.id, reason)]
        readings.extend(self._quarantined_readings(list(self.quarantined.items()), ts))
        return readings

    async def _read(self, session: Session, req: ReadRequest) -> bytes:
        """One request (with its retries); sets self.sent_at to when the answered (or
        last) attempt went out, on this poller's clock."""
        stats = self.stats
        attempt = 0
        while True:
            stats.requests += 1
            # The session is held (TCP: a pool slot), so this is when the request goes
            # out, unless the link says otherwise (RTU takes the line lock inside read).
            wall = self.clock()
            started = time.monotonic()
            try:
                payload = await session.read(
                    self.unit, req.function, req.address, req.count, self.timeout
                )
            except TransactionError as exc:
                self._stamp(session, wall, started)
                spent = time.monotonic() - self._sent_mono
                stats.line_seconds += spent
                if isinstance(exc, NoAnswer):
                    stats.timeout_seconds += spent
                stats.errors[exc.kind] += 1
                # Retry only what a retry can fix: a lost frame or a busy device.
                retryable = isinstance(exc, NoAnswer) or (
                    isinstance(exc, ModbusExceptionResponse) and exc.code in (5, 6, 11)
                )
                if retryable and attempt < self.retries:
                    attempt += 1
                    continue
                raise
            self._stamp(session, wall, started)
            latency = time.monotonic() - self._sent_mono
            stats.line_seconds += latency
            stats.latency_total += latency
            if latency > stats.latency_max:
                stats.latency_max = latency
            stats.registers_read += req.count
            return payload

    def _stamp(self, session: Session, wall: float, started: float) -> None:
        """Set sent_at from the link's own send time when it has one.

        A link may expose `sent_at` (time.monotonic() just before its last request went
        out). It is read right after read() returns, before this task awaits anything, so
        no other transaction on a shared line can have replaced it. The monotonic offset
        is mapped onto this poller's clock between the two clock readings around read()."""
        self.sent_at, self._sent_mono = wall, started
        sent = getattr(session, "sent_at", None)
        if not isinstance(sent, float) or sent <= started:
            return
        now_mono = time.monotonic()
        span = now_mono - started
        if span <= 0:
            return
        self._sent_mono = min(sent, now_mono)
        self.sent_at = wall + (self.clock() - wall) * (self._sent_mono - started) / span

    async def _isolate(
        self,
        session: Session,
        creq: CompiledRequest,
        exc: ModbusExceptionResponse,
        ts: float,
        events: list[Event],
    ) -> list[Reading]:
        """Find which point(s) of a rejected read the device refuses; read the others alone."""
        req = creq.request
        if len(req.points) == 1:
            self._quarantine(req.points[0].name, req, exc, ts, events)
            self.replan()
            return creq.fail(ts, self.id, f"quarantined: {exc}")
        readings: list[Reading] = []
        refused = 0
        for pp in req.points:
            single = CompiledRequest(
                ReadRequest(
                    req.table,
                    pp.point.address,
                    pp.point.size,
                    (PlannedPoint(pp.name, pp.point, 0),),
                )
            )
            try:
                payload = await self._read(session, single.request)
            except ModbusExceptionResponse as inner:
                sent = self.sent_at
                if inner.code in ADDRESSING_CODES:
                    refused += 1
                    self._quarantine(pp.name, single.request, inner, sent, events)
                    readings.extend(single.fail(sent, self.id, f"quarantined: {inner}"))
                else:
                    readings.extend(single.fail(sent, self.id, str(inner)))
            except TransactionError as inner:
                readings.extend(single.fail(self.sent_at, self.id, str(inner)))
            else:
                readings.extend(single.decode(payload, self.sent_at, self.id))
        if refused == 0 and self.quirks.max_gap:
            # Each point reads alone, so the filler registers are what the device refuses.
            self.quirks = self.quirks.model_copy(update={"max_gap": 0})
            events.append(
                Event(
                    ts,
                    self.id,
                    "modbus.gaps_refused",
                    f"{self.id} refuses reads across unused registers ({exc}); "
                    "reading without gap filling from now on",
                    data={"request": req.describe()},
                )
            )
        self.replan()
        return readings

    def _quarantine(
        self,
        name: str,
        req: ReadRequest,
        exc: ModbusExceptionResponse,
        ts: float,
        events: list[Event],
    ) -> None:
        first = name not in self._reported
        self._reported.add(name)
        self.quarantined[name] = f"{exc} at {req.table} {req.address}+{req.count}"
        self._quarantine_since = self.clock()
        if first:
            events.append(
                Event(
                    ts,
                    self.id,
                    "modbus.point_quarantined",
                    f"{self.id}: point {name} quarantined after {exc} at {req.table} address "
                    f"{req.address}; the rest of the device is still read",
                    type="alarm",
                    active=True,
                    data={
                        "point": name,
                        "code": exc.code,
                        "table": req.table,
                        "address": req.address,
                    },
                )
            )
