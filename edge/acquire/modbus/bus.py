"""A bus is one TCP host or one RS-485 line, and the devices reached through it.

Each device has its own poll loop on its own interval, staggered across the interval so
a hundred meters do not all ask in the same millisecond. A device is never polled while
its previous poll still runs: a poll that outlasts its slot skips the missed slots and
counts them as overruns. A device that stops answering is polled less and less often
(exponential backoff with jitter, capped), and is back to its interval on the first answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from edge.acquire.modbus.errors import TransactionError
from edge.acquire.modbus.health import BusHealth
from edge.acquire.modbus.poller import DevicePoller, PollResult, Session
from edge.acquire.modbus.rtu import RtuLine
from edge.acquire.modbus.tcp import TcpHost
from edge.config import BusConfig, DeviceConfig
from edge.model import Event, Reading, Sample

log = logging.getLogger(__name__)

SampleSink = Callable[[Sample], None]
EventSink = Callable[[Event], None]


class Link(Protocol):
    def session(self) -> contextlib.AbstractAsyncContextManager[Session]: ...
    def stats(self) -> dict: ...
    def close(self) -> None: ...


class _TcpLink:
    def __init__(self, host: TcpHost):
        self.host = host

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        async with self.host.connection() as conn:
            yield conn

    def stats(self) -> dict:
        """connects, stale_replaced (closed by the gateway while idle), broken_closed."""
        return self.host.stats()

    def close(self) -> None:
        self.host.close()


def open_link(config: BusConfig) -> Link:
    if config.tcp is not None:
        t = config.tcp
        return _TcpLink(TcpHost(t.host, t.port, t.max_connections, connect_timeout=config.timeout))
    r = config.rtu
    assert r is not None
    return RtuLine(r.port, r.baudrate, r.parity, r.stopbits, r.bytesize, r.frame_gap)


class Bus:
    def __init__(
        self,
        config: BusConfig,
        devices: list[DeviceConfig],
        on_sample: SampleSink,
        on_event: EventSink,
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.id = config.id
        self.on_sample = on_sample
        self.on_event = on_event
        self.clock = clock
        self.pollers = [
            DevicePoller(d, config.timeout, config.retries, clock=clock) for d in devices
        ]
        self.link: Link | None = None
        self._started = 0.0
        self.health = BusHealth(self.id, _where(config), self.pollers)

    async def run(self) -> None:
        """Poll every device until cancelled."""
        self.link = open_link(self.config)
        self._started = time.monotonic()
        n = len(self.pollers)
        try:
            async with asyncio.TaskGroup() as tg:
                for i, poller in enumerate(self.pollers):
                    offset = poller.config.interval * i / n
                    tg.create_task(self._poll_loop(poller, offset), name=f"poll {poller.id}")
        finally:
            self.link.close()

    async def _poll_loop(self, poller: DevicePoller, offset: float) -> None:
        loop = asyncio.get_running_loop()
        interval = poller.config.interval
        next_due = loop.time() + offset
        while True:
            delay = next_due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            result = await self.poll_once(poller)
            self._track_state(poller, result)

            now = loop.time()
            next_due += interval
            if now > next_due:
                missed = int((now - next_due) // interval) + 1
                poller.stats.overruns += missed
                next_due += missed * interval
            if poller.consecutive_failures:
                backoff = min(
                    interval * 2 ** (poller.consecutive_failures - 1), self.config.backoff_cap
                )
                next_due = max(next_due, now + backoff * random.uniform(0.9, 1.1))

    async def poll_once(self, poller: DevicePoller) -> PollResult:
        """One poll of one device, its readings and events handed to the sinks."""
        assert self.link is not None
        try:
            async with self.link.session() as session:
                # Readings are stamped in the poller when each request is sent, after
                # the pool slot or line lock is held (not here, before waiting for it).
                result = await poller.poll(session)
        except TransactionError as exc:  # could not even connect
            ts = self.clock()
            poller.stats.errors[exc.kind] += 1
            poller.stats.polls += 1
            poller.stats.failed_polls += 1
            poller.stats.last_error = str(exc)
            readings = poller.fail_all(ts, str(exc))
            poller.stats.points_bad += len(readings)
            result = PollResult(readings, [], False, str(exc))
        except Exception as exc:  # a bug must not stop the other devices
            log.exception("poll of %s failed unexpectedly", poller.id)
            ts = self.clock()
            readings = poller.fail_all(ts, f"internal error: {exc}")
            result = PollResult(readings, [], False, f"internal error: {exc}")
        for sample in split_by_send_time(
            poller.id, result.readings, poller.config.tags, interval=poller.config.interval
        ):
            self.on_sample(sample)
        for event in result.events:
            self.on_event(event)
        return result

    def _track_state(self, poller: DevicePoller, result: PollResult) -> None:
        for event in self.health.update(poller, result, self.clock()):
            self.on_event(event)

    def stats(self) -> dict:
        return {p.id: p.stats.as_dict() for p in self.pollers}

    def line_stats(self) -> dict:
        """Is the bus answering, and how much of its time goes to waiting on devices that
        do not answer (on RS-485 the line is one-at-a-time: that time is lost to all)."""
        elapsed = time.monotonic() - self._started if self._started else 0.0
        waited = {p.id: p.stats.timeout_seconds for p in self.pollers}
        busy = sum(p.stats.line_seconds for p in self.pollers)
        return {
            "kind": "rtu" if self.config.rtu is not None else "tcp",
            "where": self.health.where,
            "offline": self.health.offline,
            "offline_since": self.health.offline_since,
            "outages": self.health.outages,
            "seconds": elapsed,
            "busy_share": busy / elapsed if elapsed else 0.0,
            "timeout_share": sum(waited.values()) / elapsed if elapsed else 0.0,
            "timeout_share_by_device": {d: w / elapsed for d, w in waited.items() if w and elapsed},
            # TCP: connects, stale_replaced, broken_closed; RTU: late_discarded,
            # stray_discarded, bad_frame.
            "link": self.link.stats() if self.link is not None else {},
        }


# A record carries one ts for all its points: its first request's send time. A poll whose
# requests went out further apart than this (a slow or busy line) becomes several records,
# so no point is stamped more than this before its own request was sent.
MAX_SAMPLE_SPREAD = 0.25


def split_by_send_time(
    device: str,
    readings: list[Reading],
    tags: dict[str, str],
    spread: float = MAX_SAMPLE_SPREAD,
    interval: float | None = None,
) -> list[Sample]:
    """The poll's records: one per group of requests sent within `spread` of the group's
    first; each reading takes its record's ts, so what is printed is what is stored.
    Each record carries the device's poll `interval` (the API's staleness yardstick)."""
    if not readings:
        return []
    stamps = [r.ts for r in readings]
    first = min(stamps)
    if max(stamps) - first <= spread:  # the usual case: one record, readings in plan order
        samples = [Sample(first, device, readings, tags, interval)]
    else:
        samples = []
        for r in sorted(readings, key=lambda r: r.ts):  # stable: plan order within a ts
            if not samples or r.ts - samples[-1].ts > spread:
                samples.append(Sample(r.ts, device, [], tags, interval))
            samples[-1].readings.append(r)
    for sample in samples:
        for r in sample.readings:
            r.ts = sample.ts
    return samples


def _where(config: BusConfig) -> str:
    if config.tcp is not None:
        return f"{config.tcp.host}:{config.tcp.port}"
    assert config.rtu is not None
    return config.rtu.port
