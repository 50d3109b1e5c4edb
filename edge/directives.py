"""Directives from the central API: the visitor passes the door rules check against.

Every `every` seconds the edge pulls `GET {url}/v1/edges/self/directives` with its own
token: `{"generated_at": epoch, "visitor_passes": [{credential, visitor, valid_from,
valid_to, doors}]}`. A valid answer replaces the passes and is cached in the outbox file
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
from typing import Any

import httpx
import orjson

from edge.outbox import Outbox
from edge.rules.door_config import DoorConfigError, VisitorPass, passes_from

log = logging.getLogger(__name__)
PATH = "/v1/edges/self/directives"


class BadDirectives(ValueError):
    """An answer that is not the directives the contract describes."""


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
        on_passes: Callable[[tuple[VisitorPass, ...]], None],
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = 10.0,
    ) -> None:
        self.outbox = outbox
        self.url = url.rstrip("/") + PATH
        self._token = token
        self.every = every
        self.on_passes = on_passes
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
            _, passes = parse_directives(orjson.loads(row[0]))
        except (BadDirectives, orjson.JSONDecodeError) as exc:
            log.error("cached directives in %s are unusable: %s", self.outbox.path, exc)
            return False
        self._use(passes, float(row[1]))
        log.info(
            "directives: %d visitor passes from the cache (fetched at %s)", len(passes), row[1]
        )
        return True

    def _use(self, passes: tuple[VisitorPass, ...], fetched_at: float) -> None:
        self.on_passes(passes)
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
        except (BadDirectives, orjson.JSONDecodeError) as exc:
            return self._failed("bad_answer", str(exc))
        now = self.clock()
        with self.outbox._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO directives_cache(id, body, fetched_at) VALUES (1, ?, ?)",
                (orjson.dumps(body), now),
            )
        self._use(passes, now)
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
