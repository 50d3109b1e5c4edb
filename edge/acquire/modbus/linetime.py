"""How long an RS-485 line needs to poll its devices once, from their request plans. Pure.

A line carries one transaction at a time, so its devices share its time: each request is
a silent gap, the request frame, the device's turnaround and the answer frame, at the
line's character time. `steward-edge check` prints this per line and warns when the
devices' intervals ask for more than the line has.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.acquire.modbus.plan import ReadRequest
from edge.acquire.modbus.rtu import frame_gap_for
from edge.config import BusConfig

# From the end of a request to the start of its answer. Meters typically answer within
# 5-50 ms; this is an estimate, printed with the figures it feeds.
TURNAROUND_ESTIMATE = 0.020

READ_REQUEST_BYTES = 8  # unit, function, address (2), count (2), CRC (2)


def answer_bytes(req: ReadRequest) -> int:
    """unit, function, byte count, the data, CRC (2)."""
    data = (req.count + 7) // 8 if req.is_bits else 2 * req.count
    return 5 + data


@dataclass(frozen=True, slots=True)
class RequestTime:
    request: ReadRequest
    out_bytes: int
    back_bytes: int
    seconds: float


@dataclass(frozen=True, slots=True)
class DeviceTime:
    device: str
    interval: float
    requests: list[RequestTime]

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.requests)


@dataclass(frozen=True, slots=True)
class LineTime:
    bus: str
    baudrate: int
    bits_per_char: int
    frame_gap: float
    turnaround: float
    dead_device_cost: float  # a silent device's first request: timeout x (1 + retries)
    devices: list[DeviceTime]

    @property
    def cycle(self) -> float:
        """Seconds to poll every device of the line once."""
        return sum(d.seconds for d in self.devices)

    @property
    def load(self) -> float:
        """Share of the line's time the devices' intervals ask for (1.0 = all of it)."""
        return sum(d.seconds / d.interval for d in self.devices)


def line_time(
    bus: BusConfig,
    plans: list[tuple[str, float, list[ReadRequest]]],
    turnaround: float = TURNAROUND_ESTIMATE,
) -> LineTime:
    """plans: (device id, interval, its requests) for every device on this RTU bus."""
    rtu = bus.rtu
    assert rtu is not None, "line time is for RS-485 (rtu:) buses"
    parity_bits = 0 if rtu.parity == "N" else 1
    bits = 1 + rtu.bytesize + parity_bits + rtu.stopbits
    char = bits / rtu.baudrate
    gap = rtu.frame_gap if rtu.frame_gap is not None else frame_gap_for(rtu.baudrate)
    devices = []
    for device, interval, requests in plans:
        times = []
        for req in requests:
            back = answer_bytes(req)
            seconds = gap + READ_REQUEST_BYTES * char + turnaround + back * char
            times.append(RequestTime(req, READ_REQUEST_BYTES, back, seconds))
        devices.append(DeviceTime(device, interval, times))
    return LineTime(
        bus.id,
        rtu.baudrate,
        bits,
        gap,
        turnaround,
        bus.timeout * (1 + bus.retries),
        devices,
    )


def describe(lt: LineTime, verbose: bool = False) -> list[str]:
    """The lines `check` prints for one RS-485 line, warnings last."""
    ms = 1000.0
    out = [
        f"line {lt.bus}: {lt.baudrate} baud, {lt.bits_per_char} bits per character, "
        f"{lt.frame_gap * ms:.1f} ms frame gap, {lt.turnaround * ms:.0f} ms device "
        "turnaround (estimate)"
    ]
    for d in lt.devices:
        sizes = ", ".join(f"{r.out_bytes}+{r.back_bytes}" for r in d.requests)
        out.append(
            f"    {d.device}: {len(d.requests)} requests (bytes out+back: {sizes}), "
            f"{d.seconds * ms:.1f} ms per poll, every {d.interval:g} s"
        )
        if verbose:
            for r in d.requests:
                out.append(f"      {r.seconds * ms:.1f} ms  {r.request.describe()}")
    out.append(
        f"  cycle {lt.cycle * ms:.1f} ms for {len(lt.devices)} devices; their intervals "
        f"keep the line {lt.load * 100:.1f}% busy; a silent device costs up to "
        f"{lt.dead_device_cost:g} s per poll (timeout x tries)"
    )
    for d in lt.devices:
        if d.seconds > d.interval:
            out.append(
                f"  WARNING: {d.device} needs {d.seconds * ms:.1f} ms per poll on line "
                f"{lt.bus}, longer than its {d.interval:g} s interval"
            )
    if lt.load > 1.0:
        out.append(
            f"  WARNING: line {lt.bus} cannot meet its devices' intervals: they need "
            f"{lt.load * 100:.1f}% of its time; lengthen intervals, raise the baud rate "
            "or split the line"
        )
    return out
