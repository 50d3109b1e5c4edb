"""Exactly once, end to end: a real edge process, the real central API, kill -9 on both sides.

The API runs as `python -m cloud_api.cli serve` on a free port with its own SQLite file;
edges are registered with `steward-api edges add`. What arrived is read from the API's
store file: every sample carries a unique "uid" point, so a duplicate shows up as two
rows and a loss as none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from servers import free_port, spawn, stop, wait_for_port

from edge.model import Quality, Reading, Sample
from edge.outbox import Outbox
from edge.uplink import Uplink

CHILD = Path(__file__).with_name("delivery_child.py")
SITE, BUILDING = "crash-site", "crash-building"  # what delivery_child.py sends as
CYCLE = 10  # samples per append in delivery_child.py

pytestmark = pytest.mark.slow


@dataclass
class Api:
    url: str
    port: int
    db: Path
    log: Path
    proc: subprocess.Popen

    def start(self) -> None:
        self.proc = spawn(_serve_args(self.port, self.db), self.log)
        wait_for_port(self.port, 30, self.proc)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def register(self, name: str, site: str = SITE, building: str | None = BUILDING) -> str:
        """`steward-api edges add`: the new edge's token."""
        args = [sys.executable, "-m", "cloud_api.cli", "edges", "add", name, "--site", site]
        args += ["--db", str(self.db)]
        args += ["--building", building] if building else ["--any-building"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
        return done.stdout.strip()

    def uids(self, site: str = SITE) -> list[int]:
        """The uid point of every sample the API stored for the site, duplicates included."""
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            rows = db.execute(
                "SELECT s.value FROM samples s JOIN series r ON r.id = s.series_id "
                "WHERE r.site = ? AND r.point = 'uid'",
                (site,),
            ).fetchall()
        return [int(v) for (v,) in rows]

    def cursor(self, edge: str, lane: str) -> tuple[int, int, int]:
        """(acked, dropped_at_edge, duplicates) as the API keeps them for an edge's lane:
        the highest acked of its streams (one per process that appended to the outbox,
        numbering on from the one before), drops and duplicates summed over them."""
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            row = db.execute(
                "SELECT max(acked), sum(dropped_at_edge), sum(duplicates) FROM cursors "
                "WHERE edge = ? AND lane = ?",
                (edge, lane),
            ).fetchone()
        return row if row[0] is not None else (0, 0, 0)

    def event_messages(self, edge: str) -> list[str]:
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            rows = db.execute("SELECT message FROM events WHERE edge = ?", (edge,)).fetchall()
        return [m for (m,) in rows]


def _serve_args(port: int, db: Path) -> list[str]:
    return [sys.executable, "-m", "cloud_api.cli", "serve", "--port", str(port), "--db", str(db),
            "--no-access-log", "--log-level", "warning"]  # fmt: skip


@contextlib.contextmanager
def central_api(directory: Path) -> Iterator[Api]:
    port = free_port()
    api = Api(f"http://127.0.0.1:{port}", port, directory / "api.sqlite", directory / "api.log",
              None)  # type: ignore[arg-type]  # fmt: skip
    api.start()
    try:
        yield api
    finally:
        stop(api.proc)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with central_api(tmp_path_factory.mktemp("api")) as running:
        yield running


def uid_value(uid: str) -> int:
    """delivery_child.py's "RUN-I" uid as the number its uid point carries."""
    run, i = uid.split("-")
    return int(run) * 1_000_000 + int(i)


def child(*args: str, out: Path, err: Path) -> subprocess.Popen:
    with out.open("ab") as stdout, err.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-u", str(CHILD), *args],
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )


def drain(outbox: Path, api: Api, token: str, tmp_path: Path) -> dict:
    """Run the edge in drain mode to the end; its final stats."""
    out = tmp_path / "drain.out"
    proc = child("drain", str(outbox), api.url, token, out=out, err=tmp_path / "drain.err")
    assert proc.wait(90) == 0, (tmp_path / "drain.err").read_text()[-3000:]
    stats = orjson.loads(out.read_text().splitlines()[-1])
    assert stats["drained"], stats
    return stats


