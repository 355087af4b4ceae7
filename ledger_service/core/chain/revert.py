"""Turns revert data into readable custom errors, using the ABIs of the project's contracts."""

from __future__ import annotations

from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector
from hexbytes import HexBytes

from ledger_service.core.enums import BY_SOLIDITY_NAME

# Errors of OpenZeppelin building blocks that every contract may raise.
_LIBRARY_ERRORS = [
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
]


def _type_of(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_of(p) for p in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


class RevertDecoder:
    """Knows the custom errors of registered ABIs, by their 4-byte selectors."""

    def __init__(self) -> None:
        self._errors: dict[bytes, dict[str, Any]] = {}
        self.register(_LIBRARY_ERRORS)

    def register(self, abi: list[dict[str, Any]]) -> None:
        """Learns the errors declared in `abi`."""
        for entry in abi:
            if entry.get("type") == "error":
                types = ",".join(_type_of(p) for p in entry["inputs"])
                self._errors[function_signature_to_4byte_selector(f"{entry['name']}({types})")] = entry

    def decode(self, data: bytes | str) -> tuple[str, dict[str, Any]] | None:
        """Returns (error name, arguments) for revert `data`, or None when the selector is unknown."""
        raw = bytes(HexBytes(data))
        entry = self._errors.get(raw[:4])
        if entry is None:
            return None
        types = [_type_of(p) for p in entry["inputs"]]
        try:
            values = decode(types, raw[4:])
        except Exception:  # noqa: BLE001 - malformed data is reported as unknown
            return None
        args = {}
        for param, value in zip(entry["inputs"], values, strict=True):
            args[param["name"]] = HexBytes(value).to_0x_hex() if isinstance(value, bytes) else value
        return str(entry["name"]), args

    def describe(self, exc: Exception) -> str:
        """A one-line description of a revert raised by web3."""
        data = getattr(exc, "data", None)
        if isinstance(data, str | bytes) and data:
            decoded = self.decode(data)
            if decoded:
                name, args = decoded
                rendered = ", ".join(f"{key}={self._named(name, key, value)}" for key, value in args.items())
                return f"{name}({rendered})"
        return str(exc)

    def _named(self, error: str, param: str, value: Any) -> Any:
        """An enum argument by its member's name (`problem=NO_UNIT`), other arguments as they are."""
        entry = next((e for e in self._errors.values() if e["name"] == error), None)
        found = next((p for p in entry["inputs"] if p["name"] == param), None) if entry else None
        internal = str(found.get("internalType", "")) if found else ""
        mirror = BY_SOLIDITY_NAME.get(internal.removeprefix("enum "))
        if mirror is None or not isinstance(value, int):
            return value
        try:
            return mirror(value).name
        except ValueError:
            return value

    def name_of(self, exc: Exception) -> str | None:
        """The custom error's name in a revert raised by web3, if known."""
        data = getattr(exc, "data", None)
        if isinstance(data, str | bytes) and data:
            decoded = self.decode(data)
            if decoded:
                return decoded[0]
        return None
