"""One verified write: encode a point's value as its profile says, write it, read it back.

Modbus has no acknowledgement of effect: a controller in hand mode answers a write with
the normal echo and changes nothing (VOLTTRON #1123). So every write is followed by a
read of the same registers, and the caller compares what came back.
"""

from __future__ import annotations

import math

from device_profiles.codec import decode, encode
from device_profiles.schema import Point
from edge.acquire.modbus.poller import Session

READ_FUNCTION = {"holding": 3, "input": 4, "coil": 1, "discrete": 2}


def encode_write(point: Point, value: float) -> tuple[int, bytes | int, int]:
    """(function, payload, count) for writing `value` (engineering units) to `point`."""
    if point.write is None:
        raise ValueError("the point is not writable")
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written")
    fn = point.write.function
    if point.type == "bit":
        on = 1 if value else 0
        return (5, 0xFF00 if on else 0x0000, 1) if fn == 5 else (15, bytes([on]), 1)
    raw = (value - point.offset) / point.scale
    if point.type not in ("f32", "f64"):
        raw = round(raw)
    registers = encode(raw, point.type, point.order, point.size)
    if fn == 6:
        return 6, registers[0], 1
    data = b"".join(r.to_bytes(2, "big") for r in registers)
    return 16, data, len(registers)


def decode_read(point: Point, data: bytes) -> float:
    """A read answer's data bytes for `point` -> engineering value."""
    if point.table in ("coil", "discrete"):
        return float(data[0] & 1)
    registers = [int.from_bytes(data[i : i + 2], "big") for i in range(0, 2 * point.size, 2)]
    raw = decode(registers, point.type, point.order)
    value = float(raw) * point.scale + point.offset  # type: ignore[arg-type]
    return round(value, 6)


async def write_and_read_back(
    session: Session, unit: int, point: Point, value: float, timeout: float
) -> float:
    """Write `value`, then read the point back; the value the device now reports."""
    function, payload, count = encode_write(point, value)
    await session.write(unit, function, point.address, payload, count, timeout)
    data = await session.read(unit, READ_FUNCTION[point.table], point.address, point.size, timeout)
    return decode_read(point, data)
