"""Alarm latency at 1,000 access events/s: MQTT publish -> outbox commit, and -> GET /v1/alarms.

    python bench/access_latency.py [--rate 1000] [--duration 30] [--doors 200] [--keep DIR]

Real parts, each its own process: Mosquitto on a free loopback port (default settings but
a large queue), the central API (`python -m cloud_api.cli serve`, edge added with `edges
add`, a viewer with `users add`), and the edge (`python -m edge.cli run site.yaml`: mqtt,
doors, outbox and uplink sections). The load is a normal building in Steward's own format
(steward/access-v1, which carries its own time): badge-ins (grant, open 0.3 s later, close
3 s later) spread over `--doors` doors on 10 controllers, at `--rate` events/s in all.
Every 100 ms one of those events is an alarm trigger: `door.opened` with no grant before
it, each on a door of its own (so each is its own alarm), which the door rules raise as
`door.forced` (red at once); the door closes 1 s later. The publisher notes the wall time
just before each trigger's `publish()` (QoS 1).

Two parts, each on a fresh edge and outbox, `--duration` s of load each:

(a) publish -> alarm committed in the outbox. The commit time is not stored, so a
    separate process watches the outbox file: every 2 ms it opens a read transaction
    (read-only connection, WAL) and reads the events lane past the last seq it saw; a
    trigger's time is when its `door.forced` row first shows. A row committed at t is
    seen at t + (0..poll interval + one query), so the figure is high by about 1-2 ms on
    average, at most the poll interval plus the query (both printed). The uplink is
    paused for this part (`steward-edge pause`) so rows stay until seen.
(b) publish -> alarm visible in GET /v1/alarms. The uplink runs (events are sent at once;
    the uplink's `max_age` only delays readings). A separate process asks
    `GET /v1/alarms?site&code=door.forced&from` (newest first) with the viewer token every
    20 ms and notes when each trigger's alarm (by source, its door) first shows; the figure
    is high by up to 20 ms plus one request. The outbox watcher runs in this part too and
    reports (a) with the uplink sending (rows the uplink deleted before the watcher saw
    them are counted as missed).

Prints p50 / p99 / max and counts per part, the targets (p99 < 50 ms and < 1 s) and PASS
or FAIL. Exit status 1 if a target fails or a trigger's alarm never showed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from processes import api_cli, free_port, serve_api, spawn, stop, wait_for_port

SITE, BUILDING, EDGE = "bench-site", "b1", "bench-edge"
CONTROLLERS = 10
TRIGGER_EVERY = 0.1  # s between alarm triggers
OUTBOX_POLL = 0.002  # s
API_POLL = 0.020  # s
TARGET_OUTBOX = 0.050  # p99, s
TARGET_API = 1.0  # p99, s
SETTLE = 5.0  # s after the last publish for the last alarms to show


# ---------------------------------------------------------------- processes


def start_broker(work: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        sys.exit("mosquitto is not installed (./quickstart.sh test installs it)")
    port = free_port()
    conf = work / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "max_queued_messages 100000"]
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    proc = spawn([binary, "-c", str(conf)], work / "mosquitto.log")
    wait_for_port(port, proc)
    return proc, port


def write_site(
    work: Path, broker: int, api: str, token: str, client_id: str, receive_maximum: int | None
) -> Path:
    devices = [{"id": f"ctrl-{c}", "map": "steward/access-v1"} for c in range(CONTROLLERS)]
    site = {
        "site": SITE,
        "building": BUILDING,
        "edge": EDGE,
        "outbox": {"path": "outbox.sqlite"},
        "uplink": {"url": api, "token": token, "max_age": "200ms"},
        "mqtt": {"host": "127.0.0.1", "port": broker, "client_id": client_id, "devices": devices},
        # after_hours off: the bench runs at any hour of the site's day.
        "doors": {"defaults": {"after_hours": False}},
    }
    if receive_maximum is not None:
        site["mqtt"]["receive_maximum"] = receive_maximum
    path = work / "site.yaml"
    path.write_text(json.dumps(site, indent=1))  # JSON is YAML
    return path


def edge_status(site: Path) -> dict | None:
    out = subprocess.run(
        [sys.executable, "-m", "edge.cli", "status", str(site), "--json"],
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout) if out.returncode == 0 else None


def wait_edge_connected(site: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the edge exited with {proc.returncode}; see its log")
        st = edge_status(site)
        mqtt = (((st or {}).get("agent") or {}).get("access") or {}).get("mqtt") or {}
        if mqtt.get("connects", 0) >= 1:
            time.sleep(1.5)  # its subscriptions acknowledged, the first tick past
            return
        time.sleep(0.5)
    raise TimeoutError("the edge did not connect to the broker")


# ---------------------------------------------------------------- load


def schedule(rate: float, duration: float, doors: int, part: str, seed: int) -> list[tuple]:
    """(offset s, controller, body without ts, trigger door or None), in offset order."""
    rng = random.Random(seed)
    out: list[tuple] = []
    n_triggers = int(duration / TRIGGER_EVERY)
    for i in range(n_triggers):
        door = f"F{part}{i:04d}"
        t = 0.05 + i * TRIGGER_EVERY
        ctrl = i % CONTROLLERS
        out.append((t, ctrl, {"v": 1, "event": "door.opened", "door": door}, door))
        out.append((t + 1.0, ctrl, {"v": 1, "event": "door.closed", "door": door}, None))
    normal = int(rate * duration) - len(out)
    # Badge-ins start from 3.3 s before the window to its end; what falls outside is cut
    # (and the grant and opening of one started before it), so the rate is even.
    for _k in range(round(normal / 3 * (duration + 3.3) / duration)):
        t = rng.uniform(-3.3, duration)  # an even rate from the first second to the last
        d = rng.randrange(doors)
        ctrl, door = d % CONTROLLERS, f"D{d}"
        cred = f"C{rng.randrange(5000)}"
        granted = {"v": 1, "event": "access.granted", "door": door, "credential": cred}
        if t >= 0:  # an opening without its grant would be a forced door
            out.append((t, ctrl, granted, None))
            out.append((t + 0.3, ctrl, {"v": 1, "event": "door.opened", "door": door}, None))
        out.append((t + 3.3, ctrl, {"v": 1, "event": "door.closed", "door": door}, None))
    out = sorted((e for e in out if 0 <= e[0] < duration), key=lambda e: e[0])
    return out


def publish_load(broker: int, plan: list[tuple]) -> tuple[dict[str, float], int, float]:
    """Publish `plan` in real time at QoS 1; returns trigger door -> publish wall time,
    messages published, and the largest lag behind schedule (s)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker)
    client.loop_start()
    topics = [f"steward/access/ctrl-{c}/event" for c in range(CONTROLLERS)]
    published: dict[str, float] = {}
    infos = []
    lag = 0.0
    t0 = time.time() + 0.2
    for offset, ctrl, body, trigger in plan:
        due = t0 + offset
        now = time.time()
        if due > now:
            time.sleep(due - now)
            now = time.time()
        lag = max(lag, now - due)
        body = {**body, "ts": int(now * 1000)}
        if trigger is not None:
            published[trigger] = now
        infos.append(client.publish(topics[ctrl], json.dumps(body), qos=1))
    deadline = time.monotonic() + 30
    for info in infos:
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
    client.disconnect()
    client.loop_stop()
    return published, len(infos), lag


