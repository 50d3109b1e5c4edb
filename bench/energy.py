"""Energy: the ledger's throughput, and how fast the API answers budgets and energy figures
over 10 buildings x 1 year of 15-minute data.

    python bench/energy.py [--buildings 10] [--days 365] [--requests 300] [--keep]

The data (bench/energy_data.py): per building a main meter and three sub-meters (hvac,
lighting-sockets, power), counters `energy_import` in kWh every 15 minutes with the
simulators' office load, and an outdoor temperature gauge in the first three buildings.
The year ends now (the API answers at its wall clock), so a budget's status without `at`
is this month's.

1. Ledger: edge.energy.feed over every counter series' readings (a year each, one call
   per series, the store's rules for kWh), in this process, one core. Informative: the
   same plus spread() into 15-minute buckets, as the store does.
2. Load: the readings written with SqliteStore.ingest (gzip'd wire batches of ~5,000
   records, validated as the API does, one edge per building), then the file's size.
3. The API (`python -m cloud_api.cli serve`, its own process, the energy configuration
   via STEWARD_API_ENERGY_CONFIG, the budget evaluator off so that nothing fits models
   behind the requests' back). An energy manager PUTs four monthly budgets per building
   (whole building kWh, hvac kWh, lighting-sockets cost, power kgce) and an HVAC contract
   for the first building; a viewer then asks, one request at a time over one keep-alive
   connection:
   - GET /v1/budgets/{id}/status, `--requests` times over the budgets in a shuffled
     order. The first request of a budget is *cold*: it fits the budget's baseline model
     on the year before the month (the API keeps fits for 10 minutes); later ones are
     *warm*. Target p99 < 200 ms, checked for cold and warm separately;
   - GET /v1/energy?site&building&from&to&step=day for the last year of whole local days,
     `--requests` times round the buildings; target p99 < 100 ms. The first answer is
     checked against the kWh generated;
   - GET /v1/contracts/{id}/savings and GET /v1/dual-control once each (informative).
Times are wall time at the client, request sent to answer read. Exit status 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np
import psutil
from energy_data import SITE, Fleet, generate, load_store, local_ordinal, write_energy_config
from energy_report import COLD, WARM, report
from processes import api_cli, free_port, serve_api, stop, wait_for_port

from cloud_api.store.sqlite_series import SeriesLimits
from edge.energy import CounterState, Entries, feed, spread

# ---------------------------------------------------------------- 1. the ledger


def ledger_throughput(fleet: Fleet) -> dict:
    rules = SeriesLimits().counter_rules("kWh", None)
    series = []
    for b in fleet.buildings:
        for m in b.meters:
            ts, values = m.readings(fleet.grid)
            series.append(list(zip(ts.tolist(), values.tolist(), strict=True)))
    n = sum(len(s) for s in series)
    gc.collect()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    results = [feed(CounterState(), s, rules) for s in series]
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    marks = sum(len(e.marks) for e in results)
    bookings = sum(len(e.bookings) for e in results)
    del results
    gc.collect()
    t0 = time.perf_counter()
    for s in series:
        entries: Entries = feed(CounterState(), s, rules)
        spread(entries, 900)
    with_spread = time.perf_counter() - t0
    return {
        "series": len(series),
        "readings": n,
        "seconds": wall,
        "cpu": cpu,
        "per_s": n / wall,
        "bookings": bookings,
        "marks": marks,
        "spread_per_s": n / with_spread,
    }


# ---------------------------------------------------------------- 3. the API


def month_estimate(fleet: Fleet, b: int, device: str, today: date) -> float:
    """kWh of a meter over the last 28 whole days, scaled to this month's length."""
    meter = next(m for m in fleet.buildings[b].meters if m.device == device)
    day = local_ordinal(fleet.grid[:-1] + 450)
    recent = (day >= today.toordinal() - 28) & (day < today.toordinal())
    first = today.replace(day=1)
    days = ((first + timedelta(days=32)).replace(day=1) - first).days
    return float(meter.kwh[recent].sum()) / 28 * days


