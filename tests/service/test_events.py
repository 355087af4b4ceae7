"""The event feed, its live stream and signed webhooks, over a real flow on the session's anvil: a
device's readings anchored, an item handed to a carrier party, a rule fired by a hot reading; then
the mirror indexed. Each key sees only its party's events; paging, the stream and webhook delivery
(through failures, timeouts and a restart of the deliverer) give every event once, in order."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from ledger_service.core.chain.context import ChainContext
from ledger_service.core.errors import InvalidWebhookUrl
from ledger_service.core.models import Subscription, WebhookDelivery
from ledger_service.core.supply_chain import SupplyChainContract
from ledger_service.services.apikeys import Role, create_key, revoke_key
from ledger_service.services.events import Position
from ledger_service.services.webhook_signing import check_url, sign, verify
from ledger_service.services.webhooks import WebhookDeliverer
from tests.utils.event_flow import DEPOT, Flow, index
from tests.utils.problems import assert_problem
from tests.utils.service import serving
from tests.utils.webhooks import Receiver


def auth(flow: Flow, who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {flow.keys[who]}"}


def all_events(flow: Flow, who: str, limit: int, types: str | None = None) -> list[dict[str, Any]]:
    """The whole feed after the flow's start, page by page."""
    found: list[dict[str, Any]] = []
    after = flow.after
    while True:
        params = {"after": after, "limit": limit, **({"types": types} if types else {})}
        page = flow.api.get("/v1/events", params=params, headers=auth(flow, who)).json()
        found.extend(page["data"])
        if page["next"] == after:
            return found
        after = page["next"]


def test_the_operator_sees_the_batch_then_each_reading_in_leaf_order(flow: Flow) -> None:
    events = all_events(flow, "operator", 100)
    batches = [e for e in events if e["type"] == "batch.confirmed" and e["data"]["reading_count"] == 3]
    assert len(batches) == 1
    batch = batches[0]
    readings = [
        e for e in events if e["type"] == "reading.anchored" and e["data"]["batch_root"] == batch["data"]["root"]
    ]
    assert sorted(e["data"]["reading_id"] for e in readings) == sorted(flow.readings)
    block, log, _ = batch["id"].split("-")
    assert [e["id"] for e in readings] == [f"{block}-{log}-{n}" for n in (1, 2, 3)]
    assert all(e["transaction_hash"] == batch["transaction_hash"] for e in readings)
    mine = [e for e in events if e["data"].get("item_id") == flow.item]
    assert [e["type"] for e in mine] == ["custody.changed", "rule.fired", "condition.changed"]
    assert mine[0]["data"]["new_custodian"].lower() == flow.carrier
    assert mine[2]["data"]["condition"] == "out_of_compliance"


def test_pages_of_any_size_give_every_event_once_in_order(flow: Flow) -> None:
    whole = all_events(flow, "operator", 1000)
    ids = [e["id"] for e in whole]
    assert ids == sorted(ids, key=lambda i: Position.parse(i)) and len(set(ids)) == len(ids)
    for limit in (1, 2, 3):
        assert all_events(flow, "operator", limit) == whole


def test_a_party_sees_only_its_own_events(flow: Flow) -> None:
    carrier = all_events(flow, "carrier", 100)
    assert [e["type"] for e in carrier if e["data"].get("item_id") == flow.item] == [
        "custody.changed", "rule.fired", "condition.changed"
    ]  # fmt: skip
    assert not [e for e in carrier if e["type"] in ("batch.confirmed", "reading.anchored")]  # the operator's device
    assert all_events(flow, "stranger", 100) == []
    only = all_events(flow, "carrier", 100, types="custody.changed")
    assert [e["type"] for e in only] == ["custody.changed"]


def test_bad_feed_requests_are_refused(flow: Flow) -> None:
    assert_problem(flow.api.get("/v1/events"), 401, "unauthorized")
    assert_problem(flow.api.get("/v1/events", params={"after": "1-2"}, headers=auth(flow, "carrier")),
                   422, "invalid-event-id")  # fmt: skip
    assert_problem(flow.api.get("/v1/events", params={"types": "reading.deleted"}, headers=auth(flow, "carrier")),
                   422, "invalid-filter")  # fmt: skip
    stream = flow.api.get("/v1/events/stream", params={"types": "nope"}, headers=auth(flow, "carrier"))
    assert_problem(stream, 422, "invalid-filter")


