"""The energy configuration file's schema: pydantic models with the checks that name
the field (cloud_api/energy_config.py loads the file and builds EnergyConfig from them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from edge.energy.calendar import LocalCalendar
from edge.energy.factors import SINCE_ALWAYS, SOURCED, UNITS, Factor, FactorTable
from edge.energy.tariffs import HolidayRule, Season, Tariff, Window

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
