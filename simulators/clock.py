"""Simulated time: starts at a chosen instant and runs `speed` times faster than wall time."""

from __future__ import annotations

import time


class SimClock:
    """speed 1 is real time, 60 is a minute per second, 0 freezes time (for exact tests)."""

    def __init__(self, start: float | None = None, speed: float = 1.0):
        if speed < 0:
            raise ValueError("speed cannot be negative")
        self.start = time.time() if start is None else start
        self.speed = speed
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed

    def freeze_at(self, epoch: float) -> None:
        self.start, self.speed, self._t0 = epoch, 0.0, time.monotonic()
