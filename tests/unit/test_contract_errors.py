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


def source_of(contract: str) -> Path:
    """Where the contract's errors are declared: its interface (contracts/interfaces/I<name>.sol),
    or the contract itself when it has none (BN254, a library)."""
    interface = CONTRACTS / "interfaces" / f"I{contract}.sol"
    return interface if interface.exists() else CONTRACTS / f"{contract}.sol"


def errors_of(contract: str) -> dict[str, str]:
    return dict(ERROR.findall(source_of(contract).read_text()))


def files_with_errors() -> list[Path]:
    return [path for path in sorted(CONTRACTS.rglob("*.sol")) if ERROR.search(path.read_text())]


def owner_of(path: Path) -> str:
    """The contract whose errors `path` declares (interfaces/IFoo.sol declares Foo's)."""
    return path.stem.removeprefix("I") if path.parent.name == "interfaces" else path.stem


def test_every_contract_with_errors_is_listed_with_its_prefix() -> None:
    assert {owner_of(path) for path in files_with_errors()} == set(PREFIXES)


def test_a_contract_with_an_interface_declares_its_errors_there() -> None:
    """OpenZeppelin's style: errors (with events and types) live in the interface, so neither the
    implementation nor the abstract contracts it is built from (contracts/oracle/) declare any."""
    for path in files_with_errors():
        assert path == source_of(owner_of(path)), path


def test_each_contracts_errors_share_its_prefix() -> None:
    for contract, prefix in PREFIXES.items():
        names = errors_of(contract)
        assert names and all(name.startswith(prefix) for name in names), (contract, sorted(names))


def test_no_error_carries_a_string() -> None:
    found = {name for c in PREFIXES for name, params in errors_of(c).items() if re.search(r"\bstring\b", params)}
    assert found == set()
