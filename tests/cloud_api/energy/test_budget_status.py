"""budget_status (cloud_api/energy/budget_status.py) against hand sums.

Data-driven: testcases_budget/<case>/input.json describes five local days (Asia/Shanghai)
with a rate per hour for used hours (before now) and for forecast hours (from now), and
expected.json the status worked out by hand (its "why").
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from energy_synth import local_midnight

from cloud_api.energy.budget_status import budget_status
from edge.model import Colour

CASES_DIR = Path(__file__).parent / "testcases_budget"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())


def _status(given: dict):
    first = date.fromisoformat(given["first_day"])
    days = [first + timedelta(days=i) for i in range(given["days"])]
    bounds = [(d, local_midnight(d), local_midnight(d + timedelta(days=1))) for d in days]
    hs = np.arange(bounds[0][1], bounds[-1][2], 3600.0)
    day_of = np.repeat(np.arange(given["days"]), 24)
    now = hs[0] + given["now_hour"] * 3600.0
    past = hs < now
    used = np.asarray(given["used_rate"], dtype=float)[day_of][past]
    used[given.get("missing_used", [])] = np.nan
    forecast = None
    if given["forecast_rate"] is not None:
        rate = np.asarray(given["forecast_rate"], dtype=float)[day_of][~past]
        forecast = (hs[~past], rate, np.full(len(rate), given["sigma_per_hour"]))
    return budget_status(
        period_start=hs[0],
        period_end=bounds[-1][2],
        now=now,
        day_bounds=bounds,
        used_by_hour=(hs[past], used),
        forecast_by_hour=forecast,
        budget=given["budget"],
        threshold=given["threshold"],
        model_verdict=given.get("model_verdict", "no baseline model"),
        unit="kWh",
    )


@pytest.mark.parametrize("name", CASES)
def test_budget_status_matches_the_hand_sums(name: str) -> None:
    given = json.loads((CASES_DIR / name / "input.json").read_text())
    expected = json.loads((CASES_DIR / name / "expected.json").read_text())
    got = _status(given)
    why = expected["why"]
    assert got.used == pytest.approx(expected["used"]), why
    for field in ("forecast", "forecast_low", "forecast_high"):
        want = expected[field]
        assert getattr(got, field) == (None if want is None else pytest.approx(want, abs=1e-4)), (
            field,
            why,
        )
    assert got.colour == Colour(expected["colour"]), why
    crosses = expected["crosses_on"]
    assert got.crosses_on == (None if crosses is None else date.fromisoformat(crosses)), why
    assert got.reason == expected["reason"], why
    assert got.missing_used_hours == expected.get("missing_used_hours", 0), why


def test_an_hour_both_used_and_forecast_is_refused() -> None:
    d = date(2024, 3, 1)
    start, end = local_midnight(d), local_midnight(d + timedelta(days=1))
    hs = np.arange(start, end, 3600.0)
    with pytest.raises(ValueError, match="in both used_by_hour and forecast_by_hour"):
        budget_status(
            period_start=start,
            period_end=end,
            now=hs[10] + 1800.0,  # mid-hour: hour 10 is partly past, partly future
            day_bounds=[(d, start, end)],
            used_by_hour=(hs[:11], np.ones(11)),
            forecast_by_hour=(hs[10:], np.ones(14), np.ones(14)),
            budget=100.0,
        )


def test_a_forecast_with_a_nan_hour_is_refused_with_the_hour() -> None:
    d = date(2024, 3, 1)
    start, end = local_midnight(d), local_midnight(d + timedelta(days=1))
    hs = np.arange(start, end, 3600.0)
    amounts = np.ones(14)
    amounts[3] = np.nan
    with pytest.raises(ValueError, match=r"forecast_by_hour amount\[3\] is nan"):
        budget_status(
            period_start=start,
            period_end=end,
            now=hs[10],
            day_bounds=[(d, start, end)],
            used_by_hour=(hs[:10], np.ones(10)),
            forecast_by_hour=(hs[10:], amounts, np.ones(14)),
            budget=100.0,
        )


def test_the_interval_never_goes_below_what_is_already_used() -> None:
    # used 10 x 1 = 10; forecast 10 + 14 x 1 = 24; half-width 1.644854 x sqrt(14 x 10^2)
    # = 1.644854 x 37.4166 = 61.545 > 14: the low end would be -37.5, it is used = 10.
    d = date(2024, 3, 1)
    start, end = local_midnight(d), local_midnight(d + timedelta(days=1))
    hs = np.arange(start, end, 3600.0)
    got = budget_status(
        period_start=start,
        period_end=end,
        now=hs[10],
        day_bounds=[(d, start, end)],
        used_by_hour=(hs[:10], np.ones(10)),
        forecast_by_hour=(hs[10:], np.ones(14), np.full(14, 10.0)),
        budget=100.0,
    )
    assert (got.used, got.forecast) == (10.0, 24.0)
    assert got.forecast_low == 10.0
    assert got.forecast_high == pytest.approx(24.0 + 61.545, abs=1e-3)


@pytest.mark.parametrize(
    ("sigma", "dof", "low", "high"),
    [
        # t(90 %, 10) = 1.8125 (t table) x sqrt(12 x 1^2) = 3.464102: half-width 6.2787
        # (t_quantile is good to 1e-3, so to within 0.004 here).
        (1.0, 10, 240 - 6.2787, 240 + 6.2787),
        # A model too short to estimate its uncertainty: a forecast and no interval.
        (np.nan, 10, None, None),
    ],
)
def test_the_interval_takes_the_models_degrees_of_freedom(sigma, dof, low, high) -> None:
    # One day, now at 12:00; 10 kWh in each hour used and forecast: 120 + 120 = 240.
    d = date(2024, 3, 1)
    start, end = local_midnight(d), local_midnight(d + timedelta(days=1))
    hs = np.arange(start, end, 3600.0)
    status = budget_status(
        period_start=start,
        period_end=end,
        now=hs[12],
        day_bounds=[(d, start, end)],
        used_by_hour=(hs[:12], np.full(12, 10.0)),
        forecast_by_hour=(hs[12:], np.full(12, 10.0), np.full(12, sigma)),
        budget=1000.0,
        degrees_of_freedom=dof,
    )
    assert status.forecast == pytest.approx(240.0)
    for got, want in ((status.forecast_low, low), (status.forecast_high, high)):
        assert got == (None if want is None else pytest.approx(want, abs=4e-3))
