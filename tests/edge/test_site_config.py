"""Site files: short to write for many devices, and every mistake named by file, line, field."""

from __future__ import annotations

import re

import pytest

from device_profiles import ConfigError
from edge.config import load_site

GOOD = """\
site: zhoushan-admin
building: tower-a
buses:
  - {id: gw1, tcp: {host: 127.0.0.1, port: 5020}}
  - {id: line1, rtu: {port: /dev/ttyUSB0, baudrate: 9600, parity: N}}
templates:
  floor-meter: {bus: gw1, profile: chint/dtsu666, interval: 5s, tags: {system: lighting}}
devices:
  - {id: main-meter, bus: gw1, unit: 1, profile: chint/dtsu666, interval: 5s,
     tags: {system: total, floor: B1}}
  - {id: "floor-{unit}", template: floor-meter, units: 2-20, tags: {wing: east}}
  - {id: ahu-1, bus: line1, unit: 1, profile: steward/hvac-zone, interval: 10s,
     points: [zone_temperature, cooling_setpoint]}
"""


def write(tmp_path, text):
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_templates_and_unit_ranges_expand(tmp_path):
    site = load_site(write(tmp_path, GOOD))
    assert [d.id for d in site.devices][:3] == ["main-meter", "floor-2", "floor-3"]
    assert len(site.devices) == 1 + 19 + 1
    floor7 = next(d for d in site.devices if d.id == "floor-7")
    assert (floor7.bus, floor7.unit, floor7.interval) == ("gw1", 7, 5.0)
    assert floor7.tags == {"system": "lighting", "wing": "east"}
    assert floor7.profile.id == "chint/dtsu666"
    ahu = site.devices[-1]
    assert ahu.points == ("zone_temperature", "cooling_setpoint")
    assert site.edge == "zhoushan-admin.tower-a"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # (text to replace in GOOD, (replacement)), message fragments that must all appear
        (
            (
                "interval: 5s,\n     tags: {system: total",
                "interval: 5 parsecs,\n     tags: {system: total",
            ),
            ["line 9", "devices[0].interval", "not a duration"],
        ),
        (
            ("profile: chint/dtsu666, interval: 5s,\n", "profile: chint/dtsu999, interval: 5s,\n"),
            ["line 9", "devices[0].profile", "no profile 'chint/dtsu999'", "chint/dtsu666"],
        ),
        (
            ("bus: line1, unit: 1", "bus: line9, unit: 1"),
            ["line 12", "devices[2].bus", "unknown bus 'line9'"],
        ),
        (("units: 2-20", "units: 20-2"), ["line 11", "devices[1].units", "low to high"]),
        (
            ("units: 2-20", "units: 1-20"),
            ["line 11", "unit 1 on bus gw1 is already device 'main-meter'"],
        ),
        (
            ("port: 5020}", "port: 99999}"),
            ["line 4", "buses[0].tcp.port", "less than or equal to 65535"],
        ),
        (("{id: gw1, tcp:", "{id: gw1, tpc:"), ["line 4", "buses[0].tpc", "unknown field"]),
        (
            ("template: floor-meter", "template: floor-metre"),
            ["line 11", "unknown template 'floor-metre'", "floor-meter"],
        ),
        (
            ("points: [zone_temperature, cooling_setpoint]", "points: [zone_temp]"),
            ["line 13", "devices[2].points", "no point(s) zone_temp"],
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path, change, expected):
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_site(path)
    message = str(err.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, GOOD.replace("  - {id: gw1", "  - {id: gw1 [", 1))
    with pytest.raises(ConfigError, match=r"site.yaml: line 4, column \d+: invalid YAML"):
        load_site(path)


def test_every_problem_is_reported_at_once(tmp_path):
    text = GOOD.replace("bus: line1, unit: 1", "bus: nowhere, unit: 1").replace(
        "units: 2-20", "units: 0-3"
    )
    with pytest.raises(ConfigError) as err:
        load_site(write(tmp_path, text))
    assert len(err.value.problems) == 2


def test_check_command_prints_the_plan_and_rejects_bad_files(tmp_path):
    import subprocess
    import sys

    ok = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check", str(write(tmp_path, GOOD))],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    main = next(line for line in ok.stdout.splitlines() if "main-meter" in line)
    # A DTSU666 with every point, canonical or not, in at most 3 requests.
    requests = int(re.search(r"in (\d+) requests", main).group(1))
    assert requests <= 3
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "check",
            str(write(tmp_path, GOOD.replace("port: 5020", "port: x"))),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "line 4" in bad.stderr and "buses[0].tcp.port" in bad.stderr


@pytest.mark.parametrize(
    ("tags", "named"),
    [
        ('{"": x}', "tags"),
        ('{floor: "B1\\u202e"}', "tags"),
        ('{floor: "B1\\nB2"}', "tags"),
        ("{note: " + "x" * 300 + "}", "tags"),
    ],
    ids=["empty-key", "bidi-override", "newline", "too-long"],
)
def test_tags_the_api_would_refuse_are_a_config_error(tmp_path, tags, named):
    # The API refuses such tags (edge.model.TagKey/TagValue) and would dead-letter every
    # record of the device: the site file is the place to say so, with the line.
    text = GOOD.replace("tags: {system: total, floor: B1}", f"tags: {tags}")
    with pytest.raises(ConfigError) as err:
        load_site(write(tmp_path, text))
    message = str(err.value)
    assert "line 10" in message and named in message, message
