"""`steward-edge check --probe`: read each device once at commissioning and show it."""

from __future__ import annotations

import re
import subprocess
import sys

from acq_helpers import mixed_fleet
from sim_thread import SimulatorThread


def test_probe_prints_values_and_names_devices_that_do_not_answer(tmp_path):
    fleet = mixed_fleet(frozen=True)
    with SimulatorThread(fleet) as sim:
        site = tmp_path / "site.yaml"
        site.write_text(
            "site: s1\nbuilding: b1\n"
            f"buses: [{{id: gw, tcp: {{host: 127.0.0.1, port: {sim.port}}}, timeout: 300ms}}]\n"
            "devices:\n"
            "  - {id: main, bus: gw, profile: chint/dtsu666, unit: 1}\n"
            "  - {id: pumps, bus: gw, profile: acrel/adw300, unit: 44}\n"
            "  - {id: ghost, bus: gw, profile: acrel/adw300, unit: 99}\n"
        )
        probe = [sys.executable, "-m", "edge.cli", "check", str(site), "--probe"]
        some = subprocess.run(
            [*probe, "--device", "main", "--device", "pumps"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        every = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    assert some.returncode == 0, some.stdout + some.stderr
    volts = re.search(r"^  voltage_l1\s+([\d.]+) V", some.stdout, re.M)
    assert volts and abs(float(volts.group(1)) - fleet.meters[1].values()["voltage_l1"]) < 0.01
    assert "probe: 2 of 2 devices answered every point" in some.stdout
    assert every.returncode == 1
    assert "no answer within 0.3 s" in every.stdout
    assert "probe: 2 of 3 devices answered every point" in every.stdout
