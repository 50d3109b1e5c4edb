"""Energy contracts (中央空调能源托管): what a retrofit or a managed service really saved.

PUT /v1/contracts/{id}          energy.write: create or replace (audited, versioned)
GET /v1/contracts               read: every contract
GET /v1/contracts/{id}          read: one contract and the history of its versions
GET /v1/contracts/{id}/savings  read: per local month of the reporting period, the
                                adjusted baseline, the actual use and the avoided energy
                                (kWh, kgce, CO2, cost) with its 90 % uncertainty, the
                                baseline model's fit figures, and the days left out (no
                                weather or meter data), each with its reason

IPMVP Option C style (whole scope metered): the baseline model (day-typed time of week,
plus outdoor temperature when the building has it) is fitted on the baseline period and
predicted under the reporting period's conditions (cloud_api/energy/savings.py). kgce and
CO2 use the factor version valid on each month's first day; the avoided cost is the
avoided kWh at the month's average price actually paid (the tariff's prices of the hours
used), since when the avoided kWh would have been used is a model's guess.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cloud_api.auth import UserIdentity, require_permission
from cloud_api.body_types import LocalDay, Name, Text
from cloud_api.clock import request_now
from cloud_api.energy.budgets import hourly_temperature, temperature_series
from cloud_api.energy.savings import HourlySeries, contract_savings
from cloud_api.energy.service import (
    Scope,
    convert,
    factor_dict,
    hourly_energy,
    quarter_energy,
    require_whole_hours,
    scope_meters,
)
from cloud_api.routers.budgets import BudgetId, _few_tags, plan_or_404
from cloud_api.store import sqlite_budgets
from cloud_api.store.primary import sqlite_store

router = APIRouter(tags=["energy contracts"])
Writer = Annotated[UserIdentity, Depends(require_permission("energy.write"))]
READ = [Depends(require_permission("read"))]
KIND = "contract"
ContractId = BudgetId


class Span(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    first: LocalDay = Field(alias="from", description="local date, included")
    to: LocalDay | None = Field(None, description="local date, excluded; none: until now")

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.to is not None and self.to <= self.first:
            raise ValueError(f"to ({self.to}) must be after from ({self.first})")
        return self


class ContractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Text, Field(max_length=200)] | None = None
    contractor: Annotated[Text, Field(max_length=200)] | None = None
    site: Name
    building: Name
    meters: Annotated[dict[Name, Name], AfterValidator(_few_tags)] = Field(
        default_factory=dict, description="the contract's meter group, e.g. {system: hvac}"
    )
    baseline: Span = Field(description="the period before the retrofit (ideally a year)")
    reporting: Span = Field(description="the period after it")

    @model_validator(mode="after")
    def _baseline_first(self) -> ContractIn:
        if self.baseline.to is None:
            raise ValueError("baseline.to is required")
        if self.reporting.first < self.baseline.to:
            raise ValueError(
                f"reporting.from ({self.reporting.first}) must not be before baseline.to"
                f" ({self.baseline.to})"
            )
        return self


def _dump(body: ContractIn) -> dict:
    return body.model_dump(mode="json", by_alias=True, exclude_none=True)


@router.put("/v1/contracts/{contract_id}", summary="Set an energy contract")
def put_contract(
    request: Request, contract_id: ContractId, body: ContractIn, user: Writer
) -> JSONResponse:
    with sqlite_store(request.app.state.store).writing() as db:
        row = sqlite_budgets.put_plan(
            db, KIND, contract_id, _dump(body), user.name, request_now(request)
        )
    return JSONResponse(row.to_dict())


@router.get("/v1/contracts", summary="Energy contracts", dependencies=READ)
def list_contracts(request: Request) -> JSONResponse:
    with sqlite_store(request.app.state.store).reading() as db:
        rows = sqlite_budgets.list_plans(db, KIND)
    return JSONResponse({"contracts": [r.to_dict() for r in rows]})


@router.get(
    "/v1/contracts/{contract_id}", summary="One contract and its versions", dependencies=READ
)
def get_contract(request: Request, contract_id: ContractId) -> JSONResponse:
    with sqlite_store(request.app.state.store).reading() as db:
        row = plan_or_404(db, KIND, contract_id)
        history = sqlite_budgets.plan_history(db, KIND, contract_id)
    return JSONResponse({**row.to_dict(), "history": history})


@router.get(
    "/v1/contracts/{contract_id}/savings", summary="What a contract saved", dependencies=READ
)
def savings(request: Request, contract_id: ContractId) -> JSONResponse:
    config = request.app.state.energy_config
    now = request_now(request)
    store = sqlite_store(request.app.state.store)
    with store.reading() as db:
        body = ContractIn.model_validate(plan_or_404(db, KIND, contract_id).body)
        calendar = config.calendar(body.site)
        today = calendar.day_of(now)
        report_to = min(body.reporting.to or today, today + timedelta(days=1))
        if report_to <= body.reporting.first:
            raise HTTPException(
                409,
                detail=f"the reporting period starts {body.reporting.first}: nothing to report yet",
            )
        meters = scope_meters(db, Scope(body.site, body.building, body.meters))
        if not meters:
            raise HTTPException(
                409,
                detail=f"no meters match {Scope(body.site, body.building, body.meters).describe()}",
            )
        ids = [m.series_id for m in meters]
        temp_id = temperature_series(db, config, body.site, body.building)
        periods = []
        for first, last in (
            (body.baseline.first, body.baseline.to),
            (body.reporting.first, report_to),
        ):
            start, end = calendar.day_bounds(first)[0], calendar.day_bounds(last)[0]
            require_whole_hours(calendar, start, end)
            hourly = hourly_energy(db, ids, start, end)
            hod, day_type, ordinal = calendar.hour_features(hourly.hour_start)
            temperature = hourly_temperature(db, temp_id, hourly.hour_start)
            periods.append(
                (
                    hourly,
                    HourlySeries(
                        hourly.hour_start,
                        np.where(hourly.measured, hourly.kwh, np.nan),
                        day_type,
                        hod,
                        ordinal,
                        temperature,
                    ),
                )
            )
        quarters = quarter_energy(db, config, ids, start, end)  # the reporting period's
    result = contract_savings(periods[0][1], periods[1][1])
    reporting_hourly = periods[1][0]
    figures = convert(config, calendar, reporting_hourly.hour_start, reporting_hourly.kwh, quarters)
    month_of = {}
    for i, ordinal in enumerate(periods[1][1].day_ordinal):
        d = date.fromordinal(int(ordinal))
        month_of.setdefault(f"{d.year:04d}-{d.month:02d}", []).append(i)
    rows = []
    for row in [*result.months, *([result.total] if result.total else [])]:
        idx = np.array(month_of.get(row.label, range(len(reporting_hourly))), dtype=int)
        rows.append(_row_dict(row, figures, idx))
    fit = result.baseline
    return JSONResponse(
        {
            "contract": contract_id,
            "ok": result.ok,
            "verdict": result.verdict,
            "confidence": result.confidence,
            "baseline_period": {
                "from": body.baseline.first.isoformat(),
                "to": body.baseline.to.isoformat(),
            },
            "reporting_period": {
                "from": body.reporting.first.isoformat(),
                "to": report_to.isoformat(),
            },
            "fit": {
                "ok": fit.ok,
                "verdict": fit.verdict,
                "cv_rmse": fit.cv_rmse,
                "nmbe": fit.nmbe,
                "n": fit.n,
                "p": fit.p,
                "missing_share": fit.missing_share,
                "uses_temperature": fit.uses_temperature,
                "notes": list(fit.notes),
            },
            "months": rows[: len(result.months)],
            "total": rows[-1] if result.total else None,
            "excluded_days": [
                {"day": e.day.isoformat(), "reason": e.reason} for e in result.excluded_days
            ],
            "notes": list(result.notes),
            "factors": [factor_dict(f) for f in figures.factors],
            "meters": [{"series_id": m.series_id, "device": m.device} for m in meters],
        }
    )


def _row_dict(row, figures, idx: np.ndarray) -> dict:
    """A savings row in kWh, and in kgce, CO2 and cost at the month's own factors."""
    kwh = float(figures.kwh[idx].sum()) if len(idx) else 0.0
    per_kwh = {
        name: (float(values[idx].sum()) / kwh if kwh > 0 else None)
        for name, values in (
            ("kgce", figures.kgce),
            ("co2_kg", figures.co2),
            ("cost", figures.cost),
        )
        if values is not None
    }
    out = {
        "month": row.label,
        "adjusted_baseline_kwh": row.adjusted_baseline,
        "actual_kwh": row.actual,
        "avoided_kwh": row.avoided,
        "uncertainty_kwh": row.uncertainty,
        "fraction": row.fraction,
        "days": row.days,
    }
    for name in ("kgce", "co2_kg", "cost"):
        rate = per_kwh.get(name)
        out[f"avoided_{name}"] = None if rate is None else row.avoided * rate
    return out
