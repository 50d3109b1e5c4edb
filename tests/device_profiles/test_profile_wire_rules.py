"""A profile whose point name or unit the wire would refuse is refused when it is loaded.

Before, such a profile passed `steward-edge check` and every record of its devices was
then refused by the API and quarantined at the edge, one by one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from device_profiles import ConfigError, load_file
from edge.model import WirePoint

HEAD = "vendor: x\nmodel: y\nkind: io\nverified: false\npoints:\n"


def _write(tmp_path: Path, name: str, unit: str) -> Path:
    path = tmp_path / "bad.yaml"
    quoted_name = name.replace("'", "''")
    quoted_unit = unit.replace("'", "''")
    path.write_text(
        HEAD
        + "  ok_point: {table: holding, address: 1}\n"
        + f"  '{quoted_name}': {{table: holding, address: 2, unit: '{quoted_unit}'}}\n"  # line 7
    )
    return path


def _wire_accepts(name: str, unit: str) -> bool:
    try:
        WirePoint(point=name, value=1.0, unit=unit)
    except ValidationError:
        return False
    return True


# Hand-picked: what a vendor manual tempts a profile author to write.
CASES = [
    ("energy_import", "kWh", True),
    ("phase-a/voltage:1.avg", "V", True),
    ("energy import", "kWh", False),  # a space
    ("température", "°C", False),  # a non-ASCII name (the unit may be any text)
    ("x" * 128, "", True),
    ("x" * 129, "", False),  # too long for the wire
    ("pf", "u" * 32, True),
    ("pf", "u" * 33, False),  # unit longer than the wire's 32 characters
    ("a;b", "V", False),
    ("pf", "k\u202eW", False),  # a bidi override would make the unit display reversed
]


@pytest.mark.parametrize(("name", "unit", "expected"), CASES)
def test_profile_point_names_and_units_follow_the_wire_rules(
    tmp_path: Path, name: str, unit: str, expected: bool
) -> None:
    # The hand-written expectation and the wire model agree (the oracle is checked too).
    assert _wire_accepts(name, unit) is expected
    path = _write(tmp_path, name, unit)
    if expected:
        assert name in load_file(path).points
        return
    with pytest.raises(ConfigError) as info:
        load_file(path)
    message = str(info.value)
    assert str(path) in message  # the file
    assert "line 7" in message  # where
    assert f"points.{name}" in message  # the point
    # ... and the rule, in words a profile author can act on.
    assert re.search(r"the wire (allows|accepts)", message), message
