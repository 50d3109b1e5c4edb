"""The energy configuration (cloud_api/energy_config.py): what a valid file gives, the
defaults, the shipped Zhejiang example, and errors that name file, line and field."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cloud_api.energy_config import ConfigError, load_energy_config, shipped_example
from cloud_api.settings import ApiSettings
from edge.energy.calendar import DayType

GOOD = """\
holidays: ["2026-02-15..2026-02-23"]
workdays: [2026-02-14, 2026-02-28]
sites:
  hz:
    buildings:
      b1:
        area_m2: 12000
        occupants: 450
        temperature: {device: weather-1, point: outdoor_temperature}
        rated_kw: {main-meter: 800}
  berlin:
    timezone: Europe/Berlin
    holidays: [2026-12-25]
factors:
  coal: [{version: cec-2022-supply-equal-value}]
  co2:
    - version: mee-nbs-2022
    - version: mee-nbs-2023
      valid_from: 2026-01-01
tariff_file: zhejiang-tou.yaml
quotas:
  - site: hz
    building: b1
    year: 2026
    kwh_per_m2: {value: 85, source: "test value, not a standard's"}
balance_threshold: 0.05
"""


def _write(tmp_path: Path, text: str, name: str = "energy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_gives_calendars_buildings_factors_tariffs_and_quotas(
    tmp_path: Path,
) -> None:
    cfg = load_energy_config(_write(tmp_path, GOOD))
    hz = cfg.calendar("hz")
    assert (cfg.timezone("hz"), cfg.timezone("berlin")) == ("Asia/Shanghai", "Europe/Berlin")
    assert hz.day_type(date(2026, 2, 14)) is DayType.WORKDAY  # a Saturday worked (调休)
    assert hz.day_type(date(2026, 2, 20)) is DayType.HOLIDAY  # inside the range
    assert hz.day_type(date(2026, 2, 21)) is DayType.HOLIDAY  # Saturday, inside the range
    assert hz.day_type(date(2026, 2, 24)) is DayType.WORKDAY
    # Berlin: its own holiday plus the top-level ones.
    assert cfg.calendar("berlin").day_type(date(2026, 12, 25)) is DayType.HOLIDAY
    assert cfg.calendar("berlin").day_type(date(2026, 2, 16)) is DayType.HOLIDAY
    # A site the file does not name gets the defaults (and the shared holidays).
    assert cfg.timezone("elsewhere") == "Asia/Shanghai"
    assert cfg.calendar("elsewhere").day_type(date(2026, 2, 16)) is DayType.HOLIDAY
    b1 = cfg.building("hz", "b1")
    assert b1 is not None and (b1.area_m2, b1.occupants) == (12000, 450)
    assert b1.temperature is not None and b1.temperature.point == "outdoor_temperature"
    assert cfg.rated_kw("hz", "main-meter") == 800
    assert cfg.building("hz", "b9") is None
    assert cfg.coal.at(date(2026, 5, 1)).value == 0.3007
    assert cfg.co2.at(date(2025, 12, 31)).version == "mee-nbs-2022"
    assert cfg.co2.at(date(2026, 1, 1)).version == "mee-nbs-2023"
    quota = cfg.quota("hz", "b1", 2026)
    assert quota is not None and quota.kwh_per_m2 is not None
    assert (quota.kwh_per_m2.value, quota.total_kgce) == (85, None)
    assert cfg.quota("hz", None, 2026) is None
    assert cfg.balance_threshold == 0.05
    assert cfg.tariffs is not None
    assert cfg.tariffs.versions[0].version == "zhejiang-tou-2026-07-draft-EXAMPLE"


def test_without_a_file_the_defaults() -> None:
    cfg = load_energy_config(None)
    assert cfg.timezone("any") == "Asia/Shanghai"
    assert [f.version for f in cfg.coal.versions] == ["gb2589-2020-equivalent"]
    assert [f.version for f in cfg.co2.versions] == ["mee-nbs-2023"]
    assert cfg.tariffs is None
    assert cfg.quota("any", None, 2026) is None
    assert cfg.balance_threshold == 0.10
    assert cfg.calendar("any").day_type(date(2026, 10, 1)) is DayType.WORKDAY  # a Thursday


def test_the_shipped_zhejiang_example_matches_the_reference_periods() -> None:
    """Periods of domain-facts §B.3, looked up at local times chosen by hand."""
    table = shipped_example("zhejiang-tou.yaml")
    tariff = table.versions[0]
    assert tariff.example and "EXAMPLE" in tariff.source
    # base 0.60 x ratios 2.05 / 1.85 / 1 / 0.4 / 0.2
    assert dict(tariff.prices) == pytest.approx(
        {"sharp": 1.23, "peak": 1.11, "flat": 0.60, "valley": 0.24, "deep_valley": 0.12}
    )
    z = ZoneInfo("Asia/Shanghai")
    expect = {
        datetime(2026, 7, 15, 19, 0): "sharp",  # summer 18-22
        datetime(2026, 7, 15, 22, 30): "peak",  # summer 22-23
        datetime(2026, 7, 15, 12, 0): "valley",  # midday valley 11-14
        datetime(2026, 9, 15, 19, 0): "peak",  # autumn 16-23, no sharp peak
        datetime(2026, 9, 15, 23, 30): "flat",
        datetime(2026, 10, 1, 8, 0): "valley",  # National Day 00-09
        datetime(2026, 10, 1, 12, 0): "deep_valley",  # National Day 09-15
        datetime(2026, 10, 1, 17, 0): "peak",  # after 15:00 the season applies
        datetime(2026, 10, 4, 12, 0): "valley",  # the 4th day is an ordinary day
    }
    got = {t: table.period_at(t.replace(tzinfo=z)) for t in expect}
    assert got == expect
    assert table.step_needed() == 3600
    price, _ = table.price_per_hour(
        load_energy_config(None).calendar("x"),
        np.array([datetime(2026, 7, 15, 19, tzinfo=z).timestamp()]),
    )
    assert price.tolist() == pytest.approx([1.23])


BAD_FIELDS = """\
timezone: Asia/Shanghia
sites:
  hz:
    buildings:
      b1:
        area_m2: -5
        colour: red