# ---------------------------------------------------------------- watchers (own processes)


def watch_outbox(path: Path, out: Path, stop_file: Path) -> None:
    """First sight of each door.forced raise in the events lane (time.time(), by door)."""
    while not path.exists():
        time.sleep(0.01)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    seen: dict[str, float] = {}
    last = 0
    polls, worst_query = 0, 0.0
    while not stop_file.exists():
        t0 = time.perf_counter()
        try:
            # One statement, one read transaction: every row past `last` is seen once.
            rows = db.execute(
                "SELECT seq, CASE WHEN alarm = 1 THEN body END FROM events WHERE seq > ?",
                (last,),
            ).fetchall()
        except sqlite3.OperationalError:  # not created yet
            rows = []
        now = time.time()
        worst_query = max(worst_query, time.perf_counter() - t0)
        polls += 1
        for seq, body in rows:
            last = max(last, seq)
            if body is None:
                continue
            rec = json.loads(body)
            if rec.get("code") == "door.forced" and rec.get("active"):
                seen.setdefault(rec["source"], now)
        time.sleep(OUTBOX_POLL)
    out.write_text(json.dumps({"seen": seen, "polls": polls, "worst_query": worst_query}))


def watch_api(api: str, token: str, since: float, out: Path, stop_file: Path) -> None:
    """First sight of each door.forced alarm in GET /v1/alarms (time.time(), by source)."""
    import httpx

    seen: dict[str, float] = {}
    polls, worst, errors = 0, 0.0, 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api, headers=headers, timeout=10) as client:
        while not stop_file.exists():
            t0 = time.perf_counter()
            url: str | None = f"/v1/alarms?site={SITE}&code=door.forced&from={since}&limit=50"
            while url:  # newest first: a page of only new alarms may hide more below
                r = client.get(url)
                if r.status_code != 200:
                    errors += 1
                    break
                now = time.time()
                body = r.json()
                fresh = [a["source"] for a in body["alarms"] if a["source"] not in seen]
                for source in fresh:
                    seen[source] = now
                url = body["next"] if fresh and len(fresh) == len(body["alarms"]) else None
            polls += 1
            worst = max(worst, time.perf_counter() - t0)
            time.sleep(API_POLL)
    out.write_text(
        json.dumps({"seen": seen, "polls": polls, "worst_query": worst, "errors": errors})
    )


