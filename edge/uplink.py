"""Forward the outbox to the central API in HTTP batches, exactly once in effect.

The uplink reads consecutive records from the front of a lane, sends them as one gzip'd
JSON batch (``edge.model.IngestBatch``) to ``POST /v1/ingest`` with the edge's bearer
token, and deletes from the outbox only what the API acknowledges. The API stores each
(edge, lane, seq) at most once, so a batch re-sent after a lost response, a timeout or a
kill -9 between send and ack costs bandwidth, never a duplicate; and since nothing is
deleted before the ack, nothing is lost. After a restart the uplink simply starts again
from the front of each lane, which is the last acknowledged seq + 1. Each batch names its
``stream`` (the outbox file's id and the generation that numbered the records), so a
replaced, restored or rewound outbox file is never taken for a replay, and reports
``dropped_through`` when records below it were let go undelivered (edge/model.py).

Order and pacing
- The events lane (events and alarms) goes before readings; one batch is in flight at a
  time, so each lane arrives in order.
- A batch is bounded by ``max_records``, ``max_bytes`` (uncompressed JSON) and age: a
  partial batch waits until its first record has waited ``max_age`` (as this process
  saw it), a full one (a backlog) goes at once, back to back. Events wait 0 s by default.
- Batch bodies are spliced from the stored JSON bytes; records are never decoded here.

Failures (nothing is ever dropped by the uplink)
- network errors, timeouts, 5xx, 429: exponential backoff with jitter, capped, reset on
  success; a Retry-After in seconds is honoured up to the cap.
- 401 (bad token), 403 (site/building not the edge's) and other unexpected 4xx (wrong
  URL): an ERROR naming the problem and a long pause before trying again; these need an
  operator, not a tight loop.
- 413: the batch is too large for the API: halve this lane's limits and retry.
- 400/422: the API refused the batch as malformed. The uplink narrows it down to the
  first refused record (from the error locations the API reports, else by halving) and
  moves that record to the outbox's quarantine table, with the API's message as reason,
  counted and logged. A refusal that is not about a record (the envelope: site, building)
  is treated like a configuration error instead, so a bad setting never quarantines good
  data. A record refused for its timestamp (a wrong clock, not bad data) is held
  (``edge/clock_hold.py``), visible and never sent as if right, not dead-lettered.

Clock: with a ``clock_guard``, the ``Date`` header of every API answer feeds it; when no
answer came for a while, the uplink asks ``GET /healthz`` for the API's time.

Visibility: :meth:`Uplink.stats` returns counters, send rate and backlog depth and age per
lane; the same summary is logged at INFO every ``stats_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import TypeAdapter, ValidationError

from edge import uplink_answers as answers
from edge.clock import ClockGuard
from edge.model import LANES, Lane, Name
from edge.outbox import Outbox, OutboxBatch
from edge.uplink_answers import Outcome
from edge.uplink_refusals import RefusalsMixin
from edge.uplink_stats import UplinkCounters, summary_line, uplink_stats

log = logging.getLogger(__name__)

_NAME = TypeAdapter(Name)
# Compress bodies at least this large in a worker thread so the event loop (which also
# runs acquisition) is not held up; zlib releases the GIL.
_THREAD_COMPRESS_BYTES = 128 * 1024


@dataclass(slots=True)
class _LaneLimits:
    max_records: int
    max_bytes: int


class Uplink(RefusalsMixin):
    """Drains an :class:`Outbox` to ``{api_url}/v1/ingest``.

    Use as ``async with Uplink(...) as uplink:`` (runs in a background task until the block
    ends) or ``await uplink.run()`` (runs until cancelled). The outbox must be used from the
    same thread as the event loop.
    """

    def __init__(
        self,
        outbox: Outbox,
        api_url: str,
        token: str,
        site: str,
        building: str,
        *,
        max_records: int = 2000,
        max_bytes: int = 2_000_000,
        max_age: float = 2.0,
        events_max_age: float = 0.0,
        gzip_level: int = 1,
        request_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        config_error_backoff: float = 60.0,
        poll_interval: float = 0.5,
        stats_interval: float = 30.0,
        ingest_path: str = "/v1/ingest",
        clock_guard: ClockGuard | None = None,
        clock_probe_path: str = "/healthz",
    ) -> None:
        for what, value in (("site", site), ("building", building)):
            try:
                _NAME.validate_python(value)
            except ValidationError:
                raise ValueError(
                    f"{what} {value!r} is not a valid name: 1-128 characters of "
                    "A-Z a-z 0-9 _ . : - /"
                ) from None
        if not token:
            raise ValueError("the edge token is empty")
        if not 1 <= gzip_level <= 9:
            raise ValueError(f"gzip_level must be 1..9, not {gzip_level}")
        if max_records < 1 or max_bytes < 1:
            raise ValueError("max_records and max_bytes must be at least 1")
        self.outbox = outbox
        self.url = api_url.rstrip("/") + ingest_path
        self.clock_guard = clock_guard
        self._clock_probe_url = api_url.rstrip("/") + clock_probe_path
        self._clock_probe_next = 0.0
        self.site = site
        self.building = building
        self._token = token
        self.max_age = {"events": events_max_age, "readings": max_age}
        self.gzip_level = gzip_level
        self.request_timeout = request_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.config_error_backoff = config_error_backoff
        self.poll_interval = poll_interval
        self.stats_interval = stats_interval
        self._limits = {lane: _LaneLimits(max_records, max_bytes) for lane in LANES}
        # A one-batch cap per lane while narrowing down a refused batch (see _refused).
        self._narrow: dict[Lane, int | None] = dict.fromkeys(LANES)
        self._first_seen: dict[Lane, tuple[int, float]] = {}
        self._envelope_head = b'{"site":%b,"building":%b,"lane":' % (
            orjson.dumps(site),
            orjson.dumps(building),
        )
        self._failures = 0
        self._retry_after = 0.0
        self._counters = UplinkCounters()
        self._started = time.monotonic()
        self._reset_warned: set[Lane] = set()
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._wake = asyncio.Event()
        self._draining = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._state = "idle"

    # ------------------------------------------------------------------ lifetime

    async def __aenter__(self) -> Uplink:
        self._task = asyncio.create_task(self.run(), name="uplink")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop the background task started by ``async with``. An in-flight batch is
        abandoned; it is re-sent after the next start and the API answers it as a replay."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run(self) -> None:
        """Send batches until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.outbox.add_listener(self._on_append)
        stats_task = asyncio.create_task(self._log_stats_periodically(), name="uplink-stats")
        try:
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=self.request_timeout,
            ) as client:
                await self._send_loop(client)
        finally:
            stats_task.cancel()
            self.outbox.remove_listener(self._on_append)
            self._state = "stopped"
            log.info("uplink stopped: %s", self._summary())

    # ------------------------------------------------------------------ control

    def pause(self) -> None:
        """Stop sending (a planned outage); the outbox keeps accepting records. A batch
        already in flight completes."""
        if self._unpaused.is_set():
            log.info("uplink paused; the outbox keeps accepting records")
        self._unpaused.clear()

    def resume(self) -> None:
        if not self._unpaused.is_set():
            log.info("uplink resumed")
        self._unpaused.set()
        self._wake.set()

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until both lanes are empty, sending partial batches without waiting for
        them to age. Returns False if ``timeout`` passed first. Raises if the uplink task
        died."""
        self._draining += 1
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                if all(b.records == 0 for b in self.outbox.backlog().values()):
                    return True
                if self._task is not None and self._task.done():
                    self._task.result()  # re-raise what killed it
                    raise RuntimeError("the uplink task ended before the outbox drained")
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(0.02)
        finally:
            self._draining -= 1

    def _on_append(self, lane: Lane) -> None:
        # Called by the outbox after a commit, normally on the loop's own thread.
        if self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    # ------------------------------------------------------------------ the loop

    async def _send_loop(self, client: httpx.AsyncClient) -> None:
        while True:
            if not self._unpaused.is_set():
                self._state = "paused"
                await self._unpaused.wait()
            # Cleared before looking, so an append during the look still wakes the wait.
            self._wake.clear()
            if self.clock_guard is not None and self.clock_guard.needs_check():
                await self._probe_clock(client)
            try:
                batch, wait = self._next_due_batch()
                if batch is not None:
                    self._state = "sending"
                    outcome = await self._deliver(client, batch)
            except Exception as exc:
                # The outbox (disk full, I/O error) or a bug: keep the uplink alive and
                # loud rather than let its task die quietly.
                log.exception("uplink: unexpected failure, retrying with backoff")
                batch, outcome = None, self._failed("internal", repr(exc), logged=True)
            else:
                if batch is None:
                    self._state = "idle"
                    # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a
                    # cancellation arriving as the wait ends; stop() would then hang.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._wake.wait()
                    continue
            if outcome == Outcome.BACKOFF:
                self._failures += 1
                ceiling = min(self.backoff_max, self.backoff_initial * 2 ** (self._failures - 1))
                # Jitter spreads the retries of many edges after a shared outage; the
                # server's Retry-After, when it gave one, is a floor (within backoff_max).
                delay = max(
                    random.uniform(self.backoff_initial, ceiling),
                    min(self._retry_after, self.backoff_max),
                )
                self._retry_after = 0.0
                self._state = "backoff"
                await asyncio.sleep(delay)
            elif outcome == Outcome.CONFIG:
                self._state = "waiting for configuration fix"
                await asyncio.sleep(self.config_error_backoff)
            elif outcome == Outcome.SENT:
                self._failures = 0

    def _next_due_batch(self) -> tuple[OutboxBatch | None, float]:
        """The first lane's batch that is due, else (None, seconds until one may be).

        Decided from the lane's ends and totals (a few index lookups) before reading any
        record: the loop wakes on every append, and re-reading a filling batch each time
        would cost more than sending it.
        """
        wait = self.poll_interval
        for lane in LANES:
            held = self.outbox.lane_backlog(lane)
            if held.first_seq is None:
                self._first_seen.pop(lane, None)
                continue
            limits = self._limits[lane]
            narrow = self._narrow[lane]
            max_records = limits.max_records if narrow is None else min(narrow, limits.max_records)
            full = held.records >= max_records or held.bytes >= limits.max_bytes
            if not (full or self._draining or narrow is not None):
                now = time.monotonic()
                seen = self._first_seen.get(lane)
                if seen is None or seen[0] != held.first_seq:
                    seen = self._first_seen[lane] = (held.first_seq, now)
                # Age is how long this uplink has seen the batch's first record waiting,
                # not its timestamp: device clocks can be off, and replayed or backfilled
                # data is old by nature yet should still go in full batches.
                due_in = self.max_age[lane] - (now - seen[1])
                if due_in > 0:
                    wait = min(wait, due_in)
                    continue
            batch = self.outbox.peek(lane, max_records, limits.max_bytes)
            if batch is not None:
                return batch, 0.0
        return None, wait

    async def _probe_clock(self, client: httpx.AsyncClient) -> None:
        """Ask the API for its time (any answer's Date header will do), at most every 5 s."""
        guard = self.clock_guard
        now = time.monotonic()
        if guard is None or now < self._clock_probe_next:
            return
        self._clock_probe_next = now + 5.0
        sent = guard.boot()
        try:
            response = await client.get(self._clock_probe_url)
        except httpx.HTTPError as exc:
            log.debug("uplink: cannot ask the API for its time: %r", exc)
            return
        guard.observe(response.headers.get("date"), sent, guard.boot())

    def _body(self, batch: OutboxBatch) -> bytes:
        # The backlog as it will be once this batch is acknowledged: 0 after a drain.
        after = self.outbox.backlog_after(batch.lane, batch.last_seq)
        backlog = {lane: b.wire() for lane, b in after.items()}
        identity = b""
        if batch.stream is not None:
            identity += b',"stream":' + orjson.dumps(batch.stream)
        if batch.dropped_through:
            identity += b',"dropped_through":%d' % batch.dropped_through
        return b"".join(
            (
                self._envelope_head,
                b'"%b"%b,"backlog":' % (batch.lane.encode(), identity),
                orjson.dumps(backlog),
                b',"records":[',
                b",".join(batch.records),
                b"]}",
            )
        )

    async def _deliver(self, client: httpx.AsyncClient, batch: OutboxBatch) -> Outcome:
        body = self._body(batch)
        if len(body) >= _THREAD_COMPRESS_BYTES:
            compressed = await asyncio.to_thread(gzip.compress, body, self.gzip_level, mtime=0)
        else:
            compressed = gzip.compress(body, self.gzip_level, mtime=0)
        guard = self.clock_guard
        sent = guard.boot() if guard is not None else 0.0
        try:
            response = await client.post(
                self.url,
                content=compressed,
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            )
            if guard is not None:  # every answer carries the API's time
                guard.observe(response.headers.get("date"), sent, guard.boot())
        except httpx.TimeoutException as exc:
            return self._failed("timeout", f"no answer from {self.url} in time ({exc!r})")
        except httpx.TransportError as exc:
            return self._failed("network", f"cannot reach {self.url}: {exc!r}")
        status = response.status_code
        if status in (200, 201, 202):
            return self._acknowledged(batch, response, len(body), len(compressed))
        if status == 409:
            # The API already holds this whole batch: a replay after a lost response.
            return self._acknowledged(batch, response, len(body), len(compressed), replay=True)
        detail = answers.detail(response)
        if status == 401:
            log.error(
                "the API refused this edge's token (HTTP 401: %s); check the token configured "
                "for site %s building %s; nothing is dropped, retrying in %.0f s",
                detail,
                self.site,
                self.building,
                self.config_error_backoff,
            )
            return self._failed("auth", f"HTTP 401: {detail}", logged=True, config=True)
        if status == 403:
            log.error(
                "the API does not let this edge write site %s building %s (HTTP 403: %s); "
                "check site and building against the edge's registration; nothing is "
                "dropped, retrying in %.0f s",
                self.site,
                self.building,
                detail,
                self.config_error_backoff,
            )
            return self._failed("forbidden", f"HTTP 403: {detail}", logged=True, config=True)
        if status == 413:
            return self._too_large(batch, detail)
        if status in (400, 422):
            return self._refused(batch, response, detail)
        if status == 429 or status >= 500:
            self._retry_after = answers.retry_after(response)
            kind = "throttled" if status == 429 else "server"
            return self._failed(kind, f"HTTP {status} from {self.url}: {detail}")
        log.error(
            "unexpected HTTP %d from %s (is the API URL right?): %s; retrying in %.0f s",
            status,
            self.url,
            detail,
            self.config_error_backoff,
        )
        return self._failed("http_other", f"HTTP {status}: {detail}", logged=True, config=True)

    # ------------------------------------------------------------------ outcomes

    def _failed(
        self, kind: str, message: str, *, logged: bool = False, config: bool = False
    ) -> Outcome:
        c = self._counters
        c.errors[kind] += 1
        c.last_error = message
        c.last_error_at = time.time()
        if not logged:
            # Transient trouble: one WARNING when it starts, then DEBUG until it clears.
            level = logging.WARNING if self._failures == 0 else logging.DEBUG
            log.log(level, "uplink: %s; backing off (attempt %d)", message, self._failures + 1)
        return Outcome.CONFIG if config else Outcome.BACKOFF

    def _acknowledged(
        self,
        batch: OutboxBatch,
        response: httpx.Response,
        raw_bytes: int,
        sent_bytes: int,
        *,
        replay: bool = False,
    ) -> Outcome:
        try:
            answer = response.json()  # a 409 carries lane, acked and duplicates as a 200 does
            acked = int(answer["acked"])
            if answer.get("lane", batch.lane) != batch.lane:
                raise ValueError(f"ack names lane {answer.get('lane')!r}")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return self._failed(
                "bad_response",
                f"HTTP {response.status_code} without a usable ack ({exc}): {response.text[:200]}",
            )
        lane = batch.lane
        if acked > batch.last_seq:
            self._note_ack_beyond_file(batch, acked)
            # Never delete records this batch did not carry on the strength of this ack.
            acked = batch.last_seq
        if acked < batch.first_seq:
            return self._failed(
                "no_progress",
                f"the API answered {lane} seq {batch.first_seq}..{batch.last_seq} with "
                f"acked={acked}; it is missing earlier records this edge no longer holds",
            )
        self.outbox.ack(lane, acked)
        self._narrow[lane] = None
        records = acked - batch.first_seq + 1
        # A partial ack is not expected from a conforming API; count its points pro rata.
        points = batch.points if records == len(batch) else batch.points * records // len(batch)
        if replay:
            duplicates, dropped = records, 0
        else:
            duplicates = int(answer.get("duplicates", 0) or 0)
            dropped = int(answer.get("dropped_at_edge", 0) or 0)
        self._counters.note_sent(
            lane, records, points, raw_bytes, sent_bytes, duplicates=duplicates, dropped=dropped
        )
        if self._failures:
            log.info("uplink: the API accepts batches again after %d failures", self._failures)
        return Outcome.SENT

    def _note_ack_beyond_file(self, batch: OutboxBatch, acked: int) -> None:
        """The API holds this stream beyond what this file ever numbered in it."""
        lane = batch.lane
        highest = self.outbox.last_assigned_seq(lane)
        if acked <= highest or lane in self._reset_warned:
            return
        self._reset_warned.add(lane)
        if batch.stream is None:
            log.error(
                "the API holds %s up to seq %d but this outbox never numbered beyond %d, "
                "and these records predate outbox identities: the API takes them as "
                "replays; reset the cursor (steward-api edges reset-cursor) if the outbox "
                "file was replaced or restored",
                lane,
                acked,
                highest,
            )
            return
        log.warning(
            "the API holds %s of this outbox (generation %s) up to seq %d, beyond the %d "
            "this file numbered: the file was restored from an older copy or lost its last "
            "commits (power loss). What it still holds of that generation was delivered "
            "before; its new records belong to generation %s and are not affected. If this "
            "was not a restore, check the cursor with steward-api edges cursors",
            lane,
            batch.stream["generation"],
            acked,
            highest,
            self.outbox.generation,
        )

    # ------------------------------------------------------------------ visibility

    def stats(self) -> dict[str, Any]:
        """Counters since start, send rate, and the outbox's backlog per lane."""
        return uplink_stats(
            self._counters,
            self.outbox,
            state=self._state,
            paused=self.paused,
            url=self.url,
            started=self._started,
            failures=self._failures,
        )

    def _summary(self) -> str:
        return summary_line(self.stats())

    async def _log_stats_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            log.info("uplink: %s", self._summary())