factors:
  co2:
    - version: my-guess
      value: 0.6
      series: made up
    - version: mee-nbs-2023
      value: 0.55
tariffs:
  - version: t1
    valid_from: 2026-01-01
    source: bill
    prices: {flat: 0.6, peak: 1.1}
    default_period: flat
    seasons:
      - months: [1, 2]
        windows:
          - ["07:00", 16:00, peak]
          - ["16:00", "16:10", peak]
          - ["18:00", "19:00", shoulder]
quotas:
  - site: hz
    year: 2026
    kwh_per_m2: {value: 85}
"""


def test_field_errors_name_file_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, BAD_FIELDS)
    with pytest.raises(ConfigError) as info:
        load_energy_config(path)
    assert info.value.problems == [
        "line 1, timezone: unknown time zone 'Asia/Shanghia': give an IANA name such as "
        "'Asia/Shanghai'",
        "line 6, sites.hz.buildings.b1.area_m2: Input should be greater than 0",
        "line 7, sites.hz.buildings.b1.colour: unknown field (check the spelling)",
        "line 10, factors.co2[0]: say where the value comes from (source:) or mark example: true",
        "line 13, factors.co2[1]: mee-nbs-2023 is the sourced value 0.5306; name your own "
        "version to use 0.55",
        "line 24, tariffs[0].seasons[0].windows[0]: write times in quotes, e.g. '16:00': "
        "YAML reads an unquoted 16:00 as a number (here 960)",
        "line 25, tariffs[0].seasons[0].windows[1]: '16:10': tariff windows start and end "
        "on a quarter hour",
        "line 30, quotas[0].kwh_per_m2.source: required field is missing",
    ]
    assert str(info.value).startswith(f"{path}: line 1, timezone:")


BAD_LINKS = """\
workdays: [2026-02-14]
sites:
  hz:
    holidays: ["2026-02-13..2026-02-15"]
    buildings:
      b1: {occupants: 40}
tariffs:
  - version: t1
    valid_from: 2026-01-01
    example: true
    prices: {flat: 0.6}
    default_period: flat
    seasons:
      - months: [1]
        windows: [["00:00", "07:00", valley]]
tariff_file: zhejiang-tou.yaml
quotas:
  - site: hz
    building: b1
    year: 2026
    kgce_per_m2: {value: 5, source: test}
  - site: hz
    building: b1
    year: 2026
    total_kgce: {value: 5, source: test}
"""


def test_errors_across_fields_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_energy_config(_write(tmp_path, BAD_LINKS))
    assert info.value.problems == [
        "line 8, tariffs[0]: tariff t1: no price for period(s) valley",
    ]
    fixed = BAD_LINKS.replace("prices: {flat: 0.6}", "prices: {flat: 0.6, valley: 0.2}")
    with pytest.raises(ConfigError) as info:
        load_energy_config(_write(tmp_path, fixed))
    assert info.value.problems == [
        "line 4, sites.hz.holidays: a date cannot be both a holiday and a make-up workday: "
        "2026-02-14",
        "line 18, quotas[0]: a per-m2 quota needs sites.hz.buildings.b1.area_m2",
        "line 22, quotas[1]: a second quota for the same site, building and year (first: "
        "quotas[0])",
        "line 16, tariff_file: give tariffs: or tariff_file:, not both",
    ]


def test_a_missing_tariff_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 1, tariff_file: 'nope.yaml': no such file"):
        load_energy_config(_write(tmp_path, "tariff_file: nope.yaml\n"))
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: invalid YAML"):
        load_energy_config(_write(tmp_path, "sites:\n  hz: [\n"))
    # An error inside an included tariff file names that file and its line.
    _write(tmp_path, "tariffs:\n  - version: x\n    valid_from: 2026-01-01\n", "t.yaml")
    with pytest.raises(ConfigError) as info:
        load_energy_config(_write(tmp_path, "tariff_file: t.yaml\n"))
    assert "t.yaml: line 2, tariffs[0].default_period: required field is missing" in str(info.value)


def test_the_api_settings_take_the_path_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEWARD_API_ENERGY_CONFIG", str(tmp_path / "energy.yaml"))
    assert ApiSettings(_env_file=None).energy_config == tmp_path / "energy.yaml"  # type: ignore[call-arg]