def start_watcher(role: str, work: Path, *args: str) -> tuple[subprocess.Popen, Path, Path]:
    out, stop_file = work / f"{role}.json", work / f"{role}.stop"
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--role",
            role,
            "--out",
            str(out),
            "--stop-file",
            str(stop_file),
            *args,
        ]
    )
    return proc, out, stop_file


def finish_watcher(w: tuple[subprocess.Popen, Path, Path]) -> dict:
    proc, out, stop_file = w
    stop_file.touch()
    proc.wait(30)
    return json.loads(out.read_text())


# ---------------------------------------------------------------- figures


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def report(name: str, published: dict[str, float], seen: dict[str, float], target: float) -> bool:
    lat = sorted(seen[d] - t for d, t in published.items() if d in seen)
    missing = len(published) - len(lat)
    if not lat:
        print(f"  {name}: no alarm seen of {len(published)} triggers: FAIL")
        return False
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    ok = p99 < target and missing == 0
    print(
        f"  {name}: {len(lat)} of {len(published)} alarms; p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms, min {lat[0] * 1000:.1f} ms "
        f"(target p99 < {target * 1000:.0f} ms: {'PASS' if ok else 'FAIL'}"
        + (f"; {missing} never seen" if missing else "")
        + ")"
    )
    return ok


