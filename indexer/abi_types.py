"""ABI types for the indexer's decoders: canonical type names and event signatures, the size and
layout of each type, and per-type readers that slice 32-byte words into the values the SQL mirror
stores (integers as `int`, addresses and fixed bytes as lowercase 0x-hex, `bytes` as 0x-hex,
strings as `str`, arrays as lists), structs flattened into their fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

Value = Any
#: reads the value(s) of one type at `pos` (head position) of `data`, whose tuple starts at `base`
Reader = Callable[[bytes, int, int], list[Value]]

INT_TYPE = re.compile(r"^(u?)int(\d*)$")
FIXED_BYTES_TYPE = re.compile(r"^bytes(\d+)$")
ARRAY_TYPE = re.compile(r"^(.*)\[(\d*)\]$")


class AbiDecodeError(ValueError):
    """The data does not decode as the ABI says (a truncated or malformed log)."""


@dataclass(frozen=True)
class Field:
    """A flattened field: its column name and its ABI type."""

    name: str
    abi_type: str


def snake(name: str) -> str:
    """`firmwareHash` -> `firmware_hash`, `ERC20Token` -> `erc20_token`."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name)
    return name.lower().lstrip("_")


def canonical_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter (tuples written out), as in event signatures."""
    abi_type = str(param["type"])
    if abi_type.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){abi_type[5:]}"
    return abi_type


def event_signature(entry: dict[str, Any]) -> str:
    """`Name(type,...)` of an event ABI entry."""
    return f"{entry['name']}({','.join(canonical_type(p) for p in entry['inputs'])})"


def event_topic(entry: dict[str, Any]) -> str:
    """The event's topic 0: keccak256 of its signature, 0x-hex."""
    return "0x" + keccak(text=event_signature(entry)).hex()


def _word_int(data: bytes, pos: int) -> int:
    if pos + 32 > len(data):
        raise AbiDecodeError(f"data ends at {len(data)} bytes, a word was expected at {pos}")
    return int.from_bytes(data[pos : pos + 32], "big")


def is_dynamic(param: dict[str, Any]) -> bool:
    abi_type = str(param["type"])
    if abi_type in ("string", "bytes"):
        return True
    array = ARRAY_TYPE.match(abi_type)
    if array:
        if array.group(2) == "":
            return True
        return is_dynamic({**param, "type": array.group(1)})
    if abi_type == "tuple":
        return any(is_dynamic(c) for c in param["components"])
    return False


def static_size(param: dict[str, Any]) -> int:
    abi_type = str(param["type"])
    array = ARRAY_TYPE.match(abi_type)
    if array:
        return int(array.group(2)) * static_size({**param, "type": array.group(1)})
    if abi_type == "tuple":
        return sum(static_size(c) for c in param["components"])
    return 32


def scalar_reader(abi_type: str) -> Callable[[bytes, int], Value]:
    """A reader of one static scalar word at an absolute position."""
    if abi_type == "address":

        def read_address(data: bytes, pos: int) -> Value:
            if pos + 32 > len(data):
                raise AbiDecodeError(f"data ends at {len(data)} bytes, an address was expected at {pos}")
            return "0x" + data[pos + 12 : pos + 32].hex()

        return read_address
    if abi_type == "bool":
        return lambda data, pos: _word_int(data, pos) != 0
    match = INT_TYPE.match(abi_type)
    if match:
        bits = int(match.group(2) or 256)
        if match.group(1) == "u":
            return _word_int
        del bits  # a signed value is sign-extended to 256 bits whatever its width

        def read_signed(data: bytes, pos: int) -> Value:
            value = _word_int(data, pos)
            return value - (1 << 256) if value >= 1 << 255 else value

        return read_signed
    match = FIXED_BYTES_TYPE.match(abi_type)
    if match:
        size = int(match.group(1))

        def read_fixed(data: bytes, pos: int) -> Value:
            if pos + 32 > len(data):
                raise AbiDecodeError(f"data ends at {len(data)} bytes, bytes{size} was expected at {pos}")
            return "0x" + data[pos : pos + size].hex()

        return read_fixed
    raise AbiDecodeError(f"unsupported ABI type {abi_type}")


