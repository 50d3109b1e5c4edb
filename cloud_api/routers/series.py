"""The series catalogue and each series' data, raw or rolled up.

GET /v1/series
- site, building, device: filters. Series come in id order, at most `limit` (default and
  most 1,000) per answer; `next` is the URL of the following page, null on the last.

GET /v1/series/{id}/data
- from, to: epoch seconds or ISO 8601 date-times (a time without offset is UTC; a '+' in
  an offset may arrive as a space when not URL-encoded, which is accepted). The interval
  is [from, to): raw readings with from <= ts < to, buckets whose start lies in it.
  Default: all of the series' history.
- step: raw (default), 15m, 1h or 1d. 15m and 1h buckets are aligned to UTC; 1d buckets
  are the local days of the series' site, in the zone the answer names (`timezone`, an
  IANA name; default Asia/Shanghai): each starts at a local midnight (its `start`, epoch
  seconds) and lasts to the next one, 24 h, or 23 h / 25 h on a daylight-saving change
  day (see store/local_days.py). Each bucket has count, min, max, avg, first and last
  readings; counters also carry
  `consumption`, `held_out` and `flags` from the counter ledger (edge/energy/ledger.py): the
  energy between two readings is spread over the time between them, so a bucket inside
  a gap has count 0 (and no min .. last) but its share of the gap's consumption.
- limit: rows per answer, default 10,000, at most 100,000 (a larger limit is a 400).
  When more rows match, the answer holds the first `limit` of them and `next` is the URL
  of the following page (the same query with an `after` cursor, the position of the last
  row handed out: no page costs more than the first); `next` is null on the last page.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from cloud_api.auth import require_permission
from cloud_api.store.base import BadCursorError, SeriesInfo, Step, Store
from cloud_api.store.rollup import STEPS

router = APIRouter(tags=["series"], dependencies=[Depends(require_permission("read"))])

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
MAX_SERIES_PAGE = 1_000
# Ids are SQLite integers: a larger one cannot name a series (and SQLite cannot take it).
SeriesId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the series' id")]


class SeriesOut(BaseModel):
    id: int
    site: str
    building: str
    device: str
    point: str
    unit: str
    kind: str = Field(description="gauge or counter; never changes")
    tags: dict[str, str] = Field(description="the device's tags as the edge reports them")
    edge: str | None = Field(None, description="the edge that created it and alone writes it")
    wrap: float | None = Field(None, description="counters: the register's modulus in `unit`")


class SeriesList(BaseModel):
    series: list[SeriesOut]
    next: str | None = Field(description="URL of the next page; null on the last page")


class RawReading(BaseModel):
    ts: float
    value: float | None
    text: str | None = Field(None, description="a reading that is text, not a number")
    quality: str
    reason: str | None


class Bucket(BaseModel):
    start: int = Field(description="bucket start, epoch seconds")
    count: int = Field(description="readings; 0: only a share of a gap's consumption")
    min: float | None = Field(description="null when count is 0, as are avg .. last_ts")
    max: float | None
    avg: float | None
    first: float | None
    last: float | None
    first_ts: float | None
    last_ts: float | None
    consumption: float | None = Field(None, description="counters only")
    held_out: float | None = Field(
        None,
        description="counters only: seen but not booked (an implausible jump, a gap"
        " too long to spread)",
    )
    flags: list[str] = Field(
        default_factory=list,
        description="counters: glitch, reset, rollover, implausible, gap, gap_held, late,"
        " replaced, repaired (see /v1/energy/quality)",
    )


class SeriesData(BaseModel):
    series: SeriesOut
    step: Step
    timezone: str = Field(
        description="the IANA time zone of the series' site: step 1d buckets are its local"
        " days (each starts at a local midnight; 23 h or 25 h on a DST change day)"
    )
    from_: float = Field(alias="from")
    to: float | None = Field(description="null: no upper bound")
    points: list[RawReading] | list[Bucket]
    next: str | None = Field(description="URL of the next page; null on the last page")


def _series_out(info: SeriesInfo) -> dict:
    return {
        "id": info.id,
        "site": info.site,
        "building": info.building,
        "device": info.device,
        "point": info.point,
        "unit": info.unit,
        "kind": info.kind,
        "tags": info.tags,
        "edge": info.edge,
        "wrap": info.wrap,
    }


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def parse_instant(text: str, name: str) -> float:
    """Epoch seconds from epoch seconds or an ISO 8601 date-time."""
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise HTTPException(400, f"{name}: must be a finite time, got {text!r}")
        return value
    candidate = text.strip()
    if "T" in candidate and " " in candidate.split("T", 1)[1]:
        candidate = candidate.replace(" ", "+")  # an unencoded '+' of an offset
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise HTTPException(
            400, f"{name}: expected epoch seconds or an ISO 8601 date-time, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _next_url(request: Request, after: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
    query.append(("after", after))
    return f"{request.url.path}?{urlencode(query)}"


@router.get(
    "/v1/series",
    response_model=SeriesList,
    summary="The series catalogue, page by page",
    responses={400: {"description": "bad limit or after"}},
)
def list_series(
    request: Request,
    site: str | None = None,
    building: str | None = None,
    device: str | None = None,
    limit: Annotated[int, Query(description=f"at most {MAX_SERIES_PAGE}")] = MAX_SERIES_PAGE,
    after: Annotated[str | None, Query(description="the cursor from `next`")] = None,
) -> Response:
    store: Store = request.app.state.store
    if not 1 <= limit <= MAX_SERIES_PAGE:
        raise HTTPException(400, f"limit must be between 1 and {MAX_SERIES_PAGE}, got {limit}")
    after_id = None
    if after is not None:
        try:
            after_id = int(after)
        except ValueError:
            after_id = -1
        if not 0 <= after_id < 2**63:
            raise HTTPException(400, f"after: {after!r} is not a cursor this API handed out")
    found = store.list_series(site, building, device, after_id=after_id, limit=limit + 1)
    next_url = _next_url(request, str(found[limit - 1].id)) if len(found) > limit else None
    return _json({"series": [_series_out(info) for info in found[:limit]], "next": next_url})


@router.get("/v1/series/{series_id}", response_model=SeriesOut, summary="One series")
def get_series(request: Request, series_id: SeriesId) -> Response:
    store: Store = request.app.state.store
    info = store.get_series(series_id)
    if info is None:
        raise HTTPException(404, f"no series with id {series_id}")
    return _json(_series_out(info))


@router.get(
    "/v1/series/{series_id}/data",
    response_model=SeriesData,
    summary="Readings or rollups of one series",
    responses={400: {"description": "bad from, to, limit or after"}, 404: {}},
)
def series_data(
    request: Request,
    series_id: SeriesId,
    from_: Annotated[
        str | None, Query(alias="from", description="epoch seconds or ISO 8601; inclusive")
    ] = None,
    to: Annotated[str | None, Query(description="epoch seconds or ISO 8601; exclusive")] = None,
    step: Step = "raw",
    limit: Annotated[int, Query(description=f"at most {MAX_LIMIT}")] = DEFAULT_LIMIT,
    after: Annotated[str | None, Query(description="the cursor from `next`")] = None,
) -> Response:
    store: Store = request.app.state.store
    start = parse_instant(from_, "from") if from_ is not None else 0.0
    end = parse_instant(to, "to") if to is not None else math.inf
    if start >= end:
        raise HTTPException(400, f"from must be before to (from={start}, to={end})")
    if not 1 <= limit <= MAX_LIMIT:
        raise HTTPException(400, f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    info = store.get_series(series_id)
    if info is None:
        raise HTTPException(404, f"no series with id {series_id}")
    try:
        if step == "raw":
            page = store.raw(series_id, start, end, limit, after)
        else:
            page = store.rollups(series_id, STEPS[step], start, end, limit, after)
    except BadCursorError as e:
        raise HTTPException(400, str(e)) from None
    except OverflowError:  # id and limit are bounded above: only the cursor is left
        raise HTTPException(
            400, f"after: {after!r} is out of range; it is not a cursor this API handed out"
        ) from None
    next_url = None if page.next_after is None else _next_url(request, page.next_after)
    body = {
        "series": _series_out(info),
        "step": step,
        "timezone": store.timezone(info.site),
        "from": start,
        "to": end if math.isfinite(end) else None,
        "points": page.rows,  # dataclasses, which orjson serialises natively
        "next": next_url,
    }
    return _json(body)
