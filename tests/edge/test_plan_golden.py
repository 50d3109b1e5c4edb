"""Golden request plans, Telegraf style: testcases/<name>/input.yaml -> expected.txt.

input.yaml holds either `profile: vendor/model` (a catalog id) or an inline profile under
`inline_profile:`, and optionally `exclude: [point, ...]` (quarantined points).
expected.txt is render_plan() of the plan. Review a changed expected.txt by hand against
the vendor register map: that review is what these files are for.

Regenerate after an intended change with:  STEWARD_UPDATE_GOLDEN=1 pytest tests/edge
(which also creates a testcase for every shipped profile that has none yet).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from device_profiles import Point, Profile, load
from device_profiles.catalog import builtin
from edge.acquire.modbus.plan import ReadRequest, plan_requests

CASES_DIR = Path(__file__).parent / "testcases"
UPDATE = os.environ.get("STEWARD_UPDATE_GOLDEN") == "1"
INPUT_KEYS = {"profile", "inline_profile", "exclude"}


def _point_detail(offset: int, name: str, point: Point, width: int) -> str:
    if point.type == "string":
        encoding = f"string[{point.length}]"
    elif point.type == "bit" and point.bit is not None:
        encoding = f"bit {point.bit}"
    else:
        encoding = point.type
    if point.order != "ABCD" and point.type not in ("bit",):
        encoding += f" {point.order}"
    extras = []
    if point.scale != 1.0:
        extras.append(f"x{point.scale:g}")
    if point.offset:
        extras.append(f"{point.offset:+g}")
    if point.unit:
        extras.append(point.unit)
    if point.kind != "gauge":
        extras.append(point.kind)
    where = f"+{offset:<4} 0x{point.address:04X}"
    return f"    {where}  {name:<{width}}  {encoding:<12} {' '.join(extras)}".rstrip()


def render_plan(requests: list[ReadRequest]) -> str:
    """One describe() line per request, its points underneath, then a summary line.

    Point lines show the offset in the request, the 0-based PDU address in hex (as
    vendor maps usually print it), the encoding and the conversion, so the file can be
    checked against a register map by eye. Bits and registers are counted apart.
    """
    lines = []
    width = max((len(pp.name) for r in requests for pp in r.points), default=0)
    for r in requests:
        lines.append(r.describe())
        for pp in sorted(r.points, key=lambda p: (p.offset, p.name)):
            lines.append(_point_detail(pp.offset, pp.name, pp.point, width))
    registers = [r for r in requests if not r.is_bits]
    bits = [r for r in requests if r.is_bits]
    summary = (
        f"{len(requests)} request{'' if len(requests) == 1 else 's'}, "
        f"{sum(r.count for r in registers)} registers read, "
        f"{sum(r.used for r in registers)} used"
    )
    if bits:
        summary += f"; {sum(r.count for r in bits)} bits read, {sum(r.used for r in bits)} used"
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _case_dirs() -> list[Path]:
    return sorted(p for p in CASES_DIR.iterdir() if (p / "input.yaml").is_file())


def _read_input(case: Path) -> dict:
    spec = yaml.safe_load((case / "input.yaml").read_text(encoding="utf-8")) or {}
    unknown = set(spec) - INPUT_KEYS
    assert not unknown, f"{case.name}/input.yaml: unknown keys {sorted(unknown)}"
    assert ("profile" in spec) != ("inline_profile" in spec), (
        f"{case.name}/input.yaml: give exactly one of profile: or inline_profile:"
    )
    return spec


def _plan(case: Path) -> str:
    spec = _read_input(case)
    if "profile" in spec:
        profile = load(spec["profile"])
    else:
        profile = Profile.model_validate({"id": f"testcase/{case.name}", **spec["inline_profile"]})
    exclude = spec.get("exclude") or []
    unknown = set(exclude) - set(profile.points)
    assert not unknown, f"{case.name}: exclude names unknown points {sorted(unknown)}"
    return render_plan(plan_requests(profile.points, profile.quirks, exclude))


@pytest.mark.parametrize("case", _case_dirs(), ids=lambda p: p.name)
def test_golden_plan(case: Path) -> None:
    actual = _plan(case)
    expected_file = case / "expected.txt"
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
        return
    assert expected_file.is_file(), (
        f"{expected_file} is missing; run STEWARD_UPDATE_GOLDEN=1 pytest tests/edge, "
        "then review it against the register map"
    )
    assert actual == expected_file.read_text(encoding="utf-8")


def test_every_shipped_profile_has_a_golden_plan() -> None:
    covered = set()
    for case in _case_dirs():
        spec = _read_input(case)
        if "profile" in spec and not spec.get("exclude"):
            covered.add(spec["profile"])
    missing = [pid for pid in builtin().ids() if pid not in covered]
    if UPDATE:
        for pid in missing:
            case = CASES_DIR / pid.replace("/", "-")
            case.mkdir(parents=True, exist_ok=True)
            (case / "input.yaml").write_text(f"profile: {pid}\n", encoding="utf-8")
            (case / "expected.txt").write_text(_plan(case), encoding="utf-8")
        return
    assert not missing, (
        f"no golden plan for {missing}; run STEWARD_UPDATE_GOLDEN=1 pytest tests/edge "
        "and review the new expected.txt files"
    )


def test_render_plan_of_nothing() -> None:
    assert render_plan([]) == "0 requests, 0 registers read, 0 used\n"
