"""How the uplink batches, paces and reacts to answers the real API cannot give on cue,
over real HTTP on loopback.

The server is tests/edge_delivery/scripted_ingest.py (real sockets, validation by
edge.model, the real API's 409 body): what it is for is 5xx, a 422 that names no record, a
refusal about the envelope, and seeing each request as sent (order, headers, sizes,
timing). Acknowledgements, replays, 413, quarantine, gaps and outages are tested against
the real API in test_uplink_acks.py; end to end with processes: test_delivery_e2e.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path

import orjson
import pytest
from scripted_ingest import IngestState, scripted_ingest

from edge.model import Event, Quality, Reading, Sample
from edge.outbox import Outbox
from edge.uplink import Uplink

TOKEN = "edge-token"
FAST = {"backoff_initial": 0.02, "backoff_max": 0.1, "poll_interval": 0.05, "max_age": 0.0}


def sample(i: int, points: int = 5, good: bool = True) -> Sample:
    ts = time.time() - 100 + i * 0.01
    return Sample(
        ts=ts,
        device=f"meter-{i % 3}",
        readings=[
            Reading(ts, "m", f"p{j}", 1.5 * j + i if good else None, "kW", Quality.GOOD)
            for j in range(points)
        ],
        tags={"i": str(i)},
    )


def alarm(i: int) -> Event:
    return Event(time.time(), "door-7", "forced", f"alarm {i}", type="alarm", active=True)


def stored_uids(state: IngestState) -> list[int]:
    return [int(r["tags"]["i"]) for _, r in sorted(state.stored["readings"].items())]


def uplink(outbox: Outbox, url: str, **options) -> Uplink:
    return Uplink(outbox, url, TOKEN, "city-hall", "b-12", **{**FAST, **options})


def test_drains_events_first_gzipped_with_token_in_order(tmp_path: Path) -> None:
    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            outbox.append_samples([sample(i) for i in range(25)])
            outbox.append_events([alarm(0), alarm(1)])
            async with uplink(outbox, url, max_records=10) as up:
                assert await up.drain(10)
                stats = up.stats()
            assert [(s.lane, s.seqs) for s in state.seen] == [
                ("events", [1, 2]),
                ("readings", list(range(1, 11))),
                ("readings", list(range(11, 21))),
                ("readings", list(range(21, 26))),
            ]
            first = state.seen[0]
            assert first.headers["content-encoding"] == "gzip"
            assert first.headers["authorization"] == f"Bearer {TOKEN}"
            assert first.body is not None
            assert (first.body["site"], first.body["building"]) == ("city-hall", "b-12")
            # The backlog report travels with every batch.
            assert first.body["backlog"]["readings"] == {
                "records": 25,
                "oldest_ts": pytest.approx(time.time() - 100, abs=5),
                "dropped": 0,
                "quarantined": 0,
            }
            assert stored_uids(state) == list(range(25))
            assert stats["sent"]["records"] == {"events": 2, "readings": 25}
            assert stats["sent"]["points"] == 125
            assert stats["sent"]["batches"] == 4
            assert stats["sent"]["bytes_compressed"] < stats["sent"]["bytes_uncompressed"]
            assert stats["errors_total"] == 0
            assert stats["backlog"]["readings"]["records"] == 0

    asyncio.run(main())


def test_batches_respect_the_byte_bound(tmp_path: Path) -> None:
    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            outbox.append_samples([sample(i, points=20) for i in range(40)])
            async with uplink(outbox, url, max_bytes=8_000) as up:
                assert await up.drain(10)
            for seen in state.seen:
                raw = ",".join(orjson.dumps(r).decode() for r in seen.body["records"])
                assert len(raw) <= 8_000
            assert len(state.seen) >= 40 * 1500 // 8_000
            assert stored_uids(state) == list(range(40))

    asyncio.run(main())


def test_partial_batch_waits_for_max_age_and_alarms_do_not(tmp_path: Path) -> None:
    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            async with uplink(outbox, url, max_age=0.6, poll_interval=1.0):
                await asyncio.sleep(0.1)
                fresh = Sample(time.time(), "m", [Reading(time.time(), "m", "p", 1.0, "kW")])
                outbox.append_sample(fresh)
                appended = time.monotonic()
                outbox.append_event(alarm(0))
                await asyncio.sleep(0.3)
                # The alarm went at once (woken by the append, not by polling: the poll
                # interval is 1 s and max_age 0.6 s, and it is there after 0.3 s) ...
                assert [s.lane for s in state.seen] == ["events"]
                outbox.append_sample(fresh)
                await asyncio.sleep(0.6)
                # ... the readings waited to fill, then went together when the first aged.
                assert [(s.lane, s.seqs) for s in state.seen] == [
                    ("events", [1]),
                    ("readings", [1, 2]),
                ]
                assert state.seen[1].at - appended > 0.5  # not before max_age

    asyncio.run(main())


def test_server_errors_back_off_growing_with_jitter_then_reset(tmp_path: Path) -> None:
    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            outbox.append_samples([sample(i) for i in range(3)])
            state.script = [(503, {"detail": "store busy"})] * 4 + [(500, b"oops")]
            async with uplink(outbox, url, backoff_initial=0.05, backoff_max=0.4) as up:
                assert await up.drain(10)
                stats = up.stats()
            times = [s.at for s in state.seen]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert len(gaps) == 5
            assert all(g >= 0.045 for g in gaps)
            assert max(gaps) <= 0.5
            assert stats["errors"] == {"server": 5}
            assert stats["consecutive_failures"] == 0
            assert "HTTP 500" in stats["last_error"]
            assert stored_uids(state) == [0, 1, 2]

    asyncio.run(main())


def test_bad_token_is_an_error_with_a_long_wait_and_keeps_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            outbox.append_samples([sample(i) for i in range(5)])
            state.token = "another-token"
            async with uplink(outbox, url, config_error_backoff=30) as up:
                await asyncio.sleep(0.5)
                stats = up.stats()
            assert len(state.seen) == 1  # no spinning on a configuration error
            assert stats["errors"] == {"auth": 1}
            assert stats["state"] == "waiting for configuration fix"
            assert outbox.backlog()["readings"].records == 5

    caplog.set_level(logging.ERROR, logger="edge.uplink")
    asyncio.run(main())
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "refused this edge's token (HTTP 401" in error.message
    assert TOKEN not in error.message


def test_poison_record_is_found_by_halving_when_the_api_does_not_name_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real API names the refused record (test_uplink_acks.py); a proxy in between
    might not."""

    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            state.hide_error_locations = True
            # A good reading without a value: the API refuses it (422).
            outbox.append_samples([sample(i, good=i != 13) for i in range(30)])
            async with uplink(outbox, url) as up:
                assert await up.drain(10)
                stats = up.stats()
            assert stored_uids(state) == [i for i in range(30) if i != 13]
            [dead] = outbox.quarantined()
            assert (dead["lane"], dead["seq"]) == ("readings", 14)
            assert orjson.loads(dead["body"])["tags"] == {"i": "13"}
            assert "HTTP 422" in dead["reason"]
            assert stats["quarantined"] == 1
            assert stats["backlog"]["readings"]["quarantined"] == 1
            # The API learns of the gap as a record the edge dropped.
            assert stats["sent"]["dropped_at_edge"] == 1
            assert "locally: " in dead["reason"]

    caplog.set_level(logging.ERROR, logger="edge.uplink")
    asyncio.run(main())
    assert "quarantined readings record seq 14" in caplog.text


