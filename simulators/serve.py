"""Serve a simulated fleet until SIGINT/SIGTERM: the part `meters` and `hvac` share.

Faults from --fault are set before the server starts; a --fault-file is read once before
serving and then watched (simulators/fault_file.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable, Sequence

from simulators.fault_file import FaultFile
from simulators.faults import Fault, parse_fault
from simulators.fleet import DeviceFleet
from simulators.modbus_server import ModbusServer


def set_faults(fleet: DeviceFleet, specs: Sequence[str]) -> dict[int, Fault]:
    """Apply --fault specs to the fleet; the faults set, by unit."""
    fixed: dict[int, Fault] = {}
    for spec in specs:
        units, fault = parse_fault(spec)
        for unit in units:
            if unit not in fleet.images:
                raise ValueError(f"fault {spec!r}: unit {unit} is not simulated")
            fleet.faults.set(unit, fault)
            fixed[unit] = fault
    return fixed


async def serve_fleet(
    fleet: DeviceFleet,
    server: ModbusServer,
    host: str,
    port: int,
    banner: Callable[[int], Iterable[str]],
    fault_specs: Sequence[str] = (),
    fault_file: str | None = None,
) -> None:
    """Start `server`, print the banner lines for the port it got, serve until a signal."""
    fixed = set_faults(fleet, fault_specs)
    watcher = FaultFile(fault_file, fleet.faults, fleet.images, fixed) if fault_file else None
    port = await server.start(host, port)
    for line in banner(port):
        print(line, flush=True)
    for unit, fault in sorted(fixed.items()):
        print(f"steward-sim: unit {unit} fault {fault.describe()}", flush=True)
    task = None
    if watcher is not None:
        print(f"steward-sim: faults also from {fault_file} (checked every 0.5 s)", flush=True)
        watcher.check(force=True)
        task = asyncio.create_task(watcher.watch())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.close()
        total = sum(server.requests.values())
        print(f"steward-sim: stopped after {total} requests", flush=True)
