"""Generated decoders: for an event whose parameters are all of fixed layout (and strings and bytes),
the source of one function that reads every value at its known offset, compiled once. It is
several times faster than walking the readers of `indexer.abi_types` per log; events it cannot
generate for fall back to those readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from indexer.abi_types import (
    ARRAY_TYPE,
    FIXED_BYTES_TYPE,
    INT_TYPE,
    AbiDecodeError,
    Value,
    flatten,
    is_dynamic,
    static_size,
)


def _dynamic_text(data: bytes, start: int) -> str:
    length = int.from_bytes(data[start : start + 32], "big")
    end = start + 32 + length
    if start + 32 > len(data) or end > len(data):
        raise AbiDecodeError(f"a {length}-byte string at {start} runs past the data's {len(data)} bytes")
    return data[start + 32 : end].decode("utf-8", errors="replace")


def _dynamic_hex(data: bytes, start: int) -> str:
    length = int.from_bytes(data[start : start + 32], "big")
    end = start + 32 + length
    if start + 32 > len(data) or end > len(data):
        raise AbiDecodeError(f"a {length}-byte value at {start} runs past the data's {len(data)} bytes")
    return "0x" + data[start + 32 : end].hex()


def _signed(word: bytes) -> int:
    value = int.from_bytes(word, "big")
    return value - (1 << 256) if value >= 1 << 255 else value


def _short(data: bytes, need: int, name: str) -> AbiDecodeError:
    return AbiDecodeError(f"{name}: data has {len(data)} bytes, at least {need} are needed")


def _scalar_source(abi_type: str, at: str) -> str | None:
    """An expression for the static scalar whose word starts at expression `at` in `data`."""
    word = f"data[{at}:{at} + 32]"
    if abi_type == "address":
        return f"'0x' + data[{at} + 12:{at} + 32].hex()"
    if abi_type == "bool":
        return f"int.from_bytes({word}, 'big') != 0"
    match = INT_TYPE.match(abi_type)
    if match:
        return f"int.from_bytes({word}, 'big')" if match.group(1) == "u" else f"_signed({word})"
    match = FIXED_BYTES_TYPE.match(abi_type)
    if match:
        return f"'0x' + data[{at}:{at} + {int(match.group(1))}].hex()"
    return None


def _topic_source(abi_type: str, index: int) -> str | None:
    topic = f"topics[{index}]"
    if abi_type == "address":
        return f"'0x' + {topic}[26:]"
    if abi_type == "bool":
        return f"int({topic}, 16) != 0"
    match = INT_TYPE.match(abi_type)
    if match:
        return f"int({topic}, 16)" if match.group(1) == "u" else f"_signed(bytes.fromhex({topic}[2:]))"
    match = FIXED_BYTES_TYPE.match(abi_type)
    if match:
        return f"{topic}[:{2 + 2 * int(match.group(1))}]"
    if abi_type in ("string", "bytes") or abi_type.startswith("tuple") or ARRAY_TYPE.match(abi_type):
        return topic
    return None


def _body_sources(
    params: Sequence[dict[str, Any]], base: str, lines: list[str], counter: list[int]
) -> list[str] | None:
    """Expressions for the flattened values of a tuple of `params` whose encoding starts at `base`."""
    out: list[str] = []
    offset = 0
    for param in params:
        abi_type = str(param["type"])
        at = f"{base} + {offset}" if base != "0" else str(offset)
        if ARRAY_TYPE.match(abi_type):
            return None
        if abi_type == "tuple":
            if is_dynamic(param):
                counter[0] += 1
                start = f"_s{counter[0]}"
                lines.append(f"    {start} = {base} + int.from_bytes(data[{at}:{at} + 32], 'big')")
                inner = _body_sources(param["components"], start, lines, counter)
                if inner is None:
                    return None
                out.extend(inner)
                offset += 32
            else:
                inner = _body_sources(param["components"], at, lines, counter)
                if inner is None:
                    return None
                out.extend(inner)
                offset += static_size(param)
            continue
        if abi_type in ("string", "bytes"):
            helper = "_dynamic_text" if abi_type == "string" else "_dynamic_hex"
            out.append(f"{helper}(data, {base} + int.from_bytes(data[{at}:{at} + 32], 'big'))")
            offset += 32
            continue
        source = _scalar_source(abi_type, at)
        if source is None:
            return None
        out.append(source)
        offset += 32
    return out


def generate_decoder(entry: dict[str, Any]) -> Callable[[Sequence[str], bytes], list[Value]] | None:
    """A generated decoder for `entry`, or None when it has types only the general readers handle."""
    inputs = entry["inputs"]
    indexed = [p for p in inputs if p.get("indexed")]
    body = [p for p in inputs if not p.get("indexed")]
    lines: list[str] = []
    body_values = _body_sources(body, "0", lines, [0])
    if body_values is None:
        return None
    head_size = sum(32 if is_dynamic(p) else static_size(p) for p in body)
    values: list[str] = []
    topic_index, body_iter = 1, iter(body_values)
    for param in inputs:
        if param.get("indexed"):
            source = _topic_source(str(param["type"]), topic_index)
            if source is None:
                return None
            values.append(source)
            topic_index += 1
        else:
            for _ in flatten([param]):
                values.append(next(body_iter))
    name = str(entry["name"])
    code = [
        "def decode(topics, data):",
        f"    if len(topics) != {len(indexed) + 1}:",
        f"        raise AbiDecodeError(f'{name} has {len(indexed)} indexed inputs, the log {{len(topics) - 1}}')",
        f"    if len(data) < {head_size}:",
        f"        raise _short(data, {head_size}, {name!r})",
        *lines,
        f"    return [{', '.join(values)}]",
    ]
    namespace: dict[str, Any] = {
        "AbiDecodeError": AbiDecodeError, "_short": _short, "_signed": _signed,
        "_dynamic_text": _dynamic_text, "_dynamic_hex": _dynamic_hex,
    }  # fmt: skip
    exec("\n".join(code), namespace)  # noqa: S102 - source built above from the ABI's types only
    decoder: Callable[[Sequence[str], bytes], list[Value]] = namespace["decode"]
    return decoder