# -- webhooks -----------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


def drain(deliverer: WebhookDeliverer, rounds: int = 50) -> None:
    for _ in range(rounds):
        deliverer.step()
        time.sleep(0.02)


def test_webhooks_deliver_each_event_once_after_dedup_across_failures_and_a_restart(
    flow: Flow, receiver: Receiver
) -> None:
    flow.services.settings.webhook_max_backoff = 0.05
    flow.services.settings.webhook_timeout = 0.5
    made = flow.api.post(
        "/v1/subscriptions", json={"url": receiver.url, "after": flow.after}, headers=auth(flow, "carrier")
    )
    assert made.status_code == 201, made.text
    secret, subscription = made.json()["secret"], made.json()["id"]
    assert secret.startswith("whsec_")
    expected = [e["id"] for e in all_events(flow, "carrier", 100)]
    assert len(expected) >= 3
    receiver.fail_next, receiver.stall_next = 2, 1  # two refusals, then one acknowledgement lost
    first = WebhookDeliverer(flow.services.engine, flow.services.settings, batch=1)
    try:
        first.step()  # the deliverer stops early: a restart
        first.step()
    finally:
        first.close()
    second = WebhookDeliverer(flow.services.engine, flow.services.settings)
    try:
        drain(second)
    finally:
        second.close()
    seen: dict[str, str] = {}
    for headers, body in receiver.received:
        assert verify(secret, headers, body)
        event = json.loads(body)
        assert headers["webhook-id"] == f"{subscription}.{event['id']}"
        seen.setdefault(headers["webhook-id"], event["id"])
    assert list(seen.values()) == expected  # after deduplication: each once, in feed order
    assert len(receiver.received) > len(expected)  # the lost acknowledgement was delivered again
    with Session(flow.services.engine) as session:
        outcomes = [d.outcome for d in session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()]
        cursor = session.get(Subscription, subscription).cursor  # type: ignore[union-attr]
    assert outcomes[:3] == ["failed", "failed", "failed"] and outcomes.count("delivered") == len(expected)
    assert Position.parse(cursor) >= Position.parse(expected[-1])
    log = flow.api.get(f"/v1/subscriptions/{subscription}/deliveries", headers=auth(flow, "carrier")).json()
    assert log["data"][0]["outcome"] == "delivered" and log["data"][-1]["status_code"] == 500
    # a replay delivers again from the point asked for, with the same delivery ids
    replayed = flow.api.post(f"/v1/subscriptions/{subscription}/replay", json={"after": expected[0]},
                             headers=auth(flow, "carrier"))  # fmt: skip
    assert replayed.status_code == 200 and replayed.json()["cursor"] == expected[0]
    receiver.received.clear()
    third = WebhookDeliverer(flow.services.engine, flow.services.settings)
    try:
        drain(third, 10)
    finally:
        third.close()
    assert [h["webhook-id"] for h, _ in receiver.received] == [f"{subscription}.{i}" for i in expected[1:]]


def test_a_forged_or_stale_or_altered_delivery_fails_verification() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # any base64 key
    body = b'{"id":"1-0-0"}'
    now = int(time.time())
    good = {
        "webhook-id": "1.1-0-0",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, "1.1-0-0", now, body),
    }
    assert verify(secret, good, body)
    assert not verify(secret, good, body + b" ")  # altered body
    assert not verify("whsec_" + "A" * 32, good, body)  # another subscription's secret
    assert not verify(secret, {**good, "webhook-id": "1.2-0-0"}, body)  # the signature is bound to the id
    assert not verify(secret, good, body, now=now + 301)  # too old: a replay
    assert not verify(secret, {**good, "webhook-signature": "v1,AAAA"}, body)
    assert not verify(secret, {k: v for k, v in good.items() if k != "webhook-timestamp"}, body)


