"""Which devices of a bus answer, and what to tell the operator about it. Pure.

When a gateway (or an RS-485 converter) stops answering, every device behind it fails
in turn; that is one fault, reported once as a bus.offline alarm (cleared, the same code
with active false, when it is back), not one device.offline per device. So a device's
failure is only reported as device.offline once another device of the same bus has
answered after it: proof that the bus itself works. If instead every device of the bus
is failing, the bus is offline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from edge.acquire.modbus.poller import DevicePoller, PollResult
from edge.model import Colour, Event

log = logging.getLogger(__name__)


@dataclass
class _Device:
    failing_since: float = 0.0
    last_failed: float = 0.0
    error: str | None = None
    reported: bool = False  # device.offline was sent


class BusHealth:
    def __init__(self, bus_id: str, where: str, pollers: Sequence[DevicePoller]):
        self.bus_id = bus_id
        self.where = where  # host:port or serial port, for the operator
        self.pollers = {p.id: p for p in pollers}
        self._devices = {p.id: _Device() for p in pollers}
        # Kept as sets so that a poll costs O(1), not O(devices on the bus).
        self._failing: set[str] = set()
        self._pending: set[str] = set()  # failing, no device.offline sent yet
        self.offline = False
        self.offline_since: float | None = None
        self._online_at = float("-inf")  # when the bus was last seen coming back
        self.outages = 0

    def update(self, poller: DevicePoller, result: PollResult, ts: float) -> list[Event]:
        """Record one poll's outcome; returns the events it causes (often none)."""
        dev = self._devices[poller.id]
        if not result.reachable:
            poller.consecutive_failures += 1
            if poller.consecutive_failures == 1:
                dev.failing_since = ts
                log.warning(
                    "%s (bus %s, unit %d) is not answering: %s",
                    poller.id,
                    self.bus_id,
                    poller.unit,
                    result.error,
                )
            dev.last_failed, dev.error = ts, result.error
            self._failing.add(poller.id)
            if not dev.reported:
                self._pending.add(poller.id)
            if not self.offline and len(self._failing) == len(self.pollers):
                return [self._bus_offline(result.error)]
            return []

        events = []
        if self.offline:
            events.append(self._bus_online(ts))
        if dev.reported:
            log.info(
                "%s answers again after %d failed polls", poller.id, poller.consecutive_failures
            )
            events.append(
                Event(  # the clear of device.offline (same code and source, active false)
                    ts,
                    poller.id,
                    "device.offline",
                    f"{poller.id} answers again after {poller.consecutive_failures} failed polls",
                    type="alarm",
                    active=False,
                    colour=Colour.GREEN,
                    data={"bus": self.bus_id, "unit": poller.unit},
                )
            )
        dev.reported = False
        poller.consecutive_failures = 0
        self._failing.discard(poller.id)
        self._pending.discard(poller.id)
        # This answer proves the bus works: a device that failed since the bus was last
        # seen coming back is itself offline.
        for other_id in sorted(self._pending):
            o = self._devices[other_id]
            if o.last_failed >= self._online_at:
                other = self.pollers[other_id]
                o.reported = True
                self._pending.discard(other_id)
                events.append(
                    Event(
                        o.failing_since,
                        other.id,
                        "device.offline",
                        f"{other.id} is not answering: {o.error}",
                        type="alarm",
                        active=True,
                        colour=Colour.YELLOW,
                        data={"bus": self.bus_id, "unit": other.unit},
                    )
                )
        return events

    def _bus_offline(self, error: str | None) -> Event:
        self.offline = True
        self.outages += 1
        # From the first failure that no device.offline has reported yet.
        unreported = [d.failing_since for d in self._devices.values() if not d.reported]
        since = min(unreported or [d.failing_since for d in self._devices.values()])
        self.offline_since = since
        n = len(self.pollers)
        who = "its only device does not answer" if n == 1 else f"none of its {n} devices answers"
        log.warning("bus %s (%s): %s: %s", self.bus_id, self.where, who, error)
        return Event(
            since,
            self.bus_id,
            "bus.offline",
            f"bus {self.bus_id} ({self.where}) is not answering: {who}: {error}",
            type="alarm",
            active=True,
            colour=Colour.YELLOW,
            data={"bus": self.bus_id, "devices": n},
        )

    def _bus_online(self, ts: float) -> Event:
        self.offline = False
        self._online_at = ts
        down = ts - (self.offline_since or ts)
        self.offline_since = None
        log.info("bus %s (%s) answers again after %.0f s", self.bus_id, self.where, down)
        return Event(  # the clear of bus.offline (same code and source, active false)
            ts,
            self.bus_id,
            "bus.offline",
            f"bus {self.bus_id} ({self.where}) answers again after {down:.0f} s",
            type="alarm",
            active=False,
            colour=Colour.GREEN,
            data={"bus": self.bus_id, "down_seconds": round(down, 3)},
        )
