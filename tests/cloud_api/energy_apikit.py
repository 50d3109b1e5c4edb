"""Helpers for the energy API's acceptance tests: known loads sent through POST /v1/ingest.

A load is given in kW per local quarter hour; the meter's counter (`energy_import`, kWh)
is read at the end of each quarter, so the energy between two readings is the kW of the
quarter / 4 and the tests' hand sums follow directly from the load.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from api_testkit import post_batch

TZ = ZoneInfo("Asia/Shanghai")
QUARTER = 900
BATCH = 2000  # records per POST


def local_epoch(day: date, hour: int = 0, minute: int = 0) -> float:
    """Epoch seconds of a local wall-clock time in Asia/Shanghai."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp()


def days(first: date, last: date) -> list[date]:
    """The local dates in [first, last)."""
    return [first + timedelta(days=i) for i in range((last - first).days)]


def write_config(directory: Path, text: str, name: str = "energy.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def counter_readings(
    start: float, kw_by_quarter: Iterable[float], initial: float = 1000.0
) -> list[tuple[float, float]]:
    """(ts, counter) for a load given per quarter hour from `start`: the first reading at
    `start` (the ledger's base, books nothing), then one at the end of each quarter."""
    value = initial
    out = [(start, value)]
    ts = start
    for kw in kw_by_quarter:
        ts += QUARTER
        value += kw / 4
        out.append((ts, value))
    return out


def day_profile(kw_of_hour) -> list[float]:
    """96 quarter-hour loads of a local day from a function of the local hour."""
    return [float(kw_of_hour(q // 4)) for q in range(96)]


class Sender:
    """Sends readings of one edge (any building of its site) with contiguous seq numbers."""

    def __init__(self, api, token: str, site: str = "s1") -> None:
        self.api, self.token, self.site = api, token, site
        self.seq = 0

    def counter(
        self,
        building: str,
        device: str,
        readings: Sequence[tuple[float, float]],
        tags: dict[str, str] | None = None,
        point: str = "energy_import",
    ) -> None:
        self._send(
            building,
            [
                (
                    ts,
                    device,
                    tags or {},
                    {"point": point, "value": v, "unit": "kWh", "kind": "counter"},
                )
                for ts, v in readings
            ],
        )

    def gauge(
        self, building: str, device: str, point: str, readings: Sequence[tuple[float, float]]
    ) -> None:
        self._send(
            building,
            [(ts, device, {}, {"point": point, "value": v, "unit": "°C"}) for ts, v in readings],
        )

    def _send(self, building: str, rows: list) -> None:
        for i in range(0, len(rows), BATCH):
            records = []
            for ts, device, tags, p in rows[i : i + BATCH]:
                self.seq += 1
                records.append(
                    {"seq": self.seq, "ts": ts, "device": device, "tags": tags, "points": [p]}
                )
            batch = {
                "site": self.site,
                "building": building,
                "lane": "readings",
                "records": records,
            }
            self.api.client.headers["Authorization"] = f"Bearer {self.token}"
            try:
                response = post_batch(self.api.client, batch)
            finally:
                del self.api.client.headers["Authorization"]
            assert response.status_code == 200, response.text
