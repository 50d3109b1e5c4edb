"""The data of bench/energy.py: a year of 15-minute meter readings of office buildings,
written into a SQLite store through the store's own ingest, and the energy configuration
that goes with it.

Each building has a main meter (tags `system: main`) and three sub-meters under it
(`hvac`, `lighting-sockets`, `power`, each `parent: main`), counters `energy_import` in
kWh read every 15 minutes (a few seconds after the quarter hour, as a poll lands). The
load shapes are the simulators' office loads (simulators/loads.py: working hours with a
lunch dip, weekends at 15 %, HVAC growing with the outdoor temperature away from a
comfort band, smooth noise) with a day-to-day factor (± 5 %) per meter, holidays like
weekends, and a main meter that reads 2-6 % more than its sub-meters (losses, unmetered
loads). A few buildings also have an outdoor temperature gauge (`weather-<building>`,
point `outdoor_temperature`). In the contract building the HVAC meter uses 12 % less
from the retrofit day on, so GET /v1/contracts/{id}/savings has a known answer.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import orjson
import yaml
from pydantic import TypeAdapter

from cloud_api.energy_config import EXAMPLES
from cloud_api.store.base import EdgeIdentity
from cloud_api.store.sqlite import SqliteStore
from edge.model import IngestBatch
from simulators.loads import LoadBank, hvac_factor, occupancy_shape, outdoor_temperature

SITE = "bench-site"
TZ_OFFSET = 8 * 3600  # Asia/Shanghai, no daylight saving time: local = UTC + 8 h
QUARTER = 900
SUB_METERS = ("hvac", "lighting-sockets", "power")
TEMPERATURE_POINT = "outdoor_temperature"
RETROFIT_SAVING = 0.12  # the contract building's HVAC after the retrofit day
RECORDS_PER_BATCH = 5000

# China's public holidays of 2026 as announced in late 2025 (New Year, Spring Festival,
# Qingming, May Day, Dragon Boat, Mid-Autumn, National Day). Benchmark data only: the
# make-up workdays (调休) are left out, and the dates are not checked against the notice.
HOLIDAYS = [
    "2026-01-01..2026-01-03",
    "2026-02-15..2026-02-23",
    "2026-04-04..2026-04-06",
    "2026-05-01..2026-05-05",
    "2026-06-19..2026-06-21",
    "2026-09-25..2026-09-27",
    "2026-10-01..2026-10-07",
]


def holiday_dates() -> set[date]:
    out: set[date] = set()
    for spec in HOLIDAYS:
        first, _, last = spec.partition("..")
        a, b = date.fromisoformat(first), date.fromisoformat(last)
        out.update(a + timedelta(days=i) for i in range((b - a).days + 1))
    return out


@dataclass
class Meter:
    device: str
    tags: dict[str, str]
    offset: float  # s after each quarter hour that the poll lands
    kwh: np.ndarray  # per 15 minutes between consecutive readings
    first_value: float  # the register at the first reading

    def readings(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ts, register kWh) of every reading, registers at 0.01 kWh resolution."""
        register = self.first_value + np.concatenate(([0.0], np.cumsum(self.kwh)))
        return grid + self.offset, np.round(register, 2)


@dataclass
class Building:
    name: str
    area_m2: float
    occupants: int
    meters: list[Meter]
    temperature: np.ndarray | None = None  # °C at each reading of the weather gauge
    contract: bool = False  # its HVAC use falls by RETROFIT_SAVING from `retrofit` on

    @property
    def weather_device(self) -> str:
        return f"weather-{self.name}"


@dataclass
class Fleet:
    grid: np.ndarray  # the quarter hours of the readings (epoch s, UTC), first to last
    buildings: list[Building]
    retrofit: date  # local day the contract building's HVAC retrofit took effect
    first_day: date  # first whole local day of data
    last_day: date  # last whole local day of data (today is after it)
    holidays: set[date] = field(default_factory=set)

    @property
    def counters(self) -> int:
        return sum(len(b.meters) for b in self.buildings)

    @property
    def readings(self) -> int:
        gauges = sum(b.temperature is not None for b in self.buildings)
        return (self.counters + gauges) * len(self.grid)


