"""GET /v1/demand over HTTP: the edge's demand.block events, filed per (site, building,
meter, start) at ingest, read back with a summary computed by hand.

Building b1 of site s1, main meter "main", limit 100 kW. Five blocks from 10:00 local
(02:00Z): 80, 95, 101, 99 kW and one without full data (demand_kw null). A 15-minute
block's energy is demand x 0.25 h: 20, 23.75, 25.25, 24.75 kWh. Peak: 101 kW, the
10:30 block; limit hits: 1 (only 101 > 100); incomplete: 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_testkit import DAY0, add_user, count, in_process_api, register_edge
from security_testkit import event_batch

T10 = DAY0 + 2 * 3600  # 2023-11-14T10:00+08:00
Q = 900.0
LIMIT = 100.0
KW = [80.0, 95.0, 101.0, 99.0, None]


def block(i: int, demand_kw: float | None, meter: str = "main", **changes: object) -> dict:
    start = T10 + i * Q
    minute = 15 * i
    data = {
        "meter": meter,
        "start": start,
        "end": start + Q,
        "label": f"2023-11-14T{10 + minute // 60:02d}:{minute % 60:02d}+08:00",
        "kwh": 0.25 * (demand_kw if demand_kw is not None else 40.0),
        "demand_kw": demand_kw,
        "limit_kw": LIMIT,
        "over": demand_kw is not None and demand_kw > LIMIT,
        "peak_sliding_kw": demand_kw,
        **changes,
    }
    return {"ts": start + Q + 1, "code": "demand.block", "source": meter, "data": data}


class Edge:
    def __init__(self, api, token: str) -> None:
        self.api, self.token, self.seq = api, token, 0

    def send(self, *records: dict, seq: int | None = None, building: str = "b1"):
        first = self.seq + 1 if seq is None else seq
        numbered = [{**r, "seq": first + i} for i, r in enumerate(records)]
        self.seq = max(self.seq, first + len(records) - 1)
        batch = event_batch(numbered, building=building)
        return self.api.client.post("/v1/ingest", json=batch, headers=self.api.as_(self.token))


@pytest.fixture
def api(tmp_path: Path):
    with in_process_api(tmp_path, now=DAY0 + 86400, energy_evaluate_seconds=0) as running:
        running.viewer = add_user(running.db, "vera", "viewer")
        running.edge = Edge(running, register_edge(running.db, "edge-1", "s1"))
        yield running


def demand(api, **params: object) -> dict:
    answer = api.client.get(
        "/v1/demand", params={"site": "s1", "building": "b1", **params}, headers=api.as_(api.viewer)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_blocks_and_summary_peak_limit_hits_and_incomplete_blocks(api) -> None:
    assert api.edge.send(*[block(i, kw) for i, kw in enumerate(KW)]).status_code == 200
    body = demand(api)
    assert [b["demand_kw"] for b in body["blocks"]] == KW  # oldest first
    assert [b["over"] for b in body["blocks"]] == [False, False, True, False, False]
    assert body["blocks"][1]["kwh"] == 23.75 and body["blocks"][1]["edge"] == "edge-1"
    assert body["summary"] == {
        "blocks": 5,
        "peak_kw": 101.0,
        "peak_label": "2023-11-14T10:30+08:00",
        "peak_meter": "main",
        "peak_start": T10 + 2 * Q,
        "limit_kw": 100.0,
        "limits_kw": [100.0],
        "limit_hits": 1,
        "incomplete_blocks": 1,
        "skipped": 0,
    }
    assert body["next"] is None


def test_a_resent_batch_or_block_does_not_double_rows(api) -> None:
    records = [block(i, kw) for i, kw in enumerate(KW)]
    assert api.edge.send(*records).status_code == 200
    # The same records again (a retry whose answer was lost): a replay, nothing stored.
    assert api.edge.send(*records, seq=1).status_code == 409
    # The edge sends block 2 again, corrected, as a new event: it replaces the row.
    corrected = block(2, 99.5)
    corrected["ts"] += 60
    assert api.edge.send(corrected).status_code == 200
    # An older copy arriving late changes nothing (the newer event wins).
    assert api.edge.send(block(2, 101.0)).status_code == 200
    assert count(api.db, "SELECT count(*) FROM demand_blocks") == 5
    body = demand(api)
    assert [b["demand_kw"] for b in body["blocks"]] == [80.0, 95.0, 99.5, 99.0, None]
    assert body["summary"]["peak_kw"] == 99.5 and body["summary"]["limit_hits"] == 0


def test_range_meter_filter_and_paging(api) -> None:
    api.edge.send(*[block(i, kw) for i, kw in enumerate(KW)], block(0, 50.0, meter="chiller"))
    assert [b["demand_kw"] for b in demand(api, meter="chiller")["blocks"]] == [50.0]
    # [10:15, 10:45): blocks 1 and 2 of main, by their start.
    window = demand(api, meter="main", **{"from": T10 + Q, "to": T10 + 3 * Q})
    assert [b["demand_kw"] for b in window["blocks"]] == [95.0, 101.0]
    assert window["summary"]["blocks"] == 2 and window["summary"]["peak_kw"] == 101.0
    seen, page = [], demand(api, meter="main", limit=2)
    while True:
        seen += [b["start"] for b in page["blocks"]]
        assert page["summary"]["blocks"] == 5  # the summary is over the query, not the page
        if page["next"] is None:
            break
        answer = api.client.get(page["next"], headers=api.as_(api.viewer))
        assert answer.status_code == 200, answer.text
        page = answer.json()
    assert seen == [T10 + i * Q for i in range(5)]


def test_a_block_with_bad_data_stays_an_event_and_is_counted(api) -> None:
    bad = block(1, 95.0)
    bad["data"]["demand_kw"] = "lots"
    answer = api.edge.send(block(0, 80.0), bad, block(2, 101.0))
    assert answer.status_code == 200 and answer.json()["accepted"] == 3, answer.text
    assert count(api.db, "SELECT count(*) FROM events WHERE code='demand.block'") == 3
    body = demand(api)
    assert [b["demand_kw"] for b in body["blocks"]] == [80.0, 101.0]
    assert body["summary"]["skipped"] == 1
    reason = count(api.db, "SELECT reason FROM derived_skipped")
    assert reason == "data.demand_kw must be a finite number or null, got 'lots'"


def test_site_and_building_are_required_and_a_bad_range_is_named(api) -> None:
    answer = api.client.get("/v1/demand", params={"site": "s1"}, headers=api.as_(api.viewer))
    assert answer.status_code == 422 and "building" in answer.text
    answer = api.client.get(
        "/v1/demand",
        params={"site": "s1", "building": "b1", "from": T10 + Q, "to": T10},
        headers=api.as_(api.viewer),
    )
    assert answer.status_code == 400 and "from must be before to" in answer.text
