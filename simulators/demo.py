"""steward-sim demo: a simulated building, its edge agent and the central API, on loopback.

Three processes, as in production: the simulator (meters and HVAC zones over Modbus TCP),
the edge agent (polling, outbox, uplink) and the central API (SQLite store). The demo
registers the edge with the API, writes the site file, prints the URLs and a one-line
status every few seconds, and stops everything on Ctrl-C: the edge first, so what it
accepted stays in its outbox, then the simulator and the API.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SITE, BUILDING, EDGE = "demo-site", "tower-a", "demo-edge"

# A small office tower: the main incomer, floor and plant meters of every shipped model,
# and four HVAC zones.
DEVICES = [
    ("main-incomer", "chint/dtsu666", "1", {"system": "total", "floor": "B1"}),
    ("floor-{unit}", "chint/dtsu666", "2-7", {"system": "lighting-sockets"}),
    ("server-room-{unit}", "eastron/sdm630", "8-9", {"system": "it"}),
    ("canteen-{unit}", "chint/ddsu666", "10-11", {"system": "kitchen"}),
    ("lift-{unit}", "eastron/sdm120", "12-13", {"system": "lifts"}),
    ("chiller-plant", "schneider/iem3xxx", "14", {"system": "hvac"}),
    ("pump-room", "acrel/adw300", "15", {"system": "pumps"}),
    ("zone-{unit}", "steward/hvac-zone", "20-23", {"system": "hvac"}),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (60: an hour a minute)",
    )
    parser.add_argument("--api-port", type=int, default=8400)
    parser.add_argument("--modbus-port", type=int, default=5020)
    parser.add_argument("--interval", default="5s", help="poll interval of every device")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("var/demo"),
        help="where the demo keeps its files (site, store, outbox, logs)",
    )
    parser.add_argument("--fresh", action="store_true", help="start with an empty store and outbox")
    parser.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    parser.add_argument("--status-every", type=float, default=10.0)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_port(
    port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:g} s; see {log}")


def _register_edge(workdir: Path, db: Path) -> Path:
    """The edge's token, stored next to the site file (created once per store)."""
    token_file = workdir / "edge.token"
    if token_file.exists() and db.exists():
        return token_file
    for stale in [*workdir.glob("steward.sqlite*"), *workdir.glob("viewer.token")]:
        stale.unlink()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloud_api.cli",
            "edges",
            "add",
            EDGE,
            "--site",
            SITE,
            "--building",
            BUILDING,
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"could not register the demo edge: {out.stderr.strip()}")
    token_file.write_text(out.stdout.strip() + "\n")
    token_file.chmod(0o600)
    return token_file


