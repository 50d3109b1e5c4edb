"""The outbox records control produces (wire contract: issue 9, `control.*`, `demand.block`)."""

from __future__ import annotations

from typing import Any

from edge.control.limiter import Action
from edge.control.zone_control import CommandChange, WriteIntent
from edge.model import Event
from edge.rules.alarm_codes import CONTROL_WRITE_MISMATCH, default_colour
from edge.rules.conditions import Condition
from edge.rules.demand import DemandBlock
from edge.rules.engine import alarm_record


def block_record(block: DemandBlock, source: str, meter: str, limit_kw: float) -> Event:
    """A closed 15-minute block: what the API's demand history is made of."""
    return Event(
        ts=block.end,
        source=source,
        code="demand.block",
        message="",
        data={
            "meter": meter,
            "start": block.start,
            "end": block.end,
            "label": block.label,
            "kwh": round(block.kwh, 4),
            "demand_kw": None if block.demand_kw is None else round(block.demand_kw, 3),
            "limit_kw": limit_kw,
            "over": block.over,
            "peak_sliding_kw": block.peak_sliding_kw,
        },
    )


def limiter_record(action: Action, now: float, site_source: str) -> Event:
    """control.shed / release / futile / nothing_left (the last is about the whole site,
    so it carries the demand source: an event needs one)."""
    return Event(
        ts=now,
        source=action.zone or site_source,
        code=f"control.{action.kind}",
        message=action.reason,
        data={
            "zone": action.zone,
            "setup_k": action.setup_k,
            "reason": action.reason,
            "state": action.state,
        },
    )


def mismatch_record(
    device: str, point: str, active: bool, now: float, why: str, data: dict | None = None
) -> Event:
    """control.write_mismatch raised (the read-back differs) or cleared."""
    text = "ignored a write" if active else "holds what was written again"
    return alarm_record(
        Condition(
            CONTROL_WRITE_MISMATCH,
            f"{device}/{point}",
            active,
            now,
            default_colour(CONTROL_WRITE_MISMATCH),
            f"{device} {point} {text}: {why}",
            data or {},
        )
    )


def command_record(c: CommandChange) -> Event:
    return Event(
        ts=c.ts,
        source=f"{c.device}/{c.point}",
        code="control.command",
        message="",
        data={
            "device": c.device,
            "point": c.point,
            "slot": c.slot,
            "slot_name": c.slot_name,
            "owner": c.owner,
            "value": c.value,
            "lease_until": c.lease_until,
            "reason": c.reason,
            "state": c.state,
        },
    )


def write_record(
    intent: WriteIntent,
    now: float,
    mode: str,
    read_back: float | None,
    verified: bool | None,
    error: str | None = None,
) -> Event:
    data: dict[str, Any] = {
        "device": intent.device,
        "point": intent.point,
        "mode": mode,
        "value": intent.value,
        "target": intent.target,
        "before": intent.before,
        "read_back": read_back,
        "verified": verified,
        "slot": intent.slot,
        "owner": intent.owner,
        "reason": intent.reason,
        "clamped": list(intent.clamped),
    }
    if error:
        data["error"] = error
    verb = "would write" if mode == "advise" else "wrote"
    return Event(
        ts=now,
        source=intent.device,
        code="control.write",
        message=f"{verb} {intent.point} {intent.before} -> {intent.value:g} ({intent.owner})",
        data=data,
    )
