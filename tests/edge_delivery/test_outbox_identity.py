"""An outbox file that is replaced, restored from an older copy or rewound by a power loss
still delivers every record it holds exactly once (issue 6, item 7), against the real API.

Each sample carries a unique "uid" point; the oracle is the set of uids the test appended,
compared with what the API's store holds, by content.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from real_api import BUILDING, RealApi, real_api

from edge.model import Reading, Sample
from edge.outbox import Outbox
from edge.uplink import Uplink

FAST = {"backoff_initial": 0.02, "backoff_max": 0.1, "poll_interval": 0.05, "max_age": 0.0}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealApi]:
    with real_api(tmp_path_factory.mktemp("api")) as running:
        yield running


def samples(uids: range) -> list[Sample]:
    ts = time.time() - 1000
    return [
        Sample(
            ts + uid * 0.001,
            "meter-1",
            [Reading(ts, "meter-1", "uid", uid, ""), Reading(ts, "meter-1", "kw", 1.5, "kW")],
        )
        for uid in uids
    ]


def append(path: Path, uids: range) -> None:
    with Outbox(path) as outbox:
        outbox.append_samples(samples(uids))


def exactly_once(api: RealApi, site: str, expected: set[int]) -> None:
    arrived = api.uids(site)
    missing = sorted(expected - set(arrived))
    doubled = sorted(uid for uid, n in arrived.items() if n > 1)
    assert not missing, f"never stored: {missing}"
    assert not doubled, f"stored more than once: {doubled}"
    assert set(arrived) == expected


def test_a_replaced_outbox_delivers_every_record_it_holds(api: RealApi, tmp_path: Path) -> None:
    """A new, empty outbox numbers from 1 again; the API must not take that for a replay."""
    site = "replaced"
    token = api.register("replaced-edge", site=site)
    path = tmp_path / "outbox.db"
    append(path, range(0, 10))
    _deliver_site(path, api, token, site)
    path.unlink()  # a new SD card: the outbox is created afresh
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    append(path, range(100, 110))
    stats = _deliver_site(path, api, token, site)
    exactly_once(api, site, set(range(0, 10)) | set(range(100, 110)))
    assert stats["sent"]["duplicates"] == 0


def test_an_outbox_restored_from_an_older_copy_delivers_every_record_once(
    api: RealApi, tmp_path: Path
) -> None:
    """Copy the file while it holds undelivered records, deliver more, restore the copy,
    append and deliver again: the copy's records are true replays, its new ones are new."""
    site = "restored"
    token = api.register("restored-edge", site=site)
    path = tmp_path / "outbox.db"
    backup = tmp_path / "backup.db"
    append(path, range(0, 10))  # seq 1..10
    with (
        contextlib.closing(sqlite3.connect(path)) as db,
        contextlib.closing(sqlite3.connect(backup)) as copy,
    ):
        db.backup(copy)  # the copy holds seq 1..10, none delivered yet
    _deliver_site(path, api, token, site)
    append(path, range(10, 20))  # seq 11..20 in the live file
    _deliver_site(path, api, token, site)

    shutil.copy(backup, path)  # the old copy is put back
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    append(path, range(20, 30))  # numbered 11..20 again, with other content
    stats = _deliver_site(path, api, token, site)
    exactly_once(api, site, set(range(0, 30)))
    assert stats["sent"]["duplicates"] == 10  # the copy's seq 1..10: a true replay


def test_a_rewound_tail_delivers_every_record_once(api: RealApi, tmp_path: Path) -> None:
    """A power loss under synchronous=NORMAL loses the outbox's last commits after the API
    acknowledged them: the file holds fewer records than were sent and numbers the next
    ones with seq numbers the API already holds."""
    site = "rewound"
    token = api.register("rewound-edge", site=site)
    path = tmp_path / "outbox.db"
    append(path, range(0, 7))  # seq 1..7
    shutil.copy(path, tmp_path / "at-7.db")
    append(path, range(7, 10))  # seq 8..10: these commits will be lost
    _deliver_site(path, api, token, site)  # the API holds 1..10; the file is empty

    # The power loss: the file is as it was after seq 7 was committed (the later appends
    # and the acknowledgement's deletes never reached the disk).
    shutil.copy(tmp_path / "at-7.db", path)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT seq FROM sqlite_sequence WHERE name='readings'").fetchone() == (
            7,
        )
    append(path, range(10, 20))  # numbered 8..17
    stats = _deliver_site(path, api, token, site)
    exactly_once(api, site, set(range(0, 20)))
    assert stats["sent"]["duplicates"] == 7  # seq 1..7 were replays


def test_a_rewound_tail_is_lossless_even_when_the_file_numbers_past_the_api(
    api: RealApi, tmp_path: Path
) -> None:
    """Offline after the rewind, the edge numbers well past what the API held: a check of
    the ack against the file's own numbering cannot see this; the outbox identity must."""
    site = "rewound-far"
    token = api.register("rewound-far-edge", site=site)
    path = tmp_path / "outbox.db"
    append(path, range(0, 5))
    shutil.copy(path, tmp_path / "at-5.db")
    append(path, range(5, 10))
    _deliver_site(path, api, token, site)  # the API holds seq 1..10
    shutil.copy(tmp_path / "at-5.db", path)
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    append(path, range(10, 40))  # seq 6..35
    _deliver_site(path, api, token, site)
    exactly_once(api, site, set(range(0, 40)))


def _deliver_site(path: Path, api: RealApi, token: str, site: str) -> dict:
    async def main() -> dict:
        with Outbox(path) as outbox:
            async with Uplink(outbox, api.url, token, site, BUILDING, **FAST) as up:
                assert await up.drain(20), up.stats()
                return up.stats()

    return asyncio.run(main())
