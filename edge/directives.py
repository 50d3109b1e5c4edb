"""Directives from the central API: visitor passes, the building's budget colour, overrides.

Every `every` seconds the edge pulls `GET {url}/v1/edges/self/directives` with its own
token: `{"generated_at": epoch, "visitor_passes": [{credential, visitor, valid_from,
valid_to, doors}], "budget": {colour, budget_id, as_of}, "overrides": [{id, device, point,
value, until, reason, by}]}` (the last two optional: an older API leaves them out). A
valid answer replaces the passes and is cached in the outbox file
with its fetch time; a bad or missing answer is logged and counted, and the passes held
stay as they are. At start the cached directives are used until the API answers, so an
unreachable API never leaves the doors without their passes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from edge.outbox import Outbox
from edge.rules.door_config import DoorConfigError, VisitorPass, passes_from

log = logging.getLogger(__name__)
PATH = "/v1/edges/self/directives"


class BadDirectives(ValueError):
    """An answer that is not the directives the contract describes."""


@dataclass(frozen=True)
class Override:
    """An operator's override of one HVAC point, made through the API (priority 8)."""

    id: int
    device: str
    point: str
    value: float
    until: float
    reason: str
    by: str


@dataclass(frozen=True)
class ControlDirectives:
    """What the control rules take from the directives, with when they were fetched."""

    fetched_at: float
    budget_colour: str | None = None
    budget_id: str | None = None
    budget_as_of: float | None = None
    overrides: tuple[Override, ...] = ()


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadDirectives(f"{where}: expected a number, got {value!r}")
    return float(value)


def parse_control(body: dict[str, Any], fetched_at: float) -> ControlDirectives:
    """The budget and overrides of an answer (absent: none); BadDirectives names the field."""
    budget = body.get("budget")
    colour = budget_id = as_of = None
    if budget is not None:
        if not isinstance(budget, dict):
            raise BadDirectives("budget: expected an object")
        colour = budget.get("colour")
        if colour not in (None, "green", "yellow", "red"):
            raise BadDirectives(
                f"budget.colour: expected green, yellow, red or null, not {colour!r}"
            )
        budget_id = budget.get("budget_id")
        if budget_id is not None and not isinstance(budget_id, str):
            raise BadDirectives("budget.budget_id: expected a string")
        if budget.get("as_of") is not None:
            as_of = _number("budget.as_of", budget["as_of"])
    items = body.get("overrides", [])
    if not isinstance(items, list):
        raise BadDirectives("overrides: expected a list")
    overrides = []
    for i, o in enumerate(items):
        where = f"overrides[{i}]"
        if not isinstance(o, dict):
            raise BadDirectives(f"{where}: expected an object")
        try:
            oid = o["id"]
            if isinstance(oid, bool) or not isinstance(oid, int):
                raise BadDirectives(f"{where}.id: expected an integer, got {oid!r}")
            texts = {k: o[k] for k in ("device", "point", "reason", "by")}
        except KeyError as exc:
            raise BadDirectives(f"{where}: {exc.args[0]} missing") from None
        for k, v in texts.items():
            if not isinstance(v, str) or (k in ("device", "point") and not v):
                raise BadDirectives(f"{where}.{k}: expected a string, got {v!r}")
        overrides.append(
            Override(
                oid,
                texts["device"],
                texts["point"],
                _number(f"{where}.value", o.get("value")),
                _number(f"{where}.until", o.get("until")),
                texts["reason"],
                texts["by"],
            )
        )
    return ControlDirectives(fetched_at, colour, budget_id, as_of, tuple(overrides))