def test_subscriptions_refuse_bad_urls_and_stay_within_the_party(flow: Flow, receiver: Receiver) -> None:
    carrier, stranger = auth(flow, "carrier"), auth(flow, "stranger")
    for url in ("ftp://example.com/x", "file:///etc/passwd", "http://user:pw@example.com/", "http:///nohost"):
        assert_problem(
            flow.api.post("/v1/subscriptions", json={"url": url}, headers=carrier), 422, "invalid-webhook-url"
        )
    flow.services.settings.webhook_allow_private = False
    for url in ("http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://169.254.169.254/latest", "http://[::1]/x",
                "http://localhost/x", "http://[::ffff:127.0.0.1]/x"):  # fmt: skip
        assert_problem(
            flow.api.post("/v1/subscriptions", json={"url": url}, headers=carrier), 422, "invalid-webhook-url"
        )
    with pytest.raises(InvalidWebhookUrl, match="not public"):
        check_url("http://127.0.0.1/", allow_private=False)
    flow.services.settings.webhook_allow_private = True
    assert_problem(flow.api.post("/v1/subscriptions", json={"url": receiver.url, "types": ["x"]}, headers=carrier),
                   422, "invalid-filter")  # fmt: skip
    assert_problem(flow.api.post("/v1/subscriptions", json={"url": receiver.url}), 401, "unauthorized")
    made = flow.api.post("/v1/subscriptions", json={"url": receiver.url}, headers=carrier).json()
    assert flow.api.get(f"/v1/subscriptions/{made['id']}", headers=carrier).json()["secret"] is None  # shown once
    assert_problem(flow.api.get(f"/v1/subscriptions/{made['id']}", headers=stranger), 404, "not-found")
    assert_problem(flow.api.delete(f"/v1/subscriptions/{made['id']}", headers=stranger), 404, "not-found")
    assert_problem(flow.api.post(f"/v1/subscriptions/{made['id']}/replay", json={"after": "0-0-0"}, headers=stranger),
                   404, "not-found")  # fmt: skip
    assert flow.api.get("/v1/subscriptions", headers=stranger).json()["data"] == []
    assert [s["id"] for s in flow.api.get("/v1/subscriptions", headers=auth(flow, "operator")).json()["data"]] == [
        made["id"]
    ]
    with Session(flow.services.engine) as session:  # nothing that signs is stored
        stored = session.get(Subscription, made["id"])
        assert stored is not None and "whsec_" not in json.dumps(stored.model_dump())
    assert flow.api.delete(f"/v1/subscriptions/{made['id']}", headers=carrier).status_code == 204
    assert flow.api.get("/v1/subscriptions", headers=carrier).json()["data"] == []


def test_a_subscription_that_starts_now_gets_only_new_events(
    flow: Flow, receiver: Receiver, chain: ChainContext
) -> None:
    made = flow.api.post("/v1/subscriptions", json={"url": receiver.url}, headers=auth(flow, "carrier")).json()
    deliverer = WebhookDeliverer(flow.services.engine, flow.services.settings)
    try:
        drain(deliverer, 5)
        assert receiver.received == []  # the flow's events came before it
        supply = SupplyChainContract(chain.client, chain.deployment, chain.artifacts)
        carrier_supply = supply.as_account(flow.services.parties.client("carrier"))
        expires = int(chain.client.w3.eth.get_block("latest")["timestamp"]) + 3600
        carrier_supply.propose_transfer(bytes.fromhex(flow.item[2:]), chain.client.operator.address, DEPOT, expires)
        supply.accept_transfer(bytes.fromhex(flow.item[2:]), DEPOT)
        index(flow.services, chain)
        drain(deliverer, 5)
    finally:
        deliverer.close()
    kinds = [json.loads(body)["type"] for _, body in receiver.received]
    assert kinds == ["custody.changed"] and made["types"] == []


# -- the live stream ----------------------------------------------------------------------------


@pytest.fixture
def served(flow: Flow) -> Iterator[str]:
    with serving(flow.api.app) as port:
        yield f"http://127.0.0.1:{port}"


def read_stream(url: str, headers: dict[str, str], params: dict[str, str], count: int) -> list[dict[str, Any]]:
    """The first `count` events of the stream (then the connection is dropped)."""
    events: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{url}/v1/events/stream", headers=headers, params=params, timeout=10) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in answer.iter_lines():
            if line == "":
                if "data" in fields:
                    event = json.loads(fields["data"])
                    assert event["id"] == fields["id"] and event["type"] == fields["event"]
                    events.append(event)
                    if len(events) == count:
                        return events
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.strip()
    return events


