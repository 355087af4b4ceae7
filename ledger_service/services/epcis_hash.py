"""The CBV 2.0 event hash: an EPCIS event's identity, the same for every system that captures it
(`ni:///sha-256;HEX?ver=CBV2.0`, RFC 6920 with the version of the algorithm).

The hash is SHA-256 over the event's pre-hash string, in UTF-8: `eventType=TYPE`, then the
standard fields in the CBV's order, then every other field (the source, destination and business
transaction lists, ILMD, extensions) as strings sorted among themselves. A field is `name=value`;
a list or a structure is its name followed by its members' strings (lists of EPCs, quantities and
sensor elements sorted). Values are made canonical first:

- times in UTC to the millisecond (`2019-04-02T14:00:00.000Z`);
- numbers without a sign, leading or trailing zeros (`2.50` -> `2.5`, `10.0` -> `10`);
- CBV values written bare or as URNs become their Web URIs (`shipping` ->
  `https://ref.gs1.org/cbv/BizStep-shipping`), GS1 measurement types theirs
  (`Temperature` -> `https://gs1.org/voc/Temperature`);
- EPC URNs become canonical GS1 Digital Link URIs (`ledger_service.services.gs1`).

`eventID`, `recordTime` and `errorDeclaration` are left out. The reference implementation
(PyPI `epcis-event-hash-generator`) gives the same hashes for events without user extensions
(`tests/service/test_epcis_hash.py`); user extension keys are taken as written, without expanding
their namespace prefix.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ledger_service.core.errors import InvalidFilter
from ledger_service.services.epcis_events import SCHEMA_PATH
from ledger_service.services.gs1 import canonical

_CBV = "https://ref.gs1.org/cbv/"
_OLD_URNS = {
    "urn:epcglobal:cbv:bizstep:": "BizStep-", "urn:epcglobal:cbv:disp:": "Disp-", "urn:epcglobal:cbv:btt:": "BTT-",
    "urn:epcglobal:cbv:sdt:": "SDT-", "urn:epcglobal:cbv:er:": "ER-",
}  # fmt: skip
#: Field -> (the schema's vocabulary of bare values, the Web URI a bare value expands under).
_VOCABULARIES = {
    "bizStep": ("bizStep", _CBV + "BizStep-"),
    "disposition": ("disposition", _CBV + "Disp-"),
    "set": ("disposition", _CBV + "Disp-"),
    "unset": ("disposition", _CBV + "Disp-"),
    "component": ("component", _CBV + "Comp-"),
}
_LIST_TYPES = {"bizTransactionList": ("bizTransaction-type", _CBV + "BTT-"),
               "sourceList": ("source-dest-type", _CBV + "SDT-"),
               "destinationList": ("source-dest-type", _CBV + "SDT-")}  # fmt: skip
_IGNORED = ("type", "eventID", "recordTime", "errorDeclaration")
_QUANTITY = ("epcClass", "quantity", "uom")
_METADATA = (
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
)
_REPORT = ("type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time",
           "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
           "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue",
           "uom", "coordinateReferenceSystem")  # fmt: skip


@functools.cache
def _bare(vocabulary: str) -> frozenset[str]:
    """The bare values the EPCIS 2.0 schema lists for one of its vocabularies."""
    definition = json.loads(SCHEMA_PATH.read_text())["definitions"][vocabulary]
    return frozenset(v for option in definition.get("anyOf", []) for v in option.get("enum", []))


def _time(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise InvalidFilter(f"not an ISO 8601 time: {value[:40]!r}") from exc
    moment = moment.replace(microsecond=round(moment.microsecond, -3))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    return str(int(number)) if int(number) == number else str(number)


def _text(value: Any) -> str:
    return str(value).strip() if not isinstance(value, str) else value.strip()


def value_of(name: str, value: Any, vocabulary: tuple[str, str] | None = None) -> str:
    """A value in its canonical form (see the module text); '' for an empty one."""
    text = _text(value)
    if not text:
        return ""
    if "time" in name.lower() and "offset" not in name.lower():
        return _time(text)
    for urn, term in _OLD_URNS.items():
        if text.startswith(urn):
            text = _CBV + term + text[len(urn) :]
    chosen = vocabulary or _VOCABULARIES.get(name)
    if chosen is not None and text in _bare(chosen[0]):
        return chosen[1] + text
    text = _number(text)
    if text.startswith("urn:epc:") or "/01/" in text or text.startswith(("http://", "https://")):
        try:
            return canonical(text)
        except InvalidFilter:
            return text
    return text


def _field(name: str, value: Any, vocabulary: tuple[str, str] | None = None) -> str:
    text = value_of(name, value, vocabulary)
    return f"{name}={text}" if text else ""


def _ordered(members: dict[str, Any], order: tuple[str, ...], vocabularies: dict[str, tuple[str, str]]) -> str:
    return "".join(_field(k, members[k], vocabularies.get(k)) for k in order if k in members)


def _epcs(name: str, values: list[Any]) -> str:
    parts = sorted(p for p in (_field("epc", v) for v in values) if p)
    return name + "".join(parts) if parts else ""


def _quantities(name: str, values: list[dict[str, Any]]) -> str:
    parts = sorted("quantityElement" + _ordered(q, _QUANTITY, {}) for q in values)
    return name + "".join(parts) if parts else ""


def _persistent(name: str, value: dict[str, Any]) -> str:
    body = "".join("".join(sorted(_field(k, v) for v in value.get(k) or [])) for k in ("set", "unset"))
    return name + body if body else ""


def _located(name: str, value: dict[str, Any]) -> str:
    found = _field("id", value.get("id"))
    return name + found if found else ""


def _sensors(name: str, elements: list[dict[str, Any]]) -> str:
    measurement = {"type": ("measurementType", "https://gs1.org/voc/")}
    rendered = []
    for element in elements:
        metadata = element.get("sensorMetadata")
        head = "sensorMetadata" + _ordered(metadata, _METADATA, {}) if metadata else ""
        reports = sorted("sensorReport" + _ordered(r, _REPORT, measurement) for r in element.get("sensorReport") or [])
        rendered.append("sensorElement" + head + "".join(reports))
    return name + "".join(sorted(rendered)) if rendered else ""


_ORDER: tuple[tuple[str, Callable[[str, Any], str]], ...] = (
    ("eventTime", _field), ("eventTimeZoneOffset", _field), ("certificationInfo", _field), ("parentID", _field),
    ("epcList", _epcs), ("inputEPCList", _epcs), ("childEPCs", _epcs), ("quantityList", _quantities),
    ("childQuantityList", _quantities), ("inputQuantityList", _quantities), ("outputEPCList", _epcs),
    ("outputQuantityList", _quantities), ("action", _field), ("transformationID", _field), ("bizStep", _field),
    ("disposition", _field), ("persistentDisposition", _persistent), ("readPoint", _located),
    ("bizLocation", _located), ("sensorElementList", _sensors),
)  # fmt: skip


def _generic(name: str, value: Any) -> list[str]:
    """The strings of a field outside the CBV's order: lists give one string per member."""
    if isinstance(value, list):
        if name in _LIST_TYPES:
            vocabulary = _LIST_TYPES[name]
            entries = sorted("".join(_field(k, v, vocabulary if k == "type" else None) for k, v in entry.items())
                             for entry in value)  # fmt: skip
            return [name + "".join(entries)]
        return [s for member in value for s in _generic(name, member)]
    if isinstance(value, dict):
        inner = sorted(s for k, v in value.items() for s in _generic(k, v))
        return [name + "".join(inner)]
    return [_field(name, value) or name]


def pre_hash(event: dict[str, Any]) -> str:
    """The event's pre-hash string."""
    ordered = "".join(render(name, event[name]) for name, render in _ORDER if name in event)
    done = {name for name, _ in _ORDER} | set(_IGNORED)
    rest = sorted(s for k, v in event.items() if k not in done for s in _generic(k, v))
    return f"eventType={event.get('type', '')}" + ordered + "".join(rest)


def event_hash(event: dict[str, Any]) -> str:
    """The event's CBV 2.0 hash id, `ni:///sha-256;HEX?ver=CBV2.0`."""
    return f"ni:///sha-256;{hashlib.sha256(pre_hash(event).encode()).hexdigest()}?ver=CBV2.0"
