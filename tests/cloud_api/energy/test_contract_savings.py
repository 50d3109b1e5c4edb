"""Contract savings (cloud_api/energy/savings.py): a known 12 % cut after a retrofit, and
days with missing weather or meter data named and left out of both sides."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from energy_synth import features, hours, hvac_load, office_profile, outdoor_temperature

from cloud_api.energy.savings import HourlySeries, contract_savings

HOLIDAYS = frozenset(
    {date(2023, 1, 2), date(2023, 5, 1), date(2023, 10, 2), date(2024, 1, 1), date(2024, 5, 1)}
)
CUT = 0.12


def _series(first: date, days: int, shift_k: float, scale: float, seed: int):
    hs = hours(first, days)
    dt, hod, ordinal = features(hs, HOLIDAYS)
    temp = outdoor_temperature(hs, shift_k)
    truth = office_profile(dt, hod) + hvac_load(temp, 14.0, 2.0, 23.0, 3.0)
    noise = np.random.default_rng(seed).normal(0.0, 3.0, len(hs))
    kwh = scale * truth + noise
    return HourlySeries(hs, kwh, dt, hod, ordinal, temp), truth


@pytest.fixture(scope="module")
def year_before() -> HourlySeries:
    return _series(date(2023, 1, 1), 365, shift_k=0.0, scale=1.0, seed=11)[0]


@pytest.fixture(scope="module")
def after_retrofit():
    # Six months after the retrofit, in a year 1.5 K warmer than the baseline's: the
    # adjusted baseline must follow the reporting weather, not repeat last year.
    return _series(date(2024, 1, 1), 182, shift_k=1.5, scale=1.0 - CUT, seed=12)


def test_a_12_percent_cut_is_reported_as_12_percent(year_before, after_retrofit) -> None:
    reporting, truth = after_retrofit
    result = contract_savings(year_before, reporting)
    assert result.ok, result.verdict
    assert result.baseline.uses_temperature
    assert result.excluded_days == []
    assert [m.label for m in result.months] == [f"2024-0{m}" for m in range(1, 7)]
    for row in [*result.months, result.total]:
        assert row.fraction == pytest.approx(CUT, abs=0.02), row
    # Each month's hours, counted by a plain loop over dates.
    for row in result.months:
        month = int(row.label.split("-")[1])
        in_month = [date.fromordinal(int(o)).month == month for o in reporting.day_ordinal]
        assert row.hours == sum(in_month)
        # The adjusted baseline follows the warmer year: within 1 % of the true load
        # without the cut (the generator's truth, not the model).
        assert row.adjusted_baseline == pytest.approx(truth[np.array(in_month)].sum(), rel=0.01)
        assert 0 < row.uncertainty < 0.1 * row.avoided, row
    # The total is the sum of its months.
    assert result.total.avoided == pytest.approx(sum(m.avoided for m in result.months))


def test_days_without_weather_are_named_and_left_out_of_both_sides(
    year_before, after_retrofit
) -> None:
    reporting, _ = after_retrofit
    temp = reporting.temperature.copy()
    day_index = (reporting.day_ordinal - reporting.day_ordinal[0]) * 24 + reporting.hour_of_day

    def at(d: date, h: int) -> int:
        return int(
            np.flatnonzero(day_index == (d.toordinal() - date(2024, 1, 1).toordinal()) * 24 + h)[0]
        )

    temp[at(date(2024, 2, 6), 0) : at(date(2024, 2, 6), 23) + 1] = np.nan  # whole day: 24 h
    temp[at(date(2024, 3, 12), 0) : at(date(2024, 3, 12), 8)] = np.nan  # 00-08: 8 h
    temp[at(date(2024, 4, 20), 10) : at(date(2024, 4, 20), 17)] = np.nan  # 10-17: 7 h
    temp[at(date(2024, 5, 8), 9) : at(date(2024, 5, 8), 13)] = np.nan  # 09-13: 4 h, filled
    gappy = HourlySeries(
        reporting.hour_start,
        reporting.kwh,
        reporting.day_type,
        reporting.hour_of_day,
        reporting.day_ordinal,
        temp,
    )
    result = contract_savings(year_before, gappy)
    assert result.ok, result.verdict
    assert [(e.day, e.reason) for e in result.excluded_days] == [
        (date(2024, 2, 6), "temperature missing for 24 h (more than 6 h in the day)"),
        (date(2024, 3, 12), "temperature missing for 8 h (more than 6 h in the day)"),
        (date(2024, 4, 20), "temperature missing for 7 h (more than 6 h in the day)"),
    ]
    # Left out of actual too: February's actual is the plain sum of its other days.
    february = next(m for m in result.months if m.label == "2024-02")
    feb_days = [
        o
        for o in np.unique(reporting.day_ordinal)
        if date.fromordinal(int(o)).month == 2 and date.fromordinal(int(o)) != date(2024, 2, 6)
    ]
    expected_actual = sum(float(reporting.kwh[reporting.day_ordinal == o].sum()) for o in feb_days)
    assert february.actual == pytest.approx(expected_actual)
    assert february.days == 28 and february.hours == 28 * 24
    may = next(m for m in result.months if m.label == "2024-05")
    assert may.days == 31  # the 4-hour gap was interpolated, the day kept
    assert "3 days excluded" in result.verdict


def test_a_gap_across_midnight_and_missing_meter_data_are_named(
    year_before, after_retrofit
) -> None:
    reporting, _ = after_retrofit
    temp = reporting.temperature.copy()
    kwh = reporting.kwh.copy()
    start = int(np.flatnonzero(reporting.day_ordinal == date(2024, 4, 20).toordinal())[20])
    temp[start : start + 8] = np.nan  # 20:00 on 20 Apr to 04:00 on 21 Apr: 4 h + 4 h
    kwh[int(np.flatnonzero(reporting.day_ordinal == date(2024, 6, 3).toordinal())[5])] = np.nan
    gappy = HourlySeries(
        reporting.hour_start,
        kwh,
        reporting.day_type,
        reporting.hour_of_day,
        reporting.day_ordinal,
        temp,
    )
    result = contract_savings(year_before, gappy)
    long_gap = "temperature missing for 4 h inside a gap longer than 6 h (not interpolated)"
    assert [(e.day, e.reason) for e in result.excluded_days] == [
        (date(2024, 4, 20), long_gap),
        (date(2024, 4, 21), long_gap),
        (date(2024, 6, 3), "meter data missing for 1 h"),
    ]


def test_a_baseline_that_does_not_fit_reports_no_savings(after_retrofit) -> None:
    reporting, _ = after_retrofit
    hs = hours(date(2023, 1, 1), 60)
    dt, hod, ordinal = features(hs, HOLIDAYS)
    kwh = np.full(len(hs), 40.0)
    kwh[: len(hs) // 4] = np.nan  # 25 % missing
    result = contract_savings(HourlySeries(hs, kwh, dt, hod, ordinal), reporting)
    assert not result.ok
    assert result.verdict == (
        "no savings: baseline insufficient data: 25 % of hours missing (CalTRACK-style limit 10 %)"
    )
    assert result.months == [] and result.total is None


def test_overlapping_periods_are_refused(year_before) -> None:
    with pytest.raises(ValueError, match="before the baseline period ends"):
        contract_savings(year_before, year_before)


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_the_90_percent_interval_covers_the_true_saving_in_most_draws(rho: float) -> None:
    # Calibration, checked by simulation rather than by the formula: 150 independent noise
    # draws (white, or AR(1) with rho 0.6 as hourly residuals are); the truth is known, so
    # the true avoided energy of the month is 12 % of the true load. G14's interval (with
    # its 1.26 factor) should cover it in about 96 % of draws; without the autocorrelation
    # adjustment it would be half as wide for rho 0.6 and cover about 70 %. The daily
    # residual sums (uncertainty.py) carry the hour-to-hour correlation themselves: 138
    # and 136 of 150 covered, as with the former hourly-resolution formula.
    draws, sd = 150, 4.0
    hs_b, hs_r = hours(date(2023, 9, 1), 120), hours(date(2024, 1, 8), 28)
    feats_b, feats_r = features(hs_b, HOLIDAYS), features(hs_r, HOLIDAYS)
    truth_b, truth_r = office_profile(*feats_b[:2]), office_profile(*feats_r[:2])
    rng = np.random.default_rng(21)
    n_all = len(hs_b) + len(hs_r)
    noise = np.empty((n_all, draws))
    noise[0] = rng.normal(0.0, sd, draws)
    for i in range(1, n_all):
        noise[i] = rho * noise[i - 1] + np.sqrt(1 - rho**2) * rng.normal(0.0, sd, draws)
    covered = 0
    for k in range(draws):
        base = HourlySeries(hs_b, truth_b + noise[: len(hs_b), k], *feats_b)
        rep_kwh = (1 - CUT) * truth_r + noise[len(hs_b) :, k]
        result = contract_savings(base, HourlySeries(hs_r, rep_kwh, *feats_r))
        covered += abs(result.total.avoided - CUT * truth_r.sum()) <= result.total.uncertainty
    assert 0.85 * draws <= covered < draws, covered


def test_one_day_of_savings_by_hand() -> None:
    # Baseline: two weeks (1-14 Jan 2024, Monday to Sunday twice, no holidays), the office
    # profile plus a residual of +1 on every hour of day k = 0, 2, 4, ... and -1 on days
    # 1, 3, 5, ... Day k and day k + 7 (same weekday) have opposite signs, and the weekend
    # cells hold Sat -1, Sun +1, Sat +1, Sun -1, so each (day type, hour) cell holds as
    # many +1 as -1: cell means = the profile exactly, hourly residuals +-1, SSE = 336.
    # n = 336, p = 48 cells (workday, weekend): RMSE = sqrt(336 / 288) = 1.0801234.
    # Daily residuals: +24, -24, +24, ... over 14 complete days: sum of squares
    # 14 x 576 = 8064; p_day = 2 day types; RMSE_day = sqrt(8064 / 12) = 25.922963.
    # Consecutive days: 13 products of -576: rho_day < 0 -> 0, n' = 14.
    # sigma_day = 1.26 x 25.922963 x sqrt(1 + 2/14) = 1.26 x 25.922963 x 1.069045
    # = 34.918144; per hour / sqrt(24) = 7.127636.
    # Reporting: Monday 15 Jan, actual = 0.9 x profile. Adjusted = 10 h x 60 + 14 h x 20
    # = 880; actual 792; avoided 88; fraction 0.1. Uncertainty of one day = t(90 %, 12)
    # x sigma_day = 1.7823 x 34.918144 = 62.235 (t table: 1.782).
    hs_b = hours(date(2024, 1, 1), 14)
    dt_b, hod_b, ord_b = features(hs_b)
    sign = np.where((ord_b - ord_b[0]) % 2 == 0, 1.0, -1.0)
    base = HourlySeries(hs_b, office_profile(dt_b, hod_b) + sign, dt_b, hod_b, ord_b)
    hs_r = hours(date(2024, 1, 15), 1)
    dt_r, hod_r, ord_r = features(hs_r)
    rep = HourlySeries(hs_r, 0.9 * office_profile(dt_r, hod_r), dt_r, hod_r, ord_r)
    result = contract_savings(base, rep)
    assert result.ok, result.verdict
    model = result.baseline
    assert (model.n, model.p, model.n_days, model.p_days) == (336, 48, 14, 2)
    assert model.rmse == pytest.approx(1.0801234, abs=1e-6)
    assert model.rmse_day == pytest.approx(25.922963, abs=1e-6)
    assert model.autocorrelation_day == pytest.approx(-13 / 14)
    assert model.sigma_day == pytest.approx(34.918144, abs=1e-6)
    assert model.sigma_hour == pytest.approx(7.127636, abs=1e-6)
    (row,) = result.months
    assert (row.label, row.days, row.hours) == ("2024-01", 1, 24)
    assert row.adjusted_baseline == pytest.approx(880.0)
    assert row.actual == pytest.approx(792.0)
    assert row.avoided == pytest.approx(88.0)
    assert row.fraction == pytest.approx(0.1)
    assert row.uncertainty == pytest.approx(62.235, abs=0.01)
