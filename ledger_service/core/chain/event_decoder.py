"""Decoding a contract's logs in the ABI's shape without web3's per-log machinery: arguments by name,
addresses checksummed, structs as mappings by component name (what `process_log` gives as `args`),
at a small part of its cost, for readers that fold thousands of logs (the registry cache)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_abi.codec import ABICodec
from eth_utils import event_abi_to_log_topic, to_checksum_address
from eth_utils.abi import collapse_if_tuple

from ledger_service.core.chain.client import lenient_codec


def _hashed(entry: dict[str, Any]) -> bool:
    """Whether an indexed argument of this type keeps only its hash in the topic (given as it is)."""
    return entry["type"] in ("string", "bytes") or entry["type"].startswith("tuple")


def _supported(entry: dict[str, Any]) -> None:
    """Refuses, when the decoder is made, the types it does not shape as web3 does (arrays)."""
    if entry["type"].endswith("]"):
        raise ValueError(f"event argument {entry.get('name')!r}: arrays ({entry['type']}) are not decoded here")
    for component in entry.get("components", ()):
        _supported(component)


def _shape(entry: dict[str, Any], value: Any) -> Any:
    if entry["type"] == "address":
        return to_checksum_address(value)
    if entry["type"] == "tuple":
        return {c["name"]: _shape(c, v) for c, v in zip(entry["components"], value, strict=True)}
    return value


class EventDecoder:
    """One event of an ABI, decoded with `codec`, whose strings are read leniently whatever codec is
    given (invalid UTF-8 replaced, as `lenient_codec` does): a contract takes any bytes as a string,
    and a strict decoder would stop at such a log for ever."""

    def __init__(self, entry: dict[str, Any], codec: ABICodec) -> None:
        for argument in entry["inputs"]:
            _supported(argument)
        self.name: str = entry["name"]
        self.topic = bytes(event_abi_to_log_topic(entry))  # type: ignore[arg-type]
        self.codec = lenient_codec(codec)
        self.indexed = [i for i in entry["inputs"] if i["indexed"]]
        self.data = [i for i in entry["inputs"] if not i["indexed"]]
        self.data_types = [collapse_if_tuple(i) for i in self.data]

    def decode(self, log: Any) -> dict[str, Any]:
        """The log's arguments by name; raises on a log that is not this event's."""
        topics = [bytes(t) for t in log["topics"]]
        if not topics or topics[0] != self.topic or len(topics) != len(self.indexed) + 1:
            raise ValueError(f"the log is not a {self.name} event")
        args: dict[str, Any] = {}
        for entry, topic in zip(self.indexed, topics[1:], strict=True):
            if _hashed(entry):
                args[entry["name"]] = topic
            else:
                args[entry["name"]] = _shape(entry, self.codec.decode([entry["type"]], topic)[0])
        values = self.codec.decode(self.data_types, bytes(log["data"]))
        for entry, value in zip(self.data, values, strict=True):
            args[entry["name"]] = _shape(entry, value)
        return args


def event_decoders(abi: Iterable[dict[str, Any]], names: Iterable[str], codec: ABICodec) -> dict[bytes, EventDecoder]:
    """The decoders of the events `names` of `abi`, by topic."""
    wanted = set(names)
    decoders = [EventDecoder(e, codec) for e in abi if e.get("type") == "event" and e.get("name") in wanted]
    return {d.topic: d for d in decoders}
