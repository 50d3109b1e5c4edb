"""The outbox's identity on the wire: its id, generations, and what a batch reports (the
delivery contract in edge/model.py), on a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from pydantic import TypeAdapter

from edge.model import Event, IngestBatch, Reading, Sample
from edge.outbox import Outbox

BATCH = TypeAdapter(IngestBatch)
T0 = 1_780_000_000.0


def sample(i: int) -> Sample:
    return Sample(T0 + i, "m", [Reading(T0 + i, "m", "p", float(i), "kW")], tags={"i": str(i)})


def test_the_outbox_id_is_made_once_with_the_file_and_kept(tmp_path: Path) -> None:
    with Outbox(tmp_path / "a.db") as a, Outbox(tmp_path / "b.db") as b:
        first = a.outbox_id
        assert len(first) == 32 and first != b.outbox_id
    with Outbox(tmp_path / "a.db") as again:
        assert again.outbox_id == first


def test_each_appending_process_numbers_its_own_generation_and_batches_never_mix_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as first:
        first.append_samples([sample(i) for i in range(3)])  # seq 1..3
        first.append_sample(sample(3))  # seq 4: still the same generation
        one = first.generation
    with Outbox(path) as reader:  # opening without appending makes no generation
        assert reader.backlog()["readings"].records == 4
    with Outbox(path) as second:
        second.append_samples([sample(i) for i in range(4, 6)])  # seq 5..6
        two = second.generation
        assert one != two
        batch = second.peek("readings", 100)
        assert batch is not None
        assert (batch.first_seq, batch.last_seq, batch.more) == (1, 4, True)
        assert batch.stream == {"outbox": second.outbox_id, "generation": one, "first_seq": 1}
        rest = second.peek("readings", 100, after_seq=4)
        assert rest is not None and (rest.first_seq, rest.last_seq) == (5, 6)
        assert rest.stream == {"outbox": second.outbox_id, "generation": two, "first_seq": 5}
        events = second.peek("events", 10)
        assert events is None
        second.append_event(Event(T0, "door", "forced", "x"))
        events = second.peek("events", 10)
        assert events is not None
        assert events.stream == {"outbox": second.outbox_id, "generation": two, "first_seq": 1}
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT lane, first_seq, generation FROM generations").fetchall()
    assert sorted(rows) == [("events", 1, two), ("readings", 1, one), ("readings", 5, two)]


def test_a_failed_append_does_not_leave_a_generation_half_recorded(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as outbox:
        with sqlite3.connect(path) as db:  # the disk refuses the first write
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON readings "
                "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        with pytest.raises(sqlite3.IntegrityError):
            outbox.append_sample(sample(0))
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER refuse")
        outbox.append_sample(sample(0))
        batch = outbox.peek("readings", 10)
        assert batch is not None and batch.stream is not None
        assert batch.stream["generation"] == outbox.generation


def test_a_batch_reports_records_let_go_below_it_but_not_acknowledged_ones(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.append_samples([sample(i) for i in range(6)])
        outbox.ack("readings", 2)
        batch = outbox.peek("readings", 10)
        assert batch is not None and (batch.first_seq, batch.dropped_through) == (3, 0)
        outbox.quarantine("readings", 3, "refused")  # let go without an ack
        batch = outbox.peek("readings", 10)
        assert batch is not None and (batch.first_seq, batch.dropped_through) == (4, 3)
        outbox.ack("readings", 4)
        batch = outbox.peek("readings", 10)
        assert batch is not None and (batch.first_seq, batch.dropped_through) == (5, 0)


def test_the_backlog_a_batch_reports_is_what_is_left_after_it(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.append_samples([sample(i) for i in range(5)])
        after = outbox.backlog_after("readings", 3)["readings"]
        assert (after.records, after.first_seq, after.oldest_ts) == (2, 4, T0 + 3)
        drained = outbox.backlog_after("readings", 5)["readings"]
        assert (drained.records, drained.oldest_ts) == (0, None)
        assert outbox.backlog_after("events", 5)["readings"].records == 5


def test_a_batch_body_is_a_valid_ingest_batch_with_its_stream(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.append_samples([sample(i) for i in range(3)])
        batch = outbox.peek("readings", 10)
        assert batch is not None and batch.stream is not None
        body = {
            "site": "s",
            "building": "b",
            "lane": "readings",
            "stream": batch.stream,
            "records": [orjson.loads(r) for r in batch.records],
        }
        parsed = BATCH.validate_python(body)
        assert parsed.stream.generation == outbox.generation
