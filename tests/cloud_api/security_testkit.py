"""Event batches of alarms, access events and patrol rounds, as an edge sends them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

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


# ---------------------------------------------------------------- the app, in process


class Central:
    """The API over a real SQLite file, served over real HTTP in this process
    (api_testkit.in_process_api), with the API's clock in the test's hand: `central.now
    = ...` is what the API takes as the time now."""

    def __init__(self, api, tokens: dict[str, str]) -> None:
        self._api = api
        self.client = api.client
        self.db = api.db
        self.tokens = tokens
        self._seq = 0

    @property
    def now(self) -> float:
        return self._api.now

    @now.setter
    def now(self, value: float) -> None:
        self._api.now = value

    def send(self, *records: dict, site: str = "s1", building: str = "b1", seq: int | None = None):
        """Records as one events batch of the edge, numbered from `seq` (default: after
        the last sent; give an earlier seq to resend)."""
        first = self._seq + 1 if seq is None else seq
        numbered = [{**rec, "seq": first + i} for i, rec in enumerate(records)]
        self._seq = max(self._seq, first + len(records) - 1)
        return self.post_batch(event_batch(numbered, site=site, building=building))

    def post_batch(self, batch: dict):
        """The API's answer; 409 is a pure replay (every record already stored)."""
        answer = self.client.post("/v1/ingest", json=batch, headers=self._auth("edge"))
        assert answer.status_code in (200, 409), answer.text
        return answer.json()

    def _auth(self, who: str | None) -> dict:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str | None = "viewer", **params: object):
        # No params at all (not an empty dict): a `next` URL carries its own query.
        return self.client.get(path, params=params or None, headers=self._auth(who))

    def post(self, path: str, body: object = None, who: str | None = "alice"):
        return self.client.post(path, json=body, headers=self._auth(who))


@contextlib.contextmanager
def central(directory: Path) -> Iterator[Central]:
    """Edge "edge-1" of site s1 (any building); users vera (viewer), alice and bob
    (operators); the clock at T0."""
    from api_testkit import add_user, in_process_api, register_edge

    db = directory / "steward.sqlite"
    tokens = {
        "edge": register_edge(db, "edge-1", "s1"),
        "viewer": add_user(db, "vera", "viewer"),
        "alice": add_user(db, "alice", "operator"),
        "bob": add_user(db, "bob", "operator"),
    }
    with in_process_api(directory, now=T0) as api:
        yield Central(api, tokens)
