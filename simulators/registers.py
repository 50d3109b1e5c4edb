"""A profile's register image: which addresses exist, and how values become registers.

The simulator answers exactly like the profile says the device is laid out: addresses
inside a block of points (holes up to the profile's max_gap, which the profile declares
safe to read) answer, anything else is ILLEGAL DATA ADDRESS. The same codec the edge
decodes with encodes here, so a profile mistake shows up on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from device_profiles.codec import decoder, encode
from device_profiles.schema import BIT_TABLES, Point, Profile


class IllegalAddress(Exception):
    """The request touches registers the device does not have (Modbus exception 2)."""


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    point: Point
    address: int
    size: int


class RegisterImage:
    """Serves reads and writes for one device from a function giving its current values."""

    def __init__(
        self,
        profile: Profile,
        values: Callable[[], Mapping[str, float | str]],
        refused: Callable[[], frozenset[str]] = lambda: frozenset(),
    ):
        self.profile = profile
        self.values = values
        self.refused = refused
        self.slots: dict[str, list[_Slot]] = {}
        self.blocks: dict[str, list[tuple[int, int]]] = {}
        gap = profile.quirks.max_gap
        for name, p in profile.points.items():
            self.slots.setdefault(p.table, []).append(_Slot(name, p, p.address, p.size))
        for table, slots in self.slots.items():
            slots.sort(key=lambda s: s.address)
            allowed_gap = gap * 16 if table in BIT_TABLES else gap
            blocks: list[list[int]] = []
            for s in slots:
                if blocks and s.address - blocks[-1][1] <= allowed_gap:
                    blocks[-1][1] = max(blocks[-1][1], s.address + s.size)
                else:
                    blocks.append([s.address, s.address + s.size])
            self.blocks[table] = [(a, b) for a, b in blocks]
        self.on_write: Callable[[dict[str, float]], None] | None = None

    def _check(self, table: str, address: int, count: int) -> list[_Slot]:
        end = address + count
        if not any(a <= address and end <= b for a, b in self.blocks.get(table, ())):
            raise IllegalAddress(f"{table} {address}+{count}")
        hit = [s for s in self.slots[table] if s.address < end and address < s.address + s.size]
        refused = self.refused()
        if refused and any(s.name in refused for s in hit):
            raise IllegalAddress(f"{table} {address}+{count} (refused point)")
        return hit

    def read(self, table: str, address: int, count: int) -> bytes:
        slots = self._check(table, address, count)
        values = self.values()
        if table in BIT_TABLES:
            out = bytearray((count + 7) // 8)
            for s in slots:
                if values.get(s.name, 0):
                    i = s.address - address
                    out[i >> 3] |= 1 << (i & 7)
            return bytes(out)
        regs = [0] * count
        for s in slots:
            words = self._encode(s, values.get(s.name, 0.0))
            for i, w in enumerate(words):
                pos = s.address - address + i
                if 0 <= pos < count:
                    if s.point.type == "bit":
                        regs[pos] |= w
                    else:
                        regs[pos] = w
        return b"".join(r.to_bytes(2, "big") for r in regs)

    @staticmethod
    def _encode(slot: _Slot, value: float | str) -> list[int]:
        p = slot.point
        if p.type == "bit":
            return [(1 << (p.bit or 0)) if value else 0]
        if p.type == "string":
            return encode(str(value), "string", p.order, p.size)
        raw = (float(value) - p.offset) / p.scale
        if p.type not in ("f32", "f64"):
            raw = max(min(raw, 2.0**63 - 1), -(2.0**63))
            raw = math.floor(raw + 0.5)
            lo, hi = _LIMITS[p.type]
            raw = min(max(raw, lo), hi)
        return encode(raw, p.type, p.order, p.size)

    def write(
        self, table: str, address: int, data: bytes | int, count: int, apply: bool = True
    ) -> dict[str, float]:
        """Apply a write; returns the engineering values written, by point name.

        apply=False checks and decodes the write like a real one but changes nothing (the
        ignore_writes fault: a controller in hand mode that acknowledges and ignores)."""
        slots = self._check(table, address, count)
        written: dict[str, float] = {}
        if table in BIT_TABLES:
            for s in slots:
                i = s.address - address
                bit = int(data) if isinstance(data, int) else (data[i >> 3] >> (i & 7)) & 1
                written[s.name] = float(bool(bit))
        else:
            raw_bytes = int(data).to_bytes(2, "big") if isinstance(data, int) else bytes(data)
            for s in slots:
                p = s.point
                if p.write is None:
                    raise IllegalAddress(f"{s.name} is read-only")
                at = 2 * (s.address - address)
                if at < 0 or at + 2 * s.size > len(raw_bytes):
                    raise IllegalAddress(f"write covers part of {s.name}")
                raw = decoder(p.type, p.order, s.size)(raw_bytes, at)
                written[s.name] = float(raw) * p.scale + p.offset
        if apply and self.on_write is not None:
            self.on_write(written)
        return written


_LIMITS = {
    "u16": (0, 0xFFFF),
    "i16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFFFFFF),
    "i32": (-0x80000000, 0x7FFFFFFF),
    "u64": (0, 2**64 - 1),
    "i64": (-(2**63), 2**63 - 1),
}
