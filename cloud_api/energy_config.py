"""The central energy configuration: one YAML file (ApiSettings.energy_config, env
STEWARD_API_ENERGY_CONFIG), loaded once and validated up front; without it, the defaults.

    timezone: Asia/Shanghai            # default of every site (this is the default)
    holidays: [2026-01-01, "2026-02-15..2026-02-23"]   # every site; ranges inclusive
    workdays: [2026-02-14]             # make-up working days (调休), every site
    sites:
      hz-admin:
        timezone: Asia/Shanghai
        holidays: [...]                # added to the top-level ones
        buildings:
          b1:
            area_m2: 12000
            occupants: 450
            temperature: {device: weather-1, point: outdoor_temperature}
            rated_kw: {main-meter: 800}   # most a meter can plausibly draw (ledger)
    factors:                           # dated versions; default GB/T 2589 and MEE-NBS 2023;
                                       # the first of each from 2000-01-01 (the default)
      coal: [{version: gb2589-2020-equivalent}]
      co2:  [{version: mee-nbs-2022}, {version: mee-nbs-2023, valid_from: 2026-01-01}]
    tariff_file: zhejiang-tou.yaml     # or tariffs: [...] (the same entries as that file)
    quotas:
      - {site: hz-admin, building: b1, year: 2026,
         kwh_per_m2: {value: 85, source: "where this number comes from"}}
    balance_threshold: 0.10

Every error names the file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pydantic import (
    ValidationError,
)

from cloud_api.energy_config_schema import (
    EXAMPLES,
    EnergyFile,
    QuotaValue,
    SiteEntry,
    TariffFile,
    TemperatureSource,
)
from device_profiles.sourced_yaml import (
    ConfigError,
    Loc,
    describe_errors,
    field_path,
    line_of,
    load_yaml,
)
from edge.energy.calendar import LocalCalendar
from edge.energy.factors import FactorTable
from edge.energy.tariffs import TariffTable


@dataclass(frozen=True)
class BuildingInfo:
    site: str
    building: str
    area_m2: float | None = None
    occupants: int | None = None
    temperature: TemperatureSource | None = None
    rated_kw: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Quota:
    site: str
    building: str | None
    year: int
    total_kgce: QuotaValue | None = None
    kgce_per_m2: QuotaValue | None = None
    kwh_per_m2: QuotaValue | None = None


class EnergyConfig:
    """The validated configuration; every method answers for any site (defaults apply)."""

    def __init__(
        self,
        raw: EnergyFile | None = None,
        tariffs: TariffTable | None = None,
        path: Path | None = None,
    ) -> None:
        raw = raw if raw is not None else EnergyFile()
        self.path = path
        self._raw = raw
        self.coal: FactorTable = raw.factors.coal or FactorTable.default("coal")  # type: ignore[assignment]
        self.co2: FactorTable = raw.factors.co2 or FactorTable.default("co2")  # type: ignore[assignment]
        self.tariffs = tariffs
        self.balance_threshold = raw.balance_threshold
        self._calendars: dict[str, LocalCalendar] = {}
        self._quotas = {(q.site, q.building, q.year): q for q in raw.quotas}

    @property
    def sites(self) -> tuple[str, ...]:
        """Sites the file names (others get the defaults)."""
        return tuple(self._raw.sites)

    def timezone(self, site: str) -> str:
        entry = self._raw.sites.get(site)
        return entry.timezone if entry and entry.timezone else self._raw.timezone

    def calendar(self, site: str) -> LocalCalendar:
        cal = self._calendars.get(site)
        if cal is None:
            entry = self._raw.sites.get(site) or SiteEntry()
            cal = LocalCalendar(
                self.timezone(site),
                [*self._raw.holidays, *entry.holidays],
                [*self._raw.workdays, *entry.workdays],
            )
            self._calendars[site] = cal
        return cal

    def building(self, site: str, building: str) -> BuildingInfo | None:
        entry = self._raw.sites.get(site)
        b = entry.buildings.get(building) if entry else None
        if b is None:
            return None
        return BuildingInfo(site, building, b.area_m2, b.occupants, b.temperature, dict(b.rated_kw))

    def buildings(self, site: str) -> list[BuildingInfo]:
        """Every building the file names for `site`."""
        entry = self._raw.sites.get(site)
        return [self.building(site, name) for name in entry.buildings] if entry else []  # type: ignore[misc]

    def rated_kw(self, site: str, device: str) -> float | None:
        """The configured maximum plausible rate of a meter, in any building of the site."""
        entry = self._raw.sites.get(site)
        for b in entry.buildings.values() if entry else ():
            if device in b.rated_kw:
                return b.rated_kw[device]
        return None

    def quota(self, site: str, building: str | None, year: int) -> Quota | None:
        """The dual-control quota of a building (or of the site with building None)."""
        q = self._quotas.get((site, building, year))
        if q is None:
            return None
        return Quota(q.site, q.building, q.year, q.total_kgce, q.kgce_per_m2, q.kwh_per_m2)


def _resolve_tariff_file(name: str, base: Path) -> Path:
    given = Path(name)
    path = given if given.is_absolute() else base / given
    if path.is_file():
        return path
    shipped = EXAMPLES / given.name
    if given.name == name and shipped.is_file():
        return shipped
    examples = ", ".join(sorted(p.name for p in EXAMPLES.glob("*.yaml")))
    raise ValueError(
        f"{name!r}: no such file next to the configuration, nor a shipped example ({examples})"
    )


def _load_tariff_file(path: Path) -> TariffTable:
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(path, ["a tariff file is a mapping with tariffs: [...]"])
    try:
        parsed = TariffFile.model_validate(data)
        return TariffTable([t.tariff() for t in parsed.tariffs])
    except ValidationError as err:
        raise ConfigError(path, describe_errors(err, lines)) from None
    except ValueError as exc:
        raise ConfigError(path, [f"line {lines.get(('tariffs',), '?')}, tariffs: {exc}"]) from None


def load_energy_config(path: str | Path | None = None, text: str | None = None) -> EnergyConfig:
    """Read and validate the energy configuration; None gives the defaults.

    Raises ConfigError listing every problem with file, line and field."""
    if path is None:
        return EnergyConfig()
    path = Path(path)
    data, lines = load_yaml(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, ["the energy configuration is a mapping (sites:, factors:, ...)"])
    try:
        raw = EnergyFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(path, describe_errors(err, lines)) from None

    problems: list[str] = []

    def problem(loc: Loc, msg: str) -> None:
        line = line_of(lines, loc)
        problems.append(f"{f'line {line}, ' if line else ''}{field_path(loc)}: {msg}")

    for site, entry in {"": None, **raw.sites}.items():
        loc: Loc = ("sites", site) if site else ()
        try:
            LocalCalendar(
                (entry.timezone if entry else None) or raw.timezone,
                [*raw.holidays, *(entry.holidays if entry else [])],
                [*raw.workdays, *(entry.workdays if entry else [])],
            )
        except ValueError as exc:  # the zones are valid by now: a holiday that is a workday
            where = "holidays" if entry and entry.holidays else "workdays"
            problem((*loc, where), str(exc))
    seen: dict[tuple, int] = {}
    for i, q in enumerate(raw.quotas):
        key = (q.site, q.building, q.year)
        if key in seen:
            problem(
                ("quotas", i),
                f"a second quota for the same site, building and year (first: quotas[{seen[key]}])",
            )
        seen.setdefault(key, i)
        if q.building is not None and (q.kgce_per_m2 or q.kwh_per_m2):
            b = raw.sites.get(q.site, SiteEntry()).buildings.get(q.building)
            if b is None or b.area_m2 is None:
                problem(
                    ("quotas", i),
                    f"a per-m2 quota needs sites.{q.site}.buildings.{q.building}.area_m2",
                )
    tariffs: TariffTable | None = None
    if raw.tariffs is not None and raw.tariff_file is not None:
        problem(("tariff_file",), "give tariffs: or tariff_file:, not both")
    elif raw.tariff_file is not None:
        try:
            tariffs = _load_tariff_file(_resolve_tariff_file(raw.tariff_file, path.parent))
        except ValueError as exc:  # ConfigError is a ValueError: the tariff file's own errors
            problem(("tariff_file",), str(exc))
    elif raw.tariffs:
        try:
            tariffs = TariffTable([t.tariff() for t in raw.tariffs])
        except ValueError as exc:
            problem(("tariffs",), str(exc))
    if problems:
        raise ConfigError(path, problems)
    return EnergyConfig(raw, tariffs, path)


@cache
def shipped_example(name: str) -> TariffTable:
    """A tariff shipped in cloud_api/energy_examples (e.g. 'zhejiang-tou.yaml')."""
    return _load_tariff_file(EXAMPLES / name)
