"""How the uplink handles the ingest contract's acknowledgements, replays (409), refusals
(413, 422), gaps and outages, against the real API (create_app over a real SQLite file,
tests/edge_delivery/real_api.py). What arrived is checked by content in the API's store.

What the real API cannot be made to do on cue (5xx, a refusal without record locations,
slow answers) is in test_uplink.py, against tests/edge_delivery/scripted_ingest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from real_api import BUILDING, RealApi, real_api, register
from servers import free_port

from edge.model import Reading, Sample
from edge.outbox import Outbox
from edge.uplink import Uplink

FAST = {"backoff_initial": 0.02, "backoff_max": 0.1, "poll_interval": 0.05, "max_age": 0.0}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealApi]:
    with real_api(tmp_path_factory.mktemp("api")) as running:
        yield running


def sample(uid: int, points: int = 5, good: bool = True) -> Sample:
    ts = time.time() - 100 + uid * 0.01
    readings = [Reading(ts, "m", "uid", uid, "")]
    readings += [
        Reading(ts, "m", f"p{j}", 1.5 * j + uid if good else None, "kW") for j in range(points - 1)
    ]
    return Sample(ts, f"meter-{uid % 3}", readings, tags={"i": str(uid)})


def uplink(outbox: Outbox, url: str, token: str, site: str, **options: object) -> Uplink:
    return Uplink(outbox, url, token, site, BUILDING, **{**FAST, **options})


def deliver(path: Path, api: RealApi, token: str, site: str, **options: object) -> dict:
    async def main() -> dict:
        with Outbox(path) as outbox:
            async with uplink(outbox, api.url, token, site, **options) as up:
                assert await up.drain(20), up.stats()
                return up.stats()

    return asyncio.run(main())


def once(api: RealApi, site: str) -> list[int]:
    """The uids the API stored for the site, each asserted stored exactly once."""
    arrived = api.uids(site)
    assert all(n == 1 for n in arrived.values()), arrived
    return sorted(arrived)


@pytest.mark.parametrize("with_new_records", [False, True])
def test_a_replayed_batch_is_acknowledged_not_duplicated(
    api: RealApi, tmp_path: Path, with_new_records: bool
) -> None:
    """The answer to a stored batch got lost: the edge still holds it and sends it again,
    alone (the API answers 409) or with records appended since (200 with duplicates)."""
    site = f"replay-{with_new_records}"
    token = api.register(f"replay-edge-{with_new_records}", site=site)
    path = tmp_path / "o.db"
    with Outbox(path) as outbox:
        outbox.append_samples([sample(i) for i in range(10)])
    shutil.copy(path, tmp_path / "before-ack.db")  # the state before any ack
    deliver(path, api, token, site)
    if with_new_records:
        with Outbox(tmp_path / "before-ack.db") as outbox:
            outbox.append_samples([sample(i) for i in range(10, 15)])
    stats = deliver(tmp_path / "before-ack.db", api, token, site)
    assert once(api, site) == list(range(15 if with_new_records else 10))
    assert stats["sent"]["duplicates"] == 10
    assert stats["errors_total"] == 0
    lane = api.edge(f"replay-edge-{with_new_records}")["lanes"]["readings"]
    assert lane["duplicates"] == 10


def test_an_ack_beyond_what_the_file_numbered_is_a_restore_and_loses_nothing(
    api: RealApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Turned around from the test that asserted the loss: a file restored from an older
    copy gets an ack above anything it numbered; it deletes no record its batch did not
    carry, and its new records are not taken for replays."""
    site = "beyond"
    token = api.register("beyond-edge", site=site)
    path = tmp_path / "o.db"
    with Outbox(path) as outbox:  # one process numbers seq 1..6: one generation
        outbox.append_samples([sample(i) for i in range(3)])
        with contextlib.closing(sqlite3.connect(tmp_path / "copy.db")) as copy:
            outbox._db.backup(copy)
        outbox.append_samples([sample(i) for i in range(3, 6)])
    deliver(path, api, token, site)  # the API holds seq 1..6 of that generation
    caplog.set_level(logging.WARNING, logger="edge.uplink")
    # The restored copy holds seq 1..3 and numbers its next records 4..
    deliver(tmp_path / "copy.db", api, token, site, max_records=3)
    with Outbox(tmp_path / "copy.db") as outbox:
        outbox.append_samples([sample(i) for i in range(6, 9)])
    deliver(tmp_path / "copy.db", api, token, site, max_records=3)
    assert once(api, site) == list(range(9))
    assert "beyond the 3 this file numbered: the file was restored" in caplog.text


