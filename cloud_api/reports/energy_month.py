"""The monthly energy report's figures for one building and local month, from the store
through the same functions the energy API uses (cloud_api/energy/service.py: which meters,
their hourly energy, kgce, CO2 and cost), so a figure here equals the API's:

- total: the building's main meters (GET /v1/energy?site&building), and per system: each
  meter group by tag `system` (GET /v1/energy?...&system=S);
- per m2 and per person: the total over the energy configuration's area and occupants;
- peak 15-min demand: the highest closed block of the month (GET /v1/demand's summary);
- budgets: each budget of the building, its status for the month (a monthly budget) or
  the year to the month's end (a yearly one), as GET /v1/budgets/{id}/status evaluates it;
- the same month a year before, when the store has data for it;
- contract savings of the month, for each contract of the building whose reporting
  period covers it (GET /v1/contracts/{id}/savings, that month's row).

A month without data is said to be so (total None, with the reason), never shown as 0
kWh. A month still running counts up to the hour in progress and says so (complete False).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from datetime import date

from cloud_api.energy.budgets import Budget, FitCache, NoTariffError, evaluate
from cloud_api.energy.savings_figures import NothingToReport, savings_figures
from cloud_api.energy.service import (
    HOUR,
    Scope,
    currency_of,
    factor_dict,
    require_whole_hours,
    scope_meters,
    span_energy,
)
from cloud_api.reports.periods import Month, figures_until, require_started

# The contract's validated shape lives with its route; the report reads the same bodies.
from cloud_api.routers.contracts import ContractIn
from cloud_api.store import sqlite_budgets, sqlite_demand


@dataclass(frozen=True)
class ScopeFigures:
    """One scope's energy over the report's span: the whole building or one system."""

    name: str  # "total", or the system's tag value
    meters: tuple[str, ...]
    kwh: float
    kgce: float
    co2_kg: float
    cost: float | None
    measured_share: float  # hours in which every meter read and nothing was spread
    held_out_kwh: float  # seen but held out by the counter ledger (for review)
    factors: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Peak:
    kw: float
    label: str  # the block's start in local time
    meter: str
    start: float
    limit_kw: float | None
    limit_hits: int
    blocks: int
    incomplete_blocks: int


@dataclass(frozen=True)
class BudgetLine:
    id: str
    name: str
    scope: str
    period: str  # month | year
    unit: str  # kWh | kgce | cost
    amount: float
    used: float | None
    forecast: float | None
    colour: str | None
    reason: str | None
    period_label: str  # "2026-11", or "2026 to 2026-11-30" for a yearly budget

    @property
    def share(self) -> float | None:
        return None if self.used is None else self.used / self.amount


@dataclass(frozen=True)
class SavingsLine:
    id: str
    name: str
    contractor: str
    scope: str
    month: dict | None  # the savings row of the month (savings_figures' "months" item)
    reason: str | None  # why there is no row


@dataclass(frozen=True)
class EnergyMonth:
    site: str
    building: str
    month: str
    timezone: str
    first_day: date
    next_first_day: date
    start: float
    end: float
    until: float  # the figures run to here (the month's end, or the hour after now)
    complete: bool
    generated_at: float
    area_m2: float | None
    occupants: float | None
    currency: str | None
    total: ScopeFigures | None
    no_data_reason: str | None
    systems: list[ScopeFigures] = field(default_factory=list)
    systems_without_data: list[tuple[str, str]] = field(default_factory=list)  # (system, why)
    peak: Peak | None = None
    peak_reason: str | None = None
    last_year_month: str = ""
    last_year: ScopeFigures | None = None
    last_year_reason: str | None = None
    budgets: list[BudgetLine] = field(default_factory=list)
    contracts: list[SavingsLine] = field(default_factory=list)
    cost_note: str | None = None

    def per(self, what: str, size: str) -> float | None:
        """The total's `what` (kwh or kgce) per m2 or per person; None without the size
        or without data."""
        divisor = self.area_m2 if size == "m2" else self.occupants
        if self.total is None or not divisor:
            return None
        return getattr(self.total, what) / divisor

    @property
    def change_from_last_year(self) -> float | None:
        """(this - last year) / last year in kWh; None unless both months are whole."""
        if self.total is None or self.last_year is None or not self.complete:
            return None
        if self.last_year.kwh <= 0:
            return None
        return (self.total.kwh - self.last_year.kwh) / self.last_year.kwh


def has_readings(db: sqlite3.Connection, series_ids: list[int], start: float, end: float) -> bool:
    """Whether the ledger booked (or held out) energy of the scope in [start, end): a step
    between two readings that reaches into the span. A lone reading at the span's first
    instant (the one that closes the month before) says nothing about the span."""
    marks = ",".join("?" * len(series_ids))
    row = db.execute(
        f"SELECT 1 FROM energy WHERE step={int(HOUR)} AND series_id IN ({marks})"
        " AND bucket_start >= ? AND bucket_start < ? LIMIT 1",
        (*series_ids, start, end),
    ).fetchone()
    return row is not None


def scope_figures(
    db: sqlite3.Connection, config, scope: Scope, name: str, start: float, end: float
) -> tuple[ScopeFigures | None, str | None]:
    """The scope's figures over [start, end), or (None, why there are none)."""
    calendar = config.calendar(scope.site)
    meters = scope_meters(db, scope)
    if not meters:
        return None, f"no energy meters match {scope.describe()}"
    ids = [m.series_id for m in meters]
    if not has_readings(db, ids, start, end):
        return None, f"no meter readings of {scope.describe()} span this period"
    hourly, figures = span_energy(db, config, calendar, ids, start, end)
    hours = len(hourly)
    return (
        ScopeFigures(
            name=name,
            meters=tuple(m.device for m in meters),
            kwh=float(figures.kwh.sum()),
            kgce=float(figures.kgce.sum()),
            co2_kg=float(figures.co2.sum()),
            cost=None if figures.cost is None else float(figures.cost.sum()),
            measured_share=float(hourly.measured.sum() / hours) if hours else 0.0,
            held_out_kwh=hourly.held_out,
            factors=tuple(factor_dict(f) for f in figures.factors),
        ),
        figures.cost_note,
    )


