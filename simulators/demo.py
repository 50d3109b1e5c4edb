"""steward-sim demo: a simulated building, its edge agent and the central API, on loopback.

The processes, as in production: the Modbus simulator (meters and HVAC zones over Modbus
TCP), the HVAC simulator (zones and the meter above them, whose 15-minute demand the edge
limits by writing the zones' setpoints: simulators/demo_control.py), the edge agent
(polling, outbox, uplink, control), the central API (SQLite store) and, for the access
side (simulators/demo_access.py), a Mosquitto broker and the access simulator playing a
day of doors, badges, visitors and guard rounds. The demo registers the edge with the
API, books the visitor passes, writes the site file and the energy configuration, sets a
monthly energy budget as its energy manager, prints the URLs and a one-line status every
few seconds (the month's kWh, the meter balance, the budget's colour, the last 15-minute
demand block against its limit and the zones shed now), and stops everything on Ctrl-C:
the edge first, so what it accepted stays in its outbox (and its zones get their
defaults back), then the simulators, the broker and the API.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from device_profiles.schema import parse_duration
from simulators import demo_access
from simulators.demo_access import AccessPlan
from simulators.demo_control import ControlPlan, demand_status
from simulators.demo_energy import BUDGET_ID, BUDGET_KWH, EnergyPlan

SITE, BUILDING, EDGE = "demo-site", "tower-a", "demo-edge"

# A small office tower: the main incomer, floor and plant meters of every shipped model,
# and four HVAC zones. Tags follow the meter tree (edge/energy/meter_tree.py): `system`
# main | lighting-sockets | hvac | power | special, `parent` where a meter sits under
# another. The simulator wires them the same way (FEEDS): the chiller plant's meter is on
# the HVAC board that also supplies the four zone units, so it measures its own load plus
# theirs; the main incomer measures every top-level sub-meter plus 5 % of load on none of
# them (corridor lighting, the guard house), so the meter balance shows 5 % unaccounted.
DEVICES = [
    ("main-incomer", "chint/dtsu666", "1", {"system": "main", "floor": "B1"}),
    ("floor-{unit}", "chint/dtsu666", "2-7", {"system": "lighting-sockets"}),
    ("server-room-{unit}", "eastron/sdm630", "8-9", {"system": "special", "use": "it"}),
    ("canteen-{unit}", "chint/ddsu666", "10-11", {"system": "special", "use": "kitchen"}),
    ("lift-{unit}", "eastron/sdm120", "12-13", {"system": "power", "use": "lifts"}),
    ("chiller-plant", "schneider/iem3xxx", "14", {"system": "hvac"}),
    ("pump-room", "acrel/adw300", "15", {"system": "power", "use": "pumps"}),
    ("zone-{unit}", "steward/hvac-zone", "20-23", {"system": "hvac", "parent": "chiller-plant"}),
]
UNMETERED = 0.05
FEEDS = ["14:20-23", f"1:2-15:unmetered={UNMETERED:g}"]  # steward-sim meters --feeds
ENERGY = EnergyPlan(SITE, BUILDING)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second for the meters (60: an hour a minute); "
        "the access scenario always runs at real time",
    )
    parser.add_argument("--api-port", type=int, default=8400)
    parser.add_argument("--modbus-port", type=int, default=5020)
    parser.add_argument(
        "--hvac-port", type=int, default=5021, help="the HVAC simulator (steward-sim hvac)"
    )
    parser.add_argument(
        "--access",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the access side: a Mosquitto broker and a day of doors, badges, visitors and "
        "guard rounds, at real time (default: on)",
    )
    parser.add_argument("--mqtt-port", type=int, default=1884, help="the demo's MQTT broker")
    parser.add_argument(
        "--access-loops",
        type=int,
        default=None,
        metavar="N",
        help=f"play the {demo_access.SCENARIO} scenario (10 minutes) N times (default: "
        f"enough for --duration, else {demo_access.DEFAULT_LOOPS})",
    )
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
    for stale in [*workdir.glob("steward.sqlite*"), *workdir.glob("*.token")]:
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


def _add_user(workdir: Path, db: Path, role: str) -> str:
    """A user's token: the viewer's for reading the API (and the docs page), the
    operator's for booking visitor passes, the energy manager's for setting the budget;
    stored next to the edge's token (created once per store, like it). Each user also
    gets a password for the cockpit, in `<role>.password` beside the token."""
    token_file = workdir / f"{role}.token"
    if token_file.exists():
        return token_file.read_text().strip()
    password = secrets.token_urlsafe(9)
    out = subprocess.run(
        [
            *(sys.executable, "-m", "cloud_api.cli", "users", "add", f"demo-{role}"),
            *("--role", role, "--password-stdin", "--db", str(db)),
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"could not add the demo's {role}: {out.stderr.strip()}")
    for path, secret in (
        (token_file, out.stdout.strip()),
        (_password_file(workdir, role), password),
    ):
        path.write_text(secret + "\n")
        path.chmod(0o600)
    return out.stdout.strip()


def _password_file(workdir: Path, role: str) -> Path:
    return workdir / f"{role}.password"


def cockpit_login(workdir: Path, role: str) -> tuple[str, str]:
    """(user name, password) of the demo's user with `role`, for the cockpit."""
    return f"demo-{role}", _password_file(workdir, role).read_text().strip()


