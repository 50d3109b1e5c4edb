"""A scenario is its own test: its events, rendered in their devices' formats and mapped
back by the edge's mapper, go through the pure door and patrol rules (a tick every
second, as the edge does), and the alarms raised must be exactly the scenario's `expect`
list (worked out by hand in the file): same code and source, time within tolerance, no
others. Whatever the time of day or the speed it is played at."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from device_profiles.sourced_yaml import ConfigError
from edge.acquire.payload_map import map_payload
from edge.rules.door_config import DoorRulesConfig, passes_from
from edge.rules.doors import DoorRules
from edge.rules.patrol import PatrolEngine
from simulators.access import (
    expected_alarms,
    load_scenario,
    render_passes,
    render_site,
    schedule,
    shipped,
)

FORMATS = {
    "steward/access-v1",
    "zigbee2mqtt/contact",
    "tasmota/rfid-checkpoint",
    "tasmota/rfid-badge",
    "shelly/dw-gen1",
    "shelly/input-gen2",
}
MIDNIGHT_ISH = 1796227170.3  # 2026-12-02 23:59:30.3 +08:00: rounds cross midnight
AFTERNOON = 1764662415.0  # 2025-12-02 16:00:15 +08:00, a working day


def raised(name: str, start: float, speed: float = 1.0, loops: int = 1) -> list[tuple]:
    """(code, source, ts) of every alarm raised, as the edge's rules would raise them."""
    scenario = load_scenario(shipped(name))
    site = render_site(scenario, start, ("127.0.0.1", 1883), speed, loops)
    doors = DoorRules(
        DoorRulesConfig.from_dict(site["doors"]),
        passes_from(render_passes(scenario, start, speed, loops)),
    )
    patrol = PatrolEngine(site["patrol"], since=start)
    by_topic = {t: b for b in scenario.bindings().values() for t in b.topics()}
    plan = schedule(scenario, start, speed, loops)
    end = start + loops * scenario.length / speed + 2
    conditions = []
    t, i = math.floor(start), 0
    while t <= end:
        while i < len(plan) and plan[i].ts <= t:
            msg = plan[i].message
            events = map_payload(msg.topic, msg.payload, plan[i].ts, by_topic[msg.topic])
            assert isinstance(events, list) and len(events) == 1, (msg, events)
            conditions += doors.feed(events[0]) + patrol.feed(events[0])
            i += 1
        t += 1
        conditions += doors.tick(t) + patrol.tick(t)
    assert i == len(plan)
    return [(c.code, c.source, c.ts) for c in conditions if c.active]


def assert_matches(got: list[tuple], name: str, start: float, speed: float = 1.0, loops=1):
    want = expected_alarms(load_scenario(shipped(name)), start, speed, loops)
    assert sorted((c, s) for c, s, _ in got) == sorted((a.code, a.source) for a in want)
    for a in want:
        times = [ts for c, s, ts in got if (c, s) == (a.code, a.source)]
        assert any(abs(ts - a.ts) <= a.tolerance for ts in times), (a, times)


@pytest.mark.parametrize("name", ["compressed-night", "building-day"])
@pytest.mark.parametrize("when", ["nominal", "midnight", "afternoon"])
def test_the_scenario_raises_exactly_its_expected_alarms(name, when):
    scenario = load_scenario(shipped(name))
    start = {"nominal": scenario.nominal_start, "midnight": MIDNIGHT_ISH,
             "afternoon": AFTERNOON}[when]  # fmt: skip
    assert_matches(raised(name, start), name, start)


def test_compressed_night_means_the_same_at_double_speed():
    assert_matches(raised("compressed-night", AFTERNOON, speed=2.0), "compressed-night",
                   AFTERNOON, speed=2.0)  # fmt: skip


def test_building_day_loops_raise_its_alarms_once_per_loop():
    start = load_scenario(shipped("building-day")).nominal_start
    got = raised("building-day", start, loops=2)
    # One alarm per (code, source) in the API, but each loop raises its own anomalies.
    assert_matches(got, "building-day", start, loops=2)


def test_compressed_night_is_the_acceptance_night():
    scenario = load_scenario(shipped("compressed-night"))
    assert scenario.length <= 100
    assert {d.map for d in scenario.site.mqtt.devices} == FORMATS
    used = {scenario.bindings()[e.device].map.id for e in scenario.events}
    assert used == FORMATS  # every format carries at least one event
    assert sorted(x.code for x in scenario.expect) == sorted([
        "patrol.missed", "patrol.incomplete", "patrol.out_of_order", "door.forced",
        "door.held_open", "access.denied_burst", "door.tailgate",
        "access.visitor_outside_pass", "access.duress",
    ])  # fmt: skip
    rounds = scenario.site.patrol["routes"][0]
    assert len(rounds["starts_at"]) == 2 and len(rounds["checkpoints"]) == 3