def test_outbox_drops_reach_the_api_as_gaps(api: RealApi, tmp_path: Path) -> None:
    site = "drops"
    token = api.register("drops-edge", site=site)
    path = tmp_path / "o.db"
    with Outbox(path, max_readings_points=50, drop_slack=0.0) as outbox:
        outbox.append_samples([sample(i) for i in range(15)])  # 75 points: 5 records go
    stats = deliver(path, api, token, site)
    assert once(api, site) == list(range(5, 15))
    assert stats["sent"]["dropped_at_edge"] == 5
    assert stats["backlog"]["readings"]["dropped_points"] == 25
    edge = api.edge("drops-edge")
    assert edge["lanes"]["readings"]["dropped_at_edge"] == 5
    assert edge["backlog"]["readings"]["dropped"] == 5


def test_poison_record_is_quarantined_and_the_rest_delivered(
    api: RealApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = "poison-record"
    token = api.register("poison-record-edge", site=site)
    path = tmp_path / "o.db"
    caplog.set_level(logging.ERROR, logger="edge.uplink")
    with Outbox(path) as outbox:
        # A good reading without a value: the API refuses it (422) and names it.
        outbox.append_samples([sample(i, good=i != 13) for i in range(30)])
    stats = deliver(path, api, token, site)
    assert once(api, site) == [i for i in range(30) if i != 13]
    with Outbox(path) as outbox:
        [dead] = outbox.quarantined()
    assert (dead["lane"], dead["seq"]) == ("readings", 14)
    assert orjson.loads(dead["body"])["tags"] == {"i": "13"}
    assert dead["reason"].startswith("HTTP 422: records[0]: points[1] (p0): ")
    assert "a good reading needs a value" in dead["reason"]
    assert stats["quarantined"] == 1
    assert stats["backlog"]["readings"]["quarantined"] == 1
    # The API learns of the gap as a record the edge let go (dropped_through).
    assert stats["sent"]["dropped_at_edge"] == 1
    assert api.edge("poison-record-edge")["lanes"]["readings"]["dropped_at_edge"] == 1
    assert "quarantined readings record seq 14" in caplog.text


def test_too_large_halves_the_batch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edge.uplink")
    limit = {"max_body_bytes": 30_000, "max_decompressed_bytes": 30_000}
    with real_api(tmp_path, **limit) as small:
        token = small.register("small-edge", site="small")
        path = tmp_path / "o.db"
        with Outbox(path) as outbox:
            outbox.append_samples([sample(i, points=20) for i in range(64)])
        stats = deliver(path, small, token, "small")
        assert once(small, "small") == list(range(64))
    assert stats["errors"]["too_large"] >= 1
    assert "as too large (HTTP 413)" in caplog.text


def test_unreachable_api_is_retried_until_it_appears(tmp_path: Path) -> None:
    port = free_port()
    token = register(tmp_path / "api.sqlite", "late-edge", site="late")

    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox:
            outbox.append_samples([sample(i) for i in range(5)])
            async with uplink(outbox, f"http://127.0.0.1:{port}", token, "late") as up:
                await asyncio.sleep(0.4)
                assert up.stats()["errors"]["network"] >= 2
                assert outbox.backlog()["readings"].records == 5  # nothing given up
                with real_api(tmp_path, port=port) as late:
                    assert await up.drain(10)
                    assert once(late, "late") == list(range(5))

    asyncio.run(main())
