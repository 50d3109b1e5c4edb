"""Control settings: a red budget sets up only while fresh; config errors name where."""

from __future__ import annotations

from pathlib import Path

from edge.config import load_site
from edge.control.commands import budget_setup, shed_point
from edge.directives import ControlDirectives


def config(tmp_path: Path, budget: str = "budget: {setup_k: 1.0, max_age: 15min}"):
    site = tmp_path / "site.yaml"
    site.write_text(
        f"""site: s1
building: hall
outbox: {{path: o.sqlite}}
buses: [{{id: hv, tcp: {{host: 127.0.0.1, port: 5021}}}}]
devices:
  - {{id: ahu-1, bus: hv, profile: steward/hvac-zone, unit: 1}}
control:
  {budget}
  zones: [{{device: ahu-1, priority: 1}}]
"""
    )
    return load_site(site).control


def test_red_and_fresh_allows_the_setup_stale_or_not_red_allows_nothing(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    red = ControlDirectives(fetched_at=1000.0, budget_colour="red", budget_id="b1")
    assert budget_setup(cfg, red, 1000.0 + 900)[0] == 1.0  # 15 min old: still fresh
    k, why = budget_setup(cfg, red, 1000.0 + 901)
    assert (k, "stale" in why) == (0.0, True)
    for colour in ("yellow", "green", None):
        d = ControlDirectives(fetched_at=1000.0, budget_colour=colour)
        assert budget_setup(cfg, d, 1000.0)[0] == 0.0
    assert budget_setup(cfg, None, 1000.0)[0] == 0.0  # never pulled: nothing


def test_without_a_budget_section_a_red_budget_does_nothing(tmp_path: Path) -> None:
    cfg = config(tmp_path, budget="mode: advise")
    red = ControlDirectives(fetched_at=1000.0, budget_colour="red", budget_id="b1")
    assert budget_setup(cfg, red, 1000.0)[0] == 0.0


def test_a_heating_zone_sheds_by_lowering_its_heating_setpoint() -> None:
    assert shed_point({"mode": 1.0}) == ("cooling_setpoint", 1.0)
    assert shed_point({"mode": 2.0}) == ("heating_setpoint", -1.0)
    assert shed_point({"mode": 0.0, "running_state": 2.0}) == ("heating_setpoint", -1.0)
    assert shed_point({}) == ("cooling_setpoint", 1.0)


def test_control_config_errors_name_the_line_and_field(tmp_path: Path) -> None:
    import pytest

    from device_profiles.sourced_yaml import ConfigError

    site = tmp_path / "site.yaml"
    site.write_text(
        """site: s1
building: hall
outbox: {path: o.sqlite}
buses: [{id: hv, tcp: {host: 127.0.0.1, port: 5021}}]
devices:
  - {id: ahu-1, bus: hv, profile: steward/hvac-zone, unit: 1}
  - {id: main, bus: hv, profile: chint/dtsu666, unit: 2}
demand: {meter: nowhere, limit_kw: 100}
control:
  zones:
    - {device: main, priority: 1}
    - {device: ahu-1, priority: 2, defaults: {cooling_setpoint: 24}}
"""
    )
    with pytest.raises(ConfigError) as err:
        load_site(site)
    text = str(err.value)
    assert "line 8, demand.meter: unknown device 'nowhere'" in text
    assert "control.zones[0].device: main (chint/dtsu666) has no writable" in text
    assert "control.zones[1].defaults.cooling_setpoint: 24 is under the cooling floor 26" in text


def test_a_shed_keeps_its_point_while_held_even_when_the_zone_stops_heating(
    tmp_path: Path,
) -> None:
    """Lowering a heating setpoint stops the heating: the next step must not move the shed
    to the cooling setpoint (the demo's defect: heating 18.5 / cooling 27.5 flip-flop)."""
    from edge.control.commands import rule_commands
    from edge.control.zone_control import ControlCore

    cfg = config(tmp_path)
    core = ControlCore(cfg.interlocks, {z.device: z.points for z in cfg.zones})
    heating = {
        "mode": 0.0,
        "running_state": 2.0,
        "cooling_setpoint": 26.0,
        "heating_setpoint": 20.0,
    }
    core.observe("ahu-1", heating, 0.0)
    first = rule_commands(core, cfg, {"ahu-1": 0.5}, (0.0, ""), 100.0, {"ahu-1": heating}, 0.0)
    assert [(c.point, c.value) for c in first] == [("heating_setpoint", 19.5)]
    fan_only = {**heating, "running_state": 3.0}  # the shed worked: no more heating
    again = rule_commands(core, cfg, {"ahu-1": 1.0}, (0.0, ""), 100.0, {"ahu-1": fan_only}, 60.0)
    assert [(c.point, c.value, c.state) for c in again] == [("heating_setpoint", 19.0, "active")]


def test_nothing_left_to_shed_is_an_event_with_a_source_the_api_takes(tmp_path: Path) -> None:
    from edge.control.loop import ControlLoop
    from edge.model import EventRecord

    site = tmp_path / "site.yaml"
    site.write_text(
        """site: s1
building: hall
outbox: {path: o.sqlite}
buses: [{id: hv, tcp: {host: 127.0.0.1, port: 5021}}]
devices:
  - {id: ahu-1, bus: hv, profile: steward/hvac-zone, unit: 1}
  - {id: main, bus: hv, profile: chint/dtsu666, unit: 2}
demand: {meter: main, limit_kw: 10, from: power}
control:
  zones: [{device: ahu-1, priority: 1}]
"""
    )
    s = load_site(site)
    loop = ControlLoop(s.demand, s.control)
    from edge.model import Reading, Sample

    t0 = 1_784_095_200.0
    for i in range(12):  # 50 kW for 6 minutes: at risk; ahu-1 never answered: nothing to shed
        ts = t0 + 30 * i
        loop.take(Sample(ts, "main", [Reading(ts, "main", "active_power", 50.0, "kW")], {}))
        records, _ = loop.plan(ts)
        for r in records:
            EventRecord.model_validate({"seq": 1, **r.wire()})
    codes = [r.code for r in records]
    assert loop.counts["nothing_left"] >= 1, codes
