"""The control side of the agent: the pure ControlLoop, made durable and given Modbus.

Every poll's samples reach the loop through `on_sample`. Every `tick` seconds (wall
time) one step runs at the data's time (`ControlLoop.plan`); in control mode each write
is sent through the zone's bus and read back, in advise mode it is only reported. The
step's records (events, alarms, audit) and the whole control state are committed to the
outbox in one transaction.

On a clean stop every command is released and each point gets its default at once. After
a kill -9 the state in the outbox comes back: leases that ended meanwhile are released
(reported "expired"), live ones stand until their end or their reason ends. A write sent
just before a kill -9 and not yet committed is not in the audit; the next poll shows its
effect and the core acts on what the zone reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import orjson

from edge.acquire.modbus.bus import Bus, open_link
from edge.config import DeviceConfig, SiteConfig
from edge.control.loop import ControlLoop
from edge.control.modbus_write import write_and_read_back
from edge.control.zone_control import WriteIntent
from edge.directives import ControlDirectives
from edge.model import Event, Sample
from edge.outbox import Outbox
from edge.outbox_schema import DUMPS_OPTIONS

log = logging.getLogger(__name__)
STATE_KEY = "control"


class ControlRuntime:
    """ControlLoop + outbox (state, records) + verified Modbus writes."""

    def __init__(
        self,
        site: SiteConfig,
        outbox: Outbox,
        buses: list[Bus],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.loop = ControlLoop(site.demand, site.control)
        self.mode = site.control.settings.mode if site.control else "advise"
        self.tick = site.control.settings.tick if site.control else 5.0
        self.write_timeout = site.control.settings.write_timeout if site.control else None
        self._devices: dict[str, tuple[Bus, DeviceConfig]] = {
            d.id: (bus, d) for bus in buses for d in (p.config for p in bus.pollers)
        }
        self._load()

    def _load(self) -> None:
        row = self.outbox._db.execute(
            "SELECT body FROM rule_state WHERE key = ?", (STATE_KEY,)
        ).fetchone()
        if row is None:
            return
        try:
            self.loop.restore(orjson.loads(row[0]))
        except (ValueError, KeyError, TypeError) as exc:
            log.error(
                "control state in %s cannot be restored (%s); starting fresh: zones keep what "
                "they hold until the rules act again",
                self.outbox.path,
                exc,
            )
            self.loop = ControlLoop(self.loop.demand_settings, self.loop.config)
            return
        self.loop.counts["restored"] = 1
        if self.loop.core is not None:
            live = self.loop.core.active(self.clock())
            log.info(
                "control resumed from %s: %d commands with live leases stand until their "
                "lease ends or their reason does; ended leases are released at the first step",
                self.outbox.path,
                len(live),
            )

    def _commit(self, records: list[Event]) -> None:
        snap = orjson.dumps(self.loop.snapshot(), option=DUMPS_OPTIONS)
        now = self.clock()

        def also(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO rule_state(key, body, saved_at) VALUES (?, ?, ?)",
                (STATE_KEY, snap, now),
            )

        self.outbox.append_events(records, also=also)
        self.loop.counts["records"] += len(records)

    # ---------------------------------------------------------------- inputs

    def set_directives(self, directives: ControlDirectives) -> None:
        self.loop.set_directives(directives)

    def on_sample(self, sample: Sample) -> None:
        try:
            self.loop.take(sample)
        except Exception:  # a rule bug must not stop acquisition
            self.loop.counts["sample_errors"] += 1
            log.exception("control: sample of %s not taken", sample.device)

    # ---------------------------------------------------------------- steps

    async def step(self, now: float) -> None:
        """One rule step at `now` (event time), its writes, and the commit."""
        records, intents = self.loop.plan(now)
        for intent in intents:
            if self.mode == "advise":
                records += self.loop.advise(intent, now)
            else:
                read_back, error = await self._send(intent)
                records += self.loop.done(intent, now, read_back, error)
        try:
            self._commit(records)
        except sqlite3.Error as exc:
            self.loop.counts["commit_failures"] += 1
            log.error("cannot commit %d control records (%s); they are lost", len(records), exc)

    async def _send(
        self, intent: WriteIntent, fresh: bool = False
    ) -> tuple[float | None, str | None]:
        """Write and read back through the zone's bus (`fresh`: a link of its own)."""
        bus, device = self._devices[intent.device]
        point = device.profile.points[intent.point]
        timeout = self.write_timeout or bus.config.timeout
        link = open_link(bus.config) if fresh else bus.link
        try:
            if link is None:
                raise ConnectionError("the bus is not running")
            async with link.session() as session:
                value = await write_and_read_back(
                    session, device.unit, point, intent.value, timeout
                )
            return value, None
        except Exception as exc:  # a failed write is reported, never fatal
            log.warning(
                "control: write %s/%s = %g failed: %s",
                intent.device,
                intent.point,
                intent.value,
                exc,
            )
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            if fresh and link is not None:
                link.close()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.step(self.clock())
            except Exception:  # keep controlling; say what broke
                self.loop.counts["step_errors"] += 1
                log.exception("control step failed")

    async def stop(self) -> None:
        """Release every command; in control mode give each point its default at once,
        through links of their own (the buses have stopped)."""
        now = self.clock()
        records, intents = self.loop.final(now)
        if self.mode == "control":
            for intent in intents:
                read_back, error = await self._send(intent, fresh=True)
                records += self.loop.done(intent, now, read_back, error)
        log.info(
            "control stopped: %d commands released, %d defaults written",
            sum(1 for r in records if r.code == "control.command"),
            len(intents) if self.mode == "control" else 0,
        )
        with contextlib.suppress(sqlite3.Error):
            self._commit(records)

    def stats(self) -> dict[str, Any]:
        return {"mode": self.mode, **self.loop.stats()}
