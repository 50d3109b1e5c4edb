"""An edge whose clock is unset or far off holds what it stamps instead of sending it or
dead-lettering it; once the API's clock is known in the same boot, held records are
re-stamped by the proven offset and delivered. Real simulator, real API, real files."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from acq_helpers import mixed_fleet
from central import add_edge, start_api
from servers import free_port, stop
from sim_thread import SimulatorThread

from edge.agent import Agent
from edge.cli import print_status
from edge.clock import ClockGuard
from edge.clock_hold import ClockHold, held_summary
from edge.config import load_site
from edge.model import Reading, Sample
from edge.outbox import Outbox
from edge.uplink import Uplink

SITE = "test-site"


@pytest.fixture(scope="module")
def running_api(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("api")
    db = directory / "api.sqlite"
    add_edge(db)  # creates the store
    port = free_port()
    proc = start_api(db, port, directory / "api.log")
    try:
        yield f"http://127.0.0.1:{port}", db
    finally:
        stop(proc)


@pytest.fixture
def api(running_api, request: pytest.FixtureRequest):
    """(url, token, db) for an edge of its own: each test's outbox numbers from 1."""
    url, db = running_api
    name = "e-" + re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[-60:]
    done = subprocess.run(
        [sys.executable, "-m", "cloud_api.cli", "edges", "add", name, "--site", SITE,
         "--any-building", "--db", str(db)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return url, done.stdout.strip(), db, name


def _site(tmp_path: Path, sim_port: int, url: str, token: str, building: str = "b1") -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(
        f"site: {SITE}\nbuilding: {building}\n"
        f"buses: [{{id: gw, tcp: {{host: 127.0.0.1, port: {sim_port}}}, timeout: 300ms}}]\n"
        "devices: [{id: 'm{unit}', bus: gw, profile: chint/dtsu666, units: 1-3,"
        " interval: 250ms}]\n"
        "outbox: {path: outbox.sqlite}\n"
        f"uplink: {{url: '{url}', token: '{token}', max_age: 0s}}\n"
    )
    return site


def _api_rows(db: Path, query: str, *args: object) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(query, args).fetchall()


# The box booted without RTC or NTP: its wall clock says 1970-01-02 and runs on. Or its
# clock is 200 days behind: the API would take those records, at the wrong time.
CLOCKS = {
    "unset-1970": (lambda started: 86_400.0 + (time.monotonic() - started), "UNSET", "1970-01-02"),
    "200-days-behind": (
        lambda started: time.time() - 200 * 86_400,
        "WRONG",
        r"1727999\d s behind|1728000\d s behind",
    ),
}


@pytest.mark.parametrize("which", list(CLOCKS))
def test_a_wrong_clock_is_held_then_restamped_by_the_proven_offset_never_dead_lettered(
    api, tmp_path: Path, caplog: pytest.LogCaptureFixture, which: str
) -> None:
    url, token, db, edge = api
    started = time.monotonic()
    make, word, shown = CLOCKS[which]
    unset = lambda: make(started)  # noqa: E731
    caplog.set_level(logging.INFO, logger="steward.edge")
    with SimulatorThread(mixed_fleet(frozen=True)) as sim:
        site = load_site(_site(tmp_path, sim.port, url, token, f"b-{which}"))
        agent = Agent.from_site(site, clock=unset, status_every=1.0)
        real_from = time.time()
        asyncio.run(agent.run(duration=3.0))
        real_to = time.time()
        stats = agent.stats()
        status = io.StringIO()
        print_status(site, as_json=False, out=status)
        dead = agent.outbox.quarantined()
        backlog = agent.outbox.backlog()
        agent.close()
    assert dead == []  # before: every record refused one by one into dead letters
    # Everything it stamped reached the API re-stamped into the real time window; by
    # hand: the poll happened between real_from and real_to (plus the Date header's
    # one-second resolution and the request's round trip).
    stamps = [
        ts
        for (ts,) in _api_rows(
            db,
            "SELECT s.ts FROM samples s JOIN series r ON r.id = s.series_id "
            "WHERE r.site = ? AND r.building = ?",
            SITE,
            f"b-{which}",
        )
    ]
    assert len(stamps) >= 3 * 24 * 4  # 3 meters x 24 points, several polls each
    assert all(real_from - 2 <= ts <= real_to + 2 for ts in stamps), (
        min(stamps),
        max(stamps),
        real_from,
    )
    # The clock event itself went out, re-stamped too.
    state = "unset" if word == "UNSET" else "skewed"
    events = _api_rows(
        db, "SELECT code, ts FROM events WHERE code = ? AND edge = ?", f"clock.{state}", edge
    )
    assert events and all(real_from - 2 <= ts <= real_to + 2 for _, ts in events)
    clock = stats["clock"]
    assert clock["state"] == state
    assert clock["hold"]["restamped"] >= 3 * 4 and clock["hold"]["unprovable"] == 0
    assert clock["offset"] == pytest.approx(time.time() - unset(), abs=2)
    assert backlog["readings"].records == 0 or backlog["readings"].first_seq is not None
    assert any(f"clock {word}" in r.message for r in caplog.records if r.levelno == logging.ERROR)
    # `steward-edge status` says so.
    assert f"clock {word}" in status.getvalue(), status.getvalue()
    assert re.search(shown, status.getvalue()), status.getvalue()


def test_records_held_in_an_earlier_boot_stay_held_and_visible(api, tmp_path: Path) -> None:
    """Their true time cannot be proven: keep them, show them, never send them."""
    url, token, db, _edge = api
    path = tmp_path / "outbox.sqlite"
    site_file = _site(tmp_path, 1, url, token)
    wrong = 86_400.0

    def sample(i: int) -> Sample:
        return Sample(wrong + i, "m-old", [Reading(wrong + i, "m-old", "p", 1.0, "V")])

    with Outbox(path) as outbox:
        before = ClockHold(outbox, ClockGuard(wall=lambda: wrong, boot_id="boot-1"))
        for i in range(5):
            before.append_sample(sample(i))
        assert held_summary(outbox._db)["readings"]["waiting"] == 5

    async def after_reboot() -> None:
        with Outbox(path) as outbox:
            guard = ClockGuard(wall=lambda: wrong, boot_id="boot-2", require_check=True)
            hold = ClockHold(outbox, guard)
            async with Uplink(outbox, url, token, SITE, "b1", clock_guard=guard) as up:
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    if guard.observation is not None:
                        break
                assert guard.state() == "unset"
                hold.release()
                await asyncio.sleep(0.3)
                assert up.stats()["sent"]["records"]["readings"] == 0
            summary = held_summary(outbox._db)["readings"]
            assert summary == {"waiting": 0, "unprovable": 5, "points": 5}
            assert outbox.quarantined() == []
            assert outbox.backlog()["readings"].records == 0

    asyncio.run(after_reboot())
    assert _api_rows(db, "SELECT count(*) FROM series WHERE device = 'm-old'") == [(0,)]
    out = io.StringIO()
    assert print_status(load_site(site_file), as_json=False, out=out) == 0
    assert "held for the clock: 5 readings records that cannot be re-stamped" in out.getvalue()


def test_a_record_the_api_refuses_for_its_timestamp_is_held_not_dead_lettered(
    api, tmp_path: Path
) -> None:
    """A 1970 record already in the lane (stamped before this version, or before the
    clock was checked) is refused by the API: it is a clock problem, not bad data."""
    url, token, _db, _edge = api

    async def main() -> None:
        with Outbox(tmp_path / "o.db") as outbox:
            now = time.time()
            outbox.append_samples(
                [
                    Sample(now, "m-ok", [Reading(now, "m-ok", "p", 1.0, "V")]),
                    Sample(86_400.0, "m-1970", [Reading(86_400.0, "m-1970", "p", 1.0, "V")]),
                    Sample(now, "m-ok", [Reading(now, "m-ok", "p", 2.0, "V")]),
                ]
            )
            async with Uplink(outbox, url, token, SITE, "b1", max_age=0.0) as up:
                assert await up.drain(10)
                assert up.stats()["held_for_clock"] == 1
            assert outbox.quarantined() == []
            assert held_summary(outbox._db)["readings"]["unprovable"] == 1

    asyncio.run(main())


def test_the_clock_hold_is_bounded_oldest_readings_dropped_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="steward.edge")
    wrong = 86_400.0
    with Outbox(tmp_path / "o.db") as outbox:
        hold = ClockHold(outbox, ClockGuard(wall=lambda: wrong), max_held_bytes=10_000)
        one = Sample(wrong, "m", [Reading(wrong, "m", "p", 1.0, "V")])
        size = len(orjson.dumps(one.wire()))
        for _ in range(100):
            hold.append_sample(one)
        summary = held_summary(outbox._db)["readings"]
        # By hand: kept at most 10,000 bytes of records of `size` bytes each.
        assert summary["waiting"] * size <= 10_000
        dropped = outbox.drops()["readings"]["clock_held_full"]
        assert dropped + summary["waiting"] == 100
        assert any("clock hold full" in r.message for r in caplog.records)
        assert outbox.backlog()["readings"].wire()["drops"] == {"clock_held_full": dropped}