def parse_directives(body: Any) -> tuple[float, tuple[VisitorPass, ...]]:
    """(generated_at, passes) from an answer's JSON; BadDirectives says what is wrong."""
    if not isinstance(body, dict):
        raise BadDirectives(f"expected a JSON object, got {type(body).__name__}")
    gen = body.get("generated_at")
    if isinstance(gen, bool) or not isinstance(gen, int | float) or not math.isfinite(gen):
        raise BadDirectives(f"generated_at: expected epoch seconds, got {gen!r}")
    items = body.get("visitor_passes")
    if not isinstance(items, list):
        raise BadDirectives(f"visitor_passes: expected a list, got {type(items).__name__}")
    if not all(isinstance(p, dict) for p in items):
        raise BadDirectives("visitor_passes: every item must be an object")
    try:
        return float(gen), passes_from(items)
    except (DoorConfigError, ValueError, TypeError, KeyError) as exc:
        raise BadDirectives(f"visitor_passes: {exc}") from None


class DirectivesPuller:
    """Pulls, validates, caches and hands over the passes (`on_passes`)."""

    def __init__(
        self,
        outbox: Outbox,
        url: str,
        token: str,
        every: float,
        on_passes: Callable[[tuple[VisitorPass, ...]], None] | None,
        *,
        on_control: Callable[[ControlDirectives], None] | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self.url = url.rstrip("/") + PATH
        self._token = token
        self.every = every
        self.on_passes = on_passes
        self.on_control = on_control
        self.clock = clock
        self.timeout = timeout
        self.pulls = 0
        self.failures: Counter[str] = Counter()
        self.last_error: str | None = None
        self.fetched_at: float | None = None  # of the directives in use
        self.passes = 0

    def restore(self) -> bool:
        """Use the cached directives, if any (at start, before the API answers)."""
        row = self.outbox._db.execute(
            "SELECT body, fetched_at FROM directives_cache WHERE id = 1"
        ).fetchone()
        if row is None:
            return False
        try:
            body = orjson.loads(row[0])
            _, passes = parse_directives(body)
            control = parse_control(body, float(row[1]))
        except (BadDirectives, orjson.JSONDecodeError) as exc:
            log.error("cached directives in %s are unusable: %s", self.outbox.path, exc)
            return False
        self._use(passes, control, float(row[1]))
        log.info(
            "directives: %d visitor passes from the cache (fetched at %s)", len(passes), row[1]
        )
        return True

    def _use(
        self, passes: tuple[VisitorPass, ...], control: ControlDirectives, fetched_at: float
    ) -> None:
        if self.on_passes is not None:
            self.on_passes(passes)
        if self.on_control is not None:
            self.on_control(control)
        self.fetched_at = fetched_at
        self.passes = len(passes)

    async def pull_once(self, client: httpx.AsyncClient) -> bool:
        """One pull; True when new directives are in use."""
        self.pulls += 1
        try:
            resp = await client.get(self.url)
        except httpx.HTTPError as exc:
            return self._failed("unreachable", f"{type(exc).__name__}: {exc}")
        if resp.status_code != 200:
            return self._failed(f"http_{resp.status_code}", resp.text[:200])
        try:
            body = orjson.loads(resp.content)
            _, passes = parse_directives(body)
            now = self.clock()
            control = parse_control(body, now)
        except (BadDirectives, orjson.JSONDecodeError) as exc:
            return self._failed("bad_answer", str(exc))
        with self.outbox._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO directives_cache(id, body, fetched_at) VALUES (1, ?, ?)",
                (orjson.dumps(body), now),
            )
        self._use(passes, control, now)
        self.last_error = None
        return True

    def _failed(self, reason: str, detail: str) -> bool:
        self.failures[reason] += 1
        self.last_error = f"{reason}: {detail}"
        log.warning(
            "directives from %s not taken (%s); the passes held stay", self.url, self.last_error
        )
        return False

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        async with httpx.AsyncClient(headers=headers, timeout=self.timeout) as client:
            while True:
                await self.pull_once(client)
                await asyncio.sleep(self.every)

    def stats(self) -> dict[str, Any]:
        return {
            "pulls": self.pulls,
            "failures": dict(self.failures),
            "last_error": self.last_error,
            "fetched_at": self.fetched_at,
            "passes": self.passes,
        }
