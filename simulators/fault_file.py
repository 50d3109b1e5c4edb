"""--fault-file: switch a running simulator's faults by editing a file.

Each non-empty line not starting with # is a fault spec as for --fault (7:no_answer,
8-9:exception=6, 5:ignore_writes, ...). The file is checked every half second and re-read
when it changes (mtime, size or inode); its faults replace those it set before. Faults
given with --fault stay, except on units the file names (the file's fault wins while it
names the unit; the --fault one is back when it no longer does). An empty or absent file
clears the file's faults. A bad line is reported on stderr with its line number and the
previous faults stay: a test that mistypes never crashes the simulator.

This is how a system test makes a simulator that runs as its own process stop answering
and come back.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TextIO

from simulators.faults import Fault, FaultTable, parse_fault

CHECK_EVERY = 0.5  # seconds between looks at the file


def parse_fault_lines(text: str, units: Collection[int], where: str) -> dict[int, Fault]:
    """The faults a fault file sets, by unit; ValueError naming `where` and the line."""
    faults: dict[int, Fault] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fault_units, fault = parse_fault(line)
            unknown = [u for u in fault_units if u not in units]
            if unknown:
                raise ValueError(f"fault {line!r}: unit {unknown[0]} is not simulated")
        except ValueError as exc:
            raise ValueError(f"{where} line {number}: {exc}") from None
        for unit in fault_units:
            faults[unit] = fault
    return faults


class FaultFile:
    """Keeps `table` in step with a fault file on top of the --fault faults."""

    def __init__(
        self,
        path: str | os.PathLike,
        table: FaultTable,
        units: Collection[int],
        fixed: Mapping[int, Fault] | None = None,
        out: Callable[[], TextIO] = lambda: sys.stdout,
        err: Callable[[], TextIO] = lambda: sys.stderr,
    ):
        self.path = Path(path)
        self.table = table
        self.units = frozenset(units)
        self.fixed = dict(fixed or {})  # from --fault
        self.from_file: dict[int, Fault] = {}
        self._out, self._err = out, err
        self._seen: tuple[int, int, int] | None = None  # (mtime_ns, size, inode); None: absent

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def check(self, force: bool = False) -> bool:
        """Re-read the file if it changed; True when it was read (well or badly)."""
        signature = self._signature()
        if signature == self._seen and not force:
            return False
        self._seen = signature
        try:
            text = "" if signature is None else self.path.read_text(encoding="utf-8")
            faults = parse_fault_lines(text, self.units, str(self.path))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"steward-sim: {exc}; faults unchanged", file=self._err(), flush=True)
            return True
        self._apply(faults)
        return True

    def _apply(self, faults: dict[int, Fault]) -> None:
        before = {**self.fixed, **self.from_file}
        self.from_file = faults
        after = {**self.fixed, **faults}
        for unit in sorted(set(before) | set(after)):
            old, new = before.get(unit), after.get(unit)
            if old == new:
                continue
            if new is None:
                self.table.clear(unit)
                line = f"steward-sim: unit {unit} fault cleared"
            else:
                self.table.set(unit, new)
                line = f"steward-sim: unit {unit} fault {new.describe()}"
            print(line, file=self._out(), flush=True)

    async def watch(self, every: float = CHECK_EVERY) -> None:
        """Check the file every `every` seconds until cancelled."""
        while True:
            await asyncio.sleep(every)
            self.check()
