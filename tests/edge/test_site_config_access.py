"""Site files with access devices: mqtt:, doors:, patrol: and directives: are validated up
front, and every mistake names the file, the line and the field."""

from __future__ import annotations

import pytest

from device_profiles import ConfigError
from edge.config import load_site

ACCESS_ONLY = """\
site: s1
building: b1
outbox: {path: outbox.sqlite}
mqtt:
  port: 1884
  username: edge
  password_file: secrets/mqtt.pw
  devices:
    - {id: d1-contact, map: zigbee2mqtt/contact, door: D1, params: {friendly_name: d1}}
    - {id: lobby-reader, map: steward/access-v1, door: D1}
    - {id: cp-reader, map: tasmota/rfid-checkpoint}
doors:
  defaults: {held_open_s: 5}
  doors: {D1: {held_open_s: 8}}
  heartbeats: {d1-contact: 120}
patrol:
  tz: UTC
  routes:
    - route: night
      starts: ["22:00"]
      checkpoints: [{id: A, offset: 0, tolerance: 30}, {id: B, offset: 120, tolerance: 30}]
"""


def write(tmp_path, text: str):
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "mqtt.pw").write_text("pw\n")
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def problems(tmp_path, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_site(write(tmp_path, text))
    return str(err.value)


def test_a_site_with_only_access_devices_loads(tmp_path):
    site = load_site(write(tmp_path, ACCESS_ONLY))
    assert site.devices == [] and site.buses == {}
    assert site.mqtt is not None and site.mqtt.devices[0].id == "d1-contact"
    # Relative to the site file, not to where the agent was started.
    assert site.mqtt.password_file == tmp_path / "secrets" / "mqtt.pw"
    assert site.doors.for_door("D1").held_open_s == 8.0
    assert site.doors.for_door("D9").held_open_s == 5.0
    assert [p.route for p in site.patrol] == ["night"]
    assert site.patrol[0].checkpoints[1].offset == 120.0


def test_a_site_with_neither_modbus_nor_mqtt_is_refused(tmp_path):
    text = "site: s1\nbuilding: b1\n"
    msg = problems(tmp_path, text)
    assert "buses and devices missing" in msg and "mqtt:" in msg


def test_an_unknown_payload_map_names_line_field_and_known_maps(tmp_path):
    text = ACCESS_ONLY.replace("map: steward/access-v1", "map: steward/access-v2")
    msg = problems(tmp_path, text)
    assert "site.yaml" in msg
    assert "line 10, mqtt.devices[1].map" in msg
    assert "steward/access-v1" in msg and "zigbee2mqtt/contact" in msg  # the known ones


def test_a_missing_password_file_is_named_with_its_resolved_path(tmp_path):
    text = ACCESS_ONLY.replace("secrets/mqtt.pw", "secrets/nope.pw")
    msg = problems(tmp_path, text)
    assert "line 7, mqtt.password_file" in msg and str(tmp_path / "secrets" / "nope.pw") in msg


def test_a_door_override_for_a_door_no_device_has_is_refused(tmp_path):
    text = ACCESS_ONLY.replace("doors: {D1: {held_open_s: 8}}", "doors: {D2: {held_open_s: 8}}")
    msg = problems(tmp_path, text)
    assert "line 14, doors.doors.D2" in msg and "'D2' is not the door of any mqtt device" in msg
    assert "D1" in msg  # the doors that exist


def test_a_heartbeat_for_an_unknown_device_is_refused(tmp_path):
    text = ACCESS_ONLY.replace("heartbeats: {d1-contact: 120}", "heartbeats: {d1-contakt: 120}")
    msg = problems(tmp_path, text)
    assert "line 15, doors.heartbeats.d1-contakt" in msg and "d1-contact" in msg


def test_bad_door_settings_and_patrol_plans_are_named(tmp_path):
    text = ACCESS_ONLY.replace("held_open_s: 5}", "held_open_s: -5}").replace(
        "offset: 120", "offset: soon"
    )
    msg = problems(tmp_path, text)
    assert "line 12, doors:" in msg and "held_open_s" in msg
    assert "line 16, patrol:" in msg and "patrol route night checkpoint #2 (B)" in msg


def test_two_devices_on_one_topic_and_a_bad_mqtt_field_are_named(tmp_path):
    text = ACCESS_ONLY.replace(
        "- {id: lobby-reader, map: steward/access-v1, door: D1}",
        "- {id: d1-twin, map: zigbee2mqtt/contact, params: {friendly_name: d1}}",
    ).replace("port: 1884", "port: 99999")
    msg = problems(tmp_path, text)
    assert "line 5, mqtt.port" in msg
    text = ACCESS_ONLY.replace(
        "- {id: lobby-reader, map: steward/access-v1, door: D1}",
        "- {id: d1-twin, map: zigbee2mqtt/contact, params: {friendly_name: d1}}",
    )
    msg = problems(tmp_path, text)
    assert "mqtt.devices" in msg and "'d1-contact' and 'd1-twin' both use topic" in msg


def test_sections_that_need_another_are_named(tmp_path):
    no_outbox = ACCESS_ONLY.replace("outbox: {path: outbox.sqlite}\n", "")
    assert "mqtt: needs an outbox: section" in problems(tmp_path, no_outbox)
    directives = ACCESS_ONLY + "directives: {every: 5s}\n"
    msg = problems(tmp_path, directives)
    assert "line 22, directives: needs an uplink: section" in msg


def test_directives_with_an_uplink_load(tmp_path):
    text = ACCESS_ONLY + "uplink: {url: 'http://127.0.0.1:1', token: t}\ndirectives: {every: 2s}\n"
    site = load_site(write(tmp_path, text))
    assert site.directives is not None and site.directives.every == 2.0
