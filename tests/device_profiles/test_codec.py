"""Register codec: golden vectors from vendor-derived sources, extremes, and round trips."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_profiles.codec import (
    bytes_to_registers,
    decode,
    decoder,
    encode,
    registers_to_bytes,
)

ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
INT_RANGES = {
    "u16": (0, 2**16 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "u32": (0, 2**32 - 1),
    "i32": (-(2**31), 2**31 - 1),
    "u64": (0, 2**64 - 1),
    "i64": (-(2**63), 2**63 - 1),
}


def regs(hex_bytes: str) -> list[int]:
    """'4B 3C 61 4E' (bytes as they arrive on the wire) -> [0x4B3C, 0x614E]."""
    return bytes_to_registers(bytes.fromhex(hex_bytes))


# --- golden vectors, domain-facts A.0 (evcc util/modbus/register_test.go) -----------


def test_f32_big_endian_golden_vector() -> None:
    assert decode(regs("4B 3C 61 4E"), "f32", "ABCD") == 12345678.0
    assert encode(12345678.0, "f32", "ABCD") == regs("4B 3C 61 4E")


def test_f32_word_swapped_golden_vector() -> None:
    assert decode(regs("61 4E 4B 3C"), "f32", "CDAB") == 12345678.0
    assert encode(12345678.0, "f32", "CDAB") == regs("61 4E 4B 3C")


def test_f32_nan_golden_vector() -> None:
    # FF FF FF 7F: exponent bits all ones and a non-zero fraction -> NaN (evcc maps it to 0;
    # Steward's decoder marks the reading bad instead, see edge/acquire/modbus/decode.py).
    assert math.isnan(decode(regs("FF FF FF 7F"), "f32", "ABCD"))


def test_f32_nan_vector_read_word_swapped_is_a_finite_number() -> None:
    # The same bytes read as CDAB give 0xFF7FFFFF: sign 1, exponent 0xFE, fraction all ones,
    # the most negative finite float32. A wrong word order does not always show up as NaN.
    assert (
        decode(regs("FF FF FF 7F"), "f32", "CDAB") == -struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]
    )


def test_f32_byte_swapped_orders_derived_by_hand() -> None:
    # 12345678 = 0xBC614E = 1.0111100011000010100111 (binary) x 2^23. Sign 0, biased exponent
    # 23 + 127 = 150 = 0x96, fraction = 0xBC614E without its leading 1 = 0x3C614E, so the
    # float is (0x96 << 23) | 0x3C614E = 0x4B3C614E: bytes A B C D = 4B 3C 61 4E, matching
    # the evcc vector. BADC swaps the bytes inside each word: 3C 4B 4E 61. DCBA is fully
    # little-endian: 4E 61 3C 4B.
    assert (0x96 << 23) | 0x3C614E == 0x4B3C614E
    assert decode(regs("3C 4B 4E 61"), "f32", "BADC") == 12345678.0
    assert decode(regs("4E 61 3C 4B"), "f32", "DCBA") == 12345678.0
    assert encode(12345678.0, "f32", "BADC") == regs("3C 4B 4E 61")
    assert encode(12345678.0, "f32", "DCBA") == regs("4E 61 3C 4B")


def test_f64_orders_extend_to_four_words() -> None:
    # 1.0 as a double is 3F F0 00 00 00 00 00 00.
    assert decode(regs("3F F0 00 00 00 00 00 00"), "f64", "ABCD") == 1.0
    assert decode(regs("00 00 00 00 00 00 3F F0"), "f64", "CDAB") == 1.0  # words reversed
    assert decode(regs("F0 3F 00 00 00 00 00 00"), "f64", "BADC") == 1.0  # bytes in words
    assert decode(regs("00 00 00 00 00 00 F0 3F"), "f64", "DCBA") == 1.0  # little-endian


# --- integers at their extremes -----------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "value", "wire"),
    [
        ("u16", 0, "00 00"),
        ("u16", 65535, "FF FF"),
        ("u16", 0x1234, "12 34"),
        ("i16", -32768, "80 00"),
        ("i16", 32767, "7F FF"),
        ("i16", -1, "FF FF"),
        ("u32", 0, "00 00 00 00"),
        ("u32", 2**32 - 1, "FF FF FF FF"),
        ("u32", 0x12345678, "12 34 56 78"),
        ("i32", -(2**31), "80 00 00 00"),
        ("i32", 2**31 - 1, "7F FF FF FF"),
        ("i32", -2, "FF FF FF FE"),
        ("u64", 2**64 - 1, "FF FF FF FF FF FF FF FF"),
        ("u64", 0x0102030405060708, "01 02 03 04 05 06 07 08"),
        ("i64", -(2**63), "80 00 00 00 00 00 00 00"),
        ("i64", 2**63 - 1, "7F FF FF FF FF FF FF FF"),
        ("i64", -1, "FF FF FF FF FF FF FF FF"),
    ],
)
def test_integers_big_endian(type_: str, value: int, wire: str) -> None:
    assert decode(regs(wire), type_, "ABCD") == value  # type: ignore[arg-type]
    assert encode(value, type_, "ABCD") == regs(wire)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("type_", "order", "value", "wire"),
    [
        # 16-bit: only the byte swap matters; CDAB equals ABCD for one word.
        ("u16", "CDAB", 0x1234, "12 34"),
        ("u16", "BADC", 0x1234, "34 12"),
        ("u16", "DCBA", 0x1234, "34 12"),
        ("i16", "BADC", -32768, "00 80"),
        # 32-bit: i32 minimum 80 00 00 00 in every order.
        ("i32", "CDAB", -(2**31), "00 00 80 00"),
        ("i32", "BADC", -(2**31), "00 80 00 00"),
        ("i32", "DCBA", -(2**31), "00 00 00 80"),
        ("u32", "CDAB", 0x12345678, "56 78 12 34"),
        ("u32", "BADC", 0x12345678, "34 12 78 56"),
        ("u32", "DCBA", 0x12345678, "78 56 34 12"),
        # 64-bit: CDAB reverses all four words, BADC swaps bytes inside each word.
        ("u64", "CDAB", 0x0102030405060708, "07 08 05 06 03 04 01 02"),
        ("u64", "BADC", 0x0102030405060708, "02 01 04 03 06 05 08 07"),
        ("u64", "DCBA", 0x0102030405060708, "08 07 06 05 04 03 02 01"),
        ("i64", "CDAB", -(2**63), "00 00 00 00 00 00 80 00"),
    ],
)
def test_integers_in_other_orders(type_: str, order: str, value: int, wire: str) -> None:
    assert decode(regs(wire), type_, order) == value  # type: ignore[arg-type]
    assert encode(value, type_, order) == regs(wire)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("type_", "value"),
    [(t, lo - 1) for t, (lo, _) in INT_RANGES.items()]
    + [(t, hi + 1) for t, (_, hi) in INT_RANGES.items()]
    + [("u16", float("inf")), ("i32", float("nan")), ("u16", -0.6)],
)
def test_out_of_range_integers_raise(type_: str, value: float) -> None:
    with pytest.raises(ValueError):
        encode(value, type_)  # type: ignore[arg-type]


def test_integral_floats_encode_as_integers() -> None:
    assert encode(230.0, "u16") == [230]
    assert encode(-0.4, "i16") == [0]


# --- strings ---------------------------------------------------------------------


def test_string_plain_and_byte_swapped() -> None:
    assert encode("ABCD", "string", "ABCD", length=2) == regs("41 42 43 44")
    assert encode("ABCD", "string", "BADC", length=2) == regs("42 41 44 43")
    assert decode(regs("41 42 43 44"), "string", "ABCD") == "ABCD"
    assert decode(regs("42 41 44 43"), "string", "BADC") == "ABCD"
    assert decode(regs("42 41 44 43"), "string", "DCBA") == "ABCD"


def test_string_padding_and_truncation() -> None:
    # Odd length: padded with NUL, which the decoder stops at.
    assert encode("ABC", "string", length=2) == regs("41 42 43 00")
    assert decode(regs("41 42 43 00"), "string") == "ABC"
    assert decode(regs("41 42 00 44"), "string") == "AB"  # stops at the first NUL
    # Too long: cut to the registers available.
    assert encode("ABCDEF", "string", length=2) == regs("41 42 43 44")
    # Devices pad with spaces too; they are trimmed.
    assert decode(regs("53 4E 31 20 20 20"), "string") == "SN1"


def test_string_decoder_reads_at_an_offset() -> None:
    payload = registers_to_bytes([0xFFFF, *regs("48 49 00 00"), 0xFFFF])
    assert decoder("string", "ABCD", 2)(payload, 2) == "HI"


def test_bits_are_not_register_values() -> None:
    with pytest.raises(ValueError):
        decoder("bit")


# --- round trips for every type and order -------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(INT_RANGES)).flatmap(
        lambda t: st.tuples(st.just(t), st.integers(*INT_RANGES[t]), st.sampled_from(ORDERS))
    )
)
def test_integer_round_trip(case: tuple[str, int, str]) -> None:
    type_, value, order = case
    registers = encode(value, type_, order)  # type: ignore[arg-type]
    assert all(0 <= r <= 0xFFFF for r in registers)
    assert decode(registers, type_, order) == value  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32, allow_nan=False), st.sampled_from(ORDERS))
def test_f32_round_trip(value: float, order: str) -> None:
    registers = encode(value, "f32", order)  # type: ignore[arg-type]
    assert len(registers) == 2
    assert decode(registers, "f32", order) == value  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False), st.sampled_from(ORDERS))
def test_f64_round_trip(value: float, order: str) -> None:
    registers = encode(value, "f64", order)  # type: ignore[arg-type]
    assert len(registers) == 4
    assert decode(registers, "f64", order) == value  # type: ignore[arg-type]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("type_", ["f32", "f64"])
def test_nan_round_trips_as_nan(type_: str, order: str) -> None:
    assert math.isnan(decode(encode(math.nan, type_, order), type_, order))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 16).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.text(
                alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
                max_size=2 * n,
            ),
        )
    ),
    st.sampled_from(ORDERS),
)
def test_string_round_trip(case: tuple[int, str], order: str) -> None:
    length, text = case
    registers = encode(text, "string", order, length)  # type: ignore[arg-type]
    assert len(registers) == length
    assert decode(registers, "string", order) == text  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), max_size=20))
def test_registers_bytes_round_trip(registers: list[int]) -> None:
    assert bytes_to_registers(registers_to_bytes(registers)) == registers


def test_string_with_control_or_bidi_characters_decodes_to_text_the_api_accepts() -> None:
    # A meter's serial-number register holding ESC, a newline and a right-to-left override
    # (U+202E, UTF-8 E2 80 AE) must not become a reading the API refuses: that would put
    # the whole record, numeric readings included, in the edge's dead letters.
    import re

    from edge.model import PLAIN_TEXT

    text = decode(regs("41 1B 0A 42 E2 80 AE 43"), "string")
    assert re.match(PLAIN_TEXT, text), repr(text)
    assert text == "A\ufffd\ufffdB\ufffdC"
