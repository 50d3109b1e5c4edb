"""Degree terms with separate slopes for occupied and unoccupied hours
(cloud_api/energy/degree_terms.py): an HVAC load that reacts to the weather mainly in
working hours — the simulated office of simulators/loads.py, whose HVAC meter never fitted
over a year with one slope per term (CV(RMSE) 36 %, bench/README.md "energy") — and loads
whose weather response does not depend on occupancy, which keep the simpler model."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from energy_synth import features, hours, office_profile, outdoor_temperature, simulated_hvac

from cloud_api.energy.baseline import fit_hourly
from cloud_api.energy.degree_terms import Schedule

# The simulators' HVAC (energy_synth.simulated_hvac): 80 kW x hvac_factor(T) x weight, with
# hvac_factor rising 0.7 / 17 per K below 12 °C and 1 / 11 per K above 24 °C. So the slope
# of a fully occupied hour is 80 x 0.7 / 17 = 3.294 kWh/K (heating) and 80 / 11 = 7.273
# kWh/K (cooling), times the hour's weight 0.3 + 0.7 x occupancy.
HEATING_FULL, COOLING_FULL = 80 * 0.7 / 17, 80 / 11
# Occupancy over workday 08-18, per hour (the mean of its four quarter-hour mid-points):
# hour 08 on the ramp (h - 7.5) / 1.5: (0.417 + 0.583 + 0.750 + 0.917) / 4 = 0.667; then 1
# except the lunch dip 1 - 0.25 exp(-((h - 12.25) / 0.6)^2): hour 10 0.9996, 11 0.927,
# 12 0.817, 13 0.990. Mean over the 10 hours (0.667 + 1 + 1.000 + 0.927 + 0.817 + 0.990
# + 4 x 1) / 10 = 0.940: weight 0.3 + 0.7 x 0.940 = 0.958.
OCCUPIED_WEIGHT = 0.958


@pytest.fixture(scope="module")
def year():
    hs = hours(date(2026, 1, 1), 365)
    day_type, hour, _ = features(hs)  # no holidays: 2 x 24 = 48 cells
    return hs, day_type, hour


def test_a_schedule_names_its_cells() -> None:
    # Cell = day type x 24 + local hour (0 workday, 1 weekend, 2 holiday).
    workdays = Schedule("workdays", 8, 18).cells(72)
    assert np.flatnonzero(workdays).tolist() == list(range(8, 18))
    every_day = Schedule("every day", 9, 21).cells(48)  # no holiday cells
    assert np.flatnonzero(every_day).tolist() == [*range(9, 21), *range(33, 45)]
    assert Schedule("workdays", 8, 18).describe() == "workdays 08-18"


def test_hvac_reacting_in_working_hours_fits_with_occupied_slopes(year) -> None:
    hs, day_type, hour = year
    kwh, truth, temp = simulated_hvac(hs, occupancy_dependent=True, seed=3)
    model = fit_hourly(hs, kwh, day_type, hour, temperature=temp)
    # With one slope per term the same data gave CV(RMSE) 36 % (does not fit).
    assert model.ok, model.verdict
    assert model.cv_rmse < 0.30
    assert model.balance_points == {"heating": 12.0, "cooling": 24.0}
    assert set(model.slopes) == {
        "heating_occupied",
        "heating_unoccupied",
        "cooling_occupied",
        "cooling_unoccupied",
    }
    assert model.p == 48 + 4 + 2 + 2  # cells, 4 slopes, 2 balance points, start and end
    assert model.slopes["heating_occupied"] == pytest.approx(
        HEATING_FULL * OCCUPIED_WEIGHT, rel=0.1
    )
    assert model.slopes["cooling_occupied"] == pytest.approx(
        COOLING_FULL * OCCUPIED_WEIGHT, rel=0.1
    )
    # Unoccupied hours weigh 0.3 (nights) to 0.405 (weekend days), 07 and 18 0.36 and
    # 0.53: the unoccupied slope lies between 0.3 and 0.45 of the full one.
    assert 0.3 < model.slopes["heating_unoccupied"] / HEATING_FULL < 0.45
    assert 0.3 < model.slopes["cooling_unoccupied"] / COOLING_FULL < 0.45
    # Occupied: workdays 08-18. The simulated occupancy ramps up 07:30-09:00 and down
    # 17:30-19:00 (hour 08 weighs 0.77, 18 0.53, 07 0.36; 09-17 0.87-1; nights 0.3).
    assert np.flatnonzero(model.occupied).tolist() == list(range(8, 18))
    assert model.notes[0].startswith(
        "occupied hours workdays 08-18 (the schedule that fits best) have their own "
        "temperature slopes: heating occupied 3."
    )
    # It recovers the truth: the prediction follows the noise-free load.
    predicted, _ = model.predict(day_type, hour, temp)
    assert np.corrcoef(predicted, truth)[0, 1] > 0.95


def test_hvac_without_occupancy_dependence_keeps_one_slope_per_term(year) -> None:
    # The same HVAC with a constant weight 0.65: slopes 0.65 x 3.294 = 2.141 and
    # 0.65 x 7.273 = 4.727 kWh/K in every hour.
    hs, day_type, hour = year
    kwh, truth, temp = simulated_hvac(hs, occupancy_dependent=False, seed=3)
    model = fit_hourly(hs, kwh, day_type, hour, temperature=temp)
    assert model.ok, model.verdict
    assert model.cv_rmse < 0.15
    assert model.p == 48 + 2 + 2
    assert set(model.slopes) == {"heating", "cooling"}
    assert model.slopes["heating"] == pytest.approx(0.65 * HEATING_FULL, rel=0.05)
    assert model.slopes["cooling"] == pytest.approx(0.65 * COOLING_FULL, rel=0.05)
    assert not model.occupied.any()
    predicted, _ = model.predict(day_type, hour, temp)
    assert np.corrcoef(predicted, truth)[0, 1] > 0.99


def test_cooling_split_heating_shared_is_recovered(year) -> None:
    # Office profile (workdays 60 kWh 08-18, else 20; weekends 30 / 18) + heating 2 kWh/K
    # below 14 °C in every hour + cooling above 24 °C at 4 kWh/K in occupied hours and
    # 1 kWh/K in the others, white noise 3 kWh. Cell means: workday 08-18 about 60-70, all
    # others at most about 31, the midpoint about 40-45: occupied = workday 08-18.
    hs, day_type, hour = year
    temp = outdoor_temperature(hs)
    occupied = (day_type == 0) & (hour >= 8) & (hour < 18)
    truth = (
        office_profile(day_type, hour)
        + 2.0 * np.maximum(14.0 - temp, 0.0)
        + np.where(occupied, 4.0, 1.0) * np.maximum(temp - 24.0, 0.0)
    )
    kwh = truth + np.random.default_rng(8).normal(0.0, 3.0, len(hs))
    model = fit_hourly(hs, kwh, day_type, hour, temperature=temp)
    assert model.ok, model.verdict
    assert model.occupied[:24].tolist() == [8 <= h < 18 for h in range(24)]
    assert model.balance_points == {"heating": 14.0, "cooling": 24.0}
    assert set(model.slopes) == {"heating", "cooling_occupied", "cooling_unoccupied"}
    assert model.p == 48 + 3 + 2 + 2
    assert model.slopes["heating"] == pytest.approx(2.0, rel=0.05)
    assert model.slopes["cooling_occupied"] == pytest.approx(4.0, rel=0.05)
    assert model.slopes["cooling_unoccupied"] == pytest.approx(1.0, rel=0.1)
    predicted, _ = model.predict(day_type, hour, temp)
    assert np.corrcoef(predicted, truth)[0, 1] > 0.99
