"""The access side of the agent: MQTT source, rules pipeline and directives, as one part.

Built from the site's mqtt:, doors: and patrol: sections (edge/config.py); the agent runs
it next to the Modbus buses, hands it the visitor passes from the directives it pulls
(edge/directives.py), and shows its figures in the status.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from edge.access_loop import AccessPipeline
from edge.acquire.mqtt import MqttSource
from edge.config import SiteConfig
from edge.outbox import Outbox

log = logging.getLogger(__name__)


class AccessRuntime:
    """MqttSource -> AccessPipeline (rules, outbox)."""

    def __init__(self, site: SiteConfig, outbox: Outbox) -> None:
        self.source = MqttSource(site.mqtt) if site.mqtt is not None else None
        self.pipeline = AccessPipeline(outbox, self.source, site.doors, site.patrol)

    def describe(self) -> str:
        n = len(self.source.index) if self.source is not None else 0
        return f"{n} MQTT topics"

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if self.source is not None:
                await stack.enter_async_context(self.source)
            await self.pipeline.run()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pipeline": self.pipeline.counts()}
        if self.source is not None:
            out["mqtt"] = self.source.counts()
        return out


def status_lines(access: dict[str, Any], now: float) -> list[str]:
    """`steward-edge status` lines from the agent's snapshot of `AccessRuntime.stats()`."""
    lines = []
    m = access.get("mqtt")
    if m:
        refused = ", ".join(f"{k} {v:,}" for k, v in sorted(m["refused"].items())) or "none"
        lines.append(
            f"mqtt: {m['received']:,} messages received, {m['events']:,} access events, "
            f"{m['ignored']:,} ignored, {m['duplicates']:,} duplicates; refused: {refused}; "
            f"{m['dead_letters']:,} dead letters kept; {m['connects']} connects, "
            f"{m['disconnects']} disconnects, {m['connect_refusals']} refused by the broker"
        )
    p = access["pipeline"]
    r = p["rules"]
    dropped = {**r["doors_dropped"]}
    lines.append(
        f"rules: {r['events']:,} events, {r['heard']:,} heard, {r['alarms_raised']:,} alarms "
        f"raised, {r['alarms_cleared']:,} cleared, {r['round_results']:,} round results, "
        f"{r['active_door_conditions']} door conditions active; {p['records']:,} records "
        f"committed, {p['resends_dropped']:,} resends dropped after a restart, "
        f"{p['commit_failures']} commit failures"
        + (f"; dropped: {dropped}" if dropped else "")
        + (f"; patrol: {r['patrol']}" if r["patrol"] else "")
    )
    return lines


def directives_lines(d: dict[str, Any], now: float) -> list[str]:
    """`steward-edge status` lines from `DirectivesPuller.stats()`."""
    lines = []
    if d:
        age = f"{now - d['fetched_at']:.0f} s old" if d["fetched_at"] else "none yet"
        fails = ", ".join(f"{k} {v}" for k, v in d["failures"].items()) or "none"
        lines.append(f"directives: {d['passes']} visitor passes ({age}); failures: {fails}")
        if d["last_error"]:
            lines.append(f"  last error: {d['last_error']}")
    return lines
