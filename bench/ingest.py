"""Ingest throughput: points/s straight into the SQLite store, and through POST /v1/ingest.

    python bench/ingest.py [--points 1000000] [--clients 1]

Batches look like an edge's backlog being drained: 5,000 points each, 250 records of 20
points from 50 devices (35 meters, 15 HVAC units), one poll a minute, so a batch covers
5 minutes; bodies are gzip'd at level 1, as the edge's uplink sends them.

(a) direct: SqliteStore.ingest of each validated batch; only the store call is timed.
(b) API: `steward-api serve` in its own process on a fresh file; the client posts the
    prepared bodies back to back over one keep-alive connection and waits for each
    answer, as an edge's uplink does (one batch in flight per lane). With --clients N,
    N edges do so at once, each with its own token and seq numbers.

Each run starts from a fresh database file. The output gives both rates, their ratio,
and the CPU the server and the client used.
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil
from processes import free_port, serve_api
from pydantic import TypeAdapter

from cloud_api.auth import hash_token, new_token
from cloud_api.cli import tune_gc_for_ingest
from cloud_api.store.base import EdgeIdentity
from cloud_api.store.sqlite import SqliteStore
from edge.model import IngestBatch

RECORDS_PER_BATCH = 250
POINTS_PER_RECORD = 20
DEVICES = 50
METERS = 35
POLL_S = 60.0
T0 = 1_735_689_600.0  # 2025-01-01T00:00:00Z

METER_POINTS = [
    ("energy_import_kwh", "kWh", "counter"),
    ("energy_export_kwh", "kWh", "counter"),
    ("reactive_energy_kvarh", "kvarh", "counter"),
    *[(f"voltage_l{i}", "V", "gauge") for i in (1, 2, 3)],
    *[(f"current_l{i}", "A", "gauge") for i in (1, 2, 3)],
    *[(f"power_l{i}_kw", "kW", "gauge") for i in (1, 2, 3)],
    ("power_kw", "kW", "gauge"),
    ("reactive_power_kvar", "kvar", "gauge"),
    ("apparent_power_kva", "kVA", "gauge"),
    ("power_factor", "", "gauge"),
    ("frequency_hz", "Hz", "gauge"),
    ("demand_kw", "kW", "gauge"),
    ("thd_voltage_pct", "%", "gauge"),
    ("thd_current_pct", "%", "gauge"),
]
HVAC_POINTS = [
    ("zone_temp_c", "C", "gauge"),
    ("setpoint_c", "C", "gauge"),
    ("supply_air_temp_c", "C", "gauge"),
    ("return_air_temp_c", "C", "gauge"),
    ("humidity_pct", "%", "gauge"),
    ("co2_ppm", "ppm", "gauge"),
    ("fan_speed_pct", "%", "gauge"),
    ("valve_position_pct", "%", "gauge"),
    ("compressor_kw", "kW", "gauge"),
    ("fan_kw", "kW", "gauge"),
    ("run_hours", "h", "counter"),
    ("energy_kwh", "kWh", "counter"),
    ("outdoor_temp_c", "C", "gauge"),
    ("filter_dp_pa", "Pa", "gauge"),
    ("chw_supply_c", "C", "gauge"),
    ("chw_return_c", "C", "gauge"),
    ("mode", "", "gauge"),
    ("occupancy", "", "gauge"),
    ("alarm_count", "", "gauge"),
    ("cooling_demand_pct", "%", "gauge"),
]
assert len(METER_POINTS) == len(HVAC_POINTS) == POINTS_PER_RECORD


def make_batches(points: int, site: str, building: str, seed: int) -> list[bytes]:
    """gzip'd IngestBatch bodies with consecutive seq numbers from 1."""
    rng = random.Random(seed)
    registers = [rng.uniform(1e4, 1e6) for _ in range(DEVICES)]
    bodies = []
    seq = 0
    for n in range(math.ceil(points / (RECORDS_PER_BATCH * POINTS_PER_RECORD))):
        records = []
        for r in range(RECORDS_PER_BATCH):
            device = r % DEVICES
            poll = n * (RECORDS_PER_BATCH // DEVICES) + r // DEVICES
            ts = T0 + poll * POLL_S + device * 0.02  # devices polled one after another
            meter = device < METERS
            registers[device] += rng.uniform(0.1, 5.0)
            seq += 1
            points_of = METER_POINTS if meter else HVAC_POINTS
            records.append(
                {
                    "seq": seq,
                    "ts": round(ts, 3),
                    "device": f"{'meter' if meter else 'ahu'}-{device:02d}",
                    "tags": {"kind": "meter" if meter else "hvac"},
                    "points": [
                        {
                            "point": name,
                            "unit": unit,
                            "kind": kind,
                            "quality": "good",
                            "value": round(
                                registers[device] * (i + 1)
                                if kind == "counter"
                                else rng.uniform(0.0, 400.0),
                                3,
                            ),
                        }
                        for i, (name, unit, kind) in enumerate(points_of)
                    ],
                }
            )
        batch = {
            "site": site,
            "building": building,
            "lane": "readings",
            "backlog": {"readings": {"records": 0}},
            "records": records,
        }
        bodies.append(gzip.compress(orjson.dumps(batch), 1, mtime=0))
    return bodies


@dataclass
class Rate:
    points: int
    seconds: float
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def per_second(self) -> float:
        return self.points / self.seconds


def direct(bodies: list[bytes], db: Path) -> Rate:
    tune_gc_for_ingest()  # as `steward-api serve` does: compare like with like
    adapter: TypeAdapter = TypeAdapter(IngestBatch)
    store = SqliteStore(db)
    edge = EdgeIdentity("bench-edge-0", "bench")
    busy = 0.0
    points = 0
    try:
        for body in bodies:
            batch = adapter.validate_json(gzip.decompress(body))  # not timed: the store is
            started = time.perf_counter()
            outcome = store.ingest(edge, batch, time.time())
            busy += time.perf_counter() - started
            points += outcome.points
    finally:
        store.close()
    return Rate(points, busy)


def through_api(per_client: list[list[bytes]], db: Path, log: Path) -> Rate:
    store = SqliteStore(db)
    tokens = []
    for i in range(len(per_client)):
        token = new_token()
        store.add_edge(EdgeIdentity(f"bench-edge-{i}", "bench"), hash_token(token))
        tokens.append(token)
    store.close()
    port = free_port()
    log.unlink(missing_ok=True)  # the run's log alone (serve_api appends)
    server = serve_api(db, port, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server)
        server_ps = psutil.Process(server.pid)
        me = psutil.Process()
        clients = [
            httpx.Client(
                base_url=url,
                timeout=120,
                headers={
                    "Authorization": f"Bearer {t}",
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                },
            )
            for t in tokens
        ]
        for client in clients:
            client.get("/healthz")  # open the connection before timing
        points = [0] * len(clients)
        failures: list[str] = []

        def send(i: int) -> None:
            for body in per_client[i]:
                answer = clients[i].post("/v1/ingest", content=body)
                if answer.status_code != 200:
                    failures.append(f"HTTP {answer.status_code}: {answer.text[:300]}")
                    return
                points[i] += answer.json()["accepted"] * POINTS_PER_RECORD

        server_cpu0, client_cpu0 = sum(server_ps.cpu_times()[:2]), sum(me.cpu_times()[:2])
        started = time.perf_counter()
        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        server_cpu = sum(server_ps.cpu_times()[:2]) - server_cpu0
        client_cpu = sum(me.cpu_times()[:2]) - client_cpu0
        busy = _metric(clients[0].get("/metrics").text, "steward_ingest_busy_seconds_total")
        batches = sum(len(bodies) for bodies in per_client)
        print(f"  (server busy in ingest {busy / batches * 1000:.1f} ms/batch)")
        for client in clients:
            client.close()
        if failures:
            raise SystemExit(f"the API refused a batch: {failures[0]}")
        return Rate(sum(points), seconds, server_cpu / seconds, client_cpu / seconds)
    finally:
        server.terminate()
        server.wait(30)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"steward-api serve exited with {server.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"steward-api serve did not answer at {url} within {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points per run")
    parser.add_argument("--clients", type=int, default=1, help="edges posting at once")
    parser.add_argument("--keep", type=Path, help="keep the database files in this folder")
    args = parser.parse_args()

    per_client_points = args.points // args.clients
    # each client is one building's edge: its own devices, seq numbers and token
    per_client = [
        make_batches(per_client_points, "bench", f"building-{i}", seed=i)
        for i in range(args.clients)
    ]
    sizes = [len(b) for bodies in per_client for b in bodies]
    batch_points = RECORDS_PER_BATCH * POINTS_PER_RECORD
    print(
        f"{len(sizes)} batches of {batch_points:,} points ({RECORDS_PER_BATCH} records x "
        f"{POINTS_PER_RECORD} points, {DEVICES} devices), gzip bodies of "
        f"{sum(sizes) / len(sizes) / 1024:.0f} KiB on average"
    )

    folder = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    try:
        straight = direct(per_client[0], folder / "direct.sqlite")
        print(
            f"direct SqliteStore.ingest : {straight.points:>10,} points in "
            f"{straight.seconds:6.2f} s = {straight.per_second:>9,.0f} points/s"
        )
        api = through_api(per_client, folder / "api.sqlite", folder / "api.log")
        who = f"{args.clients} client{'s' if args.clients > 1 else ''}"
        print(
            f"POST /v1/ingest ({who:>9}): {api.points:>10,} points in {api.seconds:6.2f} s"
            f" = {api.per_second:>9,.0f} points/s   server CPU {api.server_cpu:.0%} of a"
            f" core, client {api.client_cpu:.0%}"
        )
        ratio = api.per_second / straight.per_second
        print(f"API / direct              : {ratio:.2f}")
        print(
            f"targets: API >= 100,000 points/s {'met' if api.per_second >= 1e5 else 'MISSED'};"
            f" API/direct >= 0.5 {'met' if ratio >= 0.5 else 'MISSED'}"
        )
    finally:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for f in folder.iterdir():
                shutil.move(str(f), args.keep / f.name)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
