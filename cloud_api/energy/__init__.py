"""Central energy maths, pure numpy (no I/O): baselines, forecasts, budget colour, savings.

- uncertainty.py: Student-t quantiles, ASHRAE Guideline 14 (Annex B) uncertainty of a sum
  of predicted hours from the baseline's daily residuals, sums per day / month.
- temperature.py: outdoor temperature gaps (CalTRACK: interpolate up to 6 h).
- baseline.py: `fit_hourly` -> `Baseline`, a day-typed time-of-week model with optional
  heating/cooling degree terms, its fit figures (G14 CV(RMSE), NMBE with n - p) and a
  data-sufficiency verdict; a model that does not fit never predicts.
- degree_terms.py: the heating/cooling terms, shared or per occupancy (occupied /
  unoccupied hours), balance points by grid search.
- budget_status.py: used + forecast against a budget -> colour, interval, crossing day.
- savings.py: IPMVP Option C style avoided energy per local month, with excluded days named.

Callers pass hourly numpy arrays (hour_start epoch s UTC, kwh with NaN = missing,
temperature in °C with NaN = missing) and the calendar features of each hour (day-type
index 0 workday / 1 weekend / 2 holiday, local hour 0..23, local date ordinal), as made by
edge.energy.calendar.
"""
