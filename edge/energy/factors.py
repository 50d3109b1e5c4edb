"""Conversion factors as dated versions: electricity (kWh) to standard coal (kgce) and CO2.

A factor is configuration, not a constant: it has a series (which published figure), a
year, a version name and the date from which it applies, and every converted figure can
name the versions it used. Only values sourced in shared/reference/domain-facts.md §B ship
here (SOURCED); anything else a site configures must say where it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise
from typing import Literal

import numpy as np

FactorKind = Literal["coal", "co2"]
UNITS: dict[str, str] = {"coal": "kgce/kWh", "co2": "kgCO2/kWh"}
# Defaults apply from here, so that they cover any history a site loads.
SINCE_ALWAYS = date(2000, 1, 1)


@dataclass(frozen=True)
class Factor:
    """One version of a conversion factor: `value` units of kind per kWh from `valid_from`."""

    kind: FactorKind
    value: float
    unit: str
    series: str
    year: int | None
    version: str
    valid_from: date
    source: str = ""
    # True for a value shown as an illustration only (never a default).
    example: bool = False

    def __post_init__(self) -> None:
        if self.kind not in UNITS:
            raise ValueError(f"factor kind must be coal or co2, not {self.kind!r}")
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"factor {self.version}: value must be a positive number")
        if self.unit != UNITS[self.kind]:
            raise ValueError(
                f"factor {self.version}: a {self.kind} factor is in {UNITS[self.kind]}, "
                f"not {self.unit}"
            )
        if not self.version:
            raise ValueError("a factor needs a version name")


# Values sourced in domain-facts §B (confidence there: H unless noted in `source`).
SOURCED: dict[str, Factor] = {
    f.version: f
    for f in (
        Factor(
            "coal",
            0.1229,
            "kgce/kWh",
            "GB/T 2589-2020 calorific equivalent (当量值)",
            None,
            "gb2589-2020-equivalent",
            SINCE_ALWAYS,
            "GB/T 2589-2020: 860 kcal/kWh / 7000 kcal/kgce",
        ),
        Factor(
            "coal",
            0.3007,
            "kgce/kWh",
            "national supply coal consumption, equal value (等价值)",
            2022,
            "cec-2022-supply-equal-value",
            SINCE_ALWAYS,
            "CEC annual report 2023 via People's Daily: 300.7 gce/kWh in 2022 (confidence M)",
        ),
        Factor(
            "coal",
            0.28078,
            "kgce/kWh",
            "Shanghai DB31/T 783-2026 equal value (等价值)",
            None,
            "db31-783-2026-equal-value",
            SINCE_ALWAYS,
            "DB31/T 783-2026 as cited in third-party code (confidence M)",
        ),
        Factor(
            "co2",
            0.5306,
            "kgCO2/kWh",
            "MEE-NBS national average",
            2023,
            "mee-nbs-2023",
            SINCE_ALWAYS,
            "MEE + NBS 关于发布2023年电力二氧化碳排放因子的公告",
        ),
        Factor(
            "co2",
            0.5366,
            "kgCO2/kWh",
            "MEE-NBS national average",
            2022,
            "mee-nbs-2022",
            SINCE_ALWAYS,
            "MEE + NBS announcement of 20 Dec 2024",
        ),
        Factor(
            "co2",
            0.5568,
            "kgCO2/kWh",
            "MEE-NBS national average",
            2021,
            "mee-nbs-2021",
            SINCE_ALWAYS,
            "MEE + NBS 公告2024年第12号",
        ),
        Factor(
            "co2",
            0.5500,
            "kgCO2/kWh",
            "MEE-NBS East China (华东) regional",
            2023,
            "mee-nbs-2023-east-china",
            SINCE_ALWAYS,
            "MEE + NBS 2023 announcement",
        ),
        Factor(
            "co2",
            0.5153,
            "kgCO2/kWh",
            "MEE-NBS Zhejiang provincial",
            2022,
            "mee-nbs-2022-zhejiang",
            SINCE_ALWAYS,
            "MEE + NBS 2022 series via a third-party data file (confidence M)",
        ),
        Factor(
            "co2",
            0.5703,
            "kgCO2/kWh",
            "MEE national grid average for enterprise GHG reporting / carbon market",
            2022,
            "mee-grid-2022-carbon-market",
            SINCE_ALWAYS,
            "MEE 2022年度全国电网平均排放因子 (a different series; notice number unverified)",
        ),
    )
}
DEFAULT_COAL = SOURCED["gb2589-2020-equivalent"]
DEFAULT_CO2 = SOURCED["mee-nbs-2023"]


@dataclass(frozen=True)
class Converted:
    """kWh converted per element (NaN where the kWh was missing) and the versions used."""

    amount: np.ndarray
    versions: tuple[Factor, ...]

    @property
    def total(self) -> float:
        """Sum of the known amounts (missing kWh are left out, not guessed)."""
        return float(np.nansum(self.amount))


class FactorTable:
    """The dated versions of one kind of factor; the version valid on a day applies."""

    def __init__(self, kind: FactorKind, versions: Iterable[Factor]) -> None:
        self.kind = kind
        ordered = sorted(versions, key=lambda f: f.valid_from)
        if not ordered:
            raise ValueError(f"a {kind} factor table needs at least one version")
        for f in ordered:
            if f.kind != kind:
                raise ValueError(f"factor {f.version} is a {f.kind} factor in the {kind} table")
        for a, b in pairwise(ordered):
            if a.valid_from == b.valid_from:
                raise ValueError(
                    f"{kind} factors {a.version} and {b.version} both start on {a.valid_from}"
                )
        names = [f.version for f in ordered]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"{kind} factor version(s) named twice: {', '.join(dup)}")
        self._versions = tuple(ordered)
        self._from = np.array([f.valid_from.toordinal() for f in ordered], np.int64)
        self._values = np.array([f.value for f in ordered], np.float64)

    @classmethod
    def default(cls, kind: FactorKind) -> FactorTable:
        return cls(kind, [DEFAULT_COAL if kind == "coal" else DEFAULT_CO2])

    @property
    def versions(self) -> tuple[Factor, ...]:
        return self._versions

    def __repr__(self) -> str:
        return f"FactorTable({self.kind!r}, {[f.version for f in self._versions]})"

    def at(self, d: date) -> Factor:
        """The version valid on local date d."""
        i = int(np.searchsorted(self._from, d.toordinal(), side="right")) - 1
        if i < 0:
            first = self._versions[0]
            raise LookupError(
                f"no {self.kind} factor is valid on {d.isoformat()}: the earliest version, "
                f"{first.version}, applies from {first.valid_from.isoformat()}"
            )
        return self._versions[i]

    def convert(self, day_ordinal: np.ndarray, kwh: np.ndarray) -> Converted:
        """kWh (per element, on the local date ordinal beside it) to the factor's unit."""
        day_ordinal = np.asarray(day_ordinal, np.int64)
        kwh = np.asarray(kwh, np.float64)
        if day_ordinal.shape != kwh.shape:
            raise ValueError("convert: day_ordinal and kwh must have the same length")
        idx = np.searchsorted(self._from, day_ordinal, side="right") - 1
        if idx.size and idx.min() < 0:
            self.at(date.fromordinal(int(day_ordinal[idx.argmin()])))  # raises, naming it
        used = np.unique(idx[~np.isnan(kwh)]) if idx.size else idx
        return Converted(
            kwh * self._values[idx] if idx.size else kwh.copy(),
            tuple(self._versions[i] for i in used.tolist()),
        )


def sourced(version: str, valid_from: date = SINCE_ALWAYS) -> Factor:
    """A shipped, sourced factor by version name, applying from valid_from."""
    try:
        return replace(SOURCED[version], valid_from=valid_from)
    except KeyError:
        known = ", ".join(sorted(SOURCED))
        raise KeyError(f"no sourced factor named {version!r} (known: {known})") from None
