"""POST /v1/ingest on a real `steward-api serve` process: acks, replays, restarts, visibility."""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import signal
import sqlite3
from pathlib import Path

import pytest
from api_testkit import (
    DAY0,
    add_user,
    api_server,
    count,
    parse,
    post_batch,
    register_edge,
    simple_batch,
)
from servers import stop

from cloud_api.store.base import EdgeIdentity
from cloud_api.store.sqlite import SqliteStore


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("ingest")
    with api_server(directory) as api:
        yield api


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name + (f"{{{wanted}}}" if labels else "")) + r" (\S+)$"
    for line in text.splitlines():
        found = re.match(pattern, line)
        if found:
            return float(found.group(1))
    raise AssertionError(f"{name}{labels} not in /metrics")


def test_acks_duplicates_replays_and_gaps(server) -> None:
    token = register_edge(server.db, "edge-acks", "s1")
    batch = simple_batch(1, 50, device="acks-1")
    batch["backlog"] = {
        "readings": {
            "records": 120,
            "oldest_ts": DAY0 + 60,
            "dropped": 0,
            "quarantined": 2,
            "drops": {"full": 7},
        }
    }
    with server.client(token) as client:
        first = post_batch(client, batch)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "lane": "readings",
            "acked": 50,
            "accepted": 50,
            "duplicates": 0,
            "dropped_at_edge": 0,
        }

        # the edge did not get the answer and resends, with the next records appended
        overlap = post_batch(client, simple_batch(41, 20, device="acks-1"), gzipped=False)
        assert overlap.status_code == 200
        assert overlap.json()["accepted"] == 10 and overlap.json()["duplicates"] == 10

        replay = post_batch(client, batch)
        assert replay.status_code == 409
        body = replay.json()
        assert body["lane"] == "readings" and body["acked"] == 60 and body["duplicates"] == 50
        assert "already acknowledged" in body["detail"]

        # 61..70 dropped at the edge, which says so; a jump it does not report is refused
        unreported = post_batch(client, simple_batch(71, 5, device="acks-1"))
        assert unreported.status_code == 422
        assert unreported.json()["detail"][0]["loc"] == ["dropped_through"]
        assert unreported.json()["message"].startswith(
            "dropped_through: records[0].seq 71 skips seq 61 to 70 of lane readings"
        )
        gap = post_batch(client, {**simple_batch(71, 5, device="acks-1"), "dropped_through": 70})
        assert gap.json()["dropped_at_edge"] == 10 and gap.json()["acked"] == 75

        viewer = {"Authorization": f"Bearer {add_user(server.db, 'vera', 'viewer')}"}
        listed = client.get("/v1/edges", headers=viewer).json()["edges"]
        edges = {e["name"]: e for e in listed}
        mine = edges["edge-acks"]
        assert mine["last_seen"] is not None
        assert mine["lanes"]["readings"] == {
            "acked": 75,
            "dropped_at_edge": 10,
            "duplicates": 60,
            "outbox": "",  # batches without a stream: the edge's default stream
            "generation": "",
            "first_seq": 1,
        }
        # the backlog shown is the one reported with the latest batch carrying one
        assert mine["backlog"]["readings"]["records"] == 120
        # ... with what the edge dropped, by reason, and keeps aside as dead letters
        assert mine["backlog"]["readings"]["drops"] == {"full": 7}
        assert mine["backlog"]["readings"]["quarantined"] == 2

        text = client.get("/metrics").text
        assert metric(text, "steward_edge_acked_seq", edge="edge-acks", lane="readings") == 75
        assert (
            metric(text, "steward_edge_backlog_records", edge="edge-acks", lane="readings") == 120
        )
        assert metric(text, "steward_ingest_requests_total", code="409") >= 1

    # 75 records were sent (some thrice); 65 distinct ones exist, 2 readings each
    series = "SELECT id FROM series WHERE device='acks-1'"
    assert count(server.db, f"SELECT count(*) FROM samples WHERE series_id IN ({series})") == 130


def test_concurrent_copies_of_a_batch_are_stored_once(server) -> None:
    token = register_edge(server.db, "edge-race", "s1")
    batch = simple_batch(1, 200, device="race-1")
    with (
        server.client(token) as client,
        concurrent.futures.ThreadPoolExecutor(8) as pool,
    ):
        answers = list(pool.map(lambda _: post_batch(client, batch), range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 7
    series = "SELECT id FROM series WHERE device='race-1'"
    assert count(server.db, f"SELECT count(*) FROM samples WHERE series_id IN ({series})") == 400


def test_events_lane(server) -> None:
    token = register_edge(server.db, "edge-events", "s1")
    batch = {
        "site": "s1",
        "building": "b1",
        "lane": "events",
        "backlog": {"events": {"records": 0}},
        "records": [
            {
                "seq": 1,
                "ts": DAY0,
                "type": "alarm",
                "source": "door-3",
                "code": "forced",
                "message": "door forced open",
                "colour": "red",
                "active": True,
                "data": {"badge": None},
            },
        ],
    }
    with server.client(token) as client:
        answer = post_batch(client, batch)
    assert answer.status_code == 200
    assert answer.json()["lane"] == "events" and answer.json()["acked"] == 1
    assert count(server.db, "SELECT count(*) FROM events WHERE edge='edge-events'") == 1


def test_acknowledged_batches_survive_kill_9_and_replays_after_it_store_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "steward.sqlite"
    token = register_edge(db, "edge-k9", "s1")
    with api_server(tmp_path, db=db) as api:
        with api.client(token) as client:
            assert post_batch(client, simple_batch(1, 100)).status_code == 200
        stop(api.proc, signal.SIGKILL)  # right after the ack: nothing had time to flush
    with api_server(tmp_path, db=db) as api, api.client(token) as client:
        replay = post_batch(client, simple_batch(1, 100))
        assert replay.status_code == 409 and replay.json()["acked"] == 100
        assert post_batch(client, simple_batch(101, 10)).json()["accepted"] == 10
    assert count(db, "SELECT count(*) FROM samples") == 220


def test_a_store_from_before_streams_keeps_its_cursors_as_default_streams(
    tmp_path: Path,
) -> None:
    """A store file whose cursors were per (edge, lane) opens with each cursor as the
    edge's default stream: an edge that sends no stream goes on where it was."""
    db = tmp_path / "old.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as old:
        old.execute(
            "CREATE TABLE cursors(edge TEXT NOT NULL, lane TEXT NOT NULL, acked INTEGER NOT NULL,"
            " dropped_at_edge INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,"
            " PRIMARY KEY(edge, lane)) WITHOUT ROWID"
        )
        old.execute("INSERT INTO cursors VALUES ('edge-old', 'readings', 40, 2, 3)")
        old.commit()
    store = SqliteStore(db)
    try:
        [cursor] = store.cursors("edge-old")
        assert (cursor.outbox, cursor.generation, cursor.first_seq) == ("", "", 1)
        assert (cursor.acked, cursor.dropped_at_edge, cursor.duplicates) == (40, 2, 3)
        replay = store.ingest(EdgeIdentity("edge-old", "s1"), parse(simple_batch(31, 10)), DAY0)
        assert replay.replay and replay.ack.acked == 40
    finally:
        store.close()
    assert count(db, "SELECT count(*) FROM sqlite_master WHERE name='cursors_per_lane'") == 0
