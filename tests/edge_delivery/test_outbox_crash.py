"""kill -9 of a process appending to the outbox loses no committed record and duplicates none."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson

from edge.outbox import Outbox

CHILD = Path(__file__).with_name("delivery_child.py")
CYCLE = 10  # samples the child appends per transaction (delivery_child.CYCLE)


def run_until_killed(args: list[str], out: Path, err: Path, seconds: float) -> None:
    """Start the child, let it commit for a while, then SIGKILL its process group."""
    with out.open("wb") as stdout, err.open("ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-u", str(CHILD), *args],
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 15
        while out.stat().st_size == 0:  # started and committed at least once
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the child never committed a sample"
            time.sleep(0.01)
        time.sleep(seconds)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL


def committed(out: Path) -> list[str]:
    return out.read_text().split()


def test_kill_9_at_random_moments_keeps_every_committed_sample_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    printed: list[str] = []
    for run in range(5):
        out = tmp_path / f"run{run}.out"
        run_until_killed(
            ["append", str(path), str(run)], out, tmp_path / "child.err", rng.uniform(0.05, 0.8)
        )
        printed += committed(out)

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Outbox(path) as outbox:
        backlog = outbox.backlog()["readings"]
        records: list[bytes] = []
        # One peek per generation (each run that appended numbered its own): a batch
        # never spans two.
        while batch := outbox.peek("readings", 10**9, after_seq=len(records)):
            records += batch.records
        held = [orjson.loads(r)["tags"]["uid"] for r in records]
        seqs = [orjson.loads(r)["seq"] for r in records]
    note = f"(random seed {seed})"
    assert len(printed) == len(set(printed)), note
    assert len(held) == len(set(held)), f"a sample is stored twice {note}"
    missing = set(printed) - set(held)
    assert not missing, f"committed but lost: {sorted(missing)[:10]} {note}"
    # Committed but killed before it could print: at most the last cycle of each run.
    assert len(set(held) - set(printed)) <= 5 * CYCLE, note
    assert seqs == list(range(1, len(seqs) + 1)), note
    assert backlog.records == len(held)
    assert backlog.points == 20 * len(held)
