"""Calibration by simulation of the 90 % intervals of savings and budget forecasts on the
simulated office HVAC meter (energy_synth.simulated_hvac: the simulators' load with a
x (1 +- 5 %) factor per day and x (1 +- 8 %) per hour), whose noise-free truth is known.

A day-to-day factor moves all 24 hours of a day together: the hour-level lag-1
autocorrelation (G14 at hourly resolution) took it for short-range noise and gave an
interval that covered the true saving of a half-year reporting period in 26 of 40 seeds
(65 %; 28 and 27 in seeds 41-80 and 81-120). At daily resolution (uncertainty.py) G14's
interval covers it in 35 of 40 (38, 40 in the other blocks): the bound of 80 % (32) is
met by the daily method and missed by the hourly one. The model's error is not centred
(the avoided energy comes out about 0.4 half-widths low on average: the fitted model's
own bias on this load, which no residual-based interval can see), which is why the
daily method covers about 90 % and not the 95 % its 1.26 factor aims at.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from energy_synth import features, hours, local_midnight, simulated_hvac

from cloud_api.energy.baseline import fit_hourly
from cloud_api.energy.budget_status import budget_status
from cloud_api.energy.savings import HourlySeries, contract_savings

CUT = 0.12
SEEDS = 40
BASE_DAYS = 365  # 2023
REPORT_DAYS = 182  # January to June 2024


@pytest.fixture(scope="module")
def office():
    """(hour_start, features, [(kwh, truth, temperature) per seed]) for 2023 to June 2024."""
    hs = hours(date(2023, 1, 1), BASE_DAYS + REPORT_DAYS)
    return hs, features(hs), [simulated_hvac(hs, seed=s) for s in range(1, SEEDS + 1)]


def test_the_savings_interval_covers_the_true_saving_in_most_seeds(office) -> None:
    hs, feats, draws = office
    covered = 0
    nb = BASE_DAYS * 24
    for kwh, truth, temp in draws:
        after = (1.0 - CUT) * kwh[nb:]  # the retrofit cuts 12 % of every hour
        base = HourlySeries(hs[:nb], kwh[:nb], *(f[:nb] for f in feats), temp[:nb])
        rep = HourlySeries(hs[nb:], after, *(f[nb:] for f in feats), temp[nb:])
        result = contract_savings(base, rep)
        assert result.ok, result.verdict
        total = result.total
        out = {e.day.toordinal() for e in result.excluded_days}
        kept = ~np.isin(feats[2][nb:], list(out))
        assert total.hours == int(kept.sum())
        true_avoided = CUT * truth[nb:][kept].sum()  # of the noise-free load, by the truth
        covered += abs(total.avoided - true_avoided) <= total.uncertainty
    assert covered >= 0.8 * SEEDS, f"covered in {covered} of {SEEDS} seeds"


def test_the_budget_forecast_interval_covers_the_actual_use_in_most_seeds(office) -> None:
    # Fit on 2023, stand at noon on 1 January 2024 and forecast to the end of 16 January:
    # 15.5 days (the first day counts as its half). The actual total, used + the metered
    # rest, lies in the 90 % interval in most seeds. The model is given the actual
    # weather (no forecast error from the weather here). The hourly method covered it in
    # 35 of these 40 seeds (34 and 35 in seeds 41-80, 81-120), the daily one in 39 (38,
    # 39): the bound is 36, a narrow margin on both sides, as the two differ less here
    # than for savings (the target includes the hourly noise of the actual).
    hs, feats, draws = office
    nb = BASE_DAYS * 24
    start = local_midnight(date(2024, 1, 1))
    end = local_midnight(date(2024, 1, 17))
    now = start + 12 * 3600.0
    period = (hs >= start) & (hs < end)
    past, future = period & (hs < now), period & (hs >= now)
    dt, hod, _ = feats
    covered = 0
    for kwh, _, temp in draws:
        model = fit_hourly(hs[:nb], kwh[:nb], dt[:nb], hod[:nb], temp[:nb])
        assert model.ok, model.verdict
        predicted, sigma = model.predict(dt[future], hod[future], temp[future])
        status = budget_status(
            period_start=start,
            period_end=end,
            now=now,
            day_bounds=[],
            used_by_hour=(hs[past], kwh[past]),
            forecast_by_hour=(hs[future], predicted, sigma),
            budget=1e9,
            degrees_of_freedom=model.n_days - model.p_days,
        )
        actual = float(kwh[period].sum())
        covered += status.forecast_low <= actual <= status.forecast_high
    assert covered >= 0.9 * SEEDS, f"covered in {covered} of {SEEDS} seeds"
