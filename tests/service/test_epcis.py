"""GS1 EPCIS 2.0 capture and query on the session's anvil: a shipment captured as EPCIS events
gives the same item history as the same shipment through the item API; every captured event is
notarized as a reading with a proof; documents the EPCIS 2.0 schema refuses are refused with the
failing path and change nothing; capture acts with the caller's own roles and account; the query
gives an item's history, sensor readings included, as a document the schema accepts."""

from __future__ import annotations

import copy
import itertools
import secrets
from typing import Any

import pytest
from sqlmodel import Session, select

from ledger_service.core.errors import InvalidFilter
from ledger_service.core.models import EpcisEvent, StoredReading
from ledger_service.services.epcis_events import check_document, digest
from ledger_service.services.epcis_hash import event_hash
from ledger_service.services.gs1 import canonical, check_digit, gln_of, item_id_of
from tests.utils.event_flow import Flow, index
from tests.utils.factories import new_device, signed_body
from tests.utils.problems import assert_problem

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
SITE = "urn:epc:id:sgln:4012345.00001.0"


def fresh_epc() -> str:
    """An SGTIN no other test used (the session's chain is shared)."""
    return f"urn:epc:id:sgtin:4012345.011111.{secrets.randbelow(10**12)}"


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-12-06T10:00:00.000Z", "epcisBody": {"eventList": list(events)}}  # fmt: skip


_MINUTES = itertools.count()


def object_event(epc: str, step: str, action: str = "OBSERVE", **extra: Any) -> dict[str, Any]:
    """An ObjectEvent a minute after the previous one (two events alike in every field are one event)."""
    minute = next(_MINUTES)
    return {"type": "ObjectEvent", "eventTime": f"2026-12-06T{10 + minute // 60:02d}:{minute % 60:02d}:00.000+01:00",
            "eventTimeZoneOffset": "+01:00", "epcList": [epc], "action": action, "bizStep": step,
            "readPoint": {"id": SITE}, **extra}  # fmt: skip


def shipped_to(party: str) -> dict[str, Any]:
    return {"destinationList": [{"type": "owning_party", "destination": party}]}


