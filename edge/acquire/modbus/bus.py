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
from edge.acquire.modbus.poller import DevicePoller, PollResult, Session
from edge.acquire.modbus.rtu import RtuLine
from edge.acquire.modbus.tcp import TcpHost
from edge.config import BusConfig, DeviceConfig
from edge.model import Colour, Event, Sample

log = logging.getLogger(__name__)

SampleSink = Callable[[Sample], None]
EventSink = Callable[[Event], None]


class Link(Protocol):
    def session(self) -> contextlib.AbstractAsyncContextManager[Session]: ...
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

    async def run(self) -> None:
        """Poll every device until cancelled."""
        self.link = open_link(self.config)
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
        ts = self.clock()
        try:
            async with self.link.session() as session:
                result = await poller.poll(session, ts)
        except TransactionError as exc:  # could not even connect
            poller.stats.errors[exc.kind] += 1
            poller.stats.polls += 1
            poller.stats.failed_polls += 1
            poller.stats.last_error = str(exc)
            readings = [r for c in poller.requests for r in c.fail(ts, poller.id, str(exc))]
            poller.stats.points_bad += len(readings)
            result = PollResult(readings, [], False, str(exc))
        except Exception as exc:  # a bug must not stop the other devices
            log.exception("poll of %s failed unexpectedly", poller.id)
            readings = [
                r for c in poller.requests for r in c.fail(ts, poller.id, f"internal error: {exc}")
            ]
            result = PollResult(readings, [], False, f"internal error: {exc}")
        if result.readings:
            self.on_sample(Sample(ts, poller.id, result.readings, poller.config.tags))
        for event in result.events:
            self.on_event(event)
        return result

    def _track_state(self, poller: DevicePoller, result: PollResult) -> None:
        ts = self.clock()
        if not result.reachable:
            poller.consecutive_failures += 1
            if poller.consecutive_failures == 1:
                log.warning(
                    "%s (bus %s, unit %d) is not answering: %s",
                    poller.id,
                    self.id,
                    poller.unit,
                    result.error,
                )
                self.on_event(
                    Event(
                        ts,
                        poller.id,
                        "device.offline",
                        f"{poller.id} is not answering: {result.error}",
                        type="alarm",
                        colour=Colour.YELLOW,
                        data={"bus": self.id, "unit": poller.unit},
                    )
                )
        elif poller.consecutive_failures:
            log.info(
                "%s answers again after %d failed polls", poller.id, poller.consecutive_failures
            )
            self.on_event(
                Event(
                    ts,
                    poller.id,
                    "device.online",
                    f"{poller.id} answers again after {poller.consecutive_failures} failed polls",
                    colour=Colour.GREEN,
                    data={"bus": self.id, "unit": poller.unit},
                )
            )
            poller.consecutive_failures = 0

    def stats(self) -> dict:
        return {p.id: p.stats.as_dict() for p in self.pollers}
