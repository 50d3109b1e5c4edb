"""Register bytes <-> values, for every point type and word order. Pure and shared.

The edge decodes with it and the simulator encodes with it; golden vectors from vendor
documents pin both. Orders name the bytes of a 32-bit value as they arrive on the wire:
ABCD is big-endian (high word first), CDAB swaps the words, BADC swaps the bytes inside
each word, DCBA is little-endian. 64-bit values extend the same rule to four words and
16-bit values only care about the byte swap.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence

from device_profiles.schema import REGISTER_COUNT, PointType, WordOrder
from device_profiles.wire_rules import UNPRINTABLE

_FORMAT = {
    "u16": "H",
    "i16": "h",
    "u32": "I",
    "i32": "i",
    "u64": "Q",
    "i64": "q",
    "f32": "f",
    "f64": "d",
}


def _permutation(nbytes: int, order: WordOrder) -> list[int] | None:
    """Byte positions that turn wire bytes into big-endian bytes (None: already big-endian)."""
    words = list(range(nbytes // 2))
    if order in ("CDAB", "DCBA") and nbytes > 2:
        words.reverse()
    swap = order in ("BADC", "DCBA")
    perm = [b for w in words for b in ((2 * w + 1, 2 * w) if swap else (2 * w, 2 * w + 1))]
    return None if perm == list(range(nbytes)) else perm


Decoder = Callable[[bytes, int], "float | int | str"]


def decoder(type_: PointType, order: WordOrder = "ABCD", length: int = 1) -> Decoder:
    """A function (buffer, byte_offset) -> raw value for one point, built once per point."""
    if type_ == "string":
        nbytes = 2 * length
        swap = order in ("BADC", "DCBA")

        def decode_string(buf: bytes, at: int) -> str:
            raw = bytes(buf[at : at + nbytes])
            if swap:
                raw = b"".join(raw[i : i + 2][::-1] for i in range(0, nbytes, 2))
            text = raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()
            # Control and bidi characters would make the API refuse the whole record,
            # numeric readings included: show them as U+FFFD instead.
            return UNPRINTABLE.sub("\ufffd", text)

        return decode_string
    if type_ == "bit":
        raise ValueError("bits are decoded by the request, not by a register codec")
    nbytes = 2 * REGISTER_COUNT[type_]
    unpack = struct.Struct(">" + _FORMAT[type_]).unpack_from
    perm = _permutation(nbytes, order)
    if perm is None:
        return lambda buf, at: unpack(buf, at)[0]
    if perm == list(range(nbytes))[::-1]:
        unpack_le = struct.Struct("<" + _FORMAT[type_]).unpack_from
        return lambda buf, at: unpack_le(buf, at)[0]

    def decode_permuted(buf: bytes, at: int) -> float | int:
        return unpack(bytes(buf[at + i] for i in perm), 0)[0]

    return decode_permuted


def registers_to_bytes(registers: Sequence[int]) -> bytes:
    return struct.pack(f">{len(registers)}H", *registers)


def bytes_to_registers(data: bytes) -> list[int]:
    return list(struct.unpack(f">{len(data) // 2}H", data))


def decode(
    registers: Sequence[int], type_: PointType, order: WordOrder = "ABCD"
) -> float | int | str:
    """Decode a point's registers (as 16-bit integers, wire order) into its raw value."""
    return decoder(type_, order, len(registers))(registers_to_bytes(registers), 0)


def encode(
    value: float | int | str, type_: PointType, order: WordOrder = "ABCD", length: int = 1
) -> list[int]:
    """Encode a raw value into registers in wire order (the inverse of decode)."""
    if type_ == "string":
        raw = str(value).encode("utf-8")[: 2 * length].ljust(2 * length, b"\x00")
        if order in ("BADC", "DCBA"):
            raw = b"".join(raw[i : i + 2][::-1] for i in range(0, len(raw), 2))
        return bytes_to_registers(raw)
    fmt = _FORMAT[type_]
    if fmt in "fd":
        big = struct.pack(">" + fmt, float(value))
    else:
        big = struct.pack(">" + fmt, _clamp_int(value, type_))
    perm = _permutation(len(big), order)
    if perm is not None:
        # perm maps wire position -> big-endian position; invert it to build wire bytes.
        wire = bytearray(len(big))
        for wire_pos, big_pos in enumerate(perm):
            wire[wire_pos] = big[big_pos]
        big = bytes(wire)
    return bytes_to_registers(big)


_INT_RANGE = {
    "u16": (0, 0xFFFF),
    "i16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFFFFFF),
    "i32": (-0x80000000, 0x7FFFFFFF),
    "u64": (0, 0xFFFFFFFFFFFFFFFF),
    "i64": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
}


def _clamp_int(value: float | int | str, type_: str) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} cannot be encoded as {type_}")
    lo, hi = _INT_RANGE[type_]
    n = round(float(value)) if not isinstance(value, int) else value
    if not lo <= n <= hi:
        raise ValueError(f"{value} is out of range for {type_} ({lo}..{hi})")
    return n
