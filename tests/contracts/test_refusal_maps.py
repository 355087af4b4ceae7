"""The API's map of contract errors names only errors the contracts have: a renamed custom error
would otherwise fall through to the generic 409 `chain-refused` without anyone noticing."""

from __future__ import annotations

import pytest

from ledger_service.app.api.refusals import DEVICE_REGISTRY_REFUSALS, SENSOR_ORACLE_REFUSALS, SUPPLY_CHAIN_REFUSALS
from ledger_service.core.compiler import Artifact

MAPS = {
    "DeviceRegistry": DEVICE_REGISTRY_REFUSALS,
    "SupplyChain": SUPPLY_CHAIN_REFUSALS,
    "SensorOracle": SENSOR_ORACLE_REFUSALS,
}


@pytest.mark.parametrize("contract", list(MAPS))
def test_every_mapped_error_is_one_of_the_contracts_errors(contract: str, artifacts: dict[str, Artifact]) -> None:
    errors = {entry["name"] for entry in artifacts[contract].abi if entry["type"] == "error"}
    assert set(MAPS[contract]) - errors == set()
    assert all(400 <= status < 500 and code for status, code in MAPS[contract].values())
