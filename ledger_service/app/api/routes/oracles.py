"""Sensor rules and oracle reports. Reads come from the SQL mirror (and the daemons' report
records); a new rule is sent to SensorOracle as the API key's party."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi import Path as PathParam
from hexbytes import HexBytes
from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from indexer import oracle_queries, queries
from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.problems import MEDIA_TYPE, refusal, write_errors
from ledger_service.app.api.read_schemas import ReportList, RulePage, RuleView
from ledger_service.app.api.refusals import SENSOR_ORACLE_REFUSALS
from ledger_service.app.api.routes.devices import require
from ledger_service.app.api.routes.items import _require
from ledger_service.core.enums import Action
from ledger_service.core.errors import InvalidRule, NotFound, TransactionReverted
from ledger_service.core.models import ApiKey
from ledger_service.services.apikeys import Role
from oracles.contract import SensorOracleContract
from oracles.rules import build_spec, describe

router = APIRouter(tags=["oracles"])

Bytes32 = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
ItemFilter = Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{64}$", description="Only this item's")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such rule in the mirror", "content": {MEDIA_TYPE: {}}},
    422: {"description": "Malformed id or filter", "content": {MEDIA_TYPE: {}}},
}
_WRITE_ERRORS = write_errors(
    {
        401: "No valid API key",
        403: "The key lacks the role, or its account is not the item's manufacturer",
        404: "No such item",
        409: "The item is delivered or recalled",
        422: "Invalid rule, unknown device",
    }
)
ManufacturerKey = Annotated[ApiKey, require(Role.MANUFACTURER)]

ActionName = Literal["mark", "freeze", "settle"]


class RuleIn(BaseModel):
    """A rule: a threshold (`above`, `below`, or both for a band) compared on each reading, on the
    mean over `mean_over` seconds, or a heartbeat (`heartbeat` seconds of silence)."""

    model_config = ConfigDict(extra="forbid")

    item_id: Bytes32
    device_id: Bytes32 | None = Field(None, description="Only this device (default: any attached to the item)")
    metric: Annotated[StrictStr, Field(max_length=64)] = ""
    unit: Annotated[StrictStr, Field(max_length=32, description="The metric's unit, as devices report it (UCUM)")] = ""
    above: Decimal | None = Field(None, description="Breach above this value")
    below: Decimal | None = Field(None, description="Breach below this value (with `above`: outside the band)")
    scale: int = Field(0, ge=-77, le=77, description="Decimals of the device's readings")
    readings: int = Field(1, ge=1, le=10_000, description="Consecutive breaching readings needed")
    duration: int = Field(0, ge=0, le=2**32 - 1, description="Seconds the breach must last")
    heartbeat: int | None = Field(None, ge=1, le=2**31, description="Breach after this many seconds of silence")
    mean_over: int | None = Field(None, ge=1, le=2**32 - 1, description="Compare the mean over this window (s)")
    actions: list[ActionName] = Field(default_factory=lambda: list[ActionName](["mark"]))

    @model_validator(mode="after")
    def _one_kind(self) -> RuleIn:
        if self.heartbeat is None and self.above is None and self.below is None:
            raise ValueError("give above, below (or both), or heartbeat")
        if self.heartbeat is None and not (self.metric and self.unit):
            raise ValueError("a threshold or mean rule needs a metric and its unit")
        return self


def _hex32(value: str) -> bytes:
    return bytes.fromhex(value[2:])


@router.post("/v1/rules", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
def add_rule(body: RuleIn, services: ServicesDep, key: ManufacturerKey) -> dict[str, Any]:
    """Adds a rule on chain (`manufacturer` role; the key's account must be the item's
    manufacturer unless the key is an admin's). It fires at most once, on a report proven by
    evidence (threshold rules) or signed by the oracle committee (heartbeat and mean rules)."""
    item_id = body.item_id.lower()
    if Role.ADMIN.value not in key.roles.split(","):
        _require(services, key, item_id, "manufacturer")
    try:
        spec = build_spec(
            _hex32(item_id),
            metric=body.metric,
            unit=body.unit,
            above=body.above,
            below=body.below,
            scale=body.scale,
            heartbeat=body.heartbeat,
            mean_over=body.mean_over,
            readings=body.readings,
            duration=body.duration,
            actions=Action.parse(",".join(body.actions)),
            device_id=_hex32(body.device_id) if body.device_id else bytes(32),
        )
    except ValueError as exc:
        raise InvalidRule(str(exc)) from exc
    oracle = SensorOracleContract(services.parties.client(key.party), services.ledger.deployment, services.artifacts)
    try:
        rule_id, receipt = oracle.add_rule(spec)
    except TransactionReverted as exc:
        raise refusal(exc, SENSOR_ORACLE_REFUSALS, "SensorOracle") from exc
    return {
        "rule_id": rule_id,
        "item_id": item_id,
        "description": describe(spec),
        "account": oracle.client.operator.address,
        "transaction_hash": HexBytes(receipt["transactionHash"]).to_0x_hex(),
        "block_number": int(receipt["blockNumber"]),
        "links": {"rule": f"/v1/rules/{rule_id}", "reports": f"/v1/oracle/reports?item={item_id}"},
    }


@router.get("/v1/rules", responses=_ERRORS, response_model=RulePage)
def list_rules(
    services: ServicesDep,
    item: ItemFilter = None,
    state: Literal["armed", "fired", "disabled"] | None = None,
    cursor: Annotated[int | None, Query(ge=0, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Rules in id order, filtered by item and state; cursor pagination."""
    with services.engine.connect() as conn:
        data = oracle_queries.list_rules(conn, item.lower() if item else None, state, cursor, limit)
        block = queries.indexed_block(conn)
    return {"data": data, "next_cursor": data[-1]["rule_id"] if len(data) == limit else None, "indexed_block": block}


@router.get("/v1/rules/{rule_id}", responses=_ERRORS, response_model=RuleView)
def get_rule(services: ServicesDep, rule_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)]) -> dict[str, Any]:
    """One rule: its parameters, and whether it is armed, fired (with the report) or disabled."""
    with services.engine.connect() as conn:
        rule = oracle_queries.rule_view(conn, rule_id)
        block = queries.indexed_block(conn)
    if rule is None:
        raise NotFound(f"no rule {rule_id} in the mirror (at block {block})", rule_id=rule_id)
    return {**rule, "indexed_block": block}


@router.get("/v1/oracle/reports", responses=_ERRORS, response_model=ReportList)
def list_reports(
    services: ServicesDep, item: ItemFilter = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Oracle reports: those that fired rules on chain (status `fired`, with the transaction), and
    those the daemons found that have not (yet): `pending` (evidence not anchored yet), `queued`,
    `superseded` (the rule fired on another report), `failed` (refused, with the reason)."""
    with services.engine.connect() as conn:
        data = oracle_queries.list_reports(conn, item.lower() if item else None, limit)
        block = queries.indexed_block(conn)
    return {"data": data, "indexed_block": block}
