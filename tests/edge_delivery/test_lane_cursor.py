"""The API's per-lane cursor against hostile or stale input, with the real API and a real
edge outbox and uplink: a poisoned lane (issue 6, item 11) and the backlog /v1/edges shows
after a drain (item 13).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from real_api import BUILDING, RealApi, real_api

from cloud_api import cli
from edge.model import Reading, Sample
from edge.outbox import Outbox
from edge.uplink import Uplink

FAST = {"backoff_initial": 0.02, "backoff_max": 0.1, "poll_interval": 0.05, "max_age": 0.0}
POISON_SEQ = 2**62


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealApi]:
    with real_api(tmp_path_factory.mktemp("api")) as running:
        yield running


def append(path: Path, uids: range) -> None:
    ts = time.time() - 1000
    with Outbox(path) as outbox:
        outbox.append_samples(
            Sample(ts + uid * 0.001, "meter-1", [Reading(ts, "meter-1", "uid", uid, "")])
            for uid in uids
        )


def deliver(path: Path, api: RealApi, token: str, site: str, **options: object) -> dict:
    async def main() -> dict:
        with Outbox(path) as outbox:
            options_ = {**FAST, **options}
            async with Uplink(outbox, api.url, token, site, BUILDING, **options_) as up:
                assert await up.drain(20), up.stats()
                return up.stats()

    return asyncio.run(main())


def poison(site: str, **extra: object) -> dict:
    record = {"seq": POISON_SEQ, "ts": time.time(), "device": "x", "points": [
        {"point": "uid", "value": 999_999.0}]}  # fmt: skip
    return {"site": site, "building": BUILDING, "lane": "readings", "records": [record], **extra}


def stream_of(path: Path) -> dict:
    """The stream (outbox id, generation, first seq) of the front of the readings lane."""
    with Outbox(path) as outbox:
        batch = outbox.peek("readings", 1)
        assert batch is not None and batch.stream is not None
        return batch.stream


def post(api: RealApi, token: str, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(api.url + "/v1/ingest", json=body, headers=headers, timeout=10)


def test_a_seq_jump_the_edge_does_not_report_is_refused_and_its_later_records_are_stored(
    api: RealApi, tmp_path: Path
) -> None:
    site = "poisoned"
    token = api.register("poisoned-edge", site=site)
    path = tmp_path / "outbox.db"
    append(path, range(0, 5))
    deliver(path, api, token, site)

    # One request with the edge's own token, seq 2^62, no drops reported.
    answer = post(api, token, poison(site))
    append(path, range(5, 10))
    deliver(path, api, token, site)
    assert sorted(api.uids(site)) == list(range(10)), "the edge's later records were lost"
    assert answer.status_code == 422, answer.text
    assert "dropped_through" in answer.json()["message"]
    assert f"seq {POISON_SEQ}" in answer.json()["message"]


def test_a_seq_jump_in_the_edges_own_stream_must_agree_with_its_drops(
    api: RealApi, tmp_path: Path
) -> None:
    site = "poisoned-stream"
    token = api.register("poisoned-stream-edge", site=site)
    path = tmp_path / "outbox.db"
    append(path, range(0, 5))
    stream = stream_of(path)
    deliver(path, api, token, site)
    refused = post(api, token, poison(site, stream=stream))
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["dropped_through"]
    # A drop report that does not reach the batch's first seq is refused too.
    short = post(api, token, poison(site, stream=stream, dropped_through=100))
    assert short.status_code == 422 and "dropped_through" in short.json()["message"]
    append(path, range(5, 10))
    deliver(path, api, token, site)
    assert sorted(api.uids(site)) == list(range(10))


def test_an_operator_resets_a_poisoned_cursor_and_the_edge_delivers_again(
    api: RealApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = "reset"
    token = api.register("reset-edge", site=site)
    path = tmp_path / "outbox.db"
    append(path, range(0, 5))
    stream = stream_of(path)
    deliver(path, api, token, site)
    # A poison that claims the drops: the API cannot tell it from a real outbox overflow.
    taken = post(api, token, poison(site, stream=stream, dropped_through=POISON_SEQ - 1))
    assert taken.status_code == 200, taken.text
    lanes = api.edge("reset-edge")["lanes"]["readings"]
    assert lanes["acked"] == POISON_SEQ  # visible to an operator

    code = cli.main(["--db", str(api.db), "edges", "reset-cursor", "reset-edge",
                     "--lane", "readings", "--outbox", stream["outbox"],
                     "--generation", stream["generation"], "--acked", "5"])  # fmt: skip
    assert code == 0
    said = capsys.readouterr().err
    assert f"acked {POISON_SEQ} -> 5" in said
    assert api.edge("reset-edge")["lanes"]["readings"]["acked"] == 5
    append(path, range(5, 10))
    deliver(path, api, token, site)
    assert sorted(api.uids(site)) == [*range(10), 999_999]


def test_edges_shows_backlog_0_once_an_edge_has_drained(api: RealApi, tmp_path: Path) -> None:
    site = "drained"
    token = api.register("drained-edge", site=site)
    path = tmp_path / "outbox.db"
    append(path, range(0, 30))
    stats = deliver(path, api, token, site, max_records=10)
    assert stats["sent"]["batches"] == 3
    backlog = api.edge("drained-edge")["backlog"]
    assert backlog["readings"]["records"] == 0, backlog
    assert backlog["readings"]["oldest_ts"] is None
    assert backlog["events"]["records"] == 0


def test_an_api_cursor_behind_the_edge_holds_the_lane_loudly_until_an_operator_resets_it(
    api: RealApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The API's store was restored from a backup: its cursor is behind what the edge had
    acknowledged. The edge quarantines nothing and waits; a reset lets it go on."""
    site = "behind"
    token = api.register("behind-edge", site=site)
    caplog.set_level(logging.ERROR, logger="edge.uplink")
    ts = time.time() - 1000

    def samples(uids: range) -> list[Sample]:
        return [Sample(ts + u, "m", [Reading(ts + u, "m", "uid", u, "")]) for u in uids]

    async def main() -> dict:
        with Outbox(tmp_path / "outbox.db") as outbox:  # one process: one generation
            outbox.append_samples(samples(range(0, 5)))
            stream = outbox.peek("readings", 1).stream  # type: ignore[union-attr]
            reset = ["--db", str(api.db), "edges", "reset-cursor", "behind-edge", "--lane",
                     "readings", "--outbox", stream["outbox"], "--generation",
                     stream["generation"]]  # fmt: skip
            options = {**FAST, "config_error_backoff": 0.3}
            async with Uplink(outbox, api.url, token, site, BUILDING, **options) as up:
                assert await up.drain(10)
                assert cli.main([*reset, "--acked", "2"]) == 0  # as if it lost seq 3..5
                outbox.append_samples(samples(range(5, 10)))
                assert not await up.drain(0.2)
                assert outbox.quarantined() == []
                assert up.stats()["state"] == "waiting for configuration fix"
                assert cli.main([*reset, "--acked", "5"]) == 0
                assert await up.drain(10)
                return up.stats()

    stats = asyncio.run(main())
    assert stats["quarantined"] == 0
    assert sorted(api.uids(site)) == list(range(10))
    assert "against its cursor (HTTP 422: dropped_through: records[0].seq 6" in caplog.text
