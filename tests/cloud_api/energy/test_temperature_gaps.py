"""Outdoor temperature gaps (cloud_api/energy/temperature.py): CalTRACK fills up to 6 h."""

from __future__ import annotations

import numpy as np

from cloud_api.energy.temperature import fill_short_gaps

NAN = np.nan


def test_gaps_up_to_6_hours_are_interpolated_longer_ones_stay_missing() -> None:
    # Hours 1-3 lie between 0 °C (hour 0) and 4 °C (hour 4): 1, 2, 3 °C.
    # Hours 6-12 (7 h) between 5 and 13 °C: too long, NaN. A leading gap has no left side.
    temp = np.array([0.0, NAN, NAN, NAN, 4.0, 5.0, *[NAN] * 7, 13.0])
    got = fill_short_gaps(np.arange(14) * 3600.0, temp)
    np.testing.assert_array_equal(got[:6], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert np.isnan(got[6:13]).all() and got[13] == 13.0
    assert np.isnan(fill_short_gaps(np.arange(3) * 3600.0, np.array([NAN, 1.0, 2.0]))[0])


def test_a_jump_in_the_hour_grid_is_not_papered_over() -> None:
    # Two NaN rows, but the hours jump from 2 to 10: the gap is 9 h long, not 3.
    hs = np.array([0.0, 1.0, 2.0, 10.0, 11.0]) * 3600.0
    got = fill_short_gaps(hs, np.array([0.0, NAN, NAN, 10.0, 11.0]))
    assert np.isnan(got[1:3]).all()
