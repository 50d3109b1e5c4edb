"""Central energy: the pure numpy maths (no I/O) and, apart, the service that feeds it
from the store.

Pure:
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

From the store (SQL in, figures out; the routers call these):
- service.py: a scope's meters (no kWh counted twice), hourly energy, kWh -> kgce, CO2,
  cost with the versions used.
- budgets.py: a budget's status at an instant (model fit on the year before the period,
  cached per app in FitCache).
- dual_control.py: yearly total and intensities against quotas.
- balance.py: main meter against its sub-meters.
- evaluator.py: the central rules' alarms (budget.at_risk / budget.over,
  energy.unaccounted), every few minutes.

Callers pass hourly numpy arrays (hour_start epoch s UTC, kwh with NaN = missing,
temperature in °C with NaN = missing) and the calendar features of each hour (day-type
index 0 workday / 1 weekend / 2 holiday, local hour 0..23, local date ordinal), as made by
edge.energy.calendar.
"""
