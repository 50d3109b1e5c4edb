"""Wiring mistakes a site file must refuse, named by file, line and field: two buses on
one serial port or one gateway, and a device at the broadcast address (unit 0)."""

from __future__ import annotations

import pytest

from device_profiles import ConfigError
from edge.config import load_site

SITE = """\
site: s
building: b
buses:
  - {id: gw1, tcp: {host: 10.0.0.7, port: 502}}
  - {id: line1, rtu: {port: /dev/ttyUSB0, baudrate: 9600}}
  - {id: conv1, rtu: {port: 'socket://10.0.0.8:4001', baudrate: 9600}}
devices:
  - {id: main, bus: gw1, unit: 1, profile: chint/dtsu666}
  - {id: ahu, bus: line1, unit: 2, profile: chint/dtsu666}
  - {id: pump, bus: conv1, unit: 3, profile: chint/dtsu666}
"""


def _load(tmp_path, text):
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path, lambda: load_site(path)


def test_distinct_ports_and_gateways_load(tmp_path):
    _, load = _load(tmp_path, SITE)
    assert sorted(load().buses) == ["conv1", "gw1", "line1"]


ADD_BUS = "devices:\n"


@pytest.mark.parametrize(
    ("extra_bus", "fragments"),
    [
        (
            "  - {id: gw2, tcp: {host: 10.0.0.7, port: 502, max_connections: 1}}\n",
            ["line 7", "buses[3].tcp.host", "'gw2'", "10.0.0.7:502", "'gw1'"],
        ),
        (
            "  - {id: line2, rtu: {port: /dev/ttyUSB0, baudrate: 19200}}\n",
            ["line 7", "buses[3].rtu.port", "'line2'", "/dev/ttyUSB0", "'line1'"],
        ),
        (  # the same converter, written as a TCP gateway and as RTU over TCP
            "  - {id: conv2, tcp: {host: 10.0.0.8, port: 4001}}\n",
            ["line 7", "buses[3].tcp.host", "'conv2'", "'conv1'", "socket://10.0.0.8:4001"],
        ),
    ],
    ids=["same-gateway", "same-serial-port", "gateway-and-rtu-over-tcp"],
)
def test_two_buses_on_one_port_are_refused_naming_both(tmp_path, extra_bus, fragments):
    text = SITE.replace(ADD_BUS, extra_bus + ADD_BUS, 1)
    path, load = _load(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load()
    message = str(err.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_same_host_on_another_port_is_fine(tmp_path):
    text = SITE.replace(ADD_BUS, "  - {id: gw2, tcp: {host: 10.0.0.7, port: 503}}\n" + ADD_BUS)
    _, load = _load(tmp_path, text)
    assert "gw2" in load().buses


def test_unit_0_broadcast_is_refused_for_reads(tmp_path):
    path, load = _load(tmp_path, SITE.replace("bus: line1, unit: 2", "bus: line1, unit: 0"))
    with pytest.raises(ConfigError) as err:
        load()
    message = str(err.value)
    for fragment in (str(path), "line 9", "devices[1].unit", "broadcast"):
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_unit_range_including_0_is_refused(tmp_path):
    old, new = "{id: pump, bus: conv1, unit: 3,", "{id: 'p{unit}', bus: conv1, units: 0-3,"
    text = SITE.replace(old, new)
    path, load = _load(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load()
    for fragment in (str(path), "line 10", "devices[2].units", "1..247"):
        assert fragment in str(err.value)