def _add_viewer(workdir: Path, db: Path) -> str:
    """A viewer's token for reading the API (and the docs page), stored next to the edge's
    token (created once per store, like it)."""
    token_file = workdir / "viewer.token"
    if token_file.exists():
        return token_file.read_text().strip()
    out = subprocess.run(
        [
            *(sys.executable, "-m", "cloud_api.cli", "users", "add", "demo-viewer"),
            *("--role", "viewer", "--db", str(db)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"could not add the demo's viewer: {out.stderr.strip()}")
    token_file.write_text(out.stdout.strip() + "\n")
    token_file.chmod(0o600)
    return out.stdout.strip()


def _write_site(workdir: Path, modbus_port: int, api_port: int, interval: str) -> Path:
    lines = [
        "# Written by steward-sim demo; a real building's site file looks the same.",
        f"site: {SITE}",
        f"building: {BUILDING}",
        f"edge: {EDGE}",
        "buses:",
        f"  - {{id: gateway, tcp: {{host: 127.0.0.1, port: {modbus_port}, max_connections: 2}},"
        " timeout: 1s, backoff_cap: 30s}",
        "devices:",
    ]
    for dev_id, profile, units, tags in DEVICES:
        tag_text = ", ".join(f"{k}: {v}" for k, v in tags.items())
        lines.append(
            f"  - {{id: '{dev_id}', bus: gateway, profile: {profile}, units: '{units}', "
            f"interval: {interval}, tags: {{{tag_text}}}}}"
        )
    lines += [
        "outbox: {path: outbox.sqlite}",
        f"uplink: {{url: 'http://127.0.0.1:{api_port}', token_file: edge.token, max_age: 1s}}",
    ]
    site = workdir / "site.yaml"
    site.write_text("\n".join(lines) + "\n")
    return site


def _spawn(args: list[str], log: Path) -> subprocess.Popen:
    fh = open(log, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen, name: str, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        print(f"demo: {name} did not stop within {timeout:g} s; killing it", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _status(api: str, viewer: str) -> str:
    headers = {"Authorization": f"Bearer {viewer}"}
    try:
        edges = httpx.get(f"{api}/v1/edges", headers=headers, timeout=2).json()["edges"]
        count, url = 0, f"{api}/v1/series"
        while url:  # the catalogue comes in pages of at most 1,000
            page = httpx.get(url, headers=headers, timeout=5).json()
            count += len(page["series"])
            url = page["next"] and f"{api}{page['next']}"  # a path on the same API
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return f"API not answering ({exc.__class__.__name__})"
    edge = next((e for e in edges if e["name"] == EDGE), None)
    if edge is None or edge["last_seen"] is None:
        return f"{count} series; the edge has not reported yet"
    backlog = sum(b["records"] for b in edge["backlog"].values())
    acked = ", ".join(f"{lane} {lane_info['acked']}" for lane, lane_info in edge["lanes"].items())
    return (
        f"{count} series; edge last seen {time.time() - edge['last_seen']:.0f} s ago, "
        f"backlog {backlog} records; acknowledged seq: {acked}"
    )


def run_demo(args: argparse.Namespace) -> int:
    workdir: Path = args.dir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for name in ("steward.sqlite", "outbox.sqlite", "edge.token", "viewer.token"):
            for path in workdir.glob(name + "*"):
                path.unlink()
    for port, flag in ((args.api_port, "--api-port"), (args.modbus_port, "--modbus-port")):
        if not _port_free(port):
            print(f"demo: port {port} is in use; choose another with {flag}", file=sys.stderr)
            return 2
    db = workdir / "steward.sqlite"
    token_file = _register_edge(workdir, db)
    viewer = _add_viewer(workdir, db)
    site = _write_site(workdir, args.modbus_port, args.api_port, args.interval)
    start = time.time()
    anchor = start
    api_url = f"http://127.0.0.1:{args.api_port}"

    procs: list[tuple[str, subprocess.Popen]] = []
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        api_log = workdir / "api.log"
        api = _spawn(
            [
                sys.executable,
                "-m",
                "cloud_api.cli",
                "serve",
                "--db",
                str(db),
                "--port",
                str(args.api_port),
                "--no-access-log",
            ],
            api_log,
        )
        procs.append(("API", api))
        sim_log = workdir / "simulator.log"
        sim_args = [
            sys.executable,
            "-m",
            "simulators.cli",
            "meters",
            "--port",
            str(args.modbus_port),
            "--speed",
            str(args.speed),
            "--start",
            time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start)),
        ]
        for _, profile, units, _ in DEVICES:
            sim_args += ["--profile", profile, "--units", units]
        sim = _spawn(sim_args, sim_log)
        procs.append(("simulator", sim))
        _wait_port(args.api_port, api, "the API", api_log)
        _wait_port(args.modbus_port, sim, "the simulator", sim_log)
        edge_log = workdir / "edge.log"
        edge = _spawn(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "run",
                str(site),
                "--status-every",
                "30",
                "--sim-clock",
                f"{start}:{anchor}:{args.speed}",
            ],
            edge_log,
        )
        procs.append(("edge agent", edge))

        print(
            f"""
Steward demo is running ({len(DEVICES)} device groups, speed x{args.speed:g}). Open:
  API documentation   {api_url}/docs  (paste the viewer token there)
  viewer token        {viewer}
                      (every /v1 read needs it: curl -H 'Authorization: Bearer …')
  series catalogue    {api_url}/v1/series
  edges and backlog   {api_url}/v1/edges
  metrics             {api_url}/metrics
  Modbus simulator    127.0.0.1:{args.modbus_port}, e.g. the main incomer's voltage:
                      mbpoll -m tcp -p {args.modbus_port} -a 1 -r 8199 -c 2 -t 4:float -B 127.0.0.1
Files in {workdir}: site.yaml, edge.token, viewer.token, steward.sqlite, outbox.sqlite, *.log
Press Ctrl-C to stop.
""",
            flush=True,
        )
        deadline = None if args.duration is None else time.monotonic() + args.duration
        next_status = time.monotonic() + args.status_every
        while not stop_requested:
            if deadline is not None and time.monotonic() >= deadline:
                break
            for name, proc in procs:
                if proc.poll() is not None:
                    print(
                        f"demo: the {name} stopped unexpectedly (exit {proc.returncode}); "
                        f"see {workdir}",
                        file=sys.stderr,
                    )
                    return 1
            if time.monotonic() >= next_status:
                print(f"demo: {_status(api_url, viewer)}", flush=True)
                next_status += args.status_every
            time.sleep(0.2)
        print("demo: stopping (edge, simulator, API) ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for name, proc in reversed(procs):
            _stop(proc, name)
        if token_file.exists():
            print(f"demo: stopped; the store {db} keeps the data for the next run", flush=True)
