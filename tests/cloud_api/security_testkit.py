"""Event batches of alarms, access events and patrol rounds, as an edge sends them."""

from __future__ import annotations

from collections.abc import Sequence

from api_testkit import DAY0


def alarm(
    seq: int,
    ts: float,
    code: str,
    source: str,
    active: bool,
    colour: str | None = "yellow",
    message: str = "",
    **data: object,
) -> dict:
    rec = {
        "seq": seq,
        "ts": ts,
        "type": "alarm",
        "code": code,
        "source": source,
        "active": active,
        "message": message,
        "data": dict(data),
    }
    if colour is not None:
        rec["colour"] = colour
    return rec


def access(seq: int, ts: float, kind: str, device: str, **data: object) -> dict:
    body = {"device": device, **{k: v for k, v in data.items() if v is not None}}
    return {"seq": seq, "ts": ts, "code": kind, "source": device, "data": body}


def patrol_round(seq: int, ts: float, result: dict) -> dict:
    return {"seq": seq, "ts": ts, "code": "patrol.round", "source": result["route"], "data": result}


def event_batch(records: Sequence[dict], site: str = "s1", building: str = "b1") -> dict:
    return {"site": site, "building": building, "lane": "events", "records": list(records)}


def round_result(
    route: str, start: float, day: str, state: str, statuses: Sequence[str], guard: str = "G7"
) -> dict:
    """A PatrolRound.result-shaped dict: checkpoints cp1.. 600 s apart, +-120 s."""
    cps = [
        {
            "checkpoint": f"cp{i + 1}",
            "tag": f"T{i + 1}",
            "expected_at": start + 600 * i,
            "window": [start + 600 * i - 120, start + 600 * i + 120],
            "status": status,
        }
        for i, status in enumerate(statuses)
    ]
    counts = {s: statuses.count(s) for s in ("on_time", "late", "early", "missed")}
    return {
        "route": route,
        "day": day,
        "start": start,
        "end": start + 600 * len(statuses),
        "guard": guard,
        "state": state,
        "complete": state == "finished" and counts["missed"] == 0,
        "counts": counts,
        "checkpoints": cps,
    }


T0 = DAY0 + 3 * 86400  # 2023-11-17T00:00:00Z