def _dynamic_bytes(as_text: bool) -> Callable[[bytes, int], Value]:
    def read(data: bytes, start: int) -> Value:
        length = _word_int(data, start)
        end = start + 32 + length
        if end > len(data):
            raise AbiDecodeError(f"a {length}-byte value at {start} runs past the data's {len(data)} bytes")
        raw = data[start + 32 : end]
        return raw.decode("utf-8", errors="replace") if as_text else "0x" + raw.hex()

    return read


def _value_reader(param: dict[str, Any]) -> Callable[[bytes, int], Value]:
    """Reads one (unflattened) value whose encoding starts at an absolute position (for arrays)."""
    abi_type = str(param["type"])
    array = ARRAY_TYPE.match(abi_type)
    if array:
        item = {**param, "type": array.group(1)}
        item_read = _value_reader(item)
        item_dynamic = is_dynamic(item)
        item_size = 32 if item_dynamic else static_size(item)
        fixed = array.group(2)

        def read_array(data: bytes, start: int) -> Value:
            if fixed:
                count, first = int(fixed), start
            else:
                count, first = _word_int(data, start), start + 32
            if count > len(data):
                raise AbiDecodeError(f"array of {count} items cannot fit in {len(data)} bytes")
            items = []
            for index in range(count):
                at = first + index * item_size
                items.append(item_read(data, first + _word_int(data, at) if item_dynamic else at))
            return items

        return read_array
    if abi_type == "tuple":
        readers = [
            (is_dynamic(c), _value_reader(c), 32 if is_dynamic(c) else static_size(c)) for c in param["components"]
        ]

        def read_tuple(data: bytes, start: int) -> Value:
            values, pos = [], start
            for dynamic, read, size in readers:
                values.append(read(data, start + _word_int(data, pos)) if dynamic else read(data, pos))
                pos += size
            return values

        return read_tuple
    if abi_type in ("string", "bytes"):
        return _dynamic_bytes(abi_type == "string")
    return scalar_reader(abi_type)


def flat_reader(param: dict[str, Any]) -> Reader:
    """Reads a parameter at head position `pos` of a tuple at `base`, flattening structs."""
    abi_type = str(param["type"])
    if abi_type == "tuple":
        parts = [(flat_reader(c), 32 if is_dynamic(c) else static_size(c)) for c in param["components"]]
        if is_dynamic(param):

            def read_dynamic_struct(data: bytes, base: int, pos: int) -> list[Value]:
                start = base + _word_int(data, pos)
                values: list[Value] = []
                at = start
                for read, size in parts:
                    values.extend(read(data, start, at))
                    at += size
                return values

            return read_dynamic_struct

        def read_static_struct(data: bytes, base: int, pos: int) -> list[Value]:
            values: list[Value] = []
            at = pos
            for read, size in parts:
                values.extend(read(data, base, at))
                at += size
            return values

        return read_static_struct
    read_value = _value_reader(param)
    if is_dynamic(param):
        return lambda data, base, pos: [read_value(data, base + _word_int(data, pos))]
    return lambda data, base, pos: [read_value(data, pos)]


def flatten(params: Sequence[dict[str, Any]], prefix: str = "") -> list[Field]:
    """The flattened fields of `params`: struct fields in place of the struct, named in snake case.

    A struct field is named by itself (`key.signer` -> `signer`); `flatten_event` prefixes the
    parameter's name where names would collide.
    """
    fields: list[Field] = []
    for param in params:
        name = prefix + snake(str(param["name"]))
        if param["type"] == "tuple":
            fields.extend(flatten(param["components"]))
        else:
            fields.append(Field(name, canonical_type(param)))
    return fields
