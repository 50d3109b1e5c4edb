"""Conversion factors (edge/energy/factors.py): kgce and CO2 of known kWh, versions by date."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from edge.energy.factors import (
    DEFAULT_CO2,
    DEFAULT_COAL,
    SOURCED,
    Factor,
    FactorTable,
    sourced,
)


def test_defaults_are_the_sourced_values_of_domain_facts_b() -> None:
    assert (DEFAULT_COAL.value, DEFAULT_COAL.unit) == (0.1229, "kgce/kWh")
    assert DEFAULT_COAL.version == "gb2589-2020-equivalent"
    assert "当量值" in DEFAULT_COAL.series
    assert (DEFAULT_CO2.value, DEFAULT_CO2.unit) == (0.5306, "kgCO2/kWh")
    assert (DEFAULT_CO2.series, DEFAULT_CO2.year) == ("MEE-NBS national average", 2023)
    assert DEFAULT_CO2.version == "mee-nbs-2023"
    assert DEFAULT_COAL.valid_from == DEFAULT_CO2.valid_from == date(2000, 1, 1)
    assert not any(f.example for f in SOURCED.values())
    # 860 kcal/kWh / 7000 kcal/kgce = 0.12286 -> 0.1229 (rounded as the standard gives it).
    assert DEFAULT_COAL.value == pytest.approx(860 / 7000, abs=5e-5)


def test_kgce_and_co2_of_1000_kwh_by_hand() -> None:
    days = np.array([date(2024, 6, 1).toordinal()] * 2)
    kwh = np.array([400.0, 600.0])
    coal = FactorTable.default("coal").convert(days, kwh)
    co2 = FactorTable.default("co2").convert(days, kwh)
    assert coal.total == pytest.approx(122.9)  # 1000 x 0.1229
    assert co2.total == pytest.approx(530.6)  # 1000 x 0.5306
    assert coal.amount.tolist() == pytest.approx([49.16, 73.74])  # 400 x 0.1229, 600 x 0.1229
    assert [f.version for f in co2.versions] == ["mee-nbs-2023"]


def test_the_version_valid_on_each_day_applies() -> None:
    table = FactorTable("co2", [sourced("mee-nbs-2023", date(2025, 1, 1)), sourced("mee-nbs-2022")])
    assert table.at(date(2024, 12, 31)).version == "mee-nbs-2022"
    assert table.at(date(2025, 1, 1)).version == "mee-nbs-2023"
    assert [f.version for f in table.versions] == ["mee-nbs-2022", "mee-nbs-2023"]
    days = np.array([date(2024, 12, 31).toordinal(), date(2025, 1, 1).toordinal()])
    got = table.convert(days, np.array([100.0, 200.0]))
    # 100 x 0.5366 = 53.66 on 31 Dec 2024; 200 x 0.5306 = 106.12 on 1 Jan 2025.
    assert got.amount.tolist() == pytest.approx([53.66, 106.12])
    assert got.total == pytest.approx(159.78)
    assert [f.version for f in got.versions] == ["mee-nbs-2022", "mee-nbs-2023"]
    # A missing hour stays missing, and a version used only by missing hours is not named.
    got = table.convert(days, np.array([100.0, np.nan]))
    assert np.isnan(got.amount[1])
    assert got.total == pytest.approx(53.66)
    assert [f.version for f in got.versions] == ["mee-nbs-2022"]


def test_an_equal_value_coal_factor_is_an_option() -> None:
    table = FactorTable("coal", [sourced("cec-2022-supply-equal-value")])
    got = table.convert(np.array([date(2024, 1, 1).toordinal()]), np.array([1000.0]))
    assert got.total == pytest.approx(300.7)  # 300.7 gce/kWh x 1000 kWh
    assert "等价值" in got.versions[0].series


def test_no_version_before_the_first_is_a_clear_error() -> None:
    table = FactorTable("co2", [sourced("mee-nbs-2023", date(2024, 1, 1))])
    with pytest.raises(LookupError, match=r"no co2 factor is valid on 2023-12-31.*2024-01-01"):
        table.at(date(2023, 12, 31))
    with pytest.raises(LookupError, match="2023-12-31"):
        table.convert(np.array([date(2023, 12, 31).toordinal()]), np.array([1.0]))


def test_bad_tables_and_factors_are_refused() -> None:
    with pytest.raises(ValueError, match="both start on 2000-01-01"):
        FactorTable("co2", [sourced("mee-nbs-2023"), sourced("mee-nbs-2022")])
    with pytest.raises(ValueError, match="coal factor in the co2 table"):
        FactorTable("co2", [DEFAULT_COAL])
    with pytest.raises(ValueError, match="kgCO2/kWh, not kgce/kWh"):
        Factor("co2", 0.5, "kgce/kWh", "x", None, "x", date(2024, 1, 1))
    with pytest.raises(ValueError, match="positive"):
        Factor("co2", -0.5, "kgCO2/kWh", "x", None, "x", date(2024, 1, 1))
    with pytest.raises(KeyError, match="no sourced factor named 'mee-nbs-2030'"):
        sourced("mee-nbs-2030")
