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

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from cloud_api.auth import UserIdentity, require_permission
from cloud_api.body_types import LocalDay, Name, Text
from cloud_api.clock import request_now
from cloud_api.energy.savings_figures import NothingToReport, savings_figures
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
    with sqlite_store(request.app.state.store).reading() as db:
        body = ContractIn.model_validate(plan_or_404(db, KIND, contract_id).body)
        try:
            figures = savings_figures(db, config, contract_id, body, request_now(request))
        except NothingToReport as exc:
            raise HTTPException(409, detail=str(exc)) from None
    return JSONResponse(figures)