def test_refusal_not_about_records_quarantines_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            outbox.append_samples([sample(i) for i in range(4)])
            refusal = {"detail": [{"loc": ["body", "building"], "msg": "unknown building"}]}
            state.script = [(422, refusal)] * 10
            async with uplink(outbox, url, config_error_backoff=30) as up:
                await asyncio.sleep(0.5)
                assert up.stats()["state"] == "waiting for configuration fix"
            # 4 records -> 2 -> 1, then it stops and waits for an operator.
            assert [len(s.seqs) for s in state.seen] == [4, 2, 1]
            assert outbox.quarantined() == []
            assert outbox.backlog()["readings"].records == 4

    caplog.set_level(logging.ERROR, logger="edge.uplink")
    asyncio.run(main())
    assert "nothing is quarantined" in caplog.text
    assert "body.building: unknown building" in caplog.text


def test_pause_holds_everything_and_resume_sends(tmp_path: Path) -> None:
    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            async with uplink(outbox, url) as up:
                up.pause()
                outbox.append_samples([sample(i) for i in range(5)])
                outbox.append_event(alarm(0))
                await asyncio.sleep(0.3)
                assert state.seen == []
                assert up.paused and up.stats()["state"] == "paused"
                assert outbox.backlog()["readings"].records == 5
                up.resume()
                assert await up.drain(5)
            assert [s.lane for s in state.seen] == ["events", "readings"]

    asyncio.run(main())


