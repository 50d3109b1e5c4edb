"""The shipped catalog loads, speaks the canonical vocabulary, and bad files fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from device_profiles import (
    CANONICAL_METER_POINTS,
    Catalog,
    ConfigError,
    ProfileNotFound,
    catalog,
    load,
    load_file,
)
from device_profiles.catalog import BUILTIN_DIR, builtin
from device_profiles.schema import BIT_TABLES
from edge.acquire.modbus.plan import plan_requests

SHIPPED = builtin().ids()
METERS = [pid for pid, p in catalog().items() if p.kind == "meter"]
REQUIRED_METER_POINTS = ("voltage_l1", "current_l1", "active_power", "energy_import")


def test_catalog_ships_the_reference_meters() -> None:
    for pid in (
        "chint/dtsu666",
        "chint/ddsu666",
        "eastron/sdm630",
        "eastron/sdm120",
        "schneider/iem3xxx",
        "acrel/adw300",
    ):
        assert pid in SHIPPED


@pytest.mark.parametrize("profile_id", SHIPPED)
def test_every_shipped_profile_loads(profile_id: str) -> None:
    profile = load(profile_id)
    assert profile.id == profile_id
    assert profile.vendor and profile.model
    assert profile.points
    # The same file loads the same way through the path API.
    assert load_file(BUILTIN_DIR / f"{profile_id}.yaml", profile_id) == profile


@pytest.mark.parametrize("profile_id", SHIPPED)
def test_every_shipped_profile_plans(profile_id: str) -> None:
    profile = load(profile_id)
    requests = plan_requests(profile.points, profile.quirks)
    assert sum(len(r.points) for r in requests) == len(profile.points)


@pytest.mark.parametrize("profile_id", SHIPPED)
def test_points_fit_the_address_space_and_do_not_share_registers(profile_id: str) -> None:
    """Two names for one register would confuse rules; a point past 0xFFFF cannot be read."""
    profile = load(profile_id)
    owner: dict[tuple[str, int, int | None], str] = {}
    for name, point in profile.points.items():
        assert point.address + point.size <= 0x10000, name
        assert point.scale != 0, name
        for register in range(point.address, point.address + point.size):
            # Bits inside one register may share it, one name per bit.
            key = (point.table, register, point.bit)
            assert key not in owner, f"{name} and {owner[key]} both use {key}"
            owner[key] = name
        if point.bit is not None:
            # ... but not with a whole-register point.
            assert (point.table, point.address, None) not in owner, name


@pytest.mark.parametrize("profile_id", METERS)
def test_meter_canonical_points_have_canonical_unit_and_kind(profile_id: str) -> None:
    profile = load(profile_id)
    canonical = [n for n in profile.points if n in CANONICAL_METER_POINTS]
    assert canonical, "a meter profile without canonical points is useless to the rules"
    for name in canonical:
        point = profile.points[name]
        assert (point.unit, point.kind) == CANONICAL_METER_POINTS[name], name
        assert point.table not in BIT_TABLES and point.type not in ("bit", "string"), name


@pytest.mark.parametrize("profile_id", METERS)
def test_meter_has_the_minimum_points(profile_id: str) -> None:
    profile = load(profile_id)
    missing = [n for n in REQUIRED_METER_POINTS if n not in profile.points]
    assert not missing, f"{profile_id} lacks {missing}"


@pytest.mark.parametrize("profile_id", METERS)
def test_meter_profiles_say_where_their_map_came_from(profile_id: str) -> None:
    profile = load(profile_id)
    assert profile.sources, "name the public sources the register map came from"
    assert profile.notes.strip()
    if not profile.verified:
        assert "commissioning" in profile.notes.lower()


def test_unverified_profiles_are_the_expected_ones() -> None:
    unverified = sorted(pid for pid in METERS if not load(pid).verified)
    assert "acrel/adw300" in unverified


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileNotFound) as info:
        load("chint/dtsu999")
    message = str(info.value)
    assert "chint/dtsu999" in message
    for pid in ("chint/dtsu666", "eastron/sdm630", "acrel/adw300"):
        assert pid in message


@pytest.mark.parametrize("bad_id", ["", "../etc/passwd", "/chint/dtsu666"])
def test_invalid_profile_ids_are_refused(bad_id: str) -> None:
    with pytest.raises(ProfileNotFound):
        load(bad_id)


def test_site_folder_overrides_the_shipped_profile(tmp_path: Path) -> None:
    site = tmp_path / "chint"
    site.mkdir()
    (site / "ddsu666.yaml").write_text(
        (BUILTIN_DIR / "chint/ddsu666.yaml").read_text().replace("table: holding", "table: input")
    )
    profile = Catalog([tmp_path]).load("chint/ddsu666")
    assert {p.table for p in profile.points.values()} == {"input"}
    assert load("chint/ddsu666").points["voltage_l1"].table == "holding"


# --- malformed files: the error names the file, the line and the field ---------------

GOOD_HEAD = """\
vendor: Test
model: T1
kind: meter
verified: false
points:
"""


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD_HEAD + body)
    return path


def _problem(tmp_path: Path, body: str) -> str:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_file(path)
    message = str(info.value)
    assert str(path) in message
    assert info.value.path == str(path)
    return message


def test_bad_type_names_line_and_field(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        "  voltage_l1:\n"  # line 6
        "    table: holding\n"
        "    address: 0x2006\n"
        "    type: f33\n"  # line 9
        "    unit: V\n",
    )
    assert re.search(r"line 9, points\.voltage_l1\.type: .*'f32'", message), message


def test_missing_table_names_the_point(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        "  voltage_l1:\n"  # line 6
        "    address: 0x2006\n"
        "    type: f32\n",
    )
    assert "line 6, points.voltage_l1.table: required field is missing" in message


def test_address_out_of_range(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        "  energy_import:\n"
        "    table: holding\n"
        "    type: f32\n"
        "    address: 70000\n"  # line 9
        "    unit: kWh\n"
        "    kind: counter\n",
    )
    assert re.search(r"line 9, points\.energy_import\.address: .*65535", message), message


def test_unknown_field_is_a_typo(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        "  current_l1:\n"  # line 6
        "    table: holding\n"
        "    adress: 0x200C\n"  # line 8
        "    type: f32\n"
        "    unit: A\n",
    )
    assert "line 8, points.current_l1.adress: unknown field (check the spelling)" in message
    # The real field is then missing, reported at the point.
    assert "line 6, points.current_l1.address: required field is missing" in message


def test_write_on_input_register_is_refused(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        "  setpoint:\n"  # line 6
        "    table: input\n"
        "    address: 10\n"
        "    write: {function: 6}\n",
    )
    assert "line 6, points.setpoint: input points are read-only; remove write:" in message


def test_non_canonical_unit_on_canonical_point(tmp_path: Path) -> None:
    message = _problem(
        tmp_path,
        "  active_power: {table: input, address: 12, type: f32, unit: W}\n",
    )
    assert "points.active_power: canonical meter point must have unit 'kW'" in message


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    message = _problem(tmp_path, "  voltage_l1: {table: holding, address: [\n")
    assert "invalid YAML" in message and "line " in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- vendor: x\n")
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_file(path)
