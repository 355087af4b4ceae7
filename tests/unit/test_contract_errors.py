"""Each contract's custom errors carry one prefix, and no error carries a string (a string costs gas
to build and is no stable code for callers: an enum or a hash says the same)."""

from __future__ import annotations

import re
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
PREFIXES = {
    "AssetToken": "AssetToken",
    "BN254": "BN254",
    "DataNotary": "DataNotary",
    "DeviceRegistry": "DeviceRegistry",
    "SensorOracle": "Oracle",
    "ShipmentEscrow": "Escrow",
    "SupplyChain": "SupplyChain",
}
ERROR = re.compile(r"^\s*error\s+(\w+)\(([^)]*)\)", re.M)


def errors_of(contract: str) -> dict[str, str]:
    return dict(ERROR.findall((CONTRACTS / f"{contract}.sol").read_text()))


def test_every_contract_with_errors_is_listed_with_its_prefix() -> None:
    with_errors = {path.stem for path in CONTRACTS.glob("*.sol") if ERROR.search(path.read_text())}
    assert with_errors == set(PREFIXES)


def test_each_contracts_errors_share_its_prefix() -> None:
    for contract, prefix in PREFIXES.items():
        names = errors_of(contract)
        assert names and all(name.startswith(prefix) for name in names), (contract, sorted(names))


def test_no_error_carries_a_string() -> None:
    found = {name for c in PREFIXES for name, params in errors_of(c).items() if re.search(r"\bstring\b", params)}
    assert found == set()
