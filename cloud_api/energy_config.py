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

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
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
from edge.energy.factors import SINCE_ALWAYS, SOURCED, UNITS, Factor, FactorTable
from edge.energy.tariffs import HolidayRule, Season, Tariff, TariffTable, Window

EXAMPLES = Path(__file__).parent / "energy_examples"
DEFAULT_TIMEZONE = "Asia/Shanghai"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _dates(items: list[Any]) -> list[date]:
    """Dates, or inclusive ranges 'YYYY-MM-DD..YYYY-MM-DD'."""
    out: list[date] = []
    for item in items:
        if isinstance(item, date):
            out.append(item)
            continue
        first, sep, last = str(item).partition("..")
        try:
            a = date.fromisoformat(first.strip())
            b = date.fromisoformat(last.strip()) if sep else a
        except ValueError:
            raise ValueError(
                f"{item!r} is not a date (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD)"
            ) from None
        if b < a:
            raise ValueError(f"range {item!r} ends before it starts")
        out.extend(a + timedelta(days=i) for i in range((b - a).days + 1))
    return out


Dates = Annotated[list[date | str], AfterValidator(_dates)]


def _window(spec: Any) -> Window:
    if not (isinstance(spec, list) and len(spec) == 3):
        raise ValueError("a window is [start, end, period], e.g. ['07:00', '11:00', peak]")
    start, end, period = spec
    for t in (start, end):
        if isinstance(t, int):
            raise ValueError(
                "write times in quotes, e.g. '16:00': YAML reads an unquoted 16:00 as a "
                f"number (here {t})"
            )
    return Window.of(start, end, str(period))


WindowSpec = Annotated[Any, AfterValidator(_window)]


def _month_day(text: Any) -> tuple[int, int]:
    try:
        month, day = (int(x) for x in str(text).split("-"))
        date(2000, month, day)  # a leap year, so 02-29 is allowed
    except ValueError:
        raise ValueError(f"{text!r} is not a month and day 'MM-DD'") from None
    return month, day


class SeasonEntry(_Strict):
    name: str = ""
    months: list[Annotated[int, Field(ge=1, le=12)]]
    windows: list[WindowSpec] = Field(default_factory=list)


class HolidayEntry(_Strict):
    name: str = ""
    dates: Dates = Field(default_factory=list)
    annual: list[Annotated[Any, AfterValidator(_month_day)]] = Field(default_factory=list)
    windows: list[WindowSpec]

    @model_validator(mode="after")
    def _some_days(self) -> HolidayEntry:
        if not self.dates and not self.annual:
            raise ValueError("a holiday rule needs dates: or annual: (MM-DD)")
        return self


class TariffEntry(_Strict):
    version: str = Field(min_length=1)
    valid_from: date
    currency: str = "CNY"
    source: str = ""
    example: bool = False
    prices: dict[str, float] | None = None
    base_price: float | None = Field(None, ge=0)
    ratios: dict[str, float] | None = None
    default_period: str
    seasons: list[SeasonEntry] = Field(default_factory=list)
    holidays: list[HolidayEntry] = Field(default_factory=list)

    def tariff(self) -> Tariff:
        if (self.prices is None) == (self.base_price is None or self.ratios is None):
            raise ValueError("give prices: {period: price}, or base_price: and ratios:")
        if not self.source and not self.example:
            raise ValueError("say where the prices come from (source:) or mark example: true")
        prices = self.prices
        if prices is None:
            assert self.base_price is not None and self.ratios is not None
            prices = {p: round(self.base_price * r, 10) for p, r in self.ratios.items()}
        return Tariff(
            version=self.version,
            valid_from=self.valid_from,
            currency=self.currency,
            prices=prices,
            seasons=tuple(
                Season(frozenset(s.months), tuple(s.windows), s.name) for s in self.seasons
            ),
            default_period=self.default_period,
            holiday_rules=tuple(
                HolidayRule(tuple(h.windows), frozenset(h.dates), frozenset(h.annual), h.name)
                for h in self.holidays
            ),
            source=self.source,
            example=self.example,
        )

    @model_validator(mode="after")
    def _builds(self) -> TariffEntry:
        self.tariff()  # its ValueError names the problem; pydantic adds where
        return self


class TariffFile(_Strict):
    tariffs: list[TariffEntry] = Field(min_length=1)


