"""The central energy rules' alarms, evaluated every few minutes: a budget's colour, and
each building's meter balance over the last whole local day.

Each run evaluates every budget at `now` and compares its colour with the one the last
run saw (kept in the store, so a restart neither repeats nor forgets a raise):
- yellow raises `budget.at_risk`, red raises `budget.over` (and clears `at_risk`: the
  worse alarm replaces the milder one), green clears both;
- a new period starts from green: last month's red clears when this month is green.
A building whose sub-meters miss more than `balance_threshold` of its main meter's energy
(either way) over yesterday raises `energy.unaccounted` (source `balance:<main meter>`);
a day back inside clears it.
The alarms go through the same lifecycle as the edges' (cloud_api/store/sqlite_alarms.py),
reported by "central", source `budget:<id>`, in the budget's site and building (a
site-wide budget: building "").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cloud_api.energy.balance import building_balance, buildings_with_meters
from cloud_api.energy.budgets import Budget, FitCache, NoTariffError, evaluate
from cloud_api.store import sqlite_alarms, sqlite_budgets
from edge.model import Colour
from edge.rules.alarm_codes import BUDGET_AT_RISK, BUDGET_OVER, ENERGY_UNACCOUNTED
from edge.rules.conditions import Condition

log = logging.getLogger("steward.api.energy")
REPORTER = "central"


@dataclass(frozen=True)
class ColourChange:
    budget: str
    before: str | None
    after: str
    transitions: int


def evaluate_budgets(store, config, now: float, fits: FitCache | None = None) -> list[ColourChange]:
    """Evaluate every budget at `now`; raise and clear alarms where a colour changed."""
    with store.reading() as db:
        rows = sqlite_budgets.list_plans(db, "budget")
    changes = []
    for row in rows:
        budget = Budget.from_body(row.id, row.body)
        try:
            with store.reading() as db:
                result = evaluate(db, config, budget, now, fits)
                last = sqlite_budgets.last_colour(db, row.id)
        except NoTariffError as exc:
            log.warning("budget %s not evaluated: %s", row.id, exc)
            continue
        except Exception:  # one budget's failure must not stop the others' alarms
            log.exception("budget %s not evaluated", row.id)
            continue
        if not result.meters:
            continue  # no meters in its scope (yet): no colour, no alarm
        colour = result.status.colour
        before = None
        if last is not None and last[0] == result.period_start:
            before = last[1]
        if before == colour.value:
            continue
        conditions = _conditions(budget, result, before, colour, now)
        with store.writing() as db:
            where = (budget.site, budget.building or "", REPORTER)
            written = sqlite_alarms.apply_conditions(db, where, conditions)
            sqlite_budgets.save_colour(db, row.id, result.period_start, colour.value, now)
        log.info("budget %s: %s -> %s", row.id, before or "(new period)", colour.value)
        changes.append(ColourChange(row.id, before, colour.value, written))
    return changes


def _conditions(
    budget: Budget, result, before: str | None, colour: Colour, now: float
) -> list[Condition]:
    s = result.status
    share = None if s.forecast is None else s.forecast / budget.amount
    text = (
        f"{budget.name or budget.id}: used {s.used:.0f} {budget.unit} of {budget.amount:.0f}"
        + ("" if share is None else f", forecast {s.forecast:.0f} ({share:.0%})")
        + ("" if s.crosses_on is None else f", crosses the budget on {s.crosses_on}")
    )
    data = {
        "budget": budget.id,
        "period_start": result.period_start,
        "used": s.used,
        "forecast": s.forecast,
        "amount": budget.amount,
        "unit": budget.unit,
        "colour": colour.value,
    }
    source = f"budget:{budget.id}"
    out = []
    for code, wanted, was in (
        (BUDGET_AT_RISK, colour is Colour.YELLOW, before == Colour.YELLOW.value),
        (BUDGET_OVER, colour is Colour.RED, before == Colour.RED.value),
    ):
        # A new period (before None) clears whatever the last one left raised.
        if wanted or was or before is None:
            colour_of = Colour.RED if code == BUDGET_OVER else Colour.YELLOW
            out.append(Condition(code, source, wanted, now, colour_of, text, data))
    return out


def evaluate_balances(store, config, now: float) -> int:
    """Yesterday's (local) balance of every building; transitions written."""
    with store.reading() as db:
        places = buildings_with_meters(db)
    written = 0
    for site, building in places:
        calendar = config.calendar(site)
        today = calendar.day_of(now)
        start = calendar.day_bounds(today)[0] - 1
        day = calendar.day_of(start)
        start, end = calendar.day_bounds(day)
        with store.reading() as db:
            result = building_balance(db, config, site, building, start, end)
        if result["colour"] is None:
            continue  # no verdict (no main, no sub-meters, missing data): nothing to say
        text = (
            f"{building}: sub-meters account for {result['accounted_kwh']:.1f} of"
            f" {result['main_kwh']:.1f} kWh on {day} ({result['share']:.1%} unaccounted,"
            f" limit {result['threshold']:.0%})"
        )
        data = {k: result[k] for k in ("main_kwh", "accounted_kwh", "share", "threshold")}
        data["day"] = day.isoformat()
        condition = Condition(
            ENERGY_UNACCOUNTED,
            f"balance:{result['main']}",
            result["colour"] == "yellow",
            now,
            Colour.YELLOW,
            text,
            data,
        )
        with store.writing() as db:
            written += sqlite_alarms.apply_conditions(db, (site, building, REPORTER), [condition])
    return written


class EnergyEvaluator:
    """Runs evaluate_budgets every `every` seconds in a thread, at the API's clock."""

    def __init__(
        self,
        store,
        config,
        clock: Callable[[], float],
        every: float,
        fits: FitCache | None = None,
    ) -> None:
        self._store, self._config, self._clock, self._every = store, config, clock, every
        self._fits = fits
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="energy-evaluator", daemon=True)

    def start(self) -> None:
        if self._every > 0:
            self._thread.start()

    def run_once(self) -> list[ColourChange]:
        """Budgets, then balances; the budgets' colour changes."""
        now = self._clock()
        changes = evaluate_budgets(self._store, self._config, now, self._fits)
        evaluate_balances(self._store, self._config, now)
        return changes

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.run_once()
            except Exception:  # a bad budget or a locked store must not stop the loop
                log.exception("energy evaluation failed; next run in %.0f s", self._every)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