def local_ordinal(ts: np.ndarray) -> np.ndarray:
    """Local date ordinal of each instant (Asia/Shanghai)."""
    return ((ts + TZ_OFFSET) // 86400).astype(np.int64) + date(1970, 1, 1).toordinal()


def generate(
    buildings: int, days: int, end: float, seed: int = 1, with_temperature: int = 3
) -> Fleet:
    """`days` days of 15-minute readings ending at the last quarter hour before `end`."""
    last = (int(end) - 10) // QUARTER * QUARTER  # a poll a few seconds after it is past
    grid = np.arange(last - days * 86400, last + 1, QUARTER, dtype=np.float64)
    mid = grid[:-1] + QUARTER / 2  # each interval's energy: its mid-point power x 15 min
    ordinal = local_ordinal(mid)
    holidays = holiday_dates()
    holiday = np.isin(ordinal, [d.toordinal() for d in holidays])
    minute = (((mid + TZ_OFFSET) / 60 + 3 * 1440) % (7 * 1440)).astype(np.int64)  # Monday 0
    occupancy = occupancy_shape()[minute]
    weekday = minute < 5 * 1440
    occupancy = np.where(holiday & weekday, occupancy * 0.15, occupancy)  # as on a weekend
    outdoor = np.array([outdoor_temperature(t) for t in mid])
    cooling_heating = np.array([hvac_factor(t) for t in outdoor])
    first_ord = int(ordinal[0])
    day_index = ordinal - first_ord
    n_days = int(day_index[-1]) + 1
    retrofit = date.fromordinal(first_ord + n_days // 2)
    after_retrofit = ordinal >= retrofit.toordinal()

    bank = LoadBank(3 * buildings, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for b in range(buildings):
        name = f"b{b + 1:02d}"
        scale = rng.uniform(2.0, 6.0)  # building size
        lighting_p, power_p, hvac_p = (bank.params[3 * b + i] for i in range(3))
        daily = rng.normal(1.0, 0.05, (3, n_days))[:, day_index]
        noise = [bank.noise[3 * b + i, minute] for i in range(3)]

        def working(p, base: float) -> np.ndarray:
            return p.rated_kw * (base + (1 - base) * occupancy)

        lighting = scale * working(lighting_p, lighting_p.base_fraction)
        power = scale * 0.6 * working(power_p, 0.4)
        hvac = scale * 2.0 * hvac_p.hvac_kw * cooling_heating * (0.3 + 0.7 * occupancy)
        hvac = hvac + scale * 0.05 * hvac_p.rated_kw  # pumps and controls, always on
        contract = b == 0
        if contract:
            hvac = np.where(after_retrofit, hvac * (1 - RETROFIT_SAVING), hvac)
        kw = {
            "lighting-sockets": lighting * noise[1] * daily[1],
            "power": power * noise[2] * daily[2],
            "hvac": hvac * noise[0] * daily[0],
        }
        kwh = {k: v * (QUARTER / 3600) for k, v in kw.items()}
        main = sum(kwh.values()) * (1 + rng.uniform(0.02, 0.06))
        meters = [Meter("main", {"system": "main"}, 1.0, main, rng.uniform(1e5, 5e6))]
        for i, system in enumerate(SUB_METERS):
            meters.append(
                Meter(
                    system,
                    {"system": system, "parent": "main"},
                    1.5 + 0.5 * i,
                    kwh[system],
                    rng.uniform(1e4, 1e6),
                )
            )
        year_kwh = float(main.sum()) * 365 / days
        temperature = None
        if b < with_temperature:
            at_reading = np.array([outdoor_temperature(t) for t in grid])
            temperature = np.round(at_reading + rng.normal(0, 0.3, len(grid)), 1)
        out.append(
            Building(
                name,
                area_m2=round(year_kwh / rng.uniform(70, 110), -2),  # 70-110 kWh/m2 a year
                occupants=int(rng.integers(200, 900)),
                meters=meters,
                temperature=temperature,
                contract=contract,
            )
        )
    first_day = date.fromordinal(int(local_ordinal(grid[:1])[0]) + 1)
    last_day = date.fromordinal(int(local_ordinal(grid[-1:])[0]) - 1)
    return Fleet(grid, out, retrofit, first_day, last_day, holidays)


# ---------------------------------------------------------------- into the store


def batches(building: Building, grid: np.ndarray, power: bool = False) -> list[bytes]:
    """The building's readings as gzip'd wire batches (an edge's readings lane), in time
    order, about RECORDS_PER_BATCH records each. `power`: the main meter also reads
    `active_power` (kW, the average of the quarter hour before the reading)."""
    series = [(m.device, m.tags, *m.readings(grid), "counter", "kWh") for m in building.meters]
    main = building.meters[0]
    kw = np.concatenate(([main.kwh[0]], main.kwh)) * (3600 / QUARTER)
    if building.temperature is not None:
        ts = grid + 2.5
        series.append(
            (building.weather_device, {"kind": "weather"}, ts, building.temperature, "gauge", "C")
        )
    per_step = len(series)
    step = max(1, RECORDS_PER_BATCH // per_step)
    seq = 0
    bodies = []
    for lo in range(0, len(grid), step):
        records = []
        for k in range(lo, min(lo + step, len(grid))):
            for device, tags, ts, values, kind, unit in series:
                seq += 1
                points = [
                    {
                        "point": "energy_import" if kind == "counter" else TEMPERATURE_POINT,
                        "value": float(values[k]),
                        "unit": unit,
                        "kind": kind,
                    }
                ]
                if power and device == main.device:
                    points.append(
                        {
                            "point": "active_power",
                            "value": round(float(kw[k]), 2),
                            "unit": "kW",
                            "kind": "gauge",
                        }
                    )
                records.append(
                    {
                        "seq": seq,
                        "ts": float(ts[k]),
                        "device": device,
                        "tags": tags,
                        "points": points,
                    }
                )
        batch = {"site": SITE, "building": building.name, "lane": "readings", "records": records}
        bodies.append(gzip.compress(orjson.dumps(batch), 1, mtime=0))
    return bodies


@dataclass
class Loaded:
    seconds: float  # wall time of the whole load: batches built, validated, stored
    store_seconds: float  # of which in SqliteStore.ingest
    readings: int
    batches: int
    file_bytes: int


def load_store(db: Path, fleet: Fleet, power: bool = False) -> Loaded:
    """Every building's readings through SqliteStore.ingest, one edge per building
    (`power`: see batches())."""
    from cloud_api.cli import tune_gc_for_ingest

    tune_gc_for_ingest()  # as `steward-api serve` does
    adapter: TypeAdapter = TypeAdapter(IngestBatch)
    started = time.perf_counter()
    in_store = 0.0
    readings = n_batches = 0
    store = SqliteStore(db)
    try:
        for building in fleet.buildings:
            edge = EdgeIdentity(f"edge-{building.name}", SITE, building.name)
            for body in batches(building, fleet.grid, power):
                batch = adapter.validate_json(gzip.decompress(body))
                t0 = time.perf_counter()
                outcome = store.ingest(edge, batch, time.time())
                in_store += time.perf_counter() - t0
                readings += outcome.points
                n_batches += 1
    finally:
        store.close()
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    return Loaded(seconds, in_store, readings, n_batches, size)


# ---------------------------------------------------------------- energy configuration


def write_energy_config(path: Path, fleet: Fleet) -> None:
    """The energy configuration YAML: buildings (area, occupants, temperature), holidays,
    tariffs and a dual-control quota, all marked as the benchmark's examples."""
    shipped = yaml.safe_load((EXAMPLES / "zhejiang-tou.yaml").read_text(encoding="utf-8"))
    zhejiang = shipped["tariffs"][0]
    # The shipped example starts on 2026-07-01; the year of data starts before it.
    before = {
        **zhejiang,
        "version": "bench-before-2026-07-EXAMPLE",
        "valid_from": "2025-01-01",
        "base_price": 0.58,
        "source": "benchmark EXAMPLE: the Zhejiang example's periods and ratios with an"
        " invented base price, for the months before it; not a real tariff",
    }
    buildings = {}
    for b in fleet.buildings:
        entry: dict = {"area_m2": b.area_m2, "occupants": b.occupants}
        if b.temperature is not None:
            entry["temperature"] = {"device": b.weather_device, "point": TEMPERATURE_POINT}
        buildings[b.name] = entry
    year = fleet.last_day.year
    quotas = [
        {
            "site": SITE,
            "building": b.name,
            "year": year,
            "kwh_per_m2": {
                "value": 90,
                "source": "benchmark EXAMPLE, not a DB33/T 736 value",
            },
        }
        for b in fleet.buildings
    ]
    config = {
        "timezone": "Asia/Shanghai",
        "holidays": HOLIDAYS,
        "sites": {SITE: {"buildings": buildings}},
        "tariffs": [before, {**zhejiang, "valid_from": str(zhejiang["valid_from"])}],
        "quotas": quotas,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