def test_the_stream_resumes_after_a_disconnect_with_no_gap_and_no_repeat(
    flow: Flow, served: str, chain: ChainContext
) -> None:
    expected = [e["id"] for e in all_events(flow, "operator", 1000)]
    assert len(expected) >= 6
    headers = auth(flow, "operator")
    first = read_stream(served, headers, {"after": flow.after}, 4)
    rest = read_stream(served, {**headers, "last-event-id": first[-1]["id"]}, {}, len(expected) - 4)
    assert [e["id"] for e in first + rest] == expected

    carrier_view = read_stream(served, auth(flow, "carrier"), {"after": flow.after}, 3)
    assert [e["type"] for e in carrier_view] == ["custody.changed", "rule.fired", "condition.changed"]


def test_the_stream_delivers_new_events_live(flow: Flow, served: str, chain: ChainContext) -> None:
    def hand_back() -> None:  # after the stream is open: the carrier hands the item back
        time.sleep(1.0)
        supply = SupplyChainContract(chain.client, chain.deployment, chain.artifacts)
        expires = int(chain.client.w3.eth.get_block("latest")["timestamp"]) + 3600
        item = bytes.fromhex(flow.item[2:])
        supply.as_account(flow.services.parties.client("carrier")).propose_transfer(
            item, chain.client.operator.address, DEPOT, expires
        )
        supply.accept_transfer(item, DEPOT)
        index(flow.services, chain)

    producer = threading.Thread(target=hand_back)
    producer.start()
    try:
        live = read_stream(served, auth(flow, "carrier"), {}, 1)  # no position: from now on
    finally:
        producer.join()
    assert [e["type"] for e in live] == ["custody.changed"]
    assert live[0]["data"]["new_custodian"].lower() == chain.client.operator.address.lower()


def test_a_deleted_subscriptions_secret_and_log_never_pass_to_the_next(flow: Flow, receiver: Receiver) -> None:
    carrier, stranger = auth(flow, "carrier"), auth(flow, "stranger")
    first = flow.api.post("/v1/subscriptions", json={"url": receiver.url}, headers=carrier).json()
    assert flow.api.delete(f"/v1/subscriptions/{first['id']}", headers=carrier).status_code == 204
    second = flow.api.post("/v1/subscriptions", json={"url": receiver.url}, headers=stranger).json()
    assert second["id"] != first["id"] and second["secret"] != first["secret"]
    with Session(flow.services.engine) as session:
        assert session.exec(select(WebhookDelivery).where(WebhookDelivery.subscription_id == first["id"])).all() == []


def test_a_key_without_a_party_needs_the_admin_role_to_see_every_partys_events(flow: Flow, receiver: Receiver) -> None:
    _, secret = create_key(flow.services.engine, "registrar", [Role.REGISTRAR])
    plain = {"authorization": f"Bearer {secret}"}
    assert_problem(flow.api.get("/v1/events", headers=plain), 403, "forbidden")
    assert_problem(flow.api.post("/v1/subscriptions", json={"url": receiver.url}, headers=plain), 403, "forbidden")
    assert_problem(flow.api.get("/v1/subscriptions", headers=plain), 403, "forbidden")
    assert_problem(flow.api.get("/v1/events/stream", headers=plain), 403, "forbidden")
    assert_problem(flow.api.get("/epcis/events", params={"MATCH_epc": flow.item}, headers=plain), 403, "forbidden")


def test_a_revoked_keys_subscription_stops_delivering(flow: Flow, receiver: Receiver) -> None:
    _, secret = create_key(flow.services.engine, "short-lived", [Role.CUSTODIAN], party="carrier")
    made = flow.api.post("/v1/subscriptions", json={"url": receiver.url, "after": flow.after},
                         headers={"authorization": f"Bearer {secret}"}).json()  # fmt: skip
    revoke_key(flow.services.engine, secret.split("_")[1])
    deliverer = WebhookDeliverer(flow.services.engine, flow.services.settings)
    try:
        drain(deliverer, 5)
    finally:
        deliverer.close()
    assert receiver.received == []
    with Session(flow.services.engine) as session:
        assert session.get(Subscription, made["id"]).active is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "url",
    ["http://[64:ff9b::a00:1]/x", "http://[2002:7f00:1::]/x", "http://[2001:0:4136:e378::]/x", "http://2130706433/",
     "http://0x7f000001/", "http://localhost./x", "http://example.com:99999/"],
)  # fmt: skip
def test_webhook_urls_that_lead_inward_are_refused_without_naming_the_address(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl) as refused:
        check_url(url, allow_private=False)
    assert "127." not in refused.value.detail and "10.0" not in refused.value.detail
