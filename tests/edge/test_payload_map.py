"""Payload maps: every case folder under testcases_payloads/ maps exactly as expected.json says.

A case is <format>/<name>/{topic.txt, payload.json|payload.txt, expected.json}; the
format folder's binding.json names the shipped map and the device. expected.json holds
the arrival time and either the events (worked out by hand from the payload) or the
refusal reason.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from device_profiles.payload_maps import load_map
from edge.acquire.payload_map import REFUSAL_REASONS, DeviceBinding, Refusal, map_payload

CASES = Path(__file__).parent / "testcases_payloads"


def binding_for(fmt_dir: Path) -> DeviceBinding:
    spec = json.loads((fmt_dir / "binding.json").read_text())
    return DeviceBinding(
        device=spec["device"],
        map=load_map(spec["map"]),
        door=spec.get("door"),
        params=spec.get("params", {}),
        invert=spec.get("invert", False),
    )


def case_dirs() -> list[Path]:
    return sorted(p.parent for p in CASES.glob("*/*/expected.json"))


@pytest.mark.parametrize("case", case_dirs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_payload_case_maps_as_worked_out_by_hand(case: Path) -> None:
    binding = binding_for(case.parent)
    topic = (case / "topic.txt").read_text().strip()
    payload_file = next(case.glob("payload.*"))
    expected = json.loads((case / "expected.json").read_text())
    got = map_payload(topic, payload_file.read_bytes(), expected["arrival"], binding)
    if "refusal" in expected:
        assert expected["refusal"] in REFUSAL_REASONS
        assert isinstance(got, Refusal), f"expected refusal {expected['refusal']}, got {got}"
        assert got.reason == expected["refusal"], got.detail
        assert topic in got.detail  # the dead letter names where it came from
    else:
        assert not isinstance(got, Refusal), got
        assert [asdict(e) for e in got] == expected["events"]


def test_every_shipped_map_has_cases_and_valid_and_refused_ones() -> None:
    from device_profiles.payload_maps import builtin_maps

    used = {json.loads(b.read_text())["map"] for b in CASES.glob("*/binding.json")}
    assert used == set(builtin_maps().ids())
    outcomes = {"events": 0, "refusal": 0}
    for case in case_dirs():
        outcomes["refusal" if "refusal" in (case / "expected.json").read_text() else "events"] += 1
    assert outcomes["events"] >= 10 and outcomes["refusal"] >= 10


def test_binding_topics_fill_the_params() -> None:
    b = binding_for(CASES / "shelly-input-gen2-inverted")
    assert b.topics() == ["shelly1g3-ab12/events/rpc", "shelly1g3-ab12/status/input:1"]
    b = binding_for(CASES / "zigbee2mqtt-contact")
    assert b.topics() == ["zigbee2mqtt/door_101_contact"]


def test_binding_with_an_unknown_param_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="no param frendly_name"):
        DeviceBinding(device="d", map=load_map("zigbee2mqtt/contact"), params={"frendly_name": "x"})


def test_register_catalog_does_not_list_payload_maps() -> None:
    from device_profiles import Catalog

    assert not [pid for pid in Catalog().ids() if pid.startswith("payload_maps")]


def test_a_broken_map_file_names_file_line_and_field(tmp_path: Path) -> None:
    from device_profiles.payload_maps import load_map_file
    from device_profiles.sourced_yaml import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: broken\n"
        "verified: false\n"
        "messages:\n"
        "  - topic: a/{device}/+\n"
        "    payload: json\n"
        "    rules:\n"
        "      - {kind: door.exploded}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_map_file(bad)
    text = str(err.value)
    assert "bad.yaml" in text and "line 7" in text and "rules[0].kind" in text
    bad.write_text(
        "name: broken\nverified: false\nmessages:\n"
        "  - topic: a/{device}/+\n    payload: json\n    rules: [{kind: door.opened}]\n"
    )
    with pytest.raises(ConfigError, match=r"line 4, messages\[0\]: .*wildcards"):
        load_map_file(bad)


def test_steward_json_schema_lists_exactly_the_access_vocabulary() -> None:
    from device_profiles.wire_rules import ACCESS_KINDS
    from edge.rules.access_events import AccessKind

    schema_file = Path(__file__).parents[2] / "device_profiles/steward-access-v1.schema.json"
    schema = json.loads(schema_file.read_text())
    assert schema["properties"]["event"]["enum"] == list(ACCESS_KINDS)
    assert set(ACCESS_KINDS) == set(AccessKind.__args__)
    assert schema["required"] == ["v", "event"]
