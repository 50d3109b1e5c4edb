"""The edge agent's composition root: config -> buses -> outbox -> uplink, and a clean stop.

Acquisition hands every poll's Sample and every Event to the agent's sinks; with an
outbox configured, that is the outbox (durable), which the uplink drains to the central
API. The agent owns no logic of its own beyond wiring, lifetimes and the status line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from edge.access_agent import AccessRuntime
from edge.acquire.modbus.bus import Bus
from edge.clock import DEFAULT_MAX_SKEW, ClockGuard
from edge.clock_hold import ClockHold
from edge.config import SiteConfig
from edge.control.runtime import ControlRuntime
from edge.directives import DirectivesPuller
from edge.model import Event, Sample
from edge.outbox import Outbox
from edge.pause import clear_pause, read_pause
from edge.uplink import Uplink

log = logging.getLogger("steward.edge")

SampleSink = Callable[[Sample], None]
EventSink = Callable[[Event], None]


@dataclass
class AgentCounters:
    samples: int = 0
    points: int = 0
    events: int = 0
    lost_points: int = 0  # a sink (the outbox) could not take them: disk full, I/O error
    lost_events: int = 0
    started: float = field(default_factory=time.monotonic)
    cpu_started: float = field(default_factory=time.process_time)


class Agent:
    """Runs every bus of a site and fans samples and events out to the sinks."""

    def __init__(
        self,
        site: SiteConfig,
        sample_sinks: list[SampleSink] | None = None,
        event_sinks: list[EventSink] | None = None,
        *,
        outbox: Outbox | None = None,
        uplink: Uplink | None = None,
        status_every: float = 30.0,
        clock: Callable[[], float] = time.time,
        check_clock: bool = True,
        clock_max_skew: float = DEFAULT_MAX_SKEW,
    ):
        self.site = site
        self.sample_sinks = list(sample_sinks or [])
        self.event_sinks = list(event_sinks or [])
        self.outbox = outbox
        self.uplink = uplink
        self.clock = clock
        # The clock that stamps records is checked (edge/clock.py); while it is wrong, what
        # it stamps is held in the outbox file (edge/clock_hold.py), not sent. Off for a
        # simulated clock (the demo), which is off on purpose.
        self.clock_guard: ClockGuard | None = None
        self.clock_hold: ClockHold | None = None
        if outbox is not None and check_clock:
            self.clock_guard = ClockGuard(
                max_skew=clock_max_skew, require_check=uplink is not None, wall=clock
            )
            self.clock_hold = ClockHold(outbox, self.clock_guard)
            self.sample_sinks.append(self.clock_hold.append_sample)
            self.event_sinks.append(self.clock_hold.append_event)
            if uplink is not None:
                uplink.clock_guard = self.clock_guard  # the API's answers feed the guard
        elif outbox is not None:
            self.sample_sinks.append(outbox.append_sample)
            self.event_sinks.append(outbox.append_event)
        self.status_every = status_every
        self.counters = AgentCounters()
        self._last_sink_error = -1e9
        by_bus: dict[str, list] = {}
        for device in site.devices:
            by_bus.setdefault(device.bus, []).append(device)
        self.buses = [
            Bus(site.buses[bid], devs, self._on_sample, self._on_event, clock=clock)
            for bid, devs in by_bus.items()
        ]
        # Doors, badges and patrols (mqtt:, doors:, patrol:): durable in the outbox file.
        self.access: AccessRuntime | None = None
        if site.mqtt is not None:
            if outbox is None:
                raise ValueError("mqtt: needs an outbox: section (access records live there)")
            self.access = AccessRuntime(site, outbox)
        # Demand and HVAC control (demand:, control:): state and audit in the outbox file.
        self.control: ControlRuntime | None = None
        if site.demand is not None or site.control is not None:
            if outbox is None:
                raise ValueError("demand: and control: need an outbox: section")
            self.control = ControlRuntime(site, outbox, self.buses, clock=clock)
            self.sample_sinks.append(self.control.on_sample)
        # Directives from the API (directives:): visitor passes, budget colour, overrides.
        self.directives: DirectivesPuller | None = None
        if site.directives is not None and site.uplink is not None and outbox is not None:
            self.directives = DirectivesPuller(
                outbox,
                site.uplink.url,
                site.uplink.resolve_token(site.path.parent),
                site.directives.every,
                self.access.pipeline.set_passes if self.access is not None else None,
                on_control=self.control.set_directives if self.control is not None else None,
                clock=clock,
            )
            self.directives.restore()  # what was pulled last holds until the API answers

    @classmethod
    def from_site(cls, site: SiteConfig, **kwargs) -> Agent:
        """The agent a site file describes: with its outbox and uplink when configured."""
        outbox = uplink = None
        base = site.path.parent
        if site.outbox is not None:
            o = site.outbox
            outbox = Outbox(
                base / o.path,
                max_readings_points=o.max_points,
                max_readings_bytes=o.max_bytes,
                synchronous=o.synchronous,
            )
            log.info("outbox %s opened in %.3f s", outbox.path, outbox.open_seconds)
        if site.uplink is not None:
            if outbox is None:
                raise ValueError(
                    "uplink: needs an outbox: section (the uplink sends what it holds)"
                )
            u = site.uplink
            uplink = Uplink(
                outbox,
                u.url,
                u.resolve_token(base),
                site.site,
                site.building,
                max_records=u.max_records,
                max_age=u.max_age,
                backoff_max=u.retry_max,
            )
            kwargs.setdefault("clock_max_skew", u.clock_max_skew)
        return cls(site, outbox=outbox, uplink=uplink, **kwargs)

    def _on_sample(self, sample: Sample) -> None:
        c = self.counters
        c.samples += 1
        c.points += len(sample.readings)
        for sink in self.sample_sinks:
            try:
                sink(sample)
            except Exception as exc:  # keep polling; say loudly what is being lost
                c.lost_points += len(sample.readings)
                self._sink_failed(exc, f"{len(sample.readings)} points of {sample.device}")

    def _on_event(self, event: Event) -> None:
        self.counters.events += 1
        for sink in self.event_sinks:
            try:
                sink(event)
            except Exception as exc:
                self.counters.lost_events += 1
                self._sink_failed(exc, f"event {event.code} of {event.source}")

    def _sink_failed(self, exc: Exception, what: str) -> None:
        now = time.monotonic()
        if now - self._last_sink_error >= 10.0:  # one line per 10 s, not one per poll
            self._last_sink_error = now
            c = self.counters
            log.error(
                "cannot store %s: %s (lost so far: %d points, %d events)",
                what,
                exc,
                c.lost_points,
                c.lost_events,
            )

    async def run(self, duration: float | None = None) -> None:
        """Poll (and forward) until cancelled, or for `duration` seconds."""
        log.info(
            "edge %s: %d devices on %d buses%s%s%s",
            self.site.edge,
            len(self.site.devices),
            len(self.buses),
            f", access: {self.access.describe()}" if self.access else "",
            f", control: {self.control.mode}" if self.control and self.control.loop.core else "",
            f", uplink to {self.uplink.url}" if self.uplink else "",
        )
        self.counters = AgentCounters()  # rates and CPU count from the first poll on
        async with contextlib.AsyncExitStack() as stack:
            if self.uplink is not None:
                await stack.enter_async_context(self.uplink)
            try:
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(bus.run(), name=f"bus {bus.id}") for bus in self.buses]
                    tasks.append(tg.create_task(self._status_loop(), name="status"))
                    if self.access is not None:
                        tasks.append(tg.create_task(self.access.run(), name="access"))
                    if self.control is not None:
                        tasks.append(tg.create_task(self.control.run(), name="control"))
                    if self.directives is not None:
                        tasks.append(tg.create_task(self.directives.run(), name="directives"))
                    if self.uplink is not None:
                        tasks.append(tg.create_task(self._watch_pause(), name="pause"))
                    if self.clock_guard is not None:
                        tasks.append(tg.create_task(self._watch_clock(), name="clock"))
                    if self.outbox is not None:
                        tasks.append(tg.create_task(self._maintain_outbox(), name="outbox"))
                    if duration is not None:
                        await asyncio.sleep(duration)
                        for t in tasks:
                            t.cancel()
            finally:
                if self.control is not None:
                    with contextlib.suppress(Exception):
                        await self.control.stop()  # commands released, defaults written
                await self._flush()

    async def _watch_pause(self, every: float = 2.0) -> None:
        """Follow `steward-edge pause/resume` (a file next to the outbox)."""
        assert self.uplink is not None and self.outbox is not None
        while True:
            pause = read_pause(self.outbox.path)
            if pause is not None and pause.active(time.time()):
                if not self.uplink.paused:
                    log.info("uplink %s", pause.describe(time.time()))
                    self.uplink.pause()
            elif self.uplink.paused:
                if pause is not None:
                    clear_pause(self.outbox.path)  # its end time has passed
                self.uplink.resume()
            await asyncio.sleep(every)

    async def _watch_clock(self, every: float = 1.0) -> None:
        """At start and every second: say when the clock goes wrong or right again, and
        release held records whose true time is proven, a bounded step at a time."""
        guard, hold = self.clock_guard, self.clock_hold
        assert guard is not None and hold is not None
        last: str | None = None
        while True:
            try:
                state = guard.state()
                if state != last:
                    self._clock_changed(last, state)
                    last = state
                while hold.release(500) == 500:
                    await asyncio.sleep(0)  # let the polls run between steps
            except Exception as exc:  # the outbox failing is counted by the sinks
                self._sink_failed(exc, "records held for the clock")
            await asyncio.sleep(every)

    def _clock_changed(self, before: str | None, state: str) -> None:
        guard = self.clock_guard
        assert guard is not None
        text = guard.describe()
        if state in ("unset", "skewed"):
            log.error("clock %s", text)
        else:
            log.info("clock %s", text)
        # An event for operators when it goes wrong, and when it is right again; stamped
        # by the same clock, so it is held and re-stamped like everything else.
        if state in ("unset", "skewed") or before in ("unset", "skewed"):
            self._on_event(
                Event(
                    ts=self.clock(),
                    source=self.site.edge,
                    code=f"clock.{state}",
                    message=f"edge clock {text}",
                    data={"offset_s": guard.offset(), "wall": guard.wall()},
                )
            )

    async def _maintain_outbox(self, every: float = 5.0) -> None:
        """Give the outbox file's free space back, in short steps between polls."""
        assert self.outbox is not None
        last_warning = -1e9
        while True:
            try:
                for _ in range(64):  # at most 64 x vacuum_pages per round
                    more = self.outbox.maintain()
                    await asyncio.sleep(0)
                    if not more:
                        break
                self.outbox.checkpoint()
            except Exception as exc:
                if time.monotonic() - last_warning >= 60.0:
                    last_warning = time.monotonic()
                    log.warning("outbox housekeeping failed: %s", exc)
            await asyncio.sleep(every)

    async def _flush(self, timeout: float = 3.0) -> None:
        """On a clean stop, give the uplink a moment to send what is left (it stays in the
        outbox for the next start if the API is not reachable)."""
        if self.uplink is None or self.uplink.paused:
            return
        with contextlib.suppress(Exception):
            if self.clock_hold is not None:
                self.clock_hold.release(10_000)  # what a proven clock lets go, goes now
            if await self.uplink.drain(timeout):
                log.info("stopping: outbox lanes empty, everything sent was delivered")
            else:
                log.info("stopping: undelivered records stay in the outbox for the next start")
            if self.clock_hold is not None and self.clock_hold.waiting():
                log.warning(
                    "stopping: %d records held for the clock stay in the outbox, unsent (held "
                    "in this boot; after a reboot their time cannot be proven)",
                    self.clock_hold.waiting(),
                )

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()

    async def _status_loop(self) -> None:
        last_points = 0
        last_t = time.monotonic()
        while True:
            await asyncio.sleep(self.status_every)
            now = time.monotonic()
            c = self.counters
            rate = (c.points - last_points) / (now - last_t)
            last_points, last_t = c.points, now
            s = self.stats()
            log.info(
                "status: %.0f points/s, %d requests, %d errors, %d overruns, "
                "%d quarantined points, %d devices not answering",
                rate,
                s["requests"],
                s["errors"],
                s["overruns"],
                s["quarantined"],
                s["offline"],
            )
            s["points_per_s"] = rate
            self._write_snapshot(s)

    def _write_snapshot(self, stats: dict) -> None:
        """Leave the latest figures next to the outbox for `steward-edge status`."""
        if self.outbox is None:
            return
        path = status_path(self.outbox.path)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(orjson.dumps({"written_at": time.time(), **stats}, default=str))
            tmp.replace(path)  # atomic: a reader never sees half a file
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)

    def stats(self) -> dict:
        """Totals and per-device figures: what an operator checks first."""
        devices = {}
        totals = {
            "requests": 0,
            "registers_read": 0,
            "registers_used": 0,
            "errors": 0,
            "overruns": 0,
            "quarantined": 0,
            "offline": 0,
            "polls": 0,
        }
        for bus in self.buses:
            for p in bus.pollers:
                d = p.stats.as_dict()
                d["quarantined"] = dict(p.quarantined)
                d["bus"] = bus.id
                d["requests_per_poll"] = len(p.requests)
                devices[p.id] = d
                totals["requests"] += d["requests"]
                totals["registers_read"] += d["registers_read"]
                totals["registers_used"] += d["registers_used"]
                totals["errors"] += sum(d["errors"].values())
                totals["overruns"] += d["overruns"]
                totals["quarantined"] += len(p.quarantined)
                totals["offline"] += 1 if p.consecutive_failures else 0
                totals["polls"] += d["polls"]
        c = self.counters
        out = {
            **totals,
            "samples": c.samples,
            "points": c.points,
            "events": c.events,
            "lost_points": c.lost_points,
            "lost_events": c.lost_events,
            "uptime": time.monotonic() - c.started,
            "cpu_seconds": time.process_time() - c.cpu_started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "devices": devices,
            "buses": {bus.id: bus.line_stats() for bus in self.buses},
        }
        if self.uplink is not None:
            out["uplink"] = self.uplink.stats()
        if self.access is not None:
            out["access"] = self.access.stats()
        if self.control is not None:
            out["control"] = self.control.stats()
        if self.directives is not None:
            out["directives"] = self.directives.stats()
        if self.clock_guard is not None and self.clock_hold is not None:
            out["clock"] = {**self.clock_guard.as_dict(), "hold": self.clock_hold.stats()}
        return out


def status_path(outbox_path: Path) -> Path:
    return outbox_path.with_name(outbox_path.stem + "-status.json")


async def run_until_signalled(agent: Agent, duration: float | None = None) -> None:
    """Run the agent; SIGINT/SIGTERM stop it cleanly (the outbox keeps what was accepted)."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, main.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await agent.run(duration)