def systems_of(db: sqlite3.Connection, site: str, building: str) -> list[str]:
    """The building's meter groups by tag `system` (not `main`), sorted."""
    rows = db.execute(
        "SELECT DISTINCT json_extract(tags, '$.system') FROM series WHERE site=? AND building=?"
        " AND point='energy_import' AND kind='counter'",
        (site, building),
    ).fetchall()
    return sorted(r[0] for r in rows if isinstance(r[0], str) and r[0] and r[0] != "main")


def energy_month(
    db: sqlite3.Connection,
    config,
    site: str,
    building: str,
    month: Month,
    now: float,
    fits: FitCache | None = None,
) -> EnergyMonth:
    """The report's figures (see the module doc); ReportInputError for a month not begun."""
    calendar = config.calendar(site)
    require_started(month, calendar, now)
    start, end = month.bounds(calendar)
    require_whole_hours(calendar, start, end)
    until = figures_until(start, end, now)
    info = config.building(site, building)
    total, why = scope_figures(db, config, Scope(site, building), "total", start, until)
    cost_note = why if total is not None else None
    systems, without = [], []
    if total is not None:
        for system in systems_of(db, site, building):
            figures, note = scope_figures(
                db, config, Scope(site, building, {"system": system}), system, start, until
            )
            if figures is not None:
                systems.append(figures)
            else:
                without.append((system, note or "no data"))
    peak, peak_reason = _peak(db, site, building, start, until)
    last = month.a_year_before()
    l_start, l_end = last.bounds(calendar)
    require_whole_hours(calendar, l_start, l_end)
    last_year, last_reason = scope_figures(
        db, config, Scope(site, building), "total", l_start, l_end
    )
    fits = fits or FitCache()
    return EnergyMonth(
        site=site,
        building=building,
        month=month.label,
        timezone=calendar.tz,
        first_day=month.first_day,
        next_first_day=month.next_first_day,
        start=start,
        end=end,
        until=until,
        complete=until >= end,
        generated_at=now,
        area_m2=None if info is None else info.area_m2,
        occupants=None if info is None else info.occupants,
        currency=currency_of(config),
        total=total,
        no_data_reason=None if total is not None else why,
        systems=systems,
        systems_without_data=without,
        peak=peak,
        peak_reason=peak_reason,
        last_year_month=last.label,
        last_year=last_year,
        last_year_reason=last_reason,
        budgets=_budgets(db, config, site, building, month, start, end, now, fits),
        contracts=_contracts(db, config, site, building, month, now),
        cost_note=cost_note,
    )