def fill(path: Path, samples: int) -> None:
    """An outbox holding `samples` samples with uid points 0..samples-1 (run 0)."""
    ts = 1_780_000_000.0
    with Outbox(path) as outbox:
        outbox.append_samples(
            Sample(
                ts + i * 0.001,
                "crash-meter",
                [Reading(ts, "crash-meter", "uid", i, "")]
                + [Reading(ts, "crash-meter", f"p{j}", 1.0 * j, "kW") for j in range(4)],
            )
            for i in range(samples)
        )


def test_edge_killed_5_times_delivers_every_committed_sample_exactly_once(
    api: Api, tmp_path: Path
) -> None:
    token = api.register("crash-edge")
    outbox = tmp_path / "outbox.db"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    printed: list[str] = []
    for run in range(5):
        out = tmp_path / f"run{run}.out"
        proc = child("edge", str(outbox), str(run), api.url, token, out=out,
                     err=tmp_path / "edge.err")  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while out.stat().st_size == 0:
                assert proc.poll() is None, (tmp_path / "edge.err").read_text()[-3000:]
                assert time.monotonic() < deadline, "the edge never committed a sample"
                time.sleep(0.01)
            time.sleep(rng.uniform(0.1, 1.5))  # appending at 4000 points/s, sending
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        printed += out.read_text().split()

    stats = drain(outbox, api, token, tmp_path)
    note = f"(random seed {seed})"
    arrived = Counter(api.uids())
    doubled = [uid for uid, n in arrived.items() if n > 1]
    assert not doubled, f"stored more than once: {doubled[:10]} {note}"
    committed = {uid_value(u) for u in printed}
    missing = committed - set(arrived)
    assert not missing, f"committed but never arrived: {sorted(missing)[:10]} {note}"
    # Committed but killed before it could print: at most one poll cycle per kill.
    assert len(set(arrived) - committed) <= 5 * CYCLE, note
    with Outbox(outbox) as box:
        last_readings = box.last_assigned_seq("readings")
        last_events = box.last_assigned_seq("events")
        assert box.backlog()["readings"].records == 0
    assert len(arrived) == last_readings  # every record the outbox ever numbered, once
    acked, dropped, _duplicates = api.cursor("crash-edge", "readings")
    assert (acked, dropped) == (last_readings, 0)
    messages = api.event_messages("crash-edge")
    assert len(messages) == len(set(messages)) == last_events
    print(
        f"crash test {note}: {len(committed)} samples committed over 5 kills, "
        f"{len(arrived)} arrived once each; the final drain replayed "
        f"{stats['sent']['duplicates']} records the API already had"
    )