class FactorEntry(_Strict):
    version: str = Field(min_length=1)
    valid_from: date = SINCE_ALWAYS
    value: float | None = Field(None, gt=0)
    series: str | None = None
    year: int | None = None
    source: str | None = None
    example: bool = False

    kind: ClassVar[str] = ""

    @model_validator(mode="after")
    def _builds(self) -> FactorEntry:
        self.factor(self.kind)  # its ValueError names the problem; pydantic adds where
        return self

    def factor(self, kind: str) -> Factor:
        known = SOURCED.get(self.version)
        if known is not None:
            if known.kind != kind:
                raise ValueError(f"{self.version} is a {known.kind} factor, not {kind}")
            for name in ("value", "series", "year"):
                given = getattr(self, name)
                if given is not None and given != getattr(known, name):
                    raise ValueError(
                        f"{self.version} is the sourced {name} {getattr(known, name)!r}; "
                        f"name your own version to use {given!r}"
                    )
            return replace(known, valid_from=self.valid_from)
        if self.value is None or self.series is None:
            raise ValueError(
                f"{self.version!r} is not a shipped factor ({', '.join(sorted(SOURCED))}): "
                "give value: and series:"
            )
        if not self.source and not self.example:
            raise ValueError("say where the value comes from (source:) or mark example: true")
        return Factor(
            kind,  # type: ignore[arg-type]
            self.value,
            UNITS[kind],
            self.series,
            self.year,
            self.version,
            self.valid_from,
            self.source or "",
            self.example,
        )


class CoalEntry(FactorEntry):
    kind: ClassVar[str] = "coal"


class Co2Entry(FactorEntry):
    kind: ClassVar[str] = "co2"


def _table(kind: str) -> AfterValidator:
    def build(entries: list[FactorEntry]) -> FactorTable:
        table = FactorTable(kind, [e.factor(kind) for e in entries])  # type: ignore[arg-type]
        # Every hour the API can be asked about (from 2000-01-01) needs a factor: a table
        # that starts later would fail the figures of the hours before it.
        first = min(table.versions, key=lambda f: f.valid_from)
        if first.valid_from > SINCE_ALWAYS:
            raise ValueError(
                f"the first version, {first.version}, starts {first.valid_from}; hours"
                f" before it would have no {kind} factor: let one version start"
                f" {SINCE_ALWAYS} (leave out its valid_from)"
            )
        return table

    return AfterValidator(build)


class FactorsEntry(_Strict):
    coal: Annotated[list[CoalEntry], Field(min_length=1), _table("coal")] | None = None
    co2: Annotated[list[Co2Entry], Field(min_length=1), _table("co2")] | None = None


class TemperatureSource(_Strict):
    device: str = Field(min_length=1)
    point: str = Field(min_length=1)


class BuildingEntry(_Strict):
    area_m2: float | None = Field(None, gt=0)
    occupants: int | None = Field(None, gt=0)
    temperature: TemperatureSource | None = None
    rated_kw: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)


def _zone(name: str) -> str:
    LocalCalendar(name)  # raises, naming the unknown zone
    return name


Zone = Annotated[str, AfterValidator(_zone)]


class SiteEntry(_Strict):
    timezone: Zone | None = None
    holidays: Dates = Field(default_factory=list)
    workdays: Dates = Field(default_factory=list)
    buildings: dict[str, BuildingEntry] = Field(default_factory=dict)


class QuotaValue(_Strict):
    value: float = Field(gt=0)
    source: str = Field(min_length=1, description="where the number comes from")


class QuotaEntry(_Strict):
    site: str
    building: str | None = None
    year: int = Field(ge=2000, le=2100)
    total_kgce: QuotaValue | None = None
    kgce_per_m2: QuotaValue | None = None
    kwh_per_m2: QuotaValue | None = None

    @model_validator(mode="after")
    def _some_quota(self) -> QuotaEntry:
        if not (self.total_kgce or self.kgce_per_m2 or self.kwh_per_m2):
            raise ValueError("a quota needs total_kgce:, kgce_per_m2: or kwh_per_m2:")
        return self


class EnergyFile(_Strict):
    timezone: Zone = DEFAULT_TIMEZONE
    holidays: Dates = Field(default_factory=list)
    workdays: Dates = Field(default_factory=list)
    sites: dict[str, SiteEntry] = Field(default_factory=dict)
    factors: FactorsEntry = Field(default_factory=FactorsEntry)
    tariffs: list[TariffEntry] | None = None
    tariff_file: str | None = None
    quotas: list[QuotaEntry] = Field(default_factory=list)
    balance_threshold: float = Field(0.10, gt=0, lt=1)


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