def put_budgets(client: httpx.Client, fleet: Fleet, today: date, seed: int) -> list[str]:
    """Four monthly budgets per building, amounts 95-125 % of the recent use (a mix of
    colours). Cost and kgce amounts use round rates (0.6 CNY, 0.1229 kgce per kWh)."""
    rng = random.Random(seed)
    ids = []
    kinds = [
        ("main", {}, "kWh", 1.0),
        ("hvac", {"system": "hvac"}, "kWh", 1.0),
        ("lighting-sockets", {"system": "lighting-sockets"}, "cost", 0.6),
        ("power", {"system": "power"}, "kgce", 0.1229),
    ]
    for b, building in enumerate(fleet.buildings):
        for device, meters, unit, rate in kinds:
            amount = month_estimate(fleet, b, device, today) * rate * rng.uniform(0.95, 1.25)
            budget_id = f"{building.name}-{device}"
            body = {
                "name": f"{building.name} {device} per month",
                "site": SITE,
                "building": building.name,
                "meters": meters,
                "period": "month",
                "amount": round(amount, 1),
                "unit": unit,
            }
            r = client.put(f"/v1/budgets/{budget_id}", json=body)
            if r.status_code != 200:
                raise SystemExit(f"PUT /v1/budgets/{budget_id}: {r.status_code} {r.text[:300]}")
            ids.append(budget_id)
    return ids


def put_contract(client: httpx.Client, fleet: Fleet) -> str | None:
    building = next((b for b in fleet.buildings if b.contract), None)
    if building is None or (fleet.retrofit - fleet.first_day).days < 28:
        return None
    contract_id = f"{building.name}-hvac-contract"
    body = {
        "name": "HVAC energy contract (中央空调能源托管), bench",
        "contractor": "bench",
        "site": SITE,
        "building": building.name,
        "meters": {"system": "hvac"},
        "baseline": {"from": fleet.first_day.isoformat(), "to": fleet.retrofit.isoformat()},
        "reporting": {"from": fleet.retrofit.isoformat()},
    }
    r = client.put(f"/v1/contracts/{contract_id}", json=body)
    if r.status_code != 200:
        raise SystemExit(f"PUT /v1/contracts/{contract_id}: {r.status_code} {r.text[:300]}")
    return contract_id


def timed_get(client: httpx.Client, url: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.get(url)
    seconds = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"GET {url}: {r.status_code} {r.text[:300]}")
    return seconds, r.json()


def measure_status(
    client: httpx.Client, server: psutil.Process, budgets: list[str], n: int, seed: int
) -> dict:
    plan = [budgets[i % len(budgets)] for i in range(max(n, len(budgets)))]
    random.Random(seed).shuffle(plan)
    times: dict[str, list[float]] = {COLD: [], WARM: []}
    cpu = {COLD: 0.0, WARM: 0.0}  # the server's, user + system
    first: dict[str, dict] = {}
    for budget_id in plan:
        cpu0 = sum(server.cpu_times()[:2])
        seconds, body = timed_get(client, f"/v1/budgets/{budget_id}/status")
        kind = WARM if budget_id in first else COLD
        cpu[kind] += sum(server.cpu_times()[:2]) - cpu0
        times[kind].append(seconds)
        first.setdefault(budget_id, body)
    return {
        "times": {k: sorted(v) for k, v in times.items()},
        "requests": len(plan),
        "server_cpu": {k: cpu[k] / max(1, len(times[k])) for k in cpu},
        "first": first,
    }


def measure_energy(
    client: httpx.Client, server: psutil.Process, fleet: Fleet, today: date, n: int
) -> dict:
    first_day = max(fleet.first_day, today - timedelta(days=365))
    times = []
    checked = None
    cpu0 = sum(server.cpu_times()[:2])
    for i in range(max(n, 1)):
        b = fleet.buildings[i % len(fleet.buildings)]
        url = f"/v1/energy?site={SITE}&building={b.name}&from={first_day}&to={today}&step=day"
        seconds, body = timed_get(client, url)
        times.append(seconds)
        if checked is None:
            checked = check_energy(fleet, b, first_day, today, body)
    cpu = sum(server.cpu_times()[:2]) - cpu0
    return {
        "times": sorted(times),
        "days": (today - first_day).days,
        "from": first_day,
        "check": checked,
        "server_cpu_per_request": cpu / len(times),
    }


def check_energy(fleet: Fleet, building, first: date, to: date, body: dict) -> str:
    """The API's year total against the kWh generated for those local days."""
    main = next(m for m in building.meters if m.device == "main")
    day = local_ordinal(fleet.grid[:-1] + 450)
    inside = (day >= first.toordinal()) & (day < to.toordinal())
    truth = float(main.kwh[inside].sum())
    got = body["total"]["kwh"]
    rows = len(body["rows"])
    off = (got - truth) / truth if truth else float("nan")
    cost = body["total"].get("cost")
    return (
        f"{building.name}: {rows} daily rows, {got:,.0f} kWh vs {truth:,.0f} generated"
        f" ({off:+.3%}), {body['total']['kgce']:,.0f} kgce, "
        + ("no cost" if cost is None else f"{cost:,.0f} {body.get('currency')}")
        + f", {len(body['factors'])} factor/tariff versions named"
    )


