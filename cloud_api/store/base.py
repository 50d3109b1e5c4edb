"""The Store protocol every backend implements, and the plain values it speaks.

A store keeps the readings and events the edges send, the per-(edge, outbox, generation,
lane) cursor that makes ingest exactly-once (see edge/model.py's delivery contract), the
series catalogue, rollups, and the registered edges with their hashed tokens.

Every method may be called from any thread; a store serialises its own writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from edge.model import EventBatch, EventRecord, IngestAck, ReadingBatch, ReadingRecord

Step = Literal["raw", "15m", "1h", "1d"]


class EdgeExistsError(ValueError):
    """An edge of that name is already registered."""


class BadCursorError(ValueError):
    """A paging cursor that this store did not hand out."""


class IngestRefusedError(ValueError):
    """A well-formed batch that contradicts the cursor it would move: a seq jump the edge
    does not report as drops, a generation said to start elsewhere. Answered 422 naming
    ``field``; nothing is stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownAlarmError(LookupError):
    """No alarm has that id (the API answers 404)."""


class StoreUnavailableError(RuntimeError):
    """The store cannot take the write now (disk full, file locked, ...); retry later."""


class BatchRefusedError(ValueError):
    """The store refuses a batch for what it says; nothing of the batch was stored.

    status is the HTTP status the API answers with, reason a short label for metrics;
    seq and where name the refused record and the field inside it when there is one
    (where: e.g. ("points", 0, "kind")).
    """

    status = 422
    reason = "refused"

    def __init__(self, message: str, seq: int | None = None, where: tuple = ()) -> None:
        super().__init__(message)
        self.message = message
        self.seq = seq
        self.where = where


class SeriesChangedError(BatchRefusedError):
    """A point arrives with another kind or unit than its series has."""

    status = 422
    reason = "series_changed"


class SeriesOwnerError(BatchRefusedError):
    """An edge writes a series that another edge created."""

    status = 403
    reason = "series_owner"


class SeriesCapError(BatchRefusedError):
    """The batch would take an edge past the number of series it may create."""

    status = 403
    reason = "series_cap"


@dataclass(frozen=True, slots=True)
class EdgeIdentity:
    """Who is writing: an authenticated edge and where it may write."""

    name: str
    site: str
    building: str | None = None  # the (first) building it may write; None: any of the site
    more_buildings: tuple[str, ...] = ()  # further buildings it is registered for

    @property
    def buildings(self) -> tuple[str, ...] | None:
        """Every building it may write; None: any building of its site."""
        return None if self.building is None else (self.building, *self.more_buildings)

    def may_write(self, building: str) -> bool:
        return self.building is None or building == self.building or building in self.more_buildings


@dataclass(frozen=True, slots=True)
class EdgeCredential:
    identity: EdgeIdentity
    revoked: bool


@dataclass(frozen=True, slots=True)
class LaneState:
    """One lane of an edge: the cursor of its latest stream; drops and duplicates summed
    over all its streams."""

    acked: int
    dropped_at_edge: int
    duplicates: int
    outbox: str = ""  # the latest stream's outbox id ("" : the default stream)
    generation: str = ""
    first_seq: int = 1


@dataclass(frozen=True, slots=True)
class CursorInfo:
    """One cursor: what the API holds of one (edge, outbox, generation, lane)."""

    edge: str
    lane: str
    outbox: str
    generation: str
    first_seq: int
    acked: int
    dropped_at_edge: int
    duplicates: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class EdgeInfo:
    name: str
    site: str
    building: str | None
    revoked: bool
    created_at: float
    last_seen: float | None
    backlog: dict[str, dict] = field(default_factory=dict)  # lane -> the edge's last report
    lanes: dict[str, LaneState] = field(default_factory=dict)
    buildings: tuple[str, ...] | None = None  # None: any building of the site


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    ack: IngestAck
    first_seq: int  # of the batch
    last_seq: int
    new_records: list[ReadingRecord] | list[EventRecord]  # the records stored by this call
    points: int  # readings stored by this call

    @property
    def replay(self) -> bool:
        """Every record of the batch was already acknowledged: nothing was stored."""
        return self.ack.accepted == 0


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    id: int
    site: str
    building: str
    device: str
    point: str
    unit: str
    kind: str  # gauge | counter
    tags: dict[str, str]
    edge: str | None = None  # the edge that created it and alone may write it
    wrap: float | None = None  # a counter register's modulus in `unit`, when known


@dataclass(frozen=True, slots=True)
class RawRow:
    ts: float
    value: float | None
    text: str | None
    quality: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class BucketRow:
    start: int
    count: int  # 0: no reading here, only energy spread over a gap (counters)
    min: float | None  # None when count is 0, as are avg .. last_ts
    max: float | None
    avg: float | None
    first: float | None
    last: float | None
    first_ts: float | None
    last_ts: float | None
    consumption: float | None  # counters only
    held_out: float | None = None  # counters only: seen but not booked (see edge/energy/ledger.py)
    flags: list[str] = field(default_factory=list)  # counters: what the ledger noticed


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[RawRow] | list[BucketRow]
    next_after: str | None  # pass as `after` to get the rows that follow; None: no more


class Store(Protocol):
    name: str

    def ingest(
        self, edge: EdgeIdentity, batch: ReadingBatch | EventBatch, received_at: float
    ) -> IngestOutcome:
        """Store a validated batch exactly once per (edge, lane, seq), atomically.

        Raises BatchRefusedError (nothing stored) for a batch the store will not take: a
        series' kind or unit changed, another edge's series, too many new series."""
        ...

    def list_series(
        self,
        site: str | None = None,
        building: str | None = None,
        device: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[SeriesInfo]:
        """Series in id order: with ids above after_id, at most `limit` of them."""
        ...

    def get_series(self, series_id: int) -> SeriesInfo | None: ...

    def raw(
        self, series_id: int, start: float, end: float, limit: int, after: str | None = None
    ) -> Page:
        """Readings with start <= ts < end in time order (arrival order among equal ts),
        at most `limit` of them; `after` resumes past a reading (keyset, no skipping)."""
        ...

    def rollups(
        self,
        series_id: int,
        step: int,
        start: float,
        end: float,
        limit: int,
        after: str | None = None,
    ) -> Page:
        """Buckets of `step` seconds with start <= bucket start < end, in time order;
        step 86400 buckets are the local days of the series' site (see timezone())."""
        ...

    def timezone(self, site: str) -> str:
        """The IANA zone whose local days are the site's 1-day buckets."""
        ...

    def add_edge(self, identity: EdgeIdentity, token_hash: str) -> None: ...

    def revoke_edge(self, name: str) -> bool:
        """True when the edge existed."""
        ...

    def credential(self, token_hash: str) -> EdgeCredential | None: ...

    def list_edges(self) -> list[EdgeInfo]: ...

    def ping(self) -> None:
        """Raise when the store cannot answer."""
        ...

    def close(self) -> None: ...
