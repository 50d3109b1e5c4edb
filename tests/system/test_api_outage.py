"""Issue 3's outage test: while the edge polls 50 simulated meters, the central API is
killed (kill -9) for 30 s and restarted. Afterwards every series holds exactly one reading
per poll the edge made: no duplicates, no gaps, checked through the API."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict

import httpx
import pytest
from acq_helpers import mixed_fleet, write_site
from central import add_edge, add_user, start_api
from servers import free_port, stop
from sim_thread import SimulatorThread

OUTAGE_S = 30.0


def wait_until_caught_up(port: int, viewer: str, timeout: float) -> None:
    """Until the edge reports (with a batch sent after the restart) a near-empty backlog."""
    deadline = time.monotonic() + timeout
    since = time.time()
    while time.monotonic() < deadline:
        try:
            edges = httpx.get(
                f"http://127.0.0.1:{port}/v1/edges",
                headers={"Authorization": f"Bearer {viewer}"},
                timeout=5,
            ).json()["edges"]
        except httpx.HTTPError:
            edges = []
        for e in edges:
            readings = e["backlog"].get("readings")
            if readings and readings["reported_at"] > since and readings["records"] < 100:
                return
        time.sleep(0.5)
    raise AssertionError(f"the edge did not catch up within {timeout:g} s of the API restart")


def all_raw(client: httpx.Client, series_id: int) -> list[dict]:
    rows, url = [], f"/v1/series/{series_id}/data?limit=100000"
    while url:
        body = client.get(url).json()
        rows += body["points"]
        url = body["next"]
    return rows


@pytest.mark.slow
def test_api_killed_for_30_s_loses_and_doubles_nothing(tmp_path):
    db = tmp_path / "central.sqlite"
    api_port = free_port()
    token = add_edge(db)
    viewer = add_user(db, "vera", "viewer")
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet) as sim:
        api = start_api(db, api_port, tmp_path / "api.log")
        site = write_site(
            tmp_path / "site.yaml",
            sim.port,
            timeout="500ms",
            max_connections=4,
            extra=[
                "outbox: {path: outbox.sqlite}",
                f"uplink: {{url: 'http://127.0.0.1:{api_port}', token: '{token}', max_age: 1s}}",
            ],
        )
        edge = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", str(site), "--stdout"],
            stdout=subprocess.PIPE,
            stderr=open(tmp_path / "edge.log", "wb"),  # noqa: SIM115
        )
        polled: dict[tuple[str, str], list[float]] = defaultdict(list)

        def read_stdout() -> None:
            for line in edge.stdout:
                r = json.loads(line)
                polled[(r["device"], r["point"])].append(r["ts"])

        reader = threading.Thread(target=read_stdout, daemon=True)
        reader.start()
        try:
            time.sleep(8)
            stop(api, signal.SIGKILL)  # the central API dies without a word
            killed_at = time.time()
            time.sleep(OUTAGE_S)
            api = start_api(db, api_port, tmp_path / "api.log")
            restarted_at = time.monotonic()
            wait_until_caught_up(api_port, viewer, timeout=90)
            catch_up_s = time.monotonic() - restarted_at
            edge.send_signal(signal.SIGTERM)  # a clean stop flushes what is left
            assert edge.wait(60) == 0
            reader.join(10)

            with httpx.Client(
                base_url=f"http://127.0.0.1:{api_port}",
                headers={"Authorization": f"Bearer {viewer}"},
                timeout=30,
            ) as client:
                catalogue = client.get("/v1/series").json()["series"]
                edges = client.get("/v1/edges").json()["edges"]
                assert len(catalogue) == len(polled)
                during_outage = 0
                for s in catalogue:
                    stored = [row["ts"] for row in all_raw(client, s["id"])]
                    made = polled[(s["device"], s["point"])]
                    assert len(stored) == len(set(stored)), (
                        f"duplicates in {s['device']}.{s['point']}"
                    )
                    assert sorted(stored) == sorted(made), (
                        f"{s['device']}.{s['point']}: {len(made)} polls made, {len(stored)} stored"
                    )
                    during_outage += sum(killed_at < t < killed_at + OUTAGE_S for t in made)
        finally:
            if edge.poll() is None:
                edge.kill()
            stop(api)
    # The outage was real: polls kept happening while the API was down and arrived later.
    assert during_outage > 25 * 50 * 10
    print(f"backlog of a {OUTAGE_S:g} s outage delivered {catch_up_s:.1f} s after the restart")
    lanes = next(e for e in edges if e["name"] == "edge-a")["lanes"]
    assert lanes["readings"]["dropped_at_edge"] == 0
