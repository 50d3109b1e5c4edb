"""The simulator speaks each shipped payload format as its devices do: hand-written
payloads per format (testcases folder), and every rendered message maps back through the
edge's own mapper to the event the scenario meant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_profiles.payload_maps import load_map
from edge.acquire.payload_map import DeviceBinding, map_payload
from simulators.access_formats import RENDERERS, FormatError, SimEvent, render

CASES = Path(__file__).parent / "testcases_access_formats"
SHIPPED = {
    "steward/access-v1",
    "zigbee2mqtt/contact",
    "tasmota/rfid-checkpoint",
    "tasmota/rfid-badge",
    "shelly/dw-gen1",
    "shelly/input-gen2",
}
TS = 1796220065.25  # 2026-12-02 22:01:05.25 +08:00
ARRIVAL = TS + 0.4  # the edge receives it a little later


def binding(spec: dict) -> DeviceBinding:
    return DeviceBinding(
        spec["device"],
        load_map(spec["map"]),
        spec.get("door"),
        dict(spec.get("params", {})),
        spec.get("invert", False),
    )


def sim_event(spec: dict) -> SimEvent:
    return SimEvent(at=0, device="", **spec)


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_rendered_payload_is_the_hand_written_one(case):
    folder = CASES / case
    spec = json.loads((folder / "case.json").read_text())
    got = render(sim_event(spec["event"]), binding(spec["binding"]), spec["ts"])
    assert got.topic == (folder / "topic.txt").read_text().strip()
    assert got.payload == next(folder.glob("payload.*")).read_bytes()


def test_the_hand_written_cases_cover_every_shipped_format():
    maps = {json.loads(p.read_text())["binding"]["map"] for p in CASES.glob("*/case.json")}
    assert maps == SHIPPED == set(RENDERERS)


B = {
    "steward": {"device": "ctrl-b1", "map": "steward/access-v1", "door": "door-101"},
    "zigbee": {"device": "lobby-contact", "map": "zigbee2mqtt/contact", "door": "D1"},
    "zigbee-inv": {"device": "z2", "map": "zigbee2mqtt/contact", "door": "D9", "invert": True},
    "badge": {"device": "side-reader", "map": "tasmota/rfid-badge", "door": "D2"},
    "checkpoint": {"device": "cp-1", "map": "tasmota/rfid-checkpoint"},
    "gen1": {"device": "shellydw2-side", "map": "shelly/dw-gen1", "door": "D2"},
    "gen1-inv": {"device": "dw9", "map": "shelly/dw-gen1", "door": "D9", "invert": True},
    "gen2": {"device": "shellyplus1-dock", "map": "shelly/input-gen2", "door": "D3"},
    "gen2-inv": {
        "device": "pro4",
        "map": "shelly/input-gen2",
        "door": "D4",
        "params": {"component": "input:2"},
        "invert": True,
    },
}

# (binding, event, expected (kind, device, door, credential, reason), format has a time)
ROUND_TRIPS = [
    ("steward", {"kind": "access.granted", "credential": "C1"},
     ("access.granted", "ctrl-b1", "door-101", "C1", None), True),
    ("steward", {"kind": "access.denied", "credential": "C2", "reason": "expired"},
     ("access.denied", "ctrl-b1", "door-101", "C2", "expired"), True),
    ("steward", {"kind": "access.duress", "credential": "C3", "door": "D7", "reader": "r7"},
     ("access.duress", "r7", "D7", "C3", None), True),
    ("steward", {"kind": "exit.request"},
     ("exit.request", "ctrl-b1", "door-101", None, None), True),
    ("steward", {"kind": "door.opened"}, ("door.opened", "ctrl-b1", "door-101", None, None), True),
    ("steward", {"kind": "door.closed"}, ("door.closed", "ctrl-b1", "door-101", None, None), True),
    ("steward", {"kind": "door.tamper"}, ("door.tamper", "ctrl-b1", "door-101", None, None), True),
    ("steward", {"kind": "patrol.scan", "credential": "G7"},
     ("patrol.scan", "ctrl-b1", "door-101", "G7", None), True),
    ("steward", {"kind": "access.granted", "credential": "沪A12345", "data": {"plate": True}},
     ("access.granted", "ctrl-b1", "door-101", "沪A12345", None), True),
    ("zigbee", {"kind": "door.opened"}, ("door.opened", "lobby-contact", "D1", None, None), True),
    ("zigbee", {"kind": "door.closed"}, ("door.closed", "lobby-contact", "D1", None, None), True),
    ("zigbee", {"kind": "door.tamper"}, ("door.tamper", "lobby-contact", "D1", None, None), True),
    ("zigbee-inv", {"kind": "door.opened"}, ("door.opened", "z2", "D9", None, None), True),
    ("zigbee-inv", {"kind": "door.closed"}, ("door.closed", "z2", "D9", None, None), True),
    ("badge", {"kind": "access.granted", "credential": "0012AB34"},
     ("access.granted", "side-reader", "D2", "0012AB34", None), True),
    ("badge", {"kind": "access.granted", "credential": "94D8FC5F", "variant": "PN532"},
     ("access.granted", "side-reader", "D2", "94D8FC5F", None), True),
    ("checkpoint", {"kind": "patrol.scan", "credential": "G7"},
     ("patrol.scan", "cp-1", None, "G7", None), True),
    ("checkpoint", {"kind": "patrol.scan", "credential": "G8", "variant": "PN532"},
     ("patrol.scan", "cp-1", None, "G8", None), True),
    ("gen1", {"kind": "door.opened"}, ("door.opened", "shellydw2-side", "D2", None, None), False),
    ("gen1", {"kind": "door.closed"}, ("door.closed", "shellydw2-side", "D2", None, None), False),
    ("gen1-inv", {"kind": "door.opened"}, ("door.opened", "dw9", "D9", None, None), False),
    ("gen2", {"kind": "door.opened"}, ("door.opened", "shellyplus1-dock", "D3", None, None), True),
    ("gen2", {"kind": "door.closed", "variant": "notify_event"},
     ("door.closed", "shellyplus1-dock", "D3", None, None), True),
    ("gen2", {"kind": "door.opened", "variant": "status"},
     ("door.opened", "shellyplus1-dock", "D3", None, None), False),
    ("gen2-inv", {"kind": "door.opened"}, ("door.opened", "pro4", "D4", None, None), True),
    ("gen2-inv", {"kind": "door.closed", "variant": "notify_event"},
     ("door.closed", "pro4", "D4", None, None), True),
    ("gen2-inv", {"kind": "door.closed", "variant": "status"},
     ("door.closed", "pro4", "D4", None, None), False),
]  # fmt: skip


@pytest.mark.parametrize(("name", "event", "want", "timed"), ROUND_TRIPS)
def test_every_rendered_message_maps_back_to_the_intended_event(name, event, want, timed):
    b = binding(B[name])
    msg = render(sim_event(event), b, TS)
    assert msg.topic in b.topics()
    got = map_payload(msg.topic, msg.payload, ARRIVAL, b)
    assert isinstance(got, list) and len(got) == 1, got
    ev = got[0]
    assert (ev.kind, ev.device, ev.door, ev.credential, ev.reason) == want
    # The device's own time where the format has one (Tasmota: whole local seconds).
    whole = B[name]["map"].startswith("tasmota/")
    expected_ts = (int(TS) if whole else TS) if timed else ARRIVAL
    assert ev.ts == pytest.approx(expected_ts, abs=0.001)


def test_a_tamper_restore_maps_to_an_inactive_tamper():
    b = binding(B["zigbee"])
    msg = render(SimEvent(0, "", "door.tamper", active=False), b, TS)
    (ev,) = map_payload(msg.topic, msg.payload, ARRIVAL, b)
    assert (ev.kind, ev.data["active"]) == ("door.tamper", False)


@pytest.mark.parametrize(
    ("name", "event", "words"),
    [
        ("zigbee", {"kind": "access.granted", "credential": "C1"}, "cannot report access.granted"),
        ("gen1", {"kind": "door.tamper"}, "cannot report door.tamper"),
        ("badge", {"kind": "patrol.scan", "credential": "G7"}, "cannot report patrol.scan"),
        ("checkpoint", {"kind": "patrol.scan"}, "needs a credential"),
        ("steward", {"kind": "access.denied", "credential": "C1"}, "needs a reason"),
        ("gen2", {"kind": "door.opened", "variant": "rpc"}, "variant 'rpc'"),
    ],
)
def test_an_event_a_format_cannot_carry_is_refused_naming_device_and_kind(name, event, words):
    with pytest.raises(FormatError, match=words) as err:
        render(sim_event(event), binding(B[name]), TS)
    assert B[name]["device"] in str(err.value)
