"""Energy budgets: set by an energy manager, read by everyone, with a forecast colour.

PUT /v1/budgets/{id}          energy.write: create or replace (audited, versioned)
GET /v1/budgets               read: every budget with its latest evaluated colour
GET /v1/budgets/{id}          read: one budget and the history of its versions
GET /v1/budgets/{id}/status   read: used so far, forecast to the period's end with a 90 %
                              interval, colour, the day the forecast crosses the budget,
                              the model's fit figures; `at` evaluates at another instant
                              (a backtest: what the status said then, from the data now)

A budget's scope is a site, a building (optional) and a meter group by device tags
(`meters: {system: hvac}`); its period repeats: every local month or every local year of
the site's time zone, each with the same amount. Colours: green; yellow when the forecast
reaches `threshold` (default 0.9) of the budget; red when the forecast or the use reaches
the budget. A change of colour raises or clears `budget.at_risk` (yellow) and
`budget.over` (red) through the alarm lifecycle (cloud_api/energy/evaluator.py).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cloud_api.auth import UserIdentity, require_permission
from cloud_api.body_types import Instant, Name, Text
from cloud_api.clock import request_now
from cloud_api.energy.budgets import Budget, Evaluation, NoTariffError, evaluate, local_iso
from cloud_api.store import sqlite_budgets
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["energy budgets"])
BudgetId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="your name for it")
]
Writer = Annotated[UserIdentity, Depends(require_permission("energy.write"))]
READ = [Depends(require_permission("read"))]
KIND = "budget"
MAX_TAGS = 8


def _finite_positive(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be a positive finite number")
    return value


def _few_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags, got {len(tags)}")
    return tags


class BudgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Text, Field(max_length=200)] | None = None
    site: Name
    building: Name | None = Field(None, description="none: every building of the site")
    meters: Annotated[dict[Name, Name], AfterValidator(_few_tags)] = Field(
        default_factory=dict,
        description="a meter group by device tags, e.g. {system: hvac}; empty: the whole"
        " building (its main meters)",
    )
    period: Literal["month", "year"] = Field(description="repeats every local month or year")
    amount: Annotated[float, AfterValidator(_finite_positive)] = Field(
        description="per period, in `unit`"
    )
    unit: Literal["kWh", "kgce", "cost"] = Field(
        description="cost: in the configured tariff's currency"
    )
    threshold: float = Field(0.9, gt=0, le=1, description="forecast share that turns yellow")


def _store(request: Request):
    return sqlite_store(request.app.state.store)


def _budget_dict(row: sqlite_budgets.PlanRow, colour: tuple[float, str] | None = None) -> dict:
    out = row.to_dict()
    if colour is not None:
        out["last_colour"] = colour[1]
    return out


@router.put("/v1/budgets/{budget_id}", summary="Set a budget")
def put_budget(request: Request, budget_id: BudgetId, body: BudgetIn, user: Writer) -> JSONResponse:
    config = request.app.state.energy_config
    if body.unit == "cost" and config.tariffs is None:
        raise HTTPException(
            422,
            detail="unit: a cost budget needs a tariff, and the energy configuration has"
            " none (see the README, Energy configuration)",
        )
    with _store(request).writing() as db:
        row = sqlite_budgets.put_plan(
            db,
            KIND,
            budget_id,
            body.model_dump(exclude_none=True),
            user.name,
            request_now(request),
        )
    return JSONResponse(_budget_dict(row))


@router.get("/v1/budgets", summary="Budgets", dependencies=READ)
def list_budgets(request: Request) -> JSONResponse:
    with _store(request).reading() as db:
        rows = sqlite_budgets.list_plans(db, KIND)
        out = [_budget_dict(r, sqlite_budgets.last_colour(db, r.id)) for r in rows]
    return JSONResponse({"budgets": out})


@router.get("/v1/budgets/{budget_id}", summary="One budget and its versions", dependencies=READ)
def get_budget(request: Request, budget_id: BudgetId) -> JSONResponse:
    with _store(request).reading() as db:
        row = plan_or_404(db, KIND, budget_id)
        history = sqlite_budgets.plan_history(db, KIND, budget_id)
    return JSONResponse({**_budget_dict(row), "history": history})


def plan_or_404(db, kind: str, plan_id: str) -> sqlite_budgets.PlanRow:
    """The budget or contract `plan_id`, or a 404 naming it."""
    row = sqlite_budgets.get_plan(db, kind, plan_id)
    if row is None:
        raise HTTPException(404, detail=f"there is no {kind} {plan_id!r}")
    return row


@router.get("/v1/budgets/{budget_id}/status", summary="A budget's status", dependencies=READ)
def budget_status(request: Request, budget_id: BudgetId, at: Instant | None = None) -> JSONResponse:
    config = request.app.state.energy_config
    when = request_now(request) if at is None else at
    with _store(request).reading() as db:
        row = plan_or_404(db, KIND, budget_id)
        try:
            result = evaluate(
                db, config, Budget.from_body(budget_id, row.body), when, request.app.state.fit_cache
            )
        except NoTariffError as exc:
            raise HTTPException(409, detail=str(exc)) from None
    return JSONResponse(status_dict(result, config))


def status_dict(e: Evaluation, config) -> dict:
    calendar = config.calendar(e.budget.site)
    s = e.status
    model = e.model
    fit = None
    if model is not None:
        fit = {
            "ok": model.ok,
            "verdict": model.verdict,
            "cv_rmse": model.cv_rmse,
            "nmbe": model.nmbe,
            "n": model.n,
            "p": model.p,
            "missing_share": model.missing_share,
            "uses_temperature": model.uses_temperature,
        }
    return {
        "budget": e.budget.id,
        "at": e.at,
        "period": {
            "first_day": e.period_first_day.isoformat(),
            "start": local_iso(calendar, e.period_start),
            "end": local_iso(calendar, e.period_end),
            "timezone": calendar.tz,
        },
        "unit": e.budget.unit,
        "amount": e.budget.amount,
        "used": s.used,
        "forecast": s.forecast,
        "forecast_low": s.forecast_low,
        "forecast_high": s.forecast_high,
        "share_of_budget": None if s.forecast is None else s.forecast / e.budget.amount,
        # No meters: nothing measured is not "green"; the reason says what is missing.
        "colour": s.colour.value if e.meters else None,
        "crosses_on": None if s.crosses_on is None else s.crosses_on.isoformat(),
        "reason": s.reason or e.model_reason,
        "used_kwh": e.used_kwh,
        "held_out_kwh": e.held_out_kwh,
        "fit": fit,
        "factors": e.factors,
        "meters": e.meters,
    }
