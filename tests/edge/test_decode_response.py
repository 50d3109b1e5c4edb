"""Answers -> readings: scale and offset, NaN, bits in registers and in coil tables."""

from __future__ import annotations

import struct

from device_profiles.schema import Profile
from edge.acquire.modbus.decode import CompiledRequest
from edge.acquire.modbus.plan import plan_requests

PROFILE = Profile.model_validate(
    {
        "id": "test/mixed",
        "vendor": "T",
        "model": "M",
        "kind": "io",
        "verified": False,
        "quirks": {"max_gap": 4},
        "points": {
            "temp": {"table": "holding", "address": 0, "type": "i16", "scale": 0.1, "offset": -40},
            "power": {
                "table": "holding",
                "address": 1,
                "type": "f32",
                "order": "CDAB",
                "unit": "kW",
            },
            "alarm_fan": {"table": "holding", "address": 3, "type": "bit", "bit": 0},
            "alarm_filter": {"table": "holding", "address": 3, "type": "bit", "bit": 9},
            "energy": {
                "table": "holding",
                "address": 4,
                "type": "u64",
                "scale": 0.001,
                "kind": "counter",
                "unit": "kWh",
            },
            "name": {"table": "holding", "address": 8, "type": "string", "length": 3},
            "running": {"table": "coil", "address": 10, "type": "bit"},
            "door": {"table": "coil", "address": 17, "type": "bit"},
        },
    }
)


def compiled() -> dict[str, CompiledRequest]:
    return {r.table: CompiledRequest(r) for r in plan_requests(PROFILE.points, PROFILE.quirks)}


def test_registers_become_engineering_values():
    req = compiled()["holding"]
    assert (req.request.address, req.request.count) == (0, 11)
    power = struct.pack(">f", 12.5)
    payload = (
        struct.pack(">h", 655)  # 65.5 - 40 = 25.5 degC
        + power[2:]
        + power[:2]  # CDAB
        + struct.pack(">H", 1 << 9)  # filter alarm on, fan alarm off
        + struct.pack(">Q", 123_456_789)  # Wh -> 123456.789 kWh
        + b"AHU1\x00\x00"
    )
    values = {r.point: r.value for r in req.decode(payload, 1.0, "d")}
    assert values == {
        "temp": 25.5,
        "power": 12.5,
        "alarm_fan": 0,
        "alarm_filter": 1,
        "energy": 123456.789,
        "name": "AHU1",
    }


def test_nan_is_a_bad_reading_with_a_reason_not_a_zero():
    req = compiled()["holding"]
    payload = bytearray(22)
    payload[2:6] = bytes.fromhex("FF7FFFFF")  # FF FF FF 7F in CDAB order: NaN
    readings = {r.point: r for r in req.decode(bytes(payload), 1.0, "d")}
    assert readings["power"].quality == "bad" and readings["power"].value is None
    assert "nan" in readings["power"].reason
    assert readings["temp"].quality == "good"


def test_coil_bits_and_short_answers():
    req = compiled()["coil"]
    assert (req.request.address, req.request.count) == (10, 8)
    values = {r.point: r.value for r in req.decode(bytes([0b1000_0001]), 1.0, "d")}
    assert values == {"running": 1, "door": 1}
    short = req.decode(b"", 1.0, "d")
    assert all(r.quality == "bad" and "short answer" in r.reason for r in short)
