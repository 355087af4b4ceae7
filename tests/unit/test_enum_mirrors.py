"""The Python enum mirrors in `ledger_service.core.enums` match the contracts' own definitions."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

import pytest

from ledger_service.core import enums

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"

#: mirror -> (the interface that declares the enum, under contracts/, Solidity enum name); Solidity's
#: `None = 0` may be left out of a mirror.
MIRRORS: dict[type[Enum], tuple[str, str]] = {
    enums.KeyType: ("interfaces/IDeviceRegistry", "KeyType"),
    enums.DeviceStatus: ("interfaces/IDeviceRegistry", "Status"),
    enums.ItemStatus: ("interfaces/ISupplyChain", "Status"),
    enums.Condition: ("interfaces/ISupplyChain", "Condition"),
    enums.RuleKind: ("interfaces/ISensorOracle", "RuleKind"),
    enums.Comparison: ("interfaces/ISensorOracle", "Comparison"),
    enums.Path: ("interfaces/ISensorOracle", "Path"),
    enums.Outcome: ("interfaces/IShipmentEscrow", "Outcome"),
    enums.RuleProblem: ("interfaces/ISensorOracle", "RuleProblem"),
}
#: Where the action bits (ACTION_*) are defined.
ACTIONS = "oracle/OracleRules.sol"


def solidity_enum(declared_in: str, name: str, directory: Path = CONTRACTS) -> dict[str, int]:
    source = (directory / f"{declared_in}.sol").read_text()
    match = re.search(r"\benum\s+" + name + r"\s*\{([^}]*)\}", source)
    assert match, f"{declared_in}.{name} not found"
    members = [m.strip() for m in re.sub(r"//[^\n]*", "", match.group(1)).split(",") if m.strip()]
    return {normal(member): index for index, member in enumerate(members)}


def normal(name: str) -> str:
    return name.replace("_", "").lower()


@pytest.mark.parametrize("mirror", list(MIRRORS), ids=lambda m: m.__name__)
def test_each_enum_mirror_has_the_contracts_members_and_numbers(mirror: type[Enum]) -> None:
    expected = solidity_enum(*MIRRORS[mirror])
    actual = {normal(member.name): int(member.value) for member in mirror}
    assert actual == {name: number for name, number in expected.items() if name != "none" or "none" in actual}


def test_action_flags_are_the_contracts_action_constants() -> None:
    source = (CONTRACTS / ACTIONS).read_text()
    constants = {normal(n): int(v) for n, v in re.findall(r"\bACTION_(\w+)\s*=\s*(\d+)\s*;", source)}
    assert constants and {normal(f.name): int(f.value) for f in enums.Action if f.value} == constants


def test_a_changed_contract_enum_is_noticed(tmp_path: Path) -> None:
    """The check can fail: a member inserted on the Solidity side breaks the comparison."""
    source = (CONTRACTS / "interfaces" / "IShipmentEscrow.sol").read_text()
    changed = source.replace("enum Outcome {", "enum Outcome {\n        Extra,", 1)
    (tmp_path / "IShipmentEscrow.sol").write_text(changed)
    expected = solidity_enum("IShipmentEscrow", "Outcome", tmp_path)
    assert {normal(m.name): int(m.value) for m in enums.Outcome} != expected


def test_every_mirror_is_found_by_its_solidity_name() -> None:
    assert {mirror: f"{path.split('/')[-1]}.{name}" for mirror, (path, name) in MIRRORS.items()} == {
        mirror: name for name, mirror in enums.BY_SOLIDITY_NAME.items()
    }
