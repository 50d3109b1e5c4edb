"""`steward-edge check` prints each RS-485 line's cycle time at its baud rate, per device
request sizes on the wire, and warns when the devices' intervals ask for more than the
line has. The expected figures are worked out by hand below."""

from __future__ import annotations

import io
import subprocess
import sys

from edge.cli import print_plan
from edge.config import load_site

PROFILE = """\
vendor: Test
model: Two
kind: meter
verified: false
points:
  status: {table: holding, address: 0, type: u16}
  voltage: {table: holding, address: 100, type: f32, unit: V}
"""

SITE = """\
site: s
building: b
profiles_dir: profiles
buses:
  - {id: line1, rtu: {port: /dev/ttyUSB0, baudrate: 9600, frame_gap: 5ms}}
  - {id: gw, tcp: {host: 10.0.0.1}}
devices:
  - {id: 'm{unit}', bus: line1, units: 1-2, profile: test/two, interval: INTERVAL}
  - {id: g1, bus: gw, unit: 1, profile: chint/dtsu666, interval: 1s}
"""

# By hand, 9600 baud 8N1 = 10 bits per character = 1.0417 ms per byte:
#   status:  0+1 register: 5 gap + 8 bytes out (8.333) + 20 turnaround + 7 back (7.292) = 40.625
#   voltage: 100+2 registers: 5 + 8.333 + 20 + 9 back (9.375)                           = 42.708
#   one device: 83.333 ms per poll; two devices: a 166.667 ms cycle.
#   Every 1 s: 2 x 83.333 / 1000 = 16.7 % busy; every 100 ms: 166.7 % -> cannot be met.


def _check(tmp_path, interval: str) -> str:
    (tmp_path / "profiles" / "test").mkdir(parents=True)
    (tmp_path / "profiles" / "test" / "two.yaml").write_text(PROFILE)
    path = tmp_path / "site.yaml"
    path.write_text(SITE.replace("INTERVAL", interval))
    out = io.StringIO()
    print_plan(load_site(path), verbose=False, out=out)
    return out.getvalue()


def test_check_prints_rs485_cycle_time_and_request_sizes(tmp_path):
    text = _check(tmp_path, "1s")
    assert "line line1: 9600 baud, 10 bits per character, 5.0 ms frame gap" in text
    assert "m1: 2 requests (bytes out+back: 8+7, 8+9), 83.3 ms per poll, every 1 s" in text
    assert "cycle 166.7 ms for 2 devices; their intervals keep the line 16.7% busy" in text
    assert "WARNING" not in text
    assert "line gw" not in text  # a TCP gateway has no line time to print


def test_check_warns_when_a_line_cannot_meet_the_intervals(tmp_path):
    text = _check(tmp_path, "100ms")
    assert "keep the line 166.7% busy" in text
    warnings = [line for line in text.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, warnings  # each device alone fits in 100 ms; the line does not
    assert "line line1 cannot meet its devices' intervals" in warnings[0]


def test_check_warns_when_one_device_outlasts_its_interval(tmp_path):
    text = _check(tmp_path, "50ms")
    warnings = [line for line in text.splitlines() if "WARNING" in line]
    assert any("m1 needs 83.3 ms per poll" in w and "0.05 s interval" in w for w in warnings)
    assert any("cannot meet" in w for w in warnings)
    # check still succeeds: the file is valid, the warning is advice
    site = tmp_path / "site.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", str(site)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING: line line1" in done.stdout
