"""Faults on 20 % of 50 meters: the healthy 80 % keep their full rate, the faulty ones say
why they are bad and come back when the fault clears, and a refused point is quarantined
while the rest of its device is still read."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import defaultdict

from acq_helpers import MIXED_MODELS, mixed_fleet, write_site
from sim_thread import SimulatorThread

from simulators.faults import Fault

# unit -> (fault, the reason the edge must give)
FAULTS = {
    2: (Fault("no_answer"), "no answer within 0.3 s"),
    12: (Fault("no_answer"), "no answer within 0.3 s"),
    20: (Fault("drop"), "connection lost"),
    30: (Fault("exception", code=4), "exception 4 (server device failure)"),
    31: (Fault("exception", code=6), "exception 6 (server device busy)"),
    38: (Fault("exception", code=4), "exception 4 (server device failure)"),
    45: (Fault("slow", delay=1.0), "no answer within 0.3 s"),
    46: (Fault("drop"), "connection lost"),
    3: (Fault("slow", delay=0.8), "no answer within 0.3 s"),
    39: (Fault("no_answer"), "no answer within 0.3 s"),
}
REFUSING_UNIT, REFUSED_POINT = 1, "frequency"  # a DTSU666 that refuses one register


def device_of(unit: int) -> str:
    for profile, units in MIXED_MODELS:
        if unit in units:
            return f"{profile.split('/')[1]}-{unit}"
    raise KeyError(unit)


def test_faulty_units_do_not_slow_healthy_ones_and_recover(tmp_path):
    assert len(FAULTS) == 10  # 20 % of 50
    fleet = mixed_fleet(frozen=True)
    for unit, (fault, _) in FAULTS.items():
        fleet.faults.set(unit, fault)
    fleet.faults.set(REFUSING_UNIT, Fault("illegal_point", point=REFUSED_POINT))

    with SimulatorThread(fleet) as sim:
        site = write_site(tmp_path / "site.yaml", sim.port, backoff_cap="2s")
        stats_file = tmp_path / "stats.json"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "run",
                str(site),
                "--stdout",
                "--duration",
                "16",
                "--stats-json",
                str(stats_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        readings: list[dict] = []
        reader = threading.Thread(
            target=lambda: readings.extend(json.loads(line) for line in proc.stdout), daemon=True
        )
        reader.start()
        deadline = time.time() + 30
        while not readings and time.time() < deadline:
            time.sleep(0.05)
        assert readings, "the agent produced no readings"
        t_start = readings[0]["ts"]
        time.sleep(max(0.0, t_start + 7.0 - time.time()))
        t_clear = time.time()
        for unit in FAULTS:
            fleet.faults.clear(unit)
        assert proc.wait(60) == 0, proc.stderr.read().decode()[-3000:]
        reader.join(10)
    stats = json.loads(stats_file.read_text())

    samples = defaultdict(set)  # (device) -> poll timestamps during the fault phase
    by_device = defaultdict(list)
    for r in readings:
        by_device[r["device"]].append(r)
        if t_start + 1.0 <= r["ts"] < t_clear:
            samples[r["device"]].add(r["ts"])

    phase = t_clear - (t_start + 1.0)
    faulty = {device_of(u) for u in FAULTS}
    all_devices = {device_of(u) for _, units in MIXED_MODELS for u in units}
    healthy = all_devices - faulty
    for device in sorted(healthy):
        # Full data rate: one poll per 1 s interval through the whole fault phase.
        assert len(samples[device]) >= int(phase) - 1, (device, len(samples[device]), phase)
        assert stats["devices"][device]["overruns"] == 0, device
        bad = [
            r
            for r in by_device[device]
            if r["quality"] != "good"
            and not (device == device_of(REFUSING_UNIT) and r["point"] == REFUSED_POINT)
        ]
        assert not bad, bad[:3]

    for unit, (_, reason) in FAULTS.items():
        device = device_of(unit)
        during = [r for r in by_device[device] if r["ts"] < t_clear - 0.5]
        assert during and all(r["quality"] == "bad" for r in during), device
        assert any(reason in r["reason"] for r in during), (device, {r["reason"] for r in during})
        # Recovery: good readings of every point once the fault is gone (backoff cap 2 s).
        after = [r for r in by_device[device] if r["ts"] > t_clear + 3.5]
        assert after, f"{device} was not polled again after its fault cleared"
        latest_ts = max(r["ts"] for r in after)
        latest = [r for r in after if r["ts"] == latest_ts]
        assert all(r["quality"] == "good" for r in latest), (device, latest[:2])

    refusing = device_of(REFUSING_UNIT)
    assert stats["devices"][refusing]["quarantined"].keys() == {REFUSED_POINT}
    late = [r for r in by_device[refusing] if r["ts"] > t_start + 2]
    assert late
    for r in late:
        if r["point"] == REFUSED_POINT:
            assert r["quality"] == "bad" and "quarantined" in r["reason"]
        else:
            assert r["quality"] == "good", r
    # The rest of the refusing meter keeps its full rate too.
    assert len(samples[refusing]) >= int(phase) - 1
