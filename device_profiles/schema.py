"""What a device profile is: points, their encoding, and the model's protocol quirks.

A profile is data. The edge plans and decodes its reads from it; the simulator serves
registers from it. Addresses are 0-based PDU addresses (what goes on the wire); vendors
often publish 1-based numbers, so profiles say which source they copied from.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from device_profiles.wire_rules import name_problem, unit_problem

RegisterTable = Literal["holding", "input", "coil", "discrete"]
PointType = Literal["u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "string", "bit"]
WordOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
PointKind = Literal["gauge", "counter"]
DeviceKind = Literal["meter", "hvac", "io"]

BIT_TABLES = frozenset({"coil", "discrete"})
REGISTER_COUNT = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "u64": 4, "i64": 4, "f64": 4}

# Modbus application protocol limits (spec v1.1b3, FC1-4).
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000

# The canonical meter vocabulary: rules read these names and units, never vendor ones.
CANONICAL_METER_POINTS: dict[str, tuple[str, PointKind]] = {
    **{f"voltage_l{i}": ("V", "gauge") for i in (1, 2, 3)},
    **{f"current_l{i}": ("A", "gauge") for i in (1, 2, 3)},
    "active_power": ("kW", "gauge"),
    **{f"active_power_l{i}": ("kW", "gauge") for i in (1, 2, 3)},
    "reactive_power": ("kvar", "gauge"),
    "power_factor": ("", "gauge"),
    "frequency": ("Hz", "gauge"),
    "energy_import": ("kWh", "counter"),
    "energy_export": ("kWh", "counter"),
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """'250ms', '5s', '2m', '1h' or a number of seconds -> seconds (float)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5s, 250ms or 2m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. 5s, 250ms or 2m")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _int_or_hex(value: object) -> object:
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            raise ValueError(f"{value!r} is not an address; write 8198 or 0x2006") from None
    return value


Address = Annotated[int, BeforeValidator(_int_or_hex), Field(ge=0, le=0xFFFF)]


def _wire_name(value: str) -> str:
    # Checked at load with the wire's own rule: a name the API refuses would otherwise
    # pass `check` and then quarantine every record of the device.
    if problem := name_problem(value):
        raise ValueError(problem)
    return value


def _wire_unit(value: str) -> str:
    if problem := unit_problem(value):
        raise ValueError(problem)
    return value


PointName = Annotated[str, AfterValidator(_wire_name)]
Unit = Annotated[str, AfterValidator(_wire_unit)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WriteSpec(_Strict):
    """How a writable point is written, and the values it accepts."""

    function: Literal[5, 6, 15, 16]
    min: float | None = None
    max: float | None = None


class Point(_Strict):
    table: RegisterTable
    address: Address
    type: PointType = "u16"
    order: WordOrder = "ABCD"
    length: int | None = Field(None, ge=1, le=MAX_REGISTERS_PER_READ)  # registers, strings only
    bit: int | None = Field(None, ge=0, le=15)  # bit inside a register (holding/input)
    scale: float = 1.0
    offset: float = 0.0
    unit: Unit = ""
    kind: PointKind = "gauge"
    description: str = ""
    write: WriteSpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Point:
        if self.address + self.size > 0x10000:
            raise ValueError(f"the point runs past the last address 65535 (address {self.address})")
        if self.table in BIT_TABLES and self.type != "bit":
            raise ValueError(f"a {self.table} point holds one bit: set type: bit")
        if self.type == "bit" and self.table not in BIT_TABLES and self.bit is None:
            raise ValueError("a bit inside a register needs bit: 0..15")
        if self.bit is not None and self.type != "bit":
            raise ValueError("bit: is only for type: bit")
        if self.type == "string" and self.length is None:
            raise ValueError("a string point needs length: (registers)")
        if self.length is not None and self.type != "string":
            raise ValueError("length: is only for type: string")
        if self.write is not None:
            if self.table in ("input", "discrete"):
                raise ValueError(f"{self.table} points are read-only; remove write:")
            if self.table == "coil" and self.write.function not in (5, 15):
                raise ValueError("coils are written with function 5 or 15")
            if self.table == "holding" and self.write.function not in (6, 16):
                raise ValueError("holding registers are written with function 6 or 16")
            if self.write.function == 6 and self.size != 1:
                raise ValueError(
                    f"function 6 writes one register but {self.type} needs {self.size}"
                )
        return self

    @property
    def size(self) -> int:
        """Registers (or bits, for coil/discrete tables) this point occupies."""
        if self.table in BIT_TABLES or self.type == "bit":
            return 1
        if self.type == "string":
            return self.length or 1
        return REGISTER_COUNT[self.type]


class Quirks(_Strict):
    """Per-model protocol knobs; each one exists because a real device needs it."""

    max_registers_per_request: int = Field(MAX_REGISTERS_PER_READ, ge=1, le=MAX_REGISTERS_PER_READ)
    max_bits_per_request: int = Field(MAX_BITS_PER_READ, ge=1, le=MAX_BITS_PER_READ)
    # Registers the planner may read (and discard) to join two ranges into one request.
    # 0 for devices that answer ILLEGAL DATA ADDRESS for undocumented registers.
    max_gap: int = Field(0, ge=0, le=MAX_REGISTERS_PER_READ)
    pause_between_requests: Duration = 0.0
    one_request_per_point: bool = False


class SerialDefaults(_Strict):
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1


class Profile(_Strict):
    id: str
    vendor: str
    model: str
    kind: DeviceKind
    description: str = ""
    # False until the map is checked against the vendor manual on a real device.
    verified: bool
    notes: str = ""
    sources: list[str] = Field(default_factory=list)
    serial: SerialDefaults = SerialDefaults()
    quirks: Quirks = Quirks()
    points: dict[PointName, Point]

    @model_validator(mode="after")
    def _canonical(self) -> Profile:
        if not self.points:
            raise ValueError("a profile needs at least one point")
        if self.kind == "meter":
            for name, point in self.points.items():
                canon = CANONICAL_METER_POINTS.get(name)
                if canon and (point.unit, point.kind) != canon:
                    raise ValueError(
                        f"points.{name}: canonical meter point must have unit {canon[0]!r} "
                        f"and kind {canon[1]}, not {point.unit!r}/{point.kind}"
                    )
        return self