def test_outbox_drops_reach_the_api_as_gaps_and_the_log_summarises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        with (
            Outbox(tmp_path / "o.db", max_readings_points=50, drop_slack=0.0) as outbox,
            scripted_ingest() as (url, state),
        ):
            outbox.append_samples([sample(i) for i in range(15)])  # 75 points: 5 records go
            async with uplink(outbox, url, stats_interval=0.1) as up:
                assert await up.drain(5)
                await asyncio.sleep(0.25)
                stats = up.stats()
            assert stored_uids(state) == list(range(5, 15))
            assert state.seen[0].body["backlog"]["readings"]["dropped"] == 5
            assert stats["sent"]["dropped_at_edge"] == 5
            assert stats["backlog"]["readings"]["dropped_points"] == 25
            assert stats["rate"]["points_per_s"] > 0

    caplog.set_level(logging.INFO, logger="edge.uplink")
    asyncio.run(main())
    lines = [r.message for r in caplog.records if r.message.startswith("uplink: idle; backlog")]
    assert lines, caplog.text
    assert "readings 0 records, dropped 5, quarantined 0" in lines[-1]
    assert "sent 1 batches, 10 records, 50 points" in lines[-1]


def test_construction_refuses_bad_settings(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        with pytest.raises(ValueError, match="site 'city hall' is not a valid name"):
            Uplink(outbox, "http://x", TOKEN, "city hall", "b")
        with pytest.raises(ValueError, match="token is empty"):
            Uplink(outbox, "http://x", "", "s", "b")


def test_gzip_body_is_the_exact_batch(tmp_path: Path) -> None:
    """What was spliced from stored bytes is byte-for-byte valid JSON per the contract."""

    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox, scripted_ingest() as (url, state):
            outbox.append_samples([sample(i) for i in range(3)])
            async with uplink(outbox, url) as up:
                assert await up.drain(5)
            assert state.seen[0].status == 200
            record = state.seen[0].body["records"][1]
            assert record["seq"] == 2 and record["tags"] == {"i": "1"}

    asyncio.run(main())


def test_an_outbox_failure_is_logged_and_retried_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        outbox = Outbox(tmp_path / "o.db")
        with scripted_ingest() as (url, _state):
            async with uplink(outbox, url) as up:
                await asyncio.sleep(0.1)
                outbox.close()  # every outbox call fails from now on
                await asyncio.sleep(0.3)
                stats = up.stats()
                assert stats["errors"]["internal"] >= 1
                assert "closed database" in stats["backlog"]["error"]["message"]
                assert stats["state"] == "backoff"  # alive, and retrying

    caplog.set_level(logging.ERROR, logger="edge.uplink")
    asyncio.run(main())
    assert "unexpected failure, retrying with backoff" in caplog.text