def _logins(workdir: Path, operator: bool) -> str:
    roles = ["viewer", "operator", "energy_manager"] if operator else ["viewer", "energy_manager"]
    return ", ".join("{} / {}".format(*cockpit_login(workdir, role)) for role in roles)


def _write_site(
    workdir: Path,
    modbus_port: int,
    api_port: int,
    interval: str,
    access: dict | None,
    hvac: ControlPlan,
) -> Path:
    lines = [
        "# Written by steward-sim demo; a real building's site file looks the same.",
        f"site: {SITE}",
        f"building: {BUILDING}",
        f"edge: {EDGE}",
        "buses:",
        f"  - {{id: gateway, tcp: {{host: 127.0.0.1, port: {modbus_port}, max_connections: 2}},"
        " timeout: 1s, backoff_cap: 30s}",
        hvac.bus_line(),
        "devices:",
    ]
    for dev_id, profile, units, tags in DEVICES:
        tag_text = ", ".join(f"{k}: {v}" for k, v in tags.items())
        lines.append(
            f"  - {{id: '{dev_id}', bus: gateway, profile: {profile}, units: '{units}', "
            f"interval: {interval}, tags: {{{tag_text}}}}}"
        )
    lines += hvac.device_lines()
    lines += [
        "outbox: {path: outbox.sqlite}",
        f"uplink: {{url: 'http://127.0.0.1:{api_port}', token_file: edge.token, max_age: 1s}}",
    ]
    text = "\n".join(lines) + "\n"
    if access is not None:
        text += (
            "# The access side: doors, badges and patrols over MQTT (simulators/demo_access.py)\n"
        )
        text += yaml.safe_dump(access, sort_keys=False, allow_unicode=True)
    text += (
        "# The HVAC building's 15-minute demand limit (a DEMO value under what it draws) and\n"
        "# the control of its zones (simulators/demo_control.py; README, Demand limits)\n"
    )
    sections = hvac.site_sections()
    if access is None or "directives" not in access:
        sections["directives"] = {"every": "5s"}  # budget colour and operator overrides
    text += yaml.safe_dump(sections, sort_keys=False)
    site = workdir / "site.yaml"
    site.write_text(text)
    return site


