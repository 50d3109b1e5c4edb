"""POST /v1/ingest: one batch of one lane from one edge, stored exactly once.

The delivery contract is edge/model.py's. What each answer means to the edge's uplink:

- 200 IngestAck: `acked` is the highest contiguous seq the API holds for the lane of the
  batch's stream (outbox and generation); the edge may delete every record of that stream
  at or below it. `accepted` records were stored now,
  `duplicates` were already held (a retry whose answer was lost), `dropped_at_edge`
  counts seq numbers skipped between the previous ack and this batch.
- 409 Conflict: every record of the batch was already acknowledged (a pure replay);
  nothing was stored. The body carries the same `lane` and `acked` as an IngestAck,
      {"detail": "records 1..250 of lane readings are already acknowledged ...",
       "lane": "readings", "acked": 250, "duplicates": 250}
  so the uplink treats it as an acknowledgement and deletes up to `acked`.
- 400 malformed JSON (the message gives line and column), corrupt gzip, bad Content-Length;
  401 missing, unknown or revoked token; 403 the batch is for another site, or a building
  the edge is not registered for (the message names it); 413 body or decompressed body
  over the limit (the message gives it);
  415 a Content-Encoding other than gzip; 422 the batch does not match the wire model
  (`message` names each field, e.g. "records[3].points[0].value: must be a finite
  number or null"; `detail` lists the problems as FastAPI does, loc/msg/type, so the
  edge can find the first refused record), or a record is stamped more than
  max_clock_skew_seconds after the API received it ("records[3].ts: ... ahead of the
  API's clock", type clock_skew). A 422 also refuses a batch whose first new
  record jumps above acked + 1 when `dropped_through` does not report the records between
  as let go at the edge (loc ["dropped_through"]), and a `stream.first_seq` other than the
  one the generation started with. A point whose kind or unit differs from its series'
  is a 422 of that form too, located at records[i].points[j].kind (or .unit). A series
  another edge created, or a batch that would take the edge past its cap of new series
  (setting max_series_per_edge), is a 403 naming the edge and the series or cap.
  None of these stores anything: the edge must
  fix the batch, or its configuration, before resending. Every other refusal is
  {"detail": "<message>"}.
- 503 the store cannot write now: retry later, nothing was stored.

An edge sends one batch per lane at a time and the next only after the answer: a batch
that arrives before an earlier one would be read as a gap (records dropped at the edge).
Batches are decoded, validated and stored one at a time, on one worker thread
(app.state.ingest_worker): two concurrent copies of one batch store it once, and since
that work is CPU-bound Python, two threads doing it at once only contend for the GIL
(measured: 2 threads ~20% slower in total than 1).

The body is read here, not by FastAPI, to bound its size before anything is parsed, and
is validated with pydantic's JSON validator straight from bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response, Security
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.background import BackgroundTask

from cloud_api.auth import require_edge
from cloud_api.metrics import ApiMetrics
from cloud_api.problems import Problem, malformed_json, problems, validation_body
from cloud_api.request_body import BodyError, decode, read_body
from cloud_api.settings import ApiSettings
from cloud_api.store.base import (
    BatchRefusedError,
    EdgeIdentity,
    IngestOutcome,
    IngestRefusedError,
    Store,
    StoreUnavailableError,
)
from edge.model import EventBatch, IngestAck, IngestBatch, Lane, ReadingBatch

log = logging.getLogger("steward.api.ingest")

router = APIRouter(tags=["ingest"])
batch_adapter: TypeAdapter[Any] = TypeAdapter(IngestBatch)
# Declares the bearer scheme in the OpenAPI document; the check itself is require_edge.
_bearer = HTTPBearer(auto_error=False, description="the edge's token from `steward-api edges add`")


class Refusal(BaseModel):
    detail: str


class ReplayConflict(BaseModel):
    detail: str
    lane: Lane
    acked: int
    duplicates: int


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    path: str = Field(description="loc as one would write it: records[3].points[0].value")
    input: str | None = Field(None, description="the offending value, shortened")


class InvalidBatch(BaseModel):
    message: str = Field(description="the problems in one line, each naming its field")
    error_count: int
    detail: list[FieldProblem] = Field(description="the first 20 problems")


class _Rejected(Exception):
    def __init__(
        self, status: int, reason: str, body: dict, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(body.get("detail"))
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers


def _json(
    status: int,
    body: object,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    return Response(
        orjson.dumps(body), status, headers, media_type="application/json", background=background
    )


def _release(outcome: IngestOutcome) -> None:
    """Nothing to do: the task only holds the batch's records until the answer is sent.

    Freeing a 5,000-point batch's objects takes ~2 ms; done after the answer is on its way
    (a background task runs after the response is sent), it overlaps the edge reading the
    answer and sending its next batch instead of delaying the answer.
    """


def _decode_validate_store(
    store: Store,
    settings: ApiSettings,
    metrics: ApiMetrics,
    edge: EdgeIdentity,
    raw: bytes,
    encoding: str | None,
) -> IngestOutcome:
    started = time.perf_counter()
    try:
        return _decode_validate_store_timed(store, settings, edge, raw, encoding)
    finally:
        metrics.busy_seconds.inc(time.perf_counter() - started)


def _decode_validate_store_timed(
    store: Store, settings: ApiSettings, edge: EdgeIdentity, raw: bytes, encoding: str | None
) -> IngestOutcome:
    try:
        body = decode(raw, encoding, settings.max_decompressed_bytes)
    except BodyError as e:
        raise _Rejected(e.status, e.reason, {"detail": e.message}) from None
    try:
        batch = batch_adapter.validate_json(body)
    except ValidationError as e:
        message = malformed_json(e)
        if message is not None:
            raise _Rejected(400, "bad_json", {"detail": message}) from None
        raise _Rejected(422, "invalid", validation_body(problems(e))) from None
    if batch.site != edge.site:
        detail = f"edge {edge.name} may only write site {edge.site}, not {batch.site}"
        raise _Rejected(403, "wrong_site", {"detail": detail})
    if not edge.may_write(batch.building):
        allowed = edge.buildings or ()
        which = f"building {allowed[0]}" if len(allowed) == 1 else f"buildings {', '.join(allowed)}"
        detail = (
            f"edge {edge.name} may only write {which} of site {edge.site}, not {batch.building}"
        )
        raise _Rejected(403, "wrong_building", {"detail": detail})
    received_at = time.time()
    ahead = _ahead_of_clock(batch, received_at, settings.max_clock_skew_seconds)
    if ahead:
        raise _Rejected(422, "clock_skew", validation_body(ahead))
    try:
        return store.ingest(edge, batch, received_at)
    except IngestRefusedError as e:
        problem = Problem((*e.field.split("."),), str(e).partition(": ")[2], "cursor")
        raise _Rejected(422, "cursor", validation_body([problem])) from None
    except BatchRefusedError as e:
        raise _Rejected(e.status, e.reason, _refusal_body(e, batch.records[0].seq)) from None
    except StoreUnavailableError as e:
        log.error("store unavailable, batch of edge %s refused: %s", edge.name, e)
        raise _Rejected(
            503, "store_unavailable", {"detail": f"store unavailable: {e}"}, {"Retry-After": "5"}
        ) from None


def _ahead_of_clock(
    batch: ReadingBatch | EventBatch, received_at: float, skew: float
) -> list[Problem]:
    """Records stamped more than `skew` seconds after the API received them: an edge clock
    set wrong, whose readings would sort after every real one (and lie about when)."""
    limit = received_at + skew
    return [
        Problem(
            ("records", i, "ts"),
            f"{r.ts!r} is {r.ts - received_at:.0f} s ahead of the API's clock (at most"
            f" {skew:g} s allowed): check the edge's clock",
            "clock_skew",
            repr(r.ts),
        )
        for i, r in enumerate(batch.records)
        if r.ts > limit
    ]


def _refusal_body(e: BatchRefusedError, first_seq: int) -> dict:
    """A 422 names the record and field, as validation errors do, for the edge's uplink."""
    if e.status != 422 or e.seq is None:
        return {"detail": e.message}
    loc = ("records", e.seq - first_seq, *e.where)
    return validation_body([Problem(loc, e.message, e.reason)])


