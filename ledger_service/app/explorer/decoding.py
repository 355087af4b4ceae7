"""Decoding of project transactions and logs for the explorer, from the compiled ABIs alone (no
RPC): function calls by selector, events by topic, role hashes by name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_abi_to_4byte_selector, keccak

from indexer.abi import EventDecoder
from indexer.abi_types import AbiDecodeError, canonical_type
from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.compiler import Artifact

#: Roles are keccak256 of their names, except the admin role, which is zero.
ADMIN_ROLE = "0x" + "00" * 32
#: Selectors of Solidity's built-in errors: `Error(string)` from require/revert, `Panic(uint256)`.
ERROR_STRING = bytes.fromhex("08c379a0")
PANIC = bytes.fromhex("4e487b71")


@dataclass(frozen=True)
class DecodedCall:
    """A decoded function call: the contract, the function and its named arguments."""

    contract: str
    function: str
    arguments: list[tuple[str, str, Any]]  # (name, ABI type, value)


@dataclass(frozen=True)
class DecodedLog:
    """A decoded event: the contract, the event name and its named values."""

    contract: str
    event: str
    values: list[tuple[str, Any]]


def _show(value: Any) -> Any:
    """A value as the page shows it: bytes as 0x-hex, tuples and lists element-wise."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_show(v) for v in value]
    return value


def _decode_selected(contract: str, entry: dict[str, Any] | None, data: bytes) -> DecodedCall | None:
    """`data` (a 4-byte selector, then ABI-encoded arguments) decoded by the function or error
    `entry`; None without an entry or when the arguments do not decode."""
    if entry is None:
        return None
    types = [canonical_type(p) for p in entry["inputs"]]
    try:
        values = abi_decode(types, data[4:])
    except (DecodingError, ValueError, OverflowError):
        return None
    arguments = [
        (p.get("name") or f"arg{i}", t, _show(v))
        for i, (p, t, v) in enumerate(zip(entry["inputs"], types, values, strict=True))
    ]
    return DecodedCall(contract, entry["name"], arguments)


class ProjectAbi:
    """What the explorer knows of the project's contracts: names by address, functions by
    selector, events by topic, role names by hash."""

    def __init__(self, deployment: Deployment, artifacts: dict[str, Artifact]) -> None:
        self.names: dict[str, str] = {c.address.lower(): name for name, c in deployment.contracts.items()}
        self._functions: dict[str, dict[bytes, dict[str, Any]]] = {}
        self._events: dict[str, dict[str, EventDecoder]] = {}
        self.roles: dict[str, str] = {ADMIN_ROLE: "DEFAULT_ADMIN_ROLE"}
        self._errors: dict[bytes, dict[str, Any]] = {
            ERROR_STRING: {"name": "Error", "inputs": [{"name": "message", "type": "string"}]},
            PANIC: {"name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
        }
        for name in deployment.contracts:
            artifact = artifacts.get(name)
            if artifact is None:
                continue
            functions = self._functions.setdefault(name, {})
            events = self._events.setdefault(name, {})
            for entry in artifact.abi:
                if entry.get("type") == "function":
                    functions[function_abi_to_4byte_selector(entry)] = entry  # type: ignore[arg-type]
                    role = str(entry["name"])
                    if role.endswith("_ROLE") and not entry.get("inputs") and role != "DEFAULT_ADMIN_ROLE":
                        self.roles["0x" + keccak(text=entry["name"]).hex()] = entry["name"]
                elif entry.get("type") == "error":
                    self._errors[function_abi_to_4byte_selector(entry)] = entry  # type: ignore[arg-type]
                elif entry.get("type") == "event" and not entry.get("anonymous"):
                    decoder = EventDecoder(entry)
                    events[decoder.topic0] = decoder

    def contract_name(self, address: str | None) -> str | None:
        """The project contract at `address`, or None."""
        return self.names.get(address.lower()) if address else None

    def decode_call(self, to: str | None, data: bytes) -> DecodedCall | None:
        """The call `data` makes to project contract `to`, or None (another contract, unknown
        selector, data that does not decode)."""
        name = self.contract_name(to)
        if name is None or len(data) < 4:
            return None
        return _decode_selected(name, self._functions.get(name, {}).get(data[:4]), data)

    def annotate(self, transactions: Iterable[dict[str, Any]]) -> None:
        """Adds to each transaction row the project contract it calls (`contract`) and the function
        (`method`), None where it is not a project call."""
        for tx in transactions:
            call = self.decode_call(tx["to_address"], bytes(tx["input"] or b""))
            tx["method"] = call.function if call else None
            tx["contract"] = self.contract_name(tx["to_address"])

    def decode_error(self, data: bytes | None) -> DecodedCall | None:
        """A revert's error (a project custom error, `Error(string)` or `Panic(uint256)`), or None."""
        if not data or len(data) < 4:
            return None
        return _decode_selected("", self._errors.get(data[:4]), data)

    def decode_log(self, address: str, topics: list[str], data: bytes) -> DecodedLog | None:
        """The event a log of project contract `address` carries, or None."""
        name = self.contract_name(address)
        if name is None or not topics:
            return None
        decoder = self._events.get(name, {}).get(topics[0])
        if decoder is None:
            return None
        try:
            values = decoder.decode(topics, data)
        except (AbiDecodeError, ValueError, IndexError):
            return None
        named = [
            (f.name, self.roles.get(v, v) if f.name == "role" else _show(v))
            for f, v in zip(decoder.fields, values, strict=True)
        ]
        return DecodedLog(name, decoder.name, named)
