"""The outbox on a real SQLite file: numbering, lanes, acks, the size bound, open cost."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import orjson
import pytest
from pydantic import TypeAdapter

from edge.model import Event, IngestBatch, Quality, Reading, Sample
from edge.outbox import Outbox, wire_record

BATCH = TypeAdapter(IngestBatch)
T0 = 1_780_000_000.0


def sample(i: int, points: int = 20, device: str = "meter-1") -> Sample:
    ts = T0 + i
    return Sample(
        ts=ts,
        device=device,
        readings=[
            Reading(ts=ts, device=device, point=f"p{j}", value=230.0 + j + i / 1000, unit="V")
            for j in range(points)
        ],
        tags={"i": str(i)},
    )


def event(i: int, type_: str = "event") -> Event:
    active = True if type_ == "alarm" else None
    return Event(
        ts=T0 + i, source="door-1", code="forced", message=f"e{i}", type=type_, active=active
    )


def uids(outbox: Outbox, lane: str = "readings") -> list[int]:
    batch = outbox.peek(lane, 10**9)  # type: ignore[arg-type]
    if batch is None:
        return []
    out = []
    for record in batch.records:
        body = orjson.loads(record)
        out.append(int(body["tags"]["i"]) if lane == "readings" else int(body["message"][1:]))
    return out


def test_seq_numbers_continue_across_reopen_and_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        assert [outbox.append_sample(sample(i)) for i in range(3)] == [1, 2, 3]
        assert outbox.append_event(event(0)) == 1  # lanes count independently
        assert outbox.ack("readings", 3) == 3
    with Outbox(path) as outbox:
        # Everything was acknowledged and deleted; the numbers still go on.
        assert outbox.append_samples([sample(3), sample(4)]) == 5
        assert outbox.append_event(event(1)) == 2
        assert outbox.last_assigned_seq("readings") == 5
        backlog = outbox.backlog()
        assert (backlog["readings"].first_seq, backlog["readings"].last_seq) == (4, 5)
        assert backlog["readings"].records == 2
        assert backlog["readings"].points == 40
        assert backlog["events"].records == 2


def test_peek_gives_valid_consecutive_wire_records_within_limits(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        assert outbox.peek("readings", 10) is None
        outbox.append_samples([sample(i) for i in range(10)])
        batch = outbox.peek("readings", 4)
        assert batch is not None
        assert (batch.first_seq, batch.last_seq, len(batch), batch.more) == (1, 4, 4, True)
        assert batch.points == 80
        assert batch.nbytes == len(b",".join(batch.records))
        assert batch.oldest_ts == T0
        body = b'{"site":"s","building":"b","lane":"readings","records":[%b]}' % b",".join(
            batch.records
        )
        parsed = BATCH.validate_json(body)
        assert [r.seq for r in parsed.records] == [1, 2, 3, 4]
        assert parsed.records[2].tags == {"i": "2"}
        assert parsed.records[2].points[5].value == pytest.approx(235.002)

        two = len(batch.records[0]) + 1 + len(batch.records[1])
        by_bytes = outbox.peek("readings", 10, max_bytes=two)
        assert by_bytes is not None and len(by_bytes) == 2 and by_bytes.more
        # A record larger than max_bytes still goes alone, or the lane would stall.
        tiny = outbox.peek("readings", 10, max_bytes=10)
        assert tiny is not None and len(tiny) == 1
        rest = outbox.peek("readings", 100, after_seq=8)
        assert rest is not None and (rest.first_seq, rest.last_seq, rest.more) == (9, 10, False)
        # Peeking does not consume.
        assert outbox.backlog()["readings"].records == 10


def test_event_records_validate_and_lanes_are_separate(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        outbox.append_samples([sample(0)])
        outbox.append_events([event(0), event(1, "alarm")])
        batch = outbox.peek("events", 10)
        assert batch is not None and batch.points == 0
        body = b'{"site":"s","building":"b","lane":"events","records":[%b]}' % b",".join(
            batch.records
        )
        parsed = BATCH.validate_json(body)
        assert [(r.seq, r.type) for r in parsed.records] == [(1, "event"), (2, "alarm")]


def test_wire_record_splices_seq() -> None:
    assert wire_record(7, b'{"ts":1}') == b'{"seq":7,"ts":1}'
    assert wire_record(8, b"{}") == b'{"seq":8}'


def test_ack_deletes_exactly_up_to_seq(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        outbox.append_samples([sample(i, points=i + 1) for i in range(10)])
        assert outbox.ack("readings", 0) == 0
        assert outbox.ack("readings", 4) == 4
        assert uids(outbox) == [4, 5, 6, 7, 8, 9]
        assert outbox.ack("readings", 4) == 0  # acking again is harmless
        assert outbox.ack("readings", 2) == 0  # so is an older ack
        backlog = outbox.backlog()["readings"]
        assert (backlog.records, backlog.first_seq, backlog.points) == (6, 5, sum(range(5, 11)))
        assert outbox.ack("readings", 100) == 6
        empty = outbox.backlog()["readings"]
        assert (empty.records, empty.first_seq, empty.points, empty.bytes) == (0, None, 0, 0)
        with pytest.raises(ValueError, match="unknown lane"):
            outbox.ack("readings; DROP TABLE events", 1)  # type: ignore[arg-type]


def test_full_outbox_drops_oldest_readings_counted_and_logged_never_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.db"
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    with Outbox(path, max_readings_points=1000, drop_slack=0.1) as outbox:
        for i in range(50):  # 50 x 20 points = exactly the bound: nothing dropped yet
            outbox.append_sample(sample(i))
            outbox.append_event(event(i, "alarm"))
        assert outbox.backlog()["readings"].dropped_records == 0
        assert not caplog.records
        outbox.append_sample(sample(50))  # 1020 points > 1000: drop down to 900
        backlog = outbox.backlog()
        assert backlog["readings"].dropped_records == 6
        assert backlog["readings"].dropped_points == 120
        assert backlog["readings"].points == 900
        assert uids(outbox) == list(range(6, 51))  # oldest went first; the rest contiguous
        assert backlog["readings"].records == 45
        assert backlog["events"].records == 50  # alarms are never dropped
        assert uids(outbox, "events") == list(range(50))
        [warning] = caplog.records
        assert warning.levelno == logging.WARNING
        assert "dropped the 6 oldest readings records (seq 1..6, 120 points" in warning.message
        assert backlog["readings"].wire() == {
            "records": 45,
            "oldest_ts": T0 + 6,
            "dropped": 6,
            "quarantined": 0,
            "drops": {"full": 6},
        }
    # The counters live in the file: a restart does not forget what was lost.
    with Outbox(path, max_readings_points=1000) as outbox:
        assert outbox.backlog()["readings"].dropped_points == 120


def test_byte_bound_drops_oldest_and_keeps_new(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db", max_readings_bytes=20_000, drop_slack=0.0) as outbox:
        for i in range(100):
            outbox.append_sample(sample(i))
        backlog = outbox.backlog()["readings"]
        assert backlog.bytes <= 20_000
        assert backlog.dropped_records > 0
        assert backlog.dropped_records + backlog.records == 100
        assert uids(outbox)[-1] == 99
        assert uids(outbox)[0] == backlog.dropped_records


def test_bad_samples_are_refused_whole(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        bad = sample(1)
        bad.tags = {"x": object()}  # type: ignore[dict-item]
        with pytest.raises(TypeError):
            outbox.append_samples([sample(0), bad])
        # The poll cycle's transaction never began: nothing half-written, no seq used.
        assert outbox.backlog()["readings"].records == 0
        assert outbox.append_sample(sample(2)) == 1


def test_quarantine_moves_front_record_and_requeue_brings_it_back(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        outbox.append_samples([sample(i) for i in range(3)])
        with pytest.raises(ValueError, match="front record"):
            outbox.quarantine("readings", 2, "not the front")
        outbox.quarantine("readings", 1, "HTTP 422: bad value")
        backlog = outbox.backlog()["readings"]
        assert (backlog.records, backlog.first_seq, backlog.quarantined) == (2, 2, 1)
        assert backlog.points == 40
        [dead] = outbox.quarantined()
        assert (dead["lane"], dead["seq"], dead["reason"]) == ("readings", 1, "HTTP 422: bad value")
        assert orjson.loads(dead["body"])["tags"] == {"i": "0"}
        assert outbox.requeue_quarantined() == 1
        assert uids(outbox) == [1, 2, 0]
        assert outbox.backlog()["readings"].last_seq == 4  # a new number at the tail
        assert outbox.backlog()["readings"].quarantined == 0


def test_open_and_backlog_with_a_million_records_do_not_scan(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    body = orjson.dumps(sample(0, points=1).wire())
    with Outbox(path, max_readings_bytes=None) as outbox:
        n = 1_000_000
        started = time.perf_counter()
        outbox.append_reading_bodies([(T0 + i, 1, body) for i in range(n)])
        print(f"filled {n} records in {time.perf_counter() - started:.2f} s")
        outbox.append_event(event(0))
    started = time.perf_counter()
    outbox = Outbox(path, max_readings_bytes=None)
    try:
        backlog = outbox.backlog()
        elapsed = time.perf_counter() - started
        assert backlog["readings"].records == n
        assert backlog["readings"].points == n
        # How long it takes is bench/drain.py's figure; here: the work does not grow with n.
        print(f"open + backlog with {n} records: {elapsed * 1000:.1f} ms")
        # Count SQLite VM steps: a table scan of a million rows would take millions.
        steps = 0

        def count_steps() -> int:
            nonlocal steps
            steps += 1
            return 0

        outbox._db.set_progress_handler(count_steps, 1)
        outbox.backlog()
        outbox.peek("readings", 100)
        outbox._db.set_progress_handler(None, 1)
        assert steps < 20_000, f"{steps} VM steps"
    finally:
        outbox.close()
    # The file is a plain SQLite database that other tools can read.
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_quality_and_reason_survive_the_trip(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        s = Sample(
            ts=T0,
            device="m",
            readings=[Reading(T0, "m", "v", None, "V", Quality.BAD, reason="timeout")],
        )
        outbox.append_sample(s)
        batch = outbox.peek("readings", 1)
        assert batch is not None
        point = orjson.loads(batch.records[0])["points"][0]
        assert (point["value"], point["quality"], point["reason"]) == (None, "bad", "timeout")