@router.post(
    "/v1/ingest",
    summary="Store a batch of readings or events from an edge",
    response_model=IngestAck,
    dependencies=[Security(_bearer)],
    responses={
        400: {"model": Refusal, "description": "malformed JSON or gzip"},
        401: {"model": Refusal, "description": "missing, unknown or revoked token"},
        403: {
            "model": Refusal,
            "description": "the batch is for another site or building, writes another edge's"
            " series, or would pass the edge's cap of series",
        },
        409: {"model": ReplayConflict, "description": "every record was already acknowledged"},
        413: {"model": Refusal, "description": "body over the size limit"},
        415: {"model": Refusal, "description": "unsupported Content-Encoding"},
        422: {
            "model": InvalidBatch,
            "description": "the batch does not match the wire model, or a record is stamped"
            " too far ahead of the API's clock",
        },
        503: {"model": Refusal, "description": "the store cannot write now; retry"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "an IngestBatch as JSON, optionally with Content-Encoding: gzip",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}
            },
        }
    },
)
async def ingest(request: Request) -> Response:
    state = request.app.state
    metrics: ApiMetrics = state.metrics
    settings: ApiSettings = state.settings
    edge: EdgeIdentity | None = None
    try:
        try:
            edge = await require_edge(request)
            raw = await read_body(request, settings.max_body_bytes)
        except HTTPException as e:
            raise _Rejected(
                e.status_code, "unauthorized", {"detail": e.detail}, e.headers
            ) from None
        except BodyError as e:
            raise _Rejected(e.status, e.reason, {"detail": e.message}) from None
        outcome = await asyncio.get_running_loop().run_in_executor(
            state.ingest_worker,
            _decode_validate_store,
            state.store,
            settings,
            metrics,
            edge,
            raw,
            request.headers.get("content-encoding"),
        )
    except _Rejected as r:
        metrics.requests.labels(code=str(r.status)).inc()
        metrics.rejected.labels(reason=r.reason).inc()
        who = edge.name if edge is not None else request.client.host if request.client else "?"
        message = r.body.get("message", r.body.get("detail"))
        log.warning("ingest from %s refused (%d %s): %s", who, r.status, r.reason, message)
        return _json(r.status, r.body, r.headers)

    ack = outcome.ack
    lane = ack.lane
    metrics.records.labels(lane=lane, outcome="accepted").inc(ack.accepted)
    metrics.records.labels(lane=lane, outcome="duplicate").inc(ack.duplicates)
    metrics.points.inc(outcome.points)
    metrics.dropped_at_edge.labels(lane=lane).inc(ack.dropped_at_edge)
    if ack.dropped_at_edge:
        log.warning(
            "edge %s skipped %d %s records it had dropped (acked now %d)",
            edge.name,
            ack.dropped_at_edge,
            lane,
            ack.acked,
        )
    release = BackgroundTask(_release, outcome)
    if outcome.replay:
        metrics.requests.labels(code="409").inc()
        metrics.rejected.labels(reason="replay").inc()
        return _json(409, _replay_body(outcome), background=release)
    metrics.requests.labels(code="200").inc()
    return _json(200, ack.model_dump(), background=release)


def _replay_body(outcome: IngestOutcome) -> dict:
    ack = outcome.ack
    detail = (
        f"records {outcome.first_seq}..{outcome.last_seq} of lane {ack.lane} are already"
        f" acknowledged (acked {ack.acked}); nothing was stored"
    )
    return {"detail": detail, "lane": ack.lane, "acked": ack.acked, "duplicates": ack.duplicates}


def openapi_schemas() -> dict[str, dict]:
    """Component schemas for the request body, which FastAPI does not see (it is read raw)."""
    schema = batch_adapter.json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    components["IngestBatch"] = schema
    return components