def auth(flow: Flow, who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {flow.keys[who]}"}


def capture(flow: Flow, who: str, body: Any) -> Any:
    return flow.api.post("/epcis/capture", json=body, headers=auth(flow, who))


def shape(history: dict[str, Any]) -> list[tuple[str, Any]]:
    """A history without what differs between two items: ids, hashes, times."""
    kept = []
    for entry in history["entries"]:
        details = entry["details"]
        people = ("receiver", "new_custodian", "previous_custodian", "custodian", "manufacturer")
        kept.append((entry["type"], {k: v for k, v in details.items() if k in people}))
    return kept


def test_a_shipment_captured_as_epcis_gives_the_same_history_as_the_api_calls(flow: Flow) -> None:
    epc = fresh_epc()
    captured = [
        ("operator", object_event(epc, "commissioning", "ADD")),
        ("operator", object_event(epc, "shipping", **shipped_to("party:carrier"))),
        ("carrier", object_event(epc, "https://ref.gs1.org/cbv/BizStep-receiving")),
    ]
    for who, event in captured:
        answer = capture(flow, who, document(event))
        assert answer.status_code == 202, answer.text
        assert answer.json()["events"][0]["status"] == "captured"
    by_api = "0x" + secrets.token_hex(32)
    location = {"latitude": 0.0, "longitude": 0.0, "site": gln_of(SITE)}
    calls = [
        ("operator", "/v1/items", {"item_id": by_api, "description": {"gs1": "by api"}, "devices": []}),
        ("operator", f"/v1/items/{by_api}/handover", {"to": "party:carrier", "location": location}),
        ("carrier", f"/v1/items/{by_api}/accept", {"location": location}),
    ]
    for who, path, body in calls:
        assert flow.api.post(path, json=body, headers=auth(flow, who)).status_code in (200, 201)
    index(flow.services, flow.chain)
    via_epcis = flow.api.get(f"/v1/items/{item_id_of(epc)}/history").json()
    via_api = flow.api.get(f"/v1/items/{by_api}/history").json()
    assert shape(via_epcis) == shape(via_api)
    assert [e["type"] for e in via_epcis["entries"]] == ["registered", "handover_proposed", "handover_accepted"]
    assert flow.api.get(f"/v1/items/{item_id_of(epc)}").json()["custodian"] == flow.carrier


def test_each_captured_event_is_notarized_by_a_reading_with_a_proof(flow: Flow) -> None:
    event = {"type": "TransactionEvent", "eventTime": "2026-12-06T09:00:00Z", "eventTimeZoneOffset": "+00:00",
             "epcList": [canonical(fresh_epc())], "action": "ADD",
             "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345:PO-1"}]}  # fmt: skip
    answer = capture(flow, "carrier", document(event)).json()["events"][0]
    assert answer["digest"] == "0x" + digest(event).hex()  # what the reading commits to: the whole event
    assert answer["event_id"] == event_hash(event)  # its CBV 2.0 hash, as it had no eventID
    with Session(flow.services.engine) as session:
        reading = session.get(StoredReading, answer["reading_id"])
    assert reading is not None and reading.payload_hash == answer["digest"] and reading.metric == "epcis-event"
    batcher = flow.services.batcher()
    batcher.batch_age = 0.0
    batcher.run_once()
    proof = flow.api.get(answer["proof"])
    assert proof.status_code == 200 and proof.json()["reading"]["payloadHash"] == answer["digest"]
    again = capture(flow, "carrier", document(event)).json()
    assert again["captured"] == 0 and again["events"][0]["status"] == "duplicate"  # nothing captured twice
    same_event = {**dict(reversed(list(event.items()))), "eventTime": "2026-12-06T10:00:00.000+01:00"}
    assert capture(flow, "carrier", document(same_event)).json()["events"][0]["status"] == "duplicate"
    forged = {**event, "eventTime": "2026-12-06T11:00:00Z", "eventID": event_hash(event)}  # another event's id
    refused = capture(flow, "carrier", document(forged))
    assert_problem(refused, 422, "epcis-invalid")
    assert refused.json()["errors"][0]["path"] == "/epcisBody/eventList/0/eventID"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["epcisBody"]["eventList"][0].pop("action"), "/epcisBody/eventList/0"),
        (lambda d: d["epcisBody"]["eventList"][0].update(action="DESTROY"), "/epcisBody/eventList/0/action"),
        (lambda d: d["epcisBody"]["eventList"][0].update(eventTime="yesterday"), "/epcisBody/eventList/0/eventTime"),
        (lambda d: d.pop("@context"), ""),
        (lambda d: d["epcisBody"]["eventList"][0].update(epcList="not a list"), "/epcisBody/eventList/0/epcList"),
    ],
)
def test_a_document_the_schema_refuses_is_refused_with_its_path_and_changes_nothing(
    flow: Flow, change: Any, path: str
) -> None:
    epc = fresh_epc()
    body = document(object_event(epc, "commissioning", "ADD"))
    change(body)
    refused = capture(flow, "operator", body)
    assert_problem(refused, 422, "epcis-invalid")
    assert any(e["path"].startswith(path) for e in refused.json()["errors"]), refused.json()["errors"]
    with Session(flow.services.engine) as session:
        assert session.exec(select(EpcisEvent)).all() == []
    assert flow.api.get(f"/v1/items/{item_id_of(epc)}").status_code == 404


def test_capture_acts_with_the_callers_own_authority(flow: Flow) -> None:
    epc = fresh_epc()
    assert capture(flow, "operator", document(object_event(epc, "commissioning", "ADD"))).status_code == 202
    stolen = capture(flow, "stranger", document(object_event(epc, "shipping", **shipped_to("party:stranger"))))
    assert stolen.status_code == 202 and stolen.json()["success"] is False
    assert stolen.json()["errors"][0]["status"] == 403  # the stranger is not the item's custodian
    assert stolen.json()["errors"][0]["code"] == "not-custodian"
    job = flow.api.get(stolen.headers["location"], headers=auth(flow, "stranger")).json()
    assert job["captureID"] == stolen.json()["captureID"] and job["success"] is False and not job["running"]
    assert_problem(flow.api.get(stolen.headers["location"], headers=auth(flow, "carrier")), 404, "not-found")
    unrelated_first = document(
        {"type": "TransactionEvent", "eventTime": "2026-12-06T09:00:00Z", "eventTimeZoneOffset": "+00:00",
         "epcList": [epc], "action": "ADD", "bizTransactionList": [{"type": "po", "bizTransaction": "urn:x:po:1"}]},
        object_event(epc, "receiving"),  # nothing was handed to the stranger
    )  # fmt: skip
    refused = capture(flow, "stranger", unrelated_first).json()
    assert refused["success"] is False and refused["captured"] == 1
    assert [e["status"] for e in refused["events"]] == ["captured", "refused"]  # the chain cannot take it back
    index(flow.services, flow.chain)
    assert flow.api.get(f"/v1/items/{item_id_of(epc)}").json()["custodian"] == flow.operator
    assert capture(flow, "stranger", {"not": "epcis"}).status_code == 422
    assert flow.api.post("/epcis/capture", content=b"{", headers=auth(flow, "stranger")).status_code == 422
    assert_problem(flow.api.post("/epcis/capture", json=document()), 401, "unauthorized")


