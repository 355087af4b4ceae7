"""The indexer's fast event decoders against eth_abi, on random values of many types."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_abi import encode

from indexer.abi import EventDecoder, flatten_event
from indexer.abi_types import AbiDecodeError, event_signature, snake

SCALARS = ["uint8", "uint64", "uint256", "int8", "int64", "int256", "address", "bool", "bytes32", "bytes4"]


def random_value(abi_type: str, rng: random.Random) -> Any:
    if abi_type.startswith("uint"):
        return rng.randrange(0, 1 << int(abi_type[4:]))
    if abi_type.startswith("int"):
        bits = int(abi_type[3:])
        return rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1))
    if abi_type == "address":
        return "0x" + rng.randbytes(20).hex()
    if abi_type == "bool":
        return rng.random() < 0.5
    if abi_type == "string":
        return "".join(rng.choice("abcé漢 0") for _ in range(rng.randrange(0, 70)))
    if abi_type == "bytes":
        return rng.randbytes(rng.randrange(0, 90))
    return rng.randbytes(int(abi_type[5:]))


def expected(abi_type: str, value: Any) -> Any:
    """How the mirror stores a value: hex for addresses and bytes, the rest as it is."""
    if abi_type == "address":
        return value.lower()
    if abi_type == "bytes" or abi_type.startswith("bytes"):
        return "0x" + value.hex()
    return value


def encode_topic(abi_type: str, value: Any) -> str:
    return "0x" + encode([abi_type], [value]).hex()


@pytest.mark.parametrize("seed", range(30))
def test_generated_and_general_decoders_match_eth_abi(seed: int) -> None:
    rng = random.Random(seed)
    types = [rng.choice([*SCALARS, "string", "bytes"]) for _ in range(rng.randrange(1, 6))]
    struct = [rng.choice([*SCALARS, "string"]) for _ in range(rng.randrange(1, 4))]
    indexed = [rng.choice(SCALARS) for _ in range(rng.randrange(0, 4))]
    inputs: list[dict[str, Any]] = [{"name": f"topicArg{i}", "type": t, "indexed": True} for i, t in enumerate(indexed)]
    inputs += [{"name": f"bodyArg{i}", "type": t, "indexed": False} for i, t in enumerate(types)]
    inputs.append({
        "name": "info", "type": "tuple", "indexed": False,
        "components": [{"name": f"field{i}", "type": t} for i, t in enumerate(struct)],
    })  # fmt: skip
    decoder = EventDecoder({"name": "Random", "type": "event", "inputs": inputs})

    topic_values = [random_value(t, rng) for t in indexed]
    body_values = [random_value(t, rng) for t in types]
    struct_values = tuple(random_value(t, rng) for t in struct)
    data = encode([*types, f"({','.join(struct)})"], [*body_values, struct_values])
    topics = [decoder.topic0] + [encode_topic(t, v) for t, v in zip(indexed, topic_values, strict=True)]

    want = [expected(t, v) for t, v in zip(indexed, topic_values, strict=True)]
    want += [expected(t, v) for t, v in zip(types, body_values, strict=True)]
    want += [expected(t, v) for t, v in zip(struct, struct_values, strict=True)]
    assert decoder.decode(topics, data) == want
    assert decoder.decode_general(topics, data) == want


def test_arrays_use_the_general_readers() -> None:
    entry = {
        "name": "Many", "type": "event",
        "inputs": [{"name": "ids", "type": "uint256[]", "indexed": False}, {"name": "tags", "type": "string[2]"}],
    }  # fmt: skip
    decoder = EventDecoder(entry)
    data = encode(["uint256[]", "string[2]"], [[1, 2, 3], ["a", "bc"]])
    assert decoder.decode([decoder.topic0], data) == [[1, 2, 3], ["a", "bc"]]


@pytest.mark.parametrize("cut", [0, 31, 64, 100])
def test_truncated_logs_are_refused(cut: int) -> None:
    entry = {
        "name": "Note", "type": "event",
        "inputs": [{"name": "count", "type": "uint64"}, {"name": "text", "type": "string"}],
    }  # fmt: skip
    decoder = EventDecoder(entry)
    data = encode(["uint64", "string"], [7, "x" * 40])
    with pytest.raises(AbiDecodeError):
        decoder.decode([decoder.topic0], data[:cut])
    with pytest.raises(AbiDecodeError):
        decoder.decode_general([decoder.topic0], data[:cut])
    with pytest.raises(AbiDecodeError):
        decoder.decode([decoder.topic0, "0x" + "00" * 32], data)


def test_names_and_signatures() -> None:
    assert snake("firmwareHash") == "firmware_hash"
    assert snake("ERC20Token") == "erc20_token"
    entry = {
        "name": "Moved", "type": "event",
        "inputs": [
            {"name": "from", "type": "tuple", "components": [{"name": "address", "type": "address"}]},
            {"name": "to", "type": "tuple", "components": [{"name": "address", "type": "address"}]},
        ],
    }  # fmt: skip
    assert event_signature(entry) == "Moved((address),(address))"
    assert [f.name for f in flatten_event(entry)] == ["from_address", "to_address"]
