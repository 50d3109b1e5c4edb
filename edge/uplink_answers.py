"""What an answer of the central API says, for the uplink: its explanation, how long to
wait, which record it refused and why. Pure functions of the response (no outbox)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import Enum

import httpx
from pydantic import ValidationError

from edge.model import EventRecord, Lane, ReadingRecord

_RECORD_MODELS = {"events": EventRecord, "readings": ReadingRecord}


class Outcome(Enum):
    """What one delivery attempt asks the loop to do next."""

    SENT = "sent"  # go on at once
    RETRY_NOW = "retry_now"  # limits changed or a record was quarantined: go on at once
    BACKOFF = "backoff"  # transient failure: wait with exponential backoff
    CONFIG = "config"  # needs an operator: wait config_error_backoff


def detail(response: httpx.Response) -> str:
    """The API's explanation, short enough for a log line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"][:500]  # the API's one-line summary naming each field
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        messages = []
        for err in detail[:3]:
            if isinstance(err, dict):
                loc = ".".join(str(x) for x in err.get("loc", ()))
                messages.append(f"{loc}: {err.get('msg', err)}")
            else:
                messages.append(str(err))
        more = f" (+{len(detail) - 3} more)" if len(detail) > 3 else ""
        return "; ".join(messages) + more
    return str(detail)[:500]


def retry_after(response: httpx.Response) -> float:
    """Seconds from a Retry-After header given in seconds (0 when absent or a date)."""
    try:
        return max(0.0, float(response.headers.get("retry-after", 0)))
    except ValueError:
        return 0.0


def error_locations(response: httpx.Response) -> list[list]:
    """The ``loc`` of each problem in a 422 body (FastAPI's ``detail`` list; a bare list
    is taken too); empty when the body says nothing usable."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("detail") if isinstance(body, dict) else body
    if not isinstance(errors, list):
        return []
    locs = (e.get("loc") if isinstance(e, dict) else None for e in errors)
    return [list(loc) for loc in locs if isinstance(loc, list | tuple)]


def first_refused_record(response: httpx.Response) -> int | None:
    """The lowest record index named by validation errors (``loc`` containing
    ``"records", i``), or None when the API named no record."""
    found: int | None = None
    for loc in error_locations(response):
        for before, after in itertools.pairwise(loc):
            if before == "records" and isinstance(after, int):
                found = after if found is None else min(found, after)
                break
    return found


def refuses_the_cursor(response: httpx.Response) -> bool:
    """A 422 about ``dropped_through`` or ``stream`` (the API's cursor), not a record."""
    return any(loc[:1] in (["dropped_through"], ["stream"]) for loc in error_locations(response))


def refused_for_time(response: httpx.Response, index: int) -> bool:
    """True if every error the API names for record ``index`` is about its ``ts``."""
    fields = []
    for loc in error_locations(response):
        for i, (before, after) in enumerate(itertools.pairwise(loc)):
            if before == "records" and after == index:
                fields.append(tuple(loc[i + 2 :]))
                break
    return bool(fields) and all(f[:1] == ("ts",) for f in fields)


@dataclass(frozen=True, slots=True)
class LocalProblem:
    """Why edge.model refuses a record, and whether its ``ts`` alone is at fault."""

    message: str
    only_time: bool


def local_problem(lane: Lane, record: bytes) -> LocalProblem | None:
    """Check a record with the wire's own model (one validation); None if it passes."""
    try:
        _RECORD_MODELS[lane].model_validate_json(record)
    except ValidationError as exc:
        errors = exc.errors()
        message = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors[:3])
        return LocalProblem(message, all(e["loc"][:1] == ("ts",) for e in errors))
    return None