def run_part(
    part: str, args, work: Path, broker: int, api: str, edge_token: str, viewer: str
) -> bool:
    pdir = work / f"part-{part}"
    pdir.mkdir()
    site = write_site(pdir, broker, api, edge_token, f"bench-edge-{part}", args.receive_maximum)
    if part == "a":
        subprocess.run(
            [sys.executable, "-m", "edge.cli", "pause", str(site)], check=True, capture_output=True
        )
    # BENCH_PROFILE_EDGE=1: the edge runs under cProfile (edge.prof in the part's folder).
    profile = (
        ["-m", "cProfile", "-o", str(pdir / "edge.prof")]
        if os.environ.get("BENCH_PROFILE_EDGE")
        else []
    )
    edge = spawn(
        [sys.executable, *profile, "-m", "edge.cli", "run", str(site), "--status-every", "1"],
        pdir / "edge.log",
    )
    try:
        wait_edge_connected(site, edge)
        plan = schedule(args.rate, args.duration, args.doors, part, args.seed)
        since = time.time() - 1
        w_outbox = start_watcher("outbox", pdir, "--outbox", str(pdir / "outbox.sqlite"))
        w_api = None
        if part == "b":
            w_api = start_watcher(
                "api", pdir, "--api", api, "--token", viewer, "--since", str(since)
            )
        time.sleep(1.0)  # the watchers started
        load0 = os.getloadavg()[0]
        edge_cpu = psutil.Process(edge.pid)
        cpu0, wall0 = sum(edge_cpu.cpu_times()[:2]), time.monotonic()
        published, sent, lag = publish_load(broker, plan)
        cpu_share = (sum(edge_cpu.cpu_times()[:2]) - cpu0) / (time.monotonic() - wall0)
        (pdir / "published.json").write_text(json.dumps(published))
        time.sleep(SETTLE)
        outbox = finish_watcher(w_outbox)
        api_seen = finish_watcher(w_api) if w_api else None
        status = edge_status(site) or {}
    finally:
        stop(edge)
    access = (status.get("agent") or {}).get("access") or {}
    pipe = access.get("pipeline", {})
    print(
        f"part ({part}): {sent:,} messages in {args.duration:.0f} s "
        f"({sent / args.duration:,.0f}/s, "
        f"publisher at most {lag * 1000:.1f} ms behind schedule), {len(published)} triggers, "
        f"uplink {'paused' if part == 'a' else 'sending'}; load average at start {load0:.2f}"
    )
    if pipe:
        print(
            f"  edge: {pipe.get('messages', 0):,} messages in {pipe.get('batches', 0):,} commits "
            f"({pipe.get('messages', 0) / max(1, pipe.get('batches', 0)):.1f} per commit), "
            f"{pipe.get('records', 0):,} records; edge CPU {cpu_share:.0%} of a core under load"
        )
    print(
        f"  outbox watcher: {outbox['polls']:,} polls every {OUTBOX_POLL * 1000:.0f} ms, slowest "
        f"query {outbox['worst_query'] * 1000:.1f} ms"
    )
    name = "publish -> outbox commit" + ("" if part == "a" else " (uplink sending)")
    ok = report(name, published, outbox["seen"], TARGET_OUTBOX)
    if part == "b":
        assert api_seen is not None
        print(
            f"  API watcher: {api_seen['polls']:,} polls every {API_POLL * 1000:.0f} ms, slowest "
            f"{api_seen['worst_query'] * 1000:.1f} ms, {api_seen['errors']} errors"
        )
        # Part (b)'s outbox figure is informative (rows may be deleted before seen).
        ok = report("publish -> GET /v1/alarms", published, api_seen["seen"], TARGET_API)
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rate", type=float, default=1000.0, help="access events per second")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of load per part")
    ap.add_argument("--doors", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--receive-maximum",
        type=int,
        help="the edge's mqtt.receive_maximum (default: the edge's own; 20 is what "
        "Mosquitto allows a client that does not say)",
    )
    ap.add_argument("--parts", default="ab", help="a, b or ab")
    ap.add_argument("--keep", type=Path, help="work here and keep the files and logs")
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--stop-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--outbox", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--api", help=argparse.SUPPRESS)
    ap.add_argument("--token", help=argparse.SUPPRESS)
    ap.add_argument("--since", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "outbox":
        watch_outbox(args.outbox, args.out, args.stop_file)
        return 0
    if args.role == "api":
        watch_api(args.api, args.token, args.since, args.out, args.stop_file)
        return 0

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-access-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"access latency: {args.rate:,.0f} events/s, {args.duration:.0f} s per part, "
        f"{args.doors} doors on {CONTROLLERS} controllers, a door.forced trigger every "
        f"{TRIGGER_EVERY * 1000:.0f} ms; load average {os.getloadavg()[0]:.2f}; work dir {work}"
    )
    broker, port = start_broker(work)
    db, api_port = work / "central.sqlite", free_port()
    api = f"http://127.0.0.1:{api_port}"
    ok = True
    api_proc = None
    try:
        edge_token = api_cli(db, "edges", "add", EDGE, "--site", SITE, "--any-building")
        viewer = api_cli(db, "users", "add", "bench-viewer", "--role", "viewer")
        api_proc = serve_api(db, api_port, work / "api.log", quiet=False)
        wait_for_port(api_port, api_proc)
        for part in args.parts:
            ok &= run_part(part, args, work, port, api, edge_token, viewer)
    finally:
        if api_proc is not None:
            stop(api_proc)
        stop(broker)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