def run_api(work: Path, db: Path, fleet: Fleet, args) -> dict:
    config = work / "energy.yaml"
    write_energy_config(config, fleet)
    manager = api_cli(db, "users", "add", "bench-energy-manager", "--role", "energy_manager")
    viewer = api_cli(db, "users", "add", "bench-viewer", "--role", "viewer")
    port = free_port()
    env = {
        **os.environ,
        "STEWARD_API_ENERGY_CONFIG": str(config),
        "STEWARD_API_ENERGY_EVALUATE_SECONDS": "0",
    }
    server = serve_api(db, port, work / "api.log", env=env)
    url = f"http://127.0.0.1:{port}"
    out: dict = {"gauges": {b.name for b in fleet.buildings if b.temperature is not None}}
    try:
        wait_for_port(port, server)
        ps = psutil.Process(server.pid)
        today = date.fromordinal(int(local_ordinal(np.array([time.time()]))[0]))
        with httpx.Client(base_url=url, timeout=120) as setup:
            setup.headers["Authorization"] = f"Bearer {manager}"
            budgets = put_budgets(setup, fleet, today, args.seed)
            contract = put_contract(setup, fleet)
        with httpx.Client(base_url=url, timeout=120) as client:
            client.headers["Authorization"] = f"Bearer {viewer}"
            client.get("/v1/budgets").raise_for_status()  # the connection open, routes warm
            print(f"load average before the requests: {os.getloadavg()[0]:.2f}")
            out["status"] = measure_status(client, ps, budgets, args.requests, args.seed)
            out["budgets"] = len(budgets)
            out["energy"] = measure_energy(client, ps, fleet, today, args.requests)
            if contract is not None:
                out["savings"] = timed_get(client, f"/v1/contracts/{contract}/savings")
            b = fleet.buildings[0].name
            out["dual"] = timed_get(client, f"/v1/dual-control?site={SITE}&building={b}")
        out["rss_mb"] = ps.memory_info().rss / 1e6
    finally:
        stop(server)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--buildings", type=int, default=10)
    ap.add_argument("--days", type=int, default=365, help="of 15-minute data, ending now")
    ap.add_argument(
        "--requests", type=int, default=300, help="status requests, and energy requests"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--keep", action="store_true", help="keep the work folder (its path is printed)"
    )
    args = ap.parse_args()
    if args.buildings < 1 or args.days < 2 or args.requests < 1:
        ap.error("--buildings >= 1, --days >= 2, --requests >= 1")

    work = Path(tempfile.mkdtemp(prefix="bench-energy-"))
    load0 = os.getloadavg()
    print(
        f"energy bench: {args.buildings} buildings x {args.days} days of 15-minute data;"
        f" {os.cpu_count()} cores, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f};"
        f" work dir {work}"
    )
    try:
        t0 = time.perf_counter()
        fleet = generate(args.buildings, args.days, time.time(), args.seed)
        print(
            f"data: {fleet.counters} counters + "
            f"{sum(b.temperature is not None for b in fleet.buildings)} temperature gauges,"
            f" {fleet.readings:,} readings, {fleet.first_day} .. {fleet.last_day} (whole local"
            f" days), generated in {time.perf_counter() - t0:.1f} s"
        )

        led = ledger_throughput(fleet)
        print(
            f"ledger: edge.energy.feed over {led['series']} series, {led['readings']:,}"
            f" readings in {led['seconds']:.2f} s (CPU {led['cpu']:.2f} s) ="
            f" {led['per_s']:,.0f} readings/s; {led['bookings']:,} bookings,"
            f" {led['marks']} marks; with spread() into 15-min buckets"
            f" {led['spread_per_s']:,.0f} readings/s"
        )

        db = work / "central.sqlite"
        loaded = load_store(db, fleet)
        print(
            f"load: {loaded.readings:,} readings in {loaded.batches} batches in"
            f" {loaded.seconds:.1f} s ({loaded.store_seconds:.1f} s in SqliteStore.ingest,"
            f" {loaded.readings / loaded.store_seconds:,.0f} readings/s);"
            f" file {loaded.file_bytes / 1e6:,.0f} MB"
        )

        api = run_api(work, db, fleet, args)
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    return 0 if report(args, load0, led, loaded, api) else 1


if __name__ == "__main__":
    raise SystemExit(main())