def test_kill_between_send_and_ack_replays_without_duplicates(api: Api, tmp_path: Path) -> None:
    token = api.register("ack-edge", site="ack-site", building=None)
    outbox = tmp_path / "outbox.db"
    fill(outbox, 1000)
    out, err = tmp_path / "die.out", tmp_path / "die.err"
    # delivery_child.py sends as crash-site; this edge may write only ack-site.
    env_site = {"DELIVERY_CHILD_SITE": "ack-site"}
    proc = subprocess.Popen(
        [sys.executable, "-u", str(CHILD), "die-before-ack", str(outbox), api.url, token, "3"],
        stdout=out.open("ab"),
        stderr=err.open("ab"),
        start_new_session=True,
        env={**os.environ, **env_site},
    )
    assert proc.wait(60) == -signal.SIGKILL, err.read_text()[-3000:]
    assert "dying before ack of readings 600" in out.read_text()
    with Outbox(outbox) as box:
        # The API stored seq 401..600, the edge died before deleting them: it still has them.
        assert box.backlog()["readings"].first_seq == 401
    assert api.cursor("ack-edge", "readings")[0] == 600

    env = {**os.environ, **env_site}
    done = subprocess.run(
        [sys.executable, "-u", str(CHILD), "drain", str(outbox), api.url, token],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    stats = orjson.loads(done.stdout.splitlines()[-1])
    assert stats["drained"]
    assert stats["sent"]["duplicates"] == 200  # the replayed batch, answered 409
    assert stats["errors_total"] == 0
    arrived = Counter(api.uids("ack-site"))
    assert sorted(arrived) == list(range(1000))
    assert set(arrived.values()) == {1}
    acked, dropped, duplicates = api.cursor("ack-edge", "readings")
    assert (acked, dropped, duplicates) == (1000, 0, 200)


def test_api_killed_mid_drain_and_restarted_loses_and_doubles_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.uplink")
    with central_api(tmp_path) as api:
        token = api.register("api-kill-edge")
        path = tmp_path / "outbox.db"
        fill(path, 20_000)

        async def main() -> dict:
            with Outbox(path) as outbox:
                uplink = Uplink(outbox, api.url, token, SITE, BUILDING, max_records=500,
                                backoff_initial=0.05, backoff_max=0.3)  # fmt: skip
                async with uplink:
                    while outbox.backlog()["readings"].records > 12_000:
                        await asyncio.sleep(0.01)
                    api.kill()  # mid-drain, probably mid-request
                    await asyncio.sleep(0.5)
                    assert outbox.backlog()["readings"].records > 0
                    await asyncio.to_thread(api.start)
                    assert await uplink.drain(60)
                    return uplink.stats()

        stats = asyncio.run(main())
        arrived = Counter(api.uids())
        assert sorted(arrived) == list(range(20_000))
        assert set(arrived.values()) == {1}
        assert stats["errors"].get("network", 0) >= 1
        assert api.cursor("api-kill-edge", "readings")[:2] == (20_000, 0)
    assert "cannot reach" in caplog.text


def test_real_api_refusals_wrong_token_and_poison_record(
    api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="edge.uplink")
    token = api.register("poison-edge", site="poison-site", building="b1")
    path = tmp_path / "outbox.db"
    ts = time.time()

    def sample(i: int, value: float | None) -> Sample:
        readings = [Reading(ts, "m", "uid", i, ""), Reading(ts, "m", "power", value, "kW")]
        return Sample(ts + i * 0.001, "poison-meter", readings)

    async def send(token: str, building: str = "b1") -> dict:
        with Outbox(path) as outbox:
            async with Uplink(outbox, api.url, token, "poison-site", building,
                              config_error_backoff=30) as uplink:  # fmt: skip
                await uplink.drain(1.0)
                return uplink.stats()

    with Outbox(path) as outbox:
        # A "good" reading without a value: the API refuses it with 422.
        outbox.append_samples(sample(i, None if i == 7 else 1.5 * i) for i in range(20))
    stats = asyncio.run(send("not-the-token"))
    assert stats["errors"] == {"auth": 1}
    assert "refused this edge's token (HTTP 401" in caplog.text
    stats = asyncio.run(send(token, building="b2"))
    assert stats["errors"]["forbidden"] == 1
    assert "may only write building b1" in caplog.text
    with Outbox(path) as outbox:
        assert outbox.backlog()["readings"].records == 20  # nothing lost to bad settings

    stats = asyncio.run(send(token))
    assert stats["quarantined"] == 1
    with Outbox(path) as outbox:
        [dead] = outbox.quarantined()
        assert outbox.backlog()["readings"].records == 0
    assert dead["seq"] == 8
    assert dead["reason"].startswith("HTTP 422: records[0]")
    assert "points[1] (power): a good reading needs a value" in dead["reason"]
    assert "a good reading needs a value" in dead["reason"]
    assert sorted(api.uids("poison-site")) == [i for i in range(20) if i != 7]
    assert api.cursor("poison-edge", "readings")[:2] == (20, 1)  # the API saw the gap
    assert "quarantined readings record seq 8" in caplog.text
    assert orjson.loads(dead["body"])["points"][1] == {
        "point": "power",
        "value": None,
        "unit": "kW",
        "kind": "gauge",
        "quality": Quality.GOOD.value,
    }
