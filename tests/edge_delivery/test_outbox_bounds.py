"""Every part of the outbox is bounded, drops are short, counted by lane and reason, and
the file gives space back. Real SQLite files throughout."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import orjson
import pytest

from edge.model import Backlog, Event, Reading, Sample
from edge.outbox import Outbox

T0 = 1_780_000_000.0


def body(points: int = 1, pad: int = 0) -> bytes:
    s = Sample(
        ts=T0,
        device="m",
        readings=[Reading(T0, "m", f"p{j}", 1.0, "V") for j in range(points)],
        tags={"pad": "x" * pad} if pad else {},
    )
    return orjson.dumps(s.wire())


def ev(i: int, alarm: bool) -> Event:
    return Event(
        T0 + i,
        "door-1",
        "forced",
        f"e{i}",
        type="alarm" if alarm else "event",
        active=True if alarm else None,
    )


def messages(outbox: Outbox) -> list[int]:
    batch = outbox.peek("events", 10**6)
    return [] if batch is None else [int(orjson.loads(r)["message"][1:]) for r in batch.records]


def test_a_big_drop_deletes_a_bounded_number_of_rows_per_append(tmp_path: Path) -> None:
    """A full outbox must not stall the poll loop: each append deletes a bounded number of
    rows (today's bound is 2 GB: one append deleted 100 MB in one go)."""
    path = tmp_path / "o.db"
    one = body()
    with Outbox(path, max_readings_bytes=None) as outbox:
        outbox.append_reading_bodies([(T0 + i, 1, one) for i in range(20_000)])
    # Reopened with a bound of half what it holds: 10,500 records must go (down to 95 %).
    with Outbox(path, max_readings_points=10_000, max_readings_bytes=None) as outbox:
        deleted_per_call = []
        before = outbox.backlog()["readings"].dropped_records
        while outbox.backlog()["readings"].points > 9_500:
            outbox.append_reading_bodies([(T0, 1, one)])
            after = outbox.backlog()["readings"].dropped_records
            deleted_per_call.append(after - before)
            before = after
            assert len(deleted_per_call) < 100, "the drop does not converge"
        assert max(deleted_per_call) <= 1000, deleted_per_call
        # By hand: 20,000 held + one per call, 9,500 kept.
        assert sum(deleted_per_call) == 20_000 + len(deleted_per_call) - 9_500
        backlog = outbox.backlog()["readings"]
        assert backlog.records == backlog.points == 9_500
        assert backlog.first_seq == 20_000 + len(deleted_per_call) - 9_500 + 1
        assert outbox.drops()["readings"] == {"full": sum(deleted_per_call)}


def test_events_lane_is_bounded_events_dropped_before_alarms_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    with Outbox(tmp_path / "o.db", max_events_records=100) as outbox:
        for i in range(300):  # every 5th is an alarm: 60 alarms, 240 plain events
            outbox.append_event(ev(i, alarm=i % 5 == 0))
        held = messages(outbox)
        backlog = outbox.backlog()["events"]
        assert backlog.records == len(held) <= 100
        # Every alarm is still there (one moved to the tail keeps its timestamp: receivers
        # order events by time, not by seq).
        assert sorted(i for i in held if i % 5 == 0) == list(range(0, 300, 5))
        # The plain events kept are the newest ones, in order.
        plain = [i for i in held if i % 5]
        newest = [i for i in range(300) if i % 5][-len(plain) :]
        assert plain == newest
        # Counted by lane and reason: by hand, 300 appended - what is held.
        assert outbox.drops()["events"] == {"events_full": 300 - len(held)}
        assert backlog.dropped_records == 300 - len(held)
        assert any("events lane" in r.message and "dropped" in r.message for r in caplog.records)
        # And it travels upstream with every batch.
        wire = Backlog.model_validate(backlog.wire())
        assert wire.dropped == 300 - len(held)
        assert wire.drops == {"events_full": 300 - len(held)}


def test_alarms_are_dropped_last_and_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    with Outbox(tmp_path / "o.db", max_events_records=100, drop_slack=0.0) as outbox:
        for i in range(150):
            outbox.append_event(ev(i, alarm=True))
        assert messages(outbox) == list(range(50, 150))  # the oldest alarms went
        assert outbox.drops()["events"] == {"alarms_full": 50}
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert errors and all("alarm" in r.message for r in errors)


def test_dead_letters_are_bounded_oldest_first_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.outbox")
    with Outbox(tmp_path / "o.db", max_quarantined=3) as outbox:
        outbox.append_reading_bodies([(T0 + i, 1, body()) for i in range(5)])
        for seq in range(1, 6):
            outbox.quarantine("readings", seq, f"refused {seq}")
        assert [d["seq"] for d in outbox.quarantined()] == [3, 4, 5]
        assert outbox.backlog()["readings"].quarantined == 3
        assert outbox.drops()["readings"] == {"dead_letters_full": 2}
        assert any("dead letter" in r.message and "seq 1" in r.message for r in caplog.records), [
            r.message for r in caplog.records
        ]


def _fill_and_ack(outbox: Outbox, records: int) -> None:
    big = body(points=20, pad=1500)  # about 2 KB a record
    for start in range(0, records, 1000):
        outbox.append_reading_bodies([(T0 + i, 20, big) for i in range(start, start + 1000)])
    last = outbox.backlog()["readings"].last_seq
    assert last is not None
    outbox.ack("readings", last)


def _shrink(outbox: Outbox, max_pages_per_call: int) -> int:
    calls = 0
    db = sqlite3.connect(outbox.path)
    try:
        while True:
            free_before = db.execute("PRAGMA freelist_count").fetchone()[0]
            more = outbox.maintain()
            free_after = db.execute("PRAGMA freelist_count").fetchone()[0]
            # Bounded work per call: at most this many pages given back at a time.
            assert free_before - free_after <= max_pages_per_call
            calls += 1
            assert calls < 10_000
            if not more:
                return calls
    finally:
        db.close()


def test_file_shrinks_after_a_large_backlog_is_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as outbox:
        _fill_and_ack(outbox, 15_000)
        outbox.checkpoint()
        full = path.stat().st_size
        assert full > 25_000_000
        calls = _shrink(outbox, max_pages_per_call=outbox.vacuum_pages)
        assert calls > 1  # it took several short steps, not one long one
        outbox.checkpoint()
        assert path.stat().st_size < full / 10, (full, path.stat().st_size)


def test_an_old_file_without_auto_vacuum_is_switched_and_shrinks(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as outbox:
        pass
    # An outbox file made before auto_vacuum was set (the SQLite default: none).
    db = sqlite3.connect(path)
    db.execute("PRAGMA auto_vacuum=NONE")
    db.execute("VACUUM")
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    db.close()
    with Outbox(path) as outbox:
        _fill_and_ack(outbox, 15_000)
        outbox.checkpoint()
        full = path.stat().st_size
        # The content is small now (everything acknowledged): one VACUUM switches the mode.
        _shrink(outbox, max_pages_per_call=10**9)
        outbox.checkpoint()
        assert path.stat().st_size < full / 10
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        db.close()
