"""The durable access pipeline: MQTT messages -> rules -> outbox events lane, then PUBACK.

For each small batch of messages taken from the MqttSource, the rules (RuleEngine) turn
them into wire records, and those records are committed to the outbox's events lane
together with the rules' new state and the messages' digests, in ONE SQLite transaction.
Only then are the messages acknowledged to the broker. So a kill -9 at any moment either
loses the batch's records and state together (the broker resends the messages, and the
rules judge them from the state before them) or keeps both (and a resend, flagged DUP,
is recognised by its digest and dropped). Nothing is lost and nothing is doubled.

A tick every second lets time pass (held-open doors, closed checkpoint windows, silent
devices) and commits what it produced the same way. At start the rules resume from the
state in the outbox file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from edge.acquire.mqtt import Delivery, MqttSource
from edge.model import Event
from edge.outbox import Outbox
from edge.outbox_schema import DUMPS_OPTIONS
from edge.rules.door_config import DoorRulesConfig, VisitorPass
from edge.rules.engine import RuleEngine
from edge.rules.patrol_plan import PatrolPlan

log = logging.getLogger(__name__)
STATE_KEY = "rules"
KEEP_DIGESTS = 10_000  # committed messages remembered for resends after a restart


class AccessPipeline:
    """MqttSource (optional) + RuleEngine + outbox, with rule state kept in the outbox."""

    def __init__(
        self,
        outbox: Outbox,
        source: MqttSource | None,
        doors: DoorRulesConfig,
        plans: Sequence[PatrolPlan],
        *,
        clock: Callable[[], float] = time.time,
        tick_every: float = 1.0,
        batch: int = 256,
        keep_digests: int = KEEP_DIGESTS,
        first_tick_wait: float = 5.0,
        commit_gap: float = 0.005,
    ) -> None:
        self.outbox = outbox
        self.source = source
        self.clock = clock
        self.tick_every = tick_every
        self.batch = batch
        self.keep_digests = keep_digests
        self.first_tick_wait = first_tick_wait  # at most this long for the broker at start
        self.commit_gap = commit_gap  # seconds between commits at the most, under load
        self._doors, self._plans = doors, list(plans)
        self._passes: tuple[VisitorPass, ...] | None = None  # from directives, once pulled
        self.counters: dict[str, int] = {
            "messages": 0,
            "batches": 0,
            "records": 0,
            "resends_dropped": 0,  # DUP resends of messages committed before a restart
            "commit_failures": 0,
            "restored": 0,
        }
        self.engine, self._saved = self._load()

    # ---------------------------------------------------------------- state

    def _load(self) -> tuple[RuleEngine, bytes | None]:
        row = self.outbox._db.execute(
            "SELECT body FROM rule_state WHERE key = ?", (STATE_KEY,)
        ).fetchone()
        if row is not None:
            try:
                engine = RuleEngine.restore(self._doors, self._plans, orjson.loads(row[0]))
                self.counters["restored"] = 1
                log.info("rules resumed from the state saved in %s", self.outbox.path)
                return engine, bytes(row[0])
            except (ValueError, KeyError, TypeError) as exc:
                # Unusable (another version, hand-edited): start fresh, and say so.
                log.error(
                    "rule state in %s cannot be restored (%s); starting fresh",
                    self.outbox.path,
                    exc,
                )
        return RuleEngine(self._doors, self._plans, since=self.clock()), None

    def _rewind(self) -> None:
        """After a failed commit: back to the last committed state."""
        if self._saved is not None:
            self.engine = RuleEngine.restore(self._doors, self._plans, orjson.loads(self._saved))
        else:
            self.engine = RuleEngine(self._doors, self._plans, since=self.clock())
        if self._passes is not None:
            self.engine.set_passes(self._passes)

    def set_passes(self, passes: Sequence[VisitorPass]) -> None:
        """Visitor passes from the API's directives (saved with the next commit)."""
        self._passes = tuple(passes)
        self.engine.set_passes(self._passes)

    def _committed(self, digest: bytes) -> bool:
        row = self.outbox._db.execute(
            "SELECT 1 FROM mqtt_committed WHERE digest = ?", (digest,)
        ).fetchone()
        return row is not None

    def _commit(self, records: list[Event], digests: list[bytes]) -> None:
        """Records, the rules' state and the digests in one transaction."""
        snap = orjson.dumps(self.engine.snapshot(), option=DUMPS_OPTIONS)
        now = self.clock()

        def also(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO rule_state(key, body, saved_at) VALUES (?, ?, ?)",
                (STATE_KEY, snap, now),
            )
            if digests:
                db.executemany(
                    "INSERT OR REPLACE INTO mqtt_committed(digest, committed_at) VALUES (?, ?)",
                    [(d, now) for d in digests],
                )
                db.execute(
                    "DELETE FROM mqtt_committed WHERE id <= "
                    "(SELECT max(id) FROM mqtt_committed) - ?",
                    (self.keep_digests,),
                )

        self.outbox.append_events(records, also=also)
        self._saved = snap
        self.counters["records"] += len(records)

    # ---------------------------------------------------------------- steps

    def judge(self, batch: list[Delivery]) -> tuple[list[Event], list[bytes]]:
        """The records a batch of messages produces (the engine advances)."""
        records: list[Event] = []
        digests: list[bytes] = []
        for d in batch:
            if d.dup and self._committed(d.digest):
                self.counters["resends_dropped"] += 1
                continue
            for event in d.events:
                records += self.engine.feed(event)  # hears the device at the event's time
            if not d.events:
                # A battery report, a refused payload: the device spoke. Its events' own
                # times are not moved on by arrival time, so messages the broker kept
                # while the edge was away are judged at their times, in order.
                records += self.engine.heard(d.device, d.arrival)
            digests.append(d.digest)
        return records, digests

    async def process(self, batch: list[Delivery]) -> None:
        """Judge, commit, then acknowledge; on a failed commit retry from the saved state."""
        while True:
            records, digests = self.judge(batch)
            try:
                self._commit(records, digests)
                break
            except sqlite3.Error as exc:
                self.counters["commit_failures"] += 1
                log.error("cannot commit %d access records (%s); retrying", len(records), exc)
                self._rewind()
                await asyncio.sleep(1.0)
        self.counters["messages"] += len(batch)
        self.counters["batches"] += 1
        assert self.source is not None
        for d in batch:
            self.source.ack(d)

    async def tick(self, now: float) -> None:
        records = self.engine.tick(now)
        if not records:
            return
        try:
            self._commit(records, [])
        except sqlite3.Error as exc:
            # The next tick produces them again from the saved state.
            self.counters["commit_failures"] += 1
            log.error("cannot commit %d rule records (%s)", len(records), exc)
            self._rewind()

    # ---------------------------------------------------------------- tasks

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            if self.source is not None:
                tg.create_task(self._consume(), name="access")
            tg.create_task(self._tick_loop(), name="rules tick")

    async def _consume(self) -> None:
        assert self.source is not None
        loop = asyncio.get_running_loop()
        last_commit = -math.inf
        while True:
            first = await self.source.get()
            # Under load, commit at most every commit_gap seconds: each commit writes the
            # whole rule state, so 4-5 messages per commit cost most of a core at 1,000
            # events/s (bench/access_latency.py). A message after a quiet spell goes at once.
            wait = self.commit_gap - (loop.time() - last_commit)
            if wait > 0:
                await asyncio.sleep(wait)
            batch = [first]
            while len(batch) < self.batch and (d := self.source.get_nowait()) is not None:
                batch.append(d)
            await self.process(batch)
            last_commit = loop.time()

    async def _tick_loop(self) -> None:
        if self.source is not None:
            # Messages the broker kept while the edge was away come first: a door that
            # closed meanwhile must not be judged held open by the first tick.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.source.ready(), self.first_tick_wait)
            await asyncio.sleep(self.tick_every)
        while True:
            await self.tick(self.clock())
            await asyncio.sleep(self.tick_every)

    def counts(self) -> dict[str, Any]:
        return {**self.counters, "rules": self.engine.counts()}
