"""The hourly baseline (cloud_api/energy/baseline.py): fit figures by hand, recovered truth
on synthetic loads, balance points, sufficiency and does-not-fit verdicts."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from energy_synth import features, hours, hvac_load, office_profile, outdoor_temperature

from cloud_api.energy.baseline import fit_hourly, g14_figures
from cloud_api.energy.uncertainty import (
    daily_residuals,
    lag1_autocorrelation_days,
    sum_by_key,
    t_quantile,
)

HOLIDAYS = frozenset({date(2024, 4, 4), date(2024, 4, 5), date(2024, 5, 1), date(2024, 5, 2)})


def test_tiny_case_matches_the_hand_computation() -> None:
    # Cells: (workday, 9): 10, 12, 14 -> mean 12; (weekend, 9): 4, 6 -> mean 5;
    # (workday, 10): 7. n = 6, p = 3 cells. Residuals -2, 0, 2, -1, 1, 0: SSE = 10.
    # RMSE = sqrt(10 / (6 - 3)) = 1.825742; mean = 53 / 6 = 8.833333;
    # CV(RMSE) = 1.825742 / 8.833333 = 0.206688. NMBE = 0 / (3 * 8.83) = 0.
    # Lag-1 products over consecutive hours: -2*0 + 0*2 + 2*-1 + -1*1 + 1*0 = -3, rho =
    # -3 / 10 < 0 -> 0. The uncertainty comes from daily residuals: these six hours make
    # no complete day (hours 0..23 all fitted), so there is none: sigma NaN, and a note.
    # p_day = 2 day types seen (workday, weekend).
    hs = np.arange(6) * 3600.0
    kwh = np.array([10.0, 12.0, 14.0, 4.0, 6.0, 7.0])
    model = fit_hourly(hs, kwh, np.array([0, 0, 0, 1, 1, 0]), np.array([9, 9, 9, 9, 9, 10]))
    assert model.ok, model.verdict
    assert (model.n, model.p) == (6, 3)
    assert model.rmse == pytest.approx(1.825742, abs=1e-6)
    assert model.cv_rmse == pytest.approx(0.206688, abs=1e-6)
    assert model.nmbe == pytest.approx(0.0, abs=1e-12)
    assert model.autocorrelation == pytest.approx(-0.3)
    assert (model.n_days, model.p_days) == (0, 2)
    assert model.sigma_hour is None and model.sigma_day is None
    assert "no uncertainty: 0 complete days for 2 daily parameters" in " ".join(model.notes)
    assert model.verdict.startswith("fits: CV(RMSE) 21 %, NMBE 0.0 %")
    # Holidays never seen: predicted as weekends, and the model says so. (workday, 11)
    # never seen either: NaN, not a guess.
    kwh_hat, sigma = model.predict(np.array([0, 1, 2, 0]), np.array([9, 9, 9, 11]))
    np.testing.assert_allclose(kwh_hat[:3], [12.0, 5.0, 5.0])
    assert math.isnan(kwh_hat[3]) and np.isnan(sigma).all()
    assert any("holidays are predicted as weekends" in note for note in model.notes)


def test_g14_figures_divide_by_n_minus_p() -> None:
    # y = 10, 20, 30; y_hat = 12, 18, 27; p = 1: residuals -2, 2, 3, sum 3, SSE 17,
    # n - p = 2: RMSE = sqrt(8.5) = 2.915476, mean 20: CV = 0.145774,
    # NMBE = 3 / (2 * 20) = 0.075.
    cv, nmbe, rmse = g14_figures(np.array([10.0, 20, 30]), np.array([12.0, 18, 27]), p=1)
    assert (cv, nmbe, rmse) == pytest.approx((0.145774, 0.075, 2.915476), abs=1e-6)


def test_t_quantile_matches_the_printed_tables() -> None:
    # Two-sided 90 %: t(0.95; 10) = 1.812, t(0.95; 30) = 1.697, normal 1.645 (any t table).
    assert t_quantile(0.9, 10) == pytest.approx(1.812, abs=1e-3)
    assert t_quantile(0.9, 30) == pytest.approx(1.697, abs=1e-3)
    assert t_quantile(0.9, math.inf) == pytest.approx(1.645, abs=1e-3)


def test_sum_by_key_adds_amounts_and_sigmas_in_quadrature() -> None:
    # Day 1: 1 + 2 = 3, sigma sqrt(3^2 + 4^2) = 5; day 2: NaN stays NaN.
    keys, sums, sigmas = sum_by_key(
        np.array([1, 1, 2]), np.array([1.0, 2.0, np.nan]), np.array([3.0, 4.0, 1.0])
    )
    assert keys.tolist() == [1, 2]
    assert sums[0] == 3.0 and math.isnan(sums[1])
    assert sigmas.tolist() == [5.0, 1.0]


def _office(days: int, noise: float, seed: int, first: date = date(2024, 3, 4)):
    hs = hours(first, days)
    dt, hod, _ = features(hs, HOLIDAYS)
    rng = np.random.default_rng(seed)
    return hs, dt, hod, office_profile(dt, hod) + rng.normal(0.0, noise, len(hs))


def test_fit_recovers_the_day_typed_means() -> None:
    hs, dt, hod, kwh = _office(days=70, noise=2.0, seed=1)
    model = fit_hourly(hs, kwh, dt, hod)
    assert model.ok, model.verdict
    assert model.p == 72 and model.n == 70 * 24
    truth = office_profile(np.repeat([0, 1, 2], 24), np.tile(np.arange(24), 3))
    counts = np.bincount(dt * 24 + hod, minlength=72)
    # Each cell mean is within 5 standard errors (2 / sqrt(count)) of the truth.
    assert np.all(np.abs(model.cell_means - truth) <= 5 * 2.0 / np.sqrt(counts))
    # The CV(RMSE) is about noise / mean use; NMBE of a cell-mean fit is 0.
    assert model.cv_rmse == pytest.approx(2.0 / np.mean(kwh), rel=0.1)
    assert model.nmbe == pytest.approx(0.0, abs=1e-9)


def test_a_day_typed_load_never_gets_a_flat_counterfactual() -> None:
    # OpenDSM #445: a model on data with a day pattern returned a flat line.
    hs, dt, hod, kwh = _office(days=28, noise=2.0, seed=2)
    temp = outdoor_temperature(hs)
    model = fit_hourly(hs, kwh, dt, hod, temperature=temp)
    assert model.ok, model.verdict
    week = hours(date(2024, 4, 8), 7)  # no holiday: the model saw none
    wdt, whod, _ = features(week, HOLIDAYS)
    predicted, _ = model.predict(wdt, whod, outdoor_temperature(week))
    truth = office_profile(wdt, whod)
    assert np.std(predicted) > 0.9 * np.std(truth)
    assert np.corrcoef(predicted, truth)[0, 1] > 0.99
    work_10, work_03 = predicted[(wdt == 0) & (whod == 10)], predicted[(wdt == 0) & (whod == 3)]
    assert np.mean(work_10) - np.mean(work_03) == pytest.approx(40.0, abs=2.0)


def test_temperature_load_recovers_balance_points_within_1_k() -> None:
    hs = hours(date(2023, 1, 1), 365)
    dt, hod, _ = features(hs)
    temp = outdoor_temperature(hs)
    rng = np.random.default_rng(3)
    kwh = (
        office_profile(dt, hod)
        + hvac_load(temp, heat_bp=14.0, heat_slope=2.0, cool_bp=23.0, cool_slope=3.0)
        + rng.normal(0.0, 3.0, len(hs))
    )
    model = fit_hourly(hs, kwh, dt, hod, temperature=temp)
    assert model.ok and model.uses_temperature, model.verdict
    assert abs(model.balance_points["heating"] - 14.0) <= 1.0
    assert abs(model.balance_points["cooling"] - 23.0) <= 1.0
    assert model.p == 48 + 4  # no holidays given: 48 cells, 2 slopes, 2 balance points
    assert model.slopes["heating"] == pytest.approx(2.0, rel=0.15)
    assert model.slopes["cooling"] == pytest.approx(3.0, rel=0.15)


def test_temperature_that_does_not_drive_the_load_is_left_out() -> None:
    hs, dt, hod, kwh = _office(days=70, noise=2.0, seed=4)
    model = fit_hourly(hs, kwh, dt, hod, temperature=outdoor_temperature(hs))
    assert model.ok and not model.uses_temperature
    assert model.balance_points == {}
    assert "no degree term helps" in " ".join(model.notes)


def test_23_percent_missing_hours_is_insufficient_data() -> None:
    hs, dt, hod, kwh = _office(days=50, noise=2.0, seed=5)  # 1200 hours
    kwh[np.random.default_rng(5).choice(len(kwh), 276, replace=False)] = np.nan  # 23 %
    model = fit_hourly(hs, kwh, dt, hod)
    assert not model.ok
    assert model.verdict == "insufficient data: 23 % of hours missing (CalTRACK-style limit 10 %)"
    assert model.missing_share == pytest.approx(0.23)
    with pytest.raises(ValueError, match="does not forecast: insufficient data"):
        model.predict(dt, hod)


def test_a_noisy_load_does_not_fit_and_does_not_forecast() -> None:
    hs, dt, hod, _ = _office(days=28, noise=0.0, seed=6)
    kwh = np.random.default_rng(6).gamma(2.0, 10.0, len(hs))  # CV of a gamma(2) = 71 %
    model = fit_hourly(hs, kwh, dt, hod)
    assert not model.ok
    assert model.verdict.startswith("does not fit: CV(RMSE) ")
    assert model.verdict.endswith(" > 30 %")
    with pytest.raises(ValueError, match="does not forecast: does not fit"):
        model.predict(dt, hod)


def test_sparse_temperature_is_not_used_and_the_model_says_why() -> None:
    hs, dt, hod, kwh = _office(days=28, noise=2.0, seed=7)
    temp = outdoor_temperature(hs)
    temp[: len(temp) // 2] = np.nan  # half the hours, one long gap: nothing to interpolate
    model = fit_hourly(hs, kwh, dt, hod, temperature=temp)
    assert model.ok and not model.uses_temperature
    assert model.notes[0].startswith("temperature not used: 50 % of metered hours have none")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hour_of_day": 24}, r"hour_of_day\[3\] = 24: must be an integer 0..23"),
        ({"day_type_idx": 3}, r"day_type_idx\[3\] = 3: must be an integer 0..2"),
        ({"hour_start": 0.0}, r"hour_start must increase strictly; index 3"),
    ],
)
def test_malformed_arrays_are_named(change: dict, message: str) -> None:
    arrays = {
        "hour_start": np.arange(6) * 3600.0,
        "kwh": np.ones(6),
        "day_type_idx": np.zeros(6, dtype=int),
        "hour_of_day": np.arange(6),
    }
    for name, value in change.items():
        arrays[name] = arrays[name].copy()
        arrays[name][3] = value
    with pytest.raises(ValueError, match=message):
        fit_hourly(**arrays)


def test_kwh_of_another_length_is_named() -> None:
    with pytest.raises(ValueError, match=r"kwh has 5 values, expected 6"):
        fit_hourly(np.arange(6) * 3600.0, np.ones(5), np.zeros(6, int), np.arange(6))


def test_daily_residuals_keep_only_complete_days() -> None:
    # Three local days of hours; day 1 misses hour 5, day 2 has only hours 0-11. Residual
    # r = 1 on day 0 (24 h: sum 24) and on day 1 (23 fitted hours), 2 on day 2. Only day 0
    # is complete: ([0], [24]). Lag-1 over days 0 and 2 (not consecutive): no pair, rho 0.
    hs = hours(date(2024, 1, 1), 3)[: 24 + 24 + 12]
    _, hod, _ = features(hs)
    fitted = np.ones(len(hs), dtype=bool)
    fitted[24 + 5] = False
    resid = np.where(np.arange(len(hs)) < 48, 1.0, 2.0)[fitted]
    index, sums = daily_residuals(hs, hod, fitted, resid)
    assert index.tolist() == [0] and sums.tolist() == [24.0]
    both = np.array([0, 2]), np.array([3.0, -3.0])
    assert lag1_autocorrelation_days(*both) == 0.0
    # Days 0, 1, 2 with sums 3, -3, 3: pairs -9, -9 over 27 -> -2/3.
    assert lag1_autocorrelation_days(np.array([0, 1, 2]), np.array([3.0, -3, 3])) == (
        pytest.approx(-2 / 3)
    )