def test_the_query_gives_the_item_history_with_its_sensor_readings(flow: Flow) -> None:
    answer = flow.api.get("/epcis/events", params={"MATCH_epc": flow.item}, headers=auth(flow, "carrier"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/ld+json")
    body = answer.json()
    events = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    steps = [e["bizStep"] for e in events]
    assert steps[0] == "commissioning" and "shipping" in steps and "receiving" in steps
    sensors = [e for e in events if e["bizStep"] == "sensor_reporting"]
    reports = [el["sensorReport"][0] for e in sensors for el in e["sensorElementList"]]
    assert sorted(r["prov:readingId"] for r in reports if r["prov:readingId"] in flow.readings) == sorted(flow.readings)
    assert all(r["type"] == "gs1:Temperature" and r["uom"] == "CEL" for r in reports)
    assert any(e.get("disposition") == "non_conformant" for e in events)
    document_for_schema = copy.deepcopy(body)
    document_for_schema.update(type="EPCISDocument")
    document_for_schema["epcisBody"] = {"eventList": events}
    check_document(document_for_schema)  # what the query answers, the schema accepts
    only = flow.api.get("/epcis/events", params={"MATCH_epc": flow.item, "EQ_bizStep": "shipping"},
                        headers=auth(flow, "carrier")).json()  # fmt: skip
    assert [e["bizStep"] for e in only["epcisBody"]["queryResults"]["resultsBody"]["eventList"]] == ["shipping"]
    bad = flow.api.get("/epcis/events", params={"MATCH_epc": "not an id"}, headers=auth(flow, "carrier"))
    assert_problem(bad, 422, "invalid-filter")


def test_gs1_identifiers_have_one_canonical_form() -> None:
    dl = "https://id.gs1.org/01/04012345111118/21/987"
    assert canonical("urn:epc:id:sgtin:4012345.011111.987") == dl
    assert canonical("https://brand.example.com/shop/01/4012345111118/21/987?17=261231") == dl
    assert item_id_of("urn:epc:id:sgtin:4012345.011111.987") == item_id_of(dl)
    assert canonical("urn:epc:id:sscc:0614141.1234567890") == "https://id.gs1.org/00/106141412345678908"
    assert gln_of("urn:epc:id:sgln:0614141.12345.400") == "0614141123452"
    assert check_digit("0401234511111") == "8"
    for bad in ("https://id.gs1.org/01/04012345111119/21/1", "urn:epc:id:sgtin:401.1.1", "hello", "ftp://x/01/1"):
        with pytest.raises(InvalidFilter):
            canonical(bad)


def _readings(flow: Flow, device: Any, at: int, count: int = 2) -> list[str]:
    """`count` readings of `device` from `at` on, stored and anchored."""
    ids = []
    for n in range(count):
        body = signed_body(device, flow.services.ledger.domain, timestamp=at + n)
        answer = flow.api.post("/v1/readings", json=body)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    batcher = flow.services.batcher()
    batcher.batch_age = 0.0
    batcher.run_once()
    return ids


def _block_time(flow: Flow, transaction_hash: str) -> int:
    w3 = flow.chain.client.w3
    return int(w3.eth.get_block(w3.eth.get_transaction_receipt(transaction_hash)["blockNumber"])["timestamp"])


def test_the_shipment_demo_captured_as_epcis_gives_the_same_history_as_the_api_calls(flow: Flow) -> None:
    """The demo's route (register with a logger, hand to a carrier, a checkpoint proven by a logged
    reading, hand to a warehouse, deliver), once through the item API and once as EPCIS events."""
    factory = {"latitude": 52.1, "longitude": 5.1, "site": "0614141123452"}
    dock = {"latitude": 51.9, "longitude": 4.5, "site": gln_of(SITE)}
    geo = {"readPoint": {"id": "geo:51.9,4.5"}, "bizLocation": {"id": SITE}}
    from_factory = {"readPoint": {"id": "geo:52.1,5.1"}, "bizLocation": {"id": "urn:epc:id:sgln:0614141.12345.0"}}

    logger = new_device(flow.services.ledger)
    by_api = "0x" + secrets.token_hex(32)
    registration = {
        "item_id": by_api,
        "description": {"product": "insulin"},
        "devices": ["0x" + logger.device_id.hex()],
    }
    made = flow.api.post("/v1/items", json=registration, headers=auth(flow, "operator"))
    assert made.status_code == 201, made.text
    evidence = _readings(flow, logger, _block_time(flow, made.json()["transaction_hash"]))[0]
    api_steps = [
        ("operator", "handover", {"to": "party:carrier", "location": factory}),
        ("carrier", "accept", {"location": dock}),
        ("carrier", "checkpoints", {"location": dock, "status_code": 200, "evidence_reading_id": evidence}),
        ("carrier", "handover", {"to": "party:stranger", "location": dock}),
        ("stranger", "accept", {"location": dock}),
        ("stranger", "deliver", {"location": dock}),
    ]
    for who, action, body in api_steps:
        answer = flow.api.post(f"/v1/items/{by_api}/{action}", json=body, headers=auth(flow, who))
        assert answer.status_code in (200, 201), (action, answer.text)

    epc, logger2 = fresh_epc(), new_device(flow.services.ledger)
    lot = {"product": "insulin", "prov:devices": ["0x" + logger2.device_id.hex()]}
    commissioned = object_event(epc, "commissioning", "ADD", readPoint={"id": "geo:52.1,5.1"}, ilmd=lot)
    answer = capture(flow, "operator", document(commissioned))
    assert answer.status_code == 202, answer.text
    evidence2 = _readings(
        flow, logger2, _block_time(flow, answer.json()["events"][0]["actions"][0]["transaction_hash"])
    )[0]
    report = {"sensorElementList": [{"sensorReport": [{"type": "gs1:Temperature", "value": 4.0, "uom": "CEL",
                                                        "prov:readingId": evidence2}]}]}  # fmt: skip
    epcis_steps = [
        ("operator", object_event(epc, "shipping", **shipped_to("party:carrier"), **from_factory)),
        ("carrier", object_event(epc, "receiving", **geo)),
        ("carrier", object_event(epc, "inspecting", **geo, **report)),
        ("carrier", object_event(epc, "shipping", **shipped_to("party:stranger"), **geo)),
        ("stranger", object_event(epc, "receiving", **geo)),
        ("stranger", object_event(epc, "accepting", **geo)),
    ]  # fmt: skip
    for who, event in epcis_steps:
        answer = capture(flow, who, document(event))
        assert answer.status_code == 202, answer.text
    index(flow.services, flow.chain)
    via_api = flow.api.get(f"/v1/items/{by_api}/history").json()["entries"]
    via_epcis = flow.api.get(f"/v1/items/{item_id_of(epc)}/history").json()["entries"]

    def comparable(entries: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        kept = ("receiver", "custodian", "new_custodian", "previous_custodian", "location", "status_code", "status")
        return [(e["type"], {k: v for k, v in e["details"].items() if k in kept}) for e in entries
                if e["type"] != "sensor_batch"]  # fmt: skip

    assert comparable(via_epcis) == comparable(via_api)
    assert [e["type"] for e in via_api if e["type"] != "sensor_batch"] == [
        "registered", "device_attached", "handover_proposed", "handover_accepted", "checkpoint",
        "handover_proposed", "handover_accepted", "delivered",
    ]  # fmt: skip
    query = flow.api.get("/epcis/events", params={"MATCH_epc": epc}, headers=auth(flow, "operator")).json()
    events = query["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["bizStep"] for e in events if e["bizStep"] != "sensor_reporting"] == [
        "commissioning", "shipping", "receiving", "inspecting", "shipping", "receiving", "accepting",
    ]  # fmt: skip
    check_document({**query, "type": "EPCISDocument", "epcisBody": {"eventList": events}})


def test_the_query_filters_and_pages_as_epcis_asks(flow: Flow) -> None:
    headers = auth(flow, "carrier")
    whole = flow.api.get("/epcis/events", params={"MATCH_epc": flow.item}, headers=headers).json()
    events = whole["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(events) >= 4
    collected: list[dict[str, Any]] = []
    params: dict[str, Any] | None = {"MATCH_epc": flow.item, "perPage": 2}
    url = "/epcis/events"
    while True:
        page = flow.api.get(url, params=params, headers=headers)
        assert page.status_code == 200, page.text
        collected += page.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        link = page.headers.get("link")
        if link is None:
            break
        url, params = link[1 : link.index(">")], None  # the link carries the whole query
    assert collected == events  # every event once, in order, page by page
    added = flow.api.get("/epcis/events", params={"MATCH_epc": flow.item, "EQ_action": "ADD"}, headers=headers).json()
    assert [e["bizStep"] for e in added["epcisBody"]["queryResults"]["resultsBody"]["eventList"]] == ["commissioning"]
    urn_form = {"MATCH_epc": flow.item, "EQ_disposition": "urn:epcglobal:cbv:disp:non_conformant"}
    spoiled = flow.api.get("/epcis/events", params=urn_form, headers=headers).json()
    assert {e["disposition"] for e in spoiled["epcisBody"]["queryResults"]["resultsBody"]["eventList"]} == {
        "non_conformant"
    }
    future = {"MATCH_epc": flow.item, "GE_eventTime": "2999-01-01T00:00:00Z"}
    late = flow.api.get("/epcis/events", params=future, headers=headers).json()
    assert late["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
    vague = {"MATCH_epc": flow.item, "GE_eventTime": "soon"}
    assert_problem(flow.api.get("/epcis/events", params=vague, headers=headers), 422, "invalid-filter")
    assert_problem(flow.api.get("/epcis/events", params={"MATCH_epc": flow.item}), 401, "unauthorized")


def test_a_digital_link_uri_on_this_host_leads_to_its_item(flow: Flow) -> None:
    epc = fresh_epc()
    assert capture(flow, "operator", document(object_event(epc, "commissioning", "ADD"))).status_code == 202
    path = canonical(epc).removeprefix("https://id.gs1.org")
    item = item_id_of(epc)
    browser = flow.api.get(path, follow_redirects=False)
    assert browser.status_code == 307 and browser.headers["location"] == f"/explorer/item/{item}"
    machine = flow.api.get(path, headers={"accept": "application/json"}, follow_redirects=False)
    assert machine.headers["location"] == f"/v1/items/{item}"
    trace = flow.api.get(path, params={"linkType": "gs1:traceability"}, follow_redirects=False)
    assert trace.headers["location"] == f"/v1/items/{item}/history"
    assert_problem(flow.api.get("/01/04012345111119/21/1"), 422, "invalid-filter")  # a wrong check digit


def test_one_partys_capture_neither_hides_nor_answers_for_anothers(flow: Flow) -> None:
    event = {"type": "TransactionEvent", "eventTime": "2026-12-06T08:00:00Z", "eventTimeZoneOffset": "+00:00",
             "epcList": [canonical(fresh_epc())], "action": "ADD",
             "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345:PO-9"}]}  # fmt: skip
    first = capture(flow, "stranger", document(event)).json()["events"][0]
    second = capture(flow, "carrier", document(event)).json()["events"][0]
    assert first["status"] == second["status"] == "captured"
    assert first["reading_id"] != second["reading_id"]  # the carrier is not handed the stranger's reading


def test_a_document_of_too_many_events_is_refused_whole(flow: Flow) -> None:
    many = [object_event(fresh_epc(), "inspecting") for _ in range(501)]
    refused = capture(flow, "carrier", document(*many))
    assert_problem(refused, 422, "epcis-invalid")
    with Session(flow.services.engine) as session:
        assert session.exec(select(EpcisEvent)).all() == []