def _spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    fh = open(log, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    return subprocess.Popen(
        args,
        stdout=fh,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def api_env(speed: float) -> dict[str, str]:
    """A time-accelerated demo stamps readings ahead of the wall clock on purpose (at x60,
    an hour a minute): the API must not refuse them as a wrong edge clock."""
    if speed <= 1.0:
        return {}
    return {"STEWARD_API_MAX_CLOCK_SKEW_SECONDS": str(10 * 365 * 86400)}


# Ctrl-C stops the edge first (what it accepted stays in its outbox), then what feeds it,
# then the broker, then the API it delivers to.
STOP_ORDER = (
    "edge agent",
    "access simulator",
    "Modbus simulator",
    "HVAC simulator",
    "MQTT broker",
    "API",
)


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


def _status(api: str, viewer: str, access: bool) -> str:
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
    seen = f"{count} series" + (f", {demo_access.access_status(api, viewer)}" if access else "")
    edge = next((e for e in edges if e["name"] == EDGE), None)
    if edge is None or edge["last_seen"] is None:
        return f"{seen}; the edge has not reported yet"
    backlog = sum(b["records"] for b in edge["backlog"].values())
    acked = ", ".join(f"{lane} {lane_info['acked']}" for lane, lane_info in edge["lanes"].items())
    return (
        f"{seen}; edge last seen {time.time() - edge['last_seen']:.0f} s ago, "
        f"backlog {backlog} records; acknowledged seq: {acked}"
    )


def _check_ports(args: argparse.Namespace) -> bool:
    ports = [
        (args.api_port, "--api-port"),
        (args.modbus_port, "--modbus-port"),
        (args.hvac_port, "--hvac-port"),
    ]
    if args.access:
        ports.append((args.mqtt_port, "--mqtt-port"))
    for port, flag in ports:
        if not _port_free(port):
            print(f"demo: port {port} is in use; choose another with {flag}", file=sys.stderr)
            return False
    return True


def run_demo(args: argparse.Namespace) -> int:
    workdir: Path = args.dir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        for name in ("steward.sqlite", "outbox.sqlite", "*.token"):
            for path in workdir.glob(name + "*"):
                path.unlink()
    mosquitto = demo_access.find_mosquitto() if args.access else None
    if args.access and mosquitto is None:
        print(demo_access.MOSQUITTO_MISSING, file=sys.stderr, flush=True)
        args.access = False
    if not _check_ports(args):
        return 2
    try:
        loops = demo_access.choose_loops(args.access_loops, args.duration) if args.access else 0
    except ValueError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    db = workdir / "steward.sqlite"
    token_file = _register_edge(workdir, db)
    viewer = _add_user(workdir, db, "viewer")
    operator = _add_user(workdir, db, "operator") if args.access else None
    manager = _add_user(workdir, db, "energy_manager")
    start = time.time()
    anchor = start
    api_url = f"http://127.0.0.1:{args.api_port}"
    energy_config = ENERGY.write_config(workdir, start)
    hvac = ControlPlan.for_demo(args.hvac_port, start, args.speed, parse_duration(args.interval))

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
                *(sys.executable, "-m", "cloud_api.cli", "serve", "--db", str(db)),
                *("--port", str(args.api_port), "--no-access-log"),
            ],
            api_log,
            env={**api_env(args.speed), "STEWARD_API_ENERGY_CONFIG": str(energy_config)},
        )
        procs.append(("API", api))
        if mosquitto is not None:
            broker_log = workdir / "mosquitto.log"
            broker_args = demo_access.broker_command(mosquitto, workdir, args.mqtt_port)
            broker = _spawn(broker_args, broker_log)
            procs.append(("MQTT broker", broker))
        sim_log = workdir / "simulator.log"
        sim_args = [
            *(sys.executable, "-m", "simulators.cli", "meters"),
            *("--port", str(args.modbus_port), "--speed", str(args.speed)),
            *("--start", time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start))),
        ]
        for _, profile, units, _ in DEVICES:
            sim_args += ["--profile", profile, "--units", units]
        for feed in FEEDS:
            sim_args += ["--feeds", feed]
        sim = _spawn(sim_args, sim_log)
        procs.append(("Modbus simulator", sim))
        hvac_log = workdir / "hvac-simulator.log"
        hvac_sim = _spawn(hvac.simulator_command(), hvac_log)
        procs.append(("HVAC simulator", hvac_sim))
        _wait_port(args.api_port, api, "the API", api_log)
        _wait_port(args.modbus_port, sim, "the Modbus simulator", sim_log)
        _wait_port(args.hvac_port, hvac_sim, "the HVAC simulator", hvac_log)
        budget_done = ENERGY.set_budget(api_url, manager)
        plan = None
        if mosquitto is not None:
            _wait_port(args.mqtt_port, broker, "the MQTT broker", broker_log)
            plan = AccessPlan.for_demo(args.mqtt_port, loops, EDGE)
            assert operator is not None
            passes = plan.book_passes(api_url, operator, SITE, BUILDING)
            plan.open_session_for_the_edge()
        site = _write_site(
            workdir,
            args.modbus_port,
            args.api_port,
            args.interval,
            None if plan is None else plan.site_sections(),
            hvac,
        )
        edge_log = workdir / "edge.log"
        edge = _spawn(
            [
                *(sys.executable, "-m", "edge.cli", "run", str(site), "--status-every", "30"),
                *("--sim-clock", f"{start}:{anchor}:{args.speed}"),
            ],
            edge_log,
        )
        procs.append(("edge agent", edge))
        if plan is not None:  # after the edge: its session is open, the broker keeps events
            access_sim = _spawn(plan.simulator_command(), workdir / "access-simulator.log")
            procs.append(("access simulator", access_sim))

        access_banner = "" if plan is None else plan.banner(api_url)
        banners = (
            ENERGY.banner(api_url, workdir, args.speed)
            + hvac.banner(api_url, SITE, BUILDING)
            + access_banner
        )
        print(
            f"""
Steward demo is running ({len(DEVICES)} device groups, speed x{args.speed:g}). Open:
  cockpit             {api_url}/  log in (user / password; also in *.password) as
                      {_logins(workdir, operator is not None)}
  API documentation   {api_url}/docs  (Authorize with the viewer token)
  viewer token        {viewer}
                      (every /v1 read needs it: curl -H 'Authorization: Bearer …')
  series catalogue    {api_url}/v1/series
  edges and backlog   {api_url}/v1/edges
  metrics             {api_url}/metrics
{banners}  Modbus simulator    127.0.0.1:{args.modbus_port}, e.g. the main incomer's voltage:
                      mbpoll -m tcp -p {args.modbus_port} -a 1 -r 8199 -c 2 -t 4:float -B 127.0.0.1
Files in {workdir}: site.yaml, energy.yaml, *.token, *.password, *.sqlite, *.log
Press Ctrl-C to stop.
""",
            flush=True,
        )
        if plan is not None:
            print(f"demo: {passes} visitor pass(es) booked by demo-operator", flush=True)
        print(
            f"demo: budget {BUDGET_ID} ({BUDGET_KWH:,.0f} kWh a month) {budget_done} by"
            " demo-energy_manager",
            flush=True,
        )
        deadline = None if args.duration is None else time.monotonic() + args.duration
        next_status = time.monotonic() + args.status_every
        while not stop_requested:
            if deadline is not None and time.monotonic() >= deadline:
                break
            for name, proc in procs:
                if proc.poll() is None:
                    continue
                if name == "access simulator" and proc.returncode == 0:
                    print("demo: the access scenario has played all its loops", flush=True)
                    procs.remove((name, proc))
                    break
                print(
                    f"demo: the {name} stopped unexpectedly (exit {proc.returncode}); "
                    f"see {workdir}",
                    file=sys.stderr,
                )
                return 1
            if time.monotonic() >= next_status:
                simulated_now = start + (time.time() - anchor) * args.speed
                print(
                    f"demo: {_status(api_url, viewer, plan is not None)}; "
                    f"{ENERGY.status(api_url, viewer, simulated_now)}; "
                    f"{demand_status(api_url, viewer, SITE, BUILDING, simulated_now)}",
                    flush=True,
                )
                next_status += args.status_every
            time.sleep(0.2)
        running = ", ".join(n for n in STOP_ORDER if n in dict(procs))
        print(f"demo: stopping ({running}) ...", flush=True)
        return 0
    except (RuntimeError, ValueError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for name, proc in sorted(procs, key=lambda p: STOP_ORDER.index(p[0])):
            _stop(proc, name)
        if token_file.exists():
            print(f"demo: stopped; the store {db} keeps the data for the next run", flush=True)
