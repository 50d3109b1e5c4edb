"""A read's response bytes -> readings. Pure.

Each ReadRequest is compiled once into a list of point decoders (struct formats chosen
ahead of time), so the per-poll cost is one unpack and one multiply per point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from device_profiles.codec import decoder
from edge.acquire.modbus.plan import ReadRequest
from edge.energy import wrap_of
from edge.model import Quality, Reading


@dataclass(frozen=True, slots=True)
class _PointDecoder:
    name: str
    unit: str
    kind: str
    scale: float  # multiply by this, or ...
    divisor: float  # ... divide by this when scale is 1/10^n (230.1, not 230.10000000000002)
    offset: float
    at: int  # byte offset in the register payload, or bit index for bit tables
    bit: int | None
    single: bool  # the device sent a float32
    fn: object  # codec decoder, None for bits
    wrap: float | None = None  # a counter's register modulus, sent so the API sees rollovers

    def value(self, payload: bytes, bits: bool) -> float | int | str:
        if bits:
            return (payload[self.at >> 3] >> (self.at & 7)) & 1
        if self.bit is not None:
            word = (payload[self.at] << 8) | payload[self.at + 1]
            return (word >> self.bit) & 1
        return self.fn(payload, self.at)  # type: ignore[operator]


class CompiledRequest:
    """A planned read plus everything needed to turn its answer into readings."""

    __slots__ = ("decoders", "expected_bytes", "request", "used")

    def __init__(self, request: ReadRequest):
        self.request = request
        self.used = request.used
        bits = request.is_bits
        self.expected_bytes = (request.count + 7) // 8 if bits else 2 * request.count
        self.decoders = []
        for pp in request.points:
            p = pp.point
            is_bit = bits or p.type == "bit"
            fn = None if is_bit else decoder(p.type, p.order, p.size)
            at = pp.offset if bits else 2 * pp.offset
            inverse = 1.0 / p.scale if p.scale else 0.0
            divisor = (
                float(round(inverse)) if inverse and abs(inverse - round(inverse)) < 1e-9 else 0.0
            )
            self.decoders.append(
                _PointDecoder(
                    pp.name,
                    p.unit,
                    p.kind,
                    p.scale,
                    divisor,
                    p.offset,
                    at,
                    p.bit,
                    p.type == "f32",
                    fn,
                    wrap_of(p.type, p.scale) if p.kind == "counter" else None,
                )
            )

    def decode(self, payload: bytes, ts: float, device: str) -> list[Reading]:
        """Readings for every point of the request; a short payload is a device fault."""
        if len(payload) < self.expected_bytes:
            return self.fail(
                ts, device, f"short answer: {len(payload)} bytes, expected {self.expected_bytes}"
            )
        bits = self.request.is_bits
        out = []
        for d in self.decoders:
            raw = d.value(payload, bits)
            if isinstance(raw, str):
                out.append(Reading(ts, device, d.name, raw, d.unit, Quality.GOOD, None, d.kind))
                continue
            if isinstance(raw, float) and not math.isfinite(raw):
                reason = f"device reported {raw}"
                out.append(Reading(ts, device, d.name, None, d.unit, Quality.BAD, reason, d.kind))
                continue
            if d.divisor:
                value = raw / d.divisor + d.offset if d.divisor != 1.0 or d.offset else raw
            else:
                value = raw * d.scale + d.offset
            if d.single:
                # 8 significant digits keep all a float32 carries, without binary noise.
                value = float(f"{value:.8g}")
            out.append(
                Reading(ts, device, d.name, value, d.unit, Quality.GOOD, None, d.kind, d.wrap)
            )
        return out

    def fail(self, ts: float, device: str, reason: str) -> list[Reading]:
        return [
            Reading(ts, device, d.name, None, d.unit, Quality.BAD, reason, d.kind)
            for d in self.decoders
        ]
