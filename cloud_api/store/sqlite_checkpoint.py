"""WAL checkpoints off the ingest path: a thread copies committed pages into the database.

In WAL mode a commit only appends pages to the -wal file; a checkpoint copies them into
the database file and syncs it. Left to the writer (wal_autocheckpoint), that copy runs
inside the commit of every batch that takes the WAL past its threshold, in spikes of a
few hundred ms as the indexed tables grow (bench/ingest.py, 1,000,000 points: a commit
took 3.5 ms at the median, 8.4 ms on average). A passive checkpoint on another
connection runs alongside the writer (WAL lets a checkpointer and one writer work at
once) and, being SQLite's C code, without Python's GIL, so on a second core most of that
copy leaves the ingest path (measured: 8.4 -> ~5 ms on average per batch).

The writer keeps its own wal_autocheckpoint as the bound on the WAL's size: a checkpoint
can only reset the WAL when it has copied every frame, which a background one rarely
manages while batches keep coming; the writer's then finds little left to copy.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("steward.api.store")

MIN_INTERVAL_S = 0.5  # at most this often: each pass copies many batches' pages at once
IDLE_EXIT_S = 10.0  # the thread and its connection go away when nothing is written


class Checkpointer:
    """Runs PRAGMA wal_checkpoint(PASSIVE) on its own connection when poked."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Something was committed: checkpoint soon. Starts the thread when needed."""
        self._wake.set()
        with self._lock:
            if self._stop.is_set():
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=0")  # a busy checkpointer lock: skip this pass
            while not self._stop.is_set():
                if not self._wake.wait(IDLE_EXIT_S):
                    with self._lock:  # idle: end, unless poked in the meantime
                        if not self._wake.is_set():
                            self._thread = None
                            return
                    continue
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as e:  # the writer's autocheckpoint still bounds the WAL
                    log.warning("background WAL checkpoint of %s failed: %s", self._path, e)
                self._stop.wait(MIN_INTERVAL_S)
        finally:
            conn.close()