def test_rendered_site_is_the_same_whatever_the_time_of_day_but_for_the_round_starts():
    scenario = load_scenario(shipped("compressed-night"))
    a = render_site(scenario, AFTERNOON, ("10.0.0.5", 1884))
    b = render_site(scenario, MIDNIGHT_ISH, ("10.0.0.5", 1884))
    assert a["mqtt"]["host"] == "10.0.0.5" and a["mqtt"]["port"] == 1884
    assert a["patrol"]["routes"][0]["starts"] == ["16:00:25", "16:01:05"]
    assert b["patrol"]["routes"][0]["starts"] == ["23:59:40.300000", "00:00:20.300000"]
    for site in (a, b):
        site["patrol"]["routes"][0].pop("starts")
    assert a == b
    assert a["doors"]["defaults"]["after_hours"] is False


def test_passes_and_expected_alarms_are_rendered_in_real_time():
    scenario = load_scenario(shipped("compressed-night"))
    (p,) = render_passes(scenario, 1000.0, speed=2.0)
    assert (p["credential"], p["valid_from"], p["valid_to"], p["doors"]) == (
        "V900", 1000.0, 1047.5, ["D1"])  # fmt: skip
    duress = [a for a in expected_alarms(scenario, 1000.0, 2.0) if a.code == "access.duress"]
    assert [(a.source, a.ts) for a in duress] == [("D1", 1020.0)]


BASE = """\
name: t
start: "2025-03-03T22:00:00+08:00"
site:
  mqtt:
    devices:
      - {id: c1, map: zigbee2mqtt/contact, door: D1}
events:
  - {at: 1, device: c1, kind: door.opened}
"""


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("2025-03-03T22:00:00+08:00", "2025-03-03T22:00:00"), "line 2, start: "),
        (("device: c1, kind", "device: c9, kind"), "line 8, events[0].device: 'c9' is not in"),
        (("kind: door.opened", "kind: door.opend"), "line 8, events[0].kind"),
        (("kind: door.opened", "kind: access.granted"), "cannot report access.granted"),
        (("map: zigbee2mqtt/contact", "map: zigbee/nope"), "no payload map 'zigbee/nope'"),
        (("{at: 1,", "{at: -1,"), "events[0].at"),
        (
            ("events:", "expect: [{code: door.opened, source: D1, at: 1}]\nevents:"),
            "'door.opened' is not an alarm code",
        ),
        (("events:", "colour: red\nevents:"), "colour: unknown field"),
        (
            ("events:", "expect: [{code: door.forced, source: D1, at: 1}]\nduration: 0.5\nevents:"),
            "after the scenario's end",
        ),
        (("events:", "site2: 1\nevents:"), "site2: unknown field"),
    ],
)
def test_a_bad_scenario_is_refused_naming_file_line_and_field(tmp_path, change, words):
    old, new = change
    assert old in BASE
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert str(path) in str(err.value) and words in str(err.value), str(err.value)


def test_patrol_routes_take_start_offsets_not_wall_clock_times(tmp_path):
    text = BASE.replace(
        "events:",
        "  patrol: {routes: [{route: r, starts: ['22:00'], checkpoints: [{id: a, offset: 1}]}]}\n"
        "events:",
    )
    path = tmp_path / "wall.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="route r: give starts_at"):
        load_scenario(path)


def test_shipped_scenarios_are_listed_by_name():
    with pytest.raises(ValueError, match="shipped: building-day, compressed-night"):
        shipped("nope")
    assert Path(shipped("compressed-night")).name == "compressed-night.yaml"


def test_print_site_is_yaml_an_operator_can_paste(capsys):
    import yaml

    from simulators.cli import main

    iso = "2026-12-02T22:00:00+08:00"
    rc = main(["access", "--scenario", "compressed-night", "--start", iso,
               "--broker", "10.1.2.3:1884", "--print-site"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    scenario = load_scenario(shipped("compressed-night"))
    start = 1796220000.0  # 2026-12-02 22:00:00 +08:00
    assert yaml.safe_load(out) == render_site(scenario, start, ("10.1.2.3", 1884))
    assert f"--start {iso}" in out and '"credential": "V900"' in out


def test_the_command_names_a_bad_broker_or_scenario(capsys, tmp_path):
    from simulators.cli import main

    with pytest.raises(SystemExit):
        main(["access", "--scenario", "compressed-night", "--broker", "localhost"])
    assert "give HOST:PORT" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("device: c1, kind", "device: c9, kind"))
    assert main(["access", "--scenario", str(bad), "--print-site"]) == 2
    assert "events[0].device: 'c9'" in capsys.readouterr().err


def test_a_bad_rule_setting_or_pass_is_named(tmp_path):
    doors = BASE.replace("events:", "  doors: {defaults: {held_open_s: -1}}\nevents:")
    passes = BASE.replace(
        "events:", "passes: [{credential: V1, valid_from: 9, valid_to: 3, doors: [D1]}]\nevents:"
    )
    cases = [
        (doors, "line 7, site.doors: defaults.held_open_s: must be a positive"),
        (passes, "passes: pass V1: valid_to must be after valid_from"),
    ]
    for text, words in cases:
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=words):
            load_scenario(path)
