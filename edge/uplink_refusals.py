"""What the uplink does with a batch the API refuses (413, 400/422): shrink the batch,
narrow it down to the refused record, dead-letter that record, or hold it when only its
timestamp is wrong. A refusal that is about the cursor or the envelope, not a record,
needs an operator and quarantines nothing. See the Failures section of edge/uplink.py."""

from __future__ import annotations

import logging
import time

import httpx

from edge import uplink_answers as answers
from edge.clock_hold import hold_front
from edge.model import Lane
from edge.outbox import Outbox, OutboxBatch
from edge.uplink_answers import Outcome
from edge.uplink_stats import UplinkCounters

log = logging.getLogger("edge.uplink")


class RefusalsMixin:
    """The refusal handling of :class:`edge.uplink.Uplink`."""

    outbox: Outbox
    site: str
    building: str
    config_error_backoff: float
    _counters: UplinkCounters
    _limits: dict
    _narrow: dict[Lane, int | None]

    def _too_large(self, batch: OutboxBatch, detail: str) -> Outcome:
        lane = batch.lane
        self._counters.errors["too_large"] += 1
        if len(batch) == 1:
            return self._quarantine(batch, f"larger than the API accepts (HTTP 413: {detail})")
        limits = self._limits[lane]
        limits.max_records = max(1, len(batch) // 2)
        limits.max_bytes = max(1, batch.nbytes // 2)
        log.warning(
            "the API refused a %d-record, %d-byte %s batch as too large (HTTP 413); "
            "batches of this lane are now at most %d records and %d bytes",
            len(batch),
            batch.nbytes,
            lane,
            limits.max_records,
            limits.max_bytes,
        )
        return Outcome.RETRY_NOW

    def _refused(self, batch: OutboxBatch, response: httpx.Response, detail: str) -> Outcome:
        lane = batch.lane
        self._counters.errors["refused"] += 1
        self._counters.last_error = f"HTTP {response.status_code}: {detail}"
        self._counters.last_error_at = time.time()
        if answers.refuses_the_cursor(response):
            # The API's cursor for this stream disagrees with the outbox (e.g. the API's
            # store was restored from a backup): no record is at fault, an operator is.
            log.error(
                "the API refuses %s seq %d.. of this outbox against its cursor (HTTP %d: %s);"
                " nothing is quarantined; compare with steward-api edges cursors, retrying"
                " in %.0f s",
                lane,
                batch.first_seq,
                response.status_code,
                detail,
                self.config_error_backoff,
            )
            return Outcome.CONFIG
        index = answers.first_refused_record(response)
        if index is not None and 0 < index < len(batch):
            # Send the records before the refused one; it then heads the next batch.
            self._narrow[lane] = index
            return Outcome.RETRY_NOW
        if index == 0:
            if answers.refused_for_time(response, 0):
                return self._hold_for_clock(batch, f"HTTP {response.status_code}: {detail}")
            return self._quarantine(batch, f"HTTP {response.status_code}: {detail}")
        if len(batch) > 1:
            # The API did not say which record: halve until the culprit heads a batch alone.
            self._narrow[lane] = len(batch) // 2
            return Outcome.RETRY_NOW
        problem = answers.local_problem(lane, batch.records[0])
        if problem is not None:
            reason = f"HTTP {response.status_code}: {detail}; locally: {problem.message}"
            if problem.only_time:
                return self._hold_for_clock(batch, reason)
            return self._quarantine(batch, reason)
        log.error(
            "the API refuses %s batches (HTTP %d: %s) but not for a reason in their "
            "records (site %r, building %r?); nothing is quarantined, retrying in %.0f s",
            lane,
            response.status_code,
            detail,
            self.site,
            self.building,
            self.config_error_backoff,
        )
        self._narrow[lane] = None
        return Outcome.CONFIG

    def _quarantine(self, batch: OutboxBatch, reason: str) -> Outcome:
        self.outbox.quarantine(batch.lane, batch.first_seq, reason)
        self._narrow[batch.lane] = None
        self._counters.quarantined += 1
        log.error(
            "quarantined %s record seq %d (kept in the outbox's quarantined table, not "
            "sent): %s; record: %s",
            batch.lane,
            batch.first_seq,
            reason,
            batch.records[0][:300].decode(errors="replace"),
        )
        return Outcome.RETRY_NOW

    def _hold_for_clock(self, batch: OutboxBatch, reason: str) -> Outcome:
        # A wrong clock is not bad data: hold the record (visible, never sent as if
        # right) rather than dead-letter it.
        hold_front(self.outbox, batch.lane, batch.first_seq, reason)
        self._narrow[batch.lane] = None
        self._counters.held_for_clock += 1
        log.error(
            "the API refused the timestamp of %s record seq %d (%s): held for the clock, not "
            "sent and not dead-lettered; check the edge's clock (steward-edge status)",
            batch.lane,
            batch.first_seq,
            reason,
        )
        return Outcome.RETRY_NOW