def _peak(
    db: sqlite3.Connection, site: str, building: str, start: float, end: float
) -> tuple[Peak | None, str | None]:
    summary = sqlite_demand.summary(db, sqlite_demand.Where(site, building, None, start, end))
    if summary["peak_kw"] is None:
        if summary["blocks"]:
            return None, (f"{summary['blocks']} demand blocks, none fully covered by data: no peak")
        return None, "no 15-min demand blocks from the edge in this period"
    return (
        Peak(
            kw=summary["peak_kw"],
            label=summary["peak_label"],
            meter=summary["peak_meter"],
            start=summary["peak_start"],
            limit_kw=summary["limit_kw"],
            limit_hits=summary["limit_hits"],
            blocks=summary["blocks"],
            incomplete_blocks=summary["incomplete_blocks"],
        ),
        None,
    )


def _budgets(
    db: sqlite3.Connection,
    config,
    site: str,
    building: str,
    month: Month,
    start: float,
    end: float,
    now: float,
    fits: FitCache,
) -> list[BudgetLine]:
    """Every budget of the building, evaluated at the month's end (or now, if sooner)."""
    out = []
    at = min(now, end)
    last_day = date.fromordinal(month.next_first_day.toordinal() - 1)
    for row in sqlite_budgets.list_plans(db, "budget"):
        body = row.body
        if body.get("site") != site or body.get("building") != building:
            continue
        budget = Budget.from_body(row.id, body)
        label = month.label if budget.period == "month" else f"{month.year} to {last_day}"
        p_start = (
            start if budget.period == "month" else config.calendar(site).year_bounds(month.year)[0]
        )
        ids = [m.series_id for m in scope_meters(db, budget.scope)]
        if not ids or not has_readings(db, ids, p_start, at):
            why = f"no meter readings of {budget.scope.describe()} span {label}: nothing to judge"
            out.append(_budget_line(budget, label, None, None, None, why))
            continue
        try:
            e = evaluate(db, config, budget, at, fits, period_at=start)
        except NoTariffError as exc:
            out.append(_budget_line(budget, label, None, None, None, str(exc)))
            continue
        s = e.status
        if at >= e.period_end:
            out.append(_ended(budget, label, s.used))
            continue
        colour = s.colour.value if e.meters else None
        out.append(_budget_line(budget, label, s.used, s.forecast, colour, s.reason))
    return out


def _ended(budget: Budget, label: str, used: float) -> BudgetLine:
    """A budget whose period is over: nothing is left to forecast, and yellow (a forecast
    near the budget) no longer applies; red when the use reached the budget, else green
    (as dual control colours a year that has ended)."""
    over = used >= budget.amount
    reason = (
        f"the period is over: used {used:.1f} of {budget.amount:.1f} {budget.unit}"
        f" ({used / budget.amount:.1%}), {'over' if over else 'within'} the budget"
    )
    return _budget_line(budget, label, used, None, "red" if over else "green", reason)


def _budget_line(
    budget: Budget,
    label: str,
    used: float | None,
    forecast: float | None,
    colour: str | None,
    reason: str | None,
) -> BudgetLine:
    return BudgetLine(
        id=budget.id,
        name=budget.name,
        scope=budget.scope.describe(),
        period=budget.period,
        unit=budget.unit,
        amount=budget.amount,
        used=used,
        forecast=forecast,
        colour=colour,
        reason=reason,
        period_label=label,
    )


def _contracts(
    db: sqlite3.Connection, config, site: str, building: str, month: Month, now: float
) -> list[SavingsLine]:
    """The savings of the month of every contract of the building covering it."""
    out = []
    for row in sqlite_budgets.list_plans(db, "contract"):
        if row.body.get("site") != site or row.body.get("building") != building:
            continue
        body = ContractIn.model_validate(row.body)
        reporting = body.reporting
        if reporting.first >= month.next_first_day or (
            reporting.to is not None and reporting.to <= month.first_day
        ):
            continue
        line = SavingsLine(
            row.id,
            body.name or "",
            body.contractor or "",
            Scope(body.site, body.building, body.meters).describe(),
            None,
            None,
        )
        try:
            figures = savings_figures(db, config, row.id, body, now)
        except NothingToReport as exc:
            out.append(replace(line, reason=str(exc)))
            continue
        found = [m for m in figures["months"] if m["month"] == month.label]
        if found:
            out.append(replace(line, month=found[0]))
        elif not figures["ok"]:
            out.append(replace(line, reason=figures["verdict"]))
        else:
            out.append(replace(line, reason=f"no savings figures for {month.label}: every day"
                             " of it is left out or outside the reporting period"))  # fmt: skip
    return out
