"""The CBV 2.0 event hash against the reference implementation (PyPI `epcis-event-hash-generator`):
the same hash ids for hand-picked events covering every standard field, and for random events; and
the hash's own properties (what it ignores, what it normalises)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ledger_service.services.epcis_hash import event_hash, pre_hash

reference = pytest.importorskip("epcis_event_hash_generator")
from epcis_event_hash_generator import hash_generator, json_to_py  # noqa: E402

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


def reference_hashes(events: list[dict[str, Any]]) -> list[str]:
    document = {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
                "creationDate": "2020-01-01T00:00:00Z", "epcisBody": {"eventList": events}}  # fmt: skip
    parsed = json_to_py.event_list_from_epcis_document_json(document)
    return list(hash_generator.epcis_hashes_from_events(parsed))


SHIPPING = {
    "type": "ObjectEvent", "eventTime": "2019-04-02T15:00:00.000+01:00", "eventTimeZoneOffset": "+01:00",
    "epcList": ["urn:epc:id:sgtin:4012345.011111.9876", "https://id.gs1.org/01/04012345111118/21/1234"],
    "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"}, "bizLocation": {"id": "urn:epc:id:sgln:4012345.00002.9"},
    "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epc:id:gdti:4012345.00001.1"},
                           {"type": "inv", "bizTransaction": "https://example.com/inv/7"}],
    "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:4012345.00001"}],
    "destinationList": [{"type": "owning_party", "destination": "party:carrier"},
                        {"type": "location", "destination": "urn:epc:id:sgln:4012345.00003.0"}],
    "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.4444", "quantity": 10, "uom": "KGM"},
                     {"epcClass": "urn:epc:idpat:sgtin:4012345.011111.*", "quantity": 2.50}],
    "sensorElementList": [{"sensorMetadata": {"time": "2019-04-02T13:59:00.000Z",
                                              "deviceID": "urn:epc:id:giai:4000001.111"},
                           "sensorReport": [{"type": "Temperature", "value": 4.50, "uom": "CEL"},
                                            {"type": "RelativeHumidity", "value": 60, "uom": "A93"}]}],
    "persistentDisposition": {"set": ["completeness_verified"], "unset": ["completeness_inferred"]},
}  # fmt: skip
CASES = [
    SHIPPING,
    {"type": "AggregationEvent", "eventTime": "2019-04-02T15:00:00.123456Z", "eventTimeZoneOffset": "+00:00",
     "parentID": "urn:epc:id:sscc:4012345.0000000001", "childEPCs": ["urn:epc:id:sgtin:4012345.011111.1"],
     "childQuantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.011111.4444", "quantity": 3}],
     "action": "ADD", "bizStep": "packing", "eventID": "urn:uuid:ignored", "recordTime": "2020-01-01T00:00:00Z"},
    {"type": "TransactionEvent", "eventTime": "2019-04-02T15:00:00Z", "eventTimeZoneOffset": "+00:00",
     "epcList": ["urn:epc:id:sgtin:4012345.011111.1"], "action": "ADD", "parentID": "urn:epc:id:grai:4012345.55555.5",
     "bizTransactionList": [{"bizTransaction": "urn:x:2", "type": "po"}, {"type": "inv", "bizTransaction": "urn:x:1"}]},
    {"type": "TransformationEvent", "eventTime": "2019-04-02T15:00:00.1235+02:00", "eventTimeZoneOffset": "+02:00",
     "inputEPCList": ["urn:epc:id:sgtin:4012345.011111.1"], "outputEPCList": ["urn:epc:id:sgtin:4012345.022222.1"],
     "inputQuantityList": [{"epcClass": "https://id.gs1.org/01/04012345111118/10/L1", "quantity": 1.0, "uom": "KGM"}],
     "transformationID": "urn:epc:id:gdti:4012345.00002.9", "bizStep": "commissioning",
     "certificationInfo": "https://cert.example/1"},
    {"type": "ObjectEvent", "eventTime": "2019-04-02T15:00:00Z", "eventTimeZoneOffset": "+00:00",
     "epcList": ["urn:epc:id:grai:4012345.55555.5", "urn:epc:id:giai:4000001.111", "urn:epc:id:gsrn:4012345.0000000001",
                 "urn:epc:id:pgln:4012345.00001", "urn:epc:id:sgtin:4012345.011111.9%2F8",
                 "https://example.org/foo/01/04012345111118/21/A?x=1"], "action": "DELETE",
     "bizStep": "urn:epcglobal:cbv:bizstep:decommissioning", "disposition": "https://ref.gs1.org/cbv/Disp-inactive"},
    {"type": "ObjectEvent", "eventTime": "2021-06-01T08:00:00-05:00", "eventTimeZoneOffset": "-05:00",
     "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"], "action": "OBSERVE", "bizStep": "sensor_reporting",
     "sensorElementList": [
         {"sensorMetadata": {"startTime": "2021-06-01T07:00:00-05:00", "endTime": "2021-06-01T08:00:00-05:00"},
          "sensorReport": [{"type": "Temperature", "minValue": -2, "maxValue": 8.0, "meanValue": 3.25, "uom": "CEL",
                            "component": "x", "booleanValue": True}]},
         {"sensorReport": [{"type": "Humidity", "value": 40, "time": "2021-06-01T07:30:00Z"}]}]},
]  # fmt: skip


def test_hand_picked_events_hash_as_the_reference_hashes_them() -> None:
    assert [event_hash(e) for e in CASES] == reference_hashes(CASES)


def _random_event(rng: random.Random) -> dict[str, Any]:
    epcs = [
        f"urn:epc:id:sgtin:4012345.011111.{rng.randrange(1000)}",
        "urn:epc:id:sscc:4012345.0000000001",
        f"https://id.gs1.org/01/09506000134352/21/{rng.randrange(100)}",
        "urn:epc:id:grai:4012345.55555.7",
    ]
    kind = rng.choice(["ObjectEvent", "AggregationEvent", "TransactionEvent"])
    offset = rng.choice(["+00:00", "+01:00", "-05:30"])
    event: dict[str, Any] = {
        "type": kind, "eventTimeZoneOffset": offset, "action": rng.choice(["ADD", "OBSERVE", "DELETE"]),
        "eventTime": f"2020-0{rng.randrange(1, 10)}-1{rng.randrange(10)}T1{rng.randrange(10)}:0{rng.randrange(10)}"
                     f":00.{rng.randrange(1000):03d}{offset}",
    }  # fmt: skip
    event["childEPCs" if kind == "AggregationEvent" else "epcList"] = rng.sample(epcs, rng.randrange(1, 4))
    if kind == "AggregationEvent":
        event["parentID"] = "urn:epc:id:sscc:4012345.0000000002"
    if rng.random() < 0.6:
        event["bizStep"] = rng.choice(["shipping", "receiving", "inspecting", "https://example.com/steps/custom"])
    if rng.random() < 0.5:
        event["disposition"] = rng.choice(["in_transit", "active", "urn:epcglobal:cbv:disp:recalled"])
    if rng.random() < 0.5:
        event["readPoint"] = {"id": f"urn:epc:id:sgln:4012345.0000{rng.randrange(10)}.0"}
    if rng.random() < 0.4:
        event["quantityList"] = [{"epcClass": f"urn:epc:class:lgtin:4012345.011111.L{n}",
                                  "quantity": rng.choice([1, 2.5, 10.0]), "uom": "KGM"}
                                 for n in range(rng.randrange(1, 3))]  # fmt: skip
    if rng.random() < 0.4:
        event["bizTransactionList"] = [{"type": t, "bizTransaction": f"urn:x:{t}:{rng.randrange(9)}"}
                                       for t in rng.sample(["po", "inv", "desadv"], rng.randrange(1, 3))]  # fmt: skip
    if rng.random() < 0.4:
        event["destinationList"] = [{"type": "owning_party", "destination": "urn:epc:id:pgln:4012345.00009"}]
    if rng.random() < 0.4:
        event["sensorElementList"] = [{"sensorReport": [{"type": rng.choice(["Temperature", "Pressure"]),
                                                         "value": rng.choice([1, -3.5, 20.25]), "uom": "CEL"}
                                                        for _ in range(rng.randrange(1, 3))]}]  # fmt: skip
    return event


def test_random_events_hash_as_the_reference_hashes_them() -> None:
    rng = random.Random(20261206)
    events = [_random_event(rng) for _ in range(150)]
    mine = [event_hash(e) for e in events]
    assert mine == reference_hashes(events)
    assert len(set(mine)) == len(events)


def test_the_hash_ignores_id_record_time_and_key_order_and_normalises_values() -> None:
    base = CASES[1]
    reordered = dict(reversed(list(base.items())))
    assert event_hash(reordered) == event_hash(base)
    assert event_hash({**base, "eventID": "urn:uuid:other", "recordTime": "2030-01-01T00:00:00Z"}) == event_hash(base)
    same_moment = {**base, "eventTime": "2019-04-02T17:00:00.123+02:00"}
    assert event_hash(same_moment) == event_hash(base)
    as_link = {**base, "childEPCs": ["https://id.gs1.org/01/04012345111118/21/1"]}
    assert event_hash(as_link) == event_hash(base)
    assert event_hash({**base, "bizStep": "unpacking"}) != event_hash(base)
    assert pre_hash(base).startswith("eventType=AggregationEventeventTime=2019-04-02T15:00:00.123Z")
    assert event_hash(base).startswith("ni:///sha-256;") and event_hash(base).endswith("?ver=CBV2.0")
