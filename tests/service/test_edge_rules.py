"""Sensor rules at the edge: a gateway cut off from the chain and from upstream still evaluates the
item's threshold rules (as last read, kept on disk) on each reading it takes, and raises an alarm at
once (a row, a log line, a POST to the local webhook); once the readings reach upstream and are
anchored, upstream's oracle fires the rule on chain with the same stretch of readings."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient
from web3 import Web3

from edge.gateway import Gateway
from ledger_service.app.edge_api import create_edge_app
from ledger_service.app.edge_rules import attach_local_rules
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.enums import Action, Comparison
from ledger_service.core.readings import Reading
from ledger_service.services.container import Services
from oracles.daemon import OracleDaemon
from oracles.rules import RuleSpec
from oracles.tasks import submitter_for
from provenance_device.http import HttpTransport
from tests.utils.edge import make_gateway
from tests.utils.factories import body_of
from tests.utils.oracle import Sensor, fired_events, now, oracle_of, shipment
from tests.utils.webhooks import Receiver

DEAD = "http://127.0.0.1:9"
LAX = {"max_clock_skew": 10**7, "max_reading_age": 10**8}  # readings carry the chain's time, which tests move on


def take(gateway: Gateway, sensor: Sensor, values: list[int], start: int, services: Services) -> list[str]:
    """The sensor's next readings, 10 s apart from `start`, handed to the gateway's API."""
    api, ids = TestClient(create_edge_app(gateway)), []
    for offset, value in enumerate(values):
        sensor.sequence += 1
        reading = Reading(sensor.device_id, sensor.sequence, start + 10 * offset, "temperature", value, 2, "Cel")
        answer = api.post(
            "/v1/readings", json=body_of(reading, sensor.key.sign(reading.digest(services.ledger.domain)))
        )
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def wait_for(receiver: Receiver, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while len(receiver.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [json.loads(body) for _, body in receiver.received]


def test_a_gateway_cut_off_raises_the_alarm_itself_and_the_rule_fires_on_chain_once_anchored(
    services: Services, chain: ChainContext, upstream: str, tmp_path: Path
) -> None:
    item_id, sensor = shipment(services)
    rule_id, _ = oracle_of(services).add_rule(
        RuleSpec(item_id, "temperature", unit="Cel", comparison=Comparison.ABOVE, upper=800, scale=2, min_readings=3,
                 min_duration=20, actions=Action.MARK_OUT_OF_COMPLIANCE)
    )  # fmt: skip
    rules = tmp_path / "edge-rules.json"
    online = make_gateway(tmp_path / "edge.db", chain, DEAD, **LAX)
    attach_local_rules(online, chain.client.w3, chain.deployment, services.artifacts, rules)
    online.registry_step()  # the registry copy and the rules, read while the chain was in reach
    online.close()
    assert rule_id in {int(k) for k in json.loads(rules.read_text())["rules"]}

    receiver = Receiver()
    gateway = make_gateway(tmp_path / "edge.db", chain, DEAD, rpc=DEAD, **LAX)  # restarted with no link at all
    offline = Web3(Web3.HTTPProvider(DEAD, request_kwargs={"timeout": 2}))
    alarms = attach_local_rules(gateway, offline, chain.deployment, services.artifacts, rules, receiver.url)
    assert alarms is not None
    try:
        ids = take(gateway, sensor, [500, 850, 900, 950, 990], now(services) + 1, services)
        [alarm] = alarms.recent()
        assert (alarm["rule_id"], alarm["reading_ids"]) == (rule_id, ids[1:4])  # raised on the third breach, once
        [posted] = wait_for(receiver, 1)
        assert posted["type"] == "edge.alarm" and posted["reading_ids"] == ids[1:4]
        listed = TestClient(create_edge_app(gateway, alarms=alarms)).get("/v1/edge/alarms").json()["data"]
        assert listed[0]["reading_ids"] == ids[1:4] and listed[0]["delivered"] is True
        take(gateway, sensor, [700, 850, 860, 870], now(services) + 100, services)  # back in range, then out again
        assert len(alarms.recent()) == 2

        gateway.forwarder.transport = HttpTransport(upstream)  # the link is back
        assert gateway.forwarder.forward_once().forwarded == 9
        claimed = OracleDaemon(services, lambda report_id: None, name="edge-rules").step().claimed
        batcher = services.batcher()
        batcher.batch_age, batcher.batch_size = 0, 1000
        batcher.run_once()
        assert submitter_for(services).submit(claimed[0]) == "fired"
        [fired] = fired_events(services, rule_id)
        assert fired is not None
    finally:
        alarms.close()
        gateway.close()
        receiver.close()


def test_a_failed_webhook_keeps_the_alarm_undelivered_and_ingest_goes_on(
    services: Services, chain: ChainContext, tmp_path: Path
) -> None:
    item_id, sensor = shipment(services)
    oracle_of(services).add_rule(
        RuleSpec(item_id, "temperature", unit="Cel", comparison=Comparison.ABOVE, upper=800, scale=2, min_readings=1,
                 actions=Action.MARK_OUT_OF_COMPLIANCE)
    )  # fmt: skip
    gateway = make_gateway(tmp_path / "edge.db", chain, DEAD, **LAX)
    receiver = Receiver()
    receiver.fail_next = 1
    alarms = attach_local_rules(gateway, chain.client.w3, chain.deployment, services.artifacts,
                                tmp_path / "rules.json", receiver.url)  # fmt: skip
    assert alarms is not None
    try:
        gateway.registry_step()
        ids = take(gateway, sensor, [900, 100], now(services) + 1, services)
        time.sleep(0.5)
        [alarm] = alarms.recent()
        assert alarm["reading_ids"] == ids[:1] and alarm["delivered"] is False and receiver.received == []
        assert gateway.status()["pending"] == 2  # both readings held whatever the webhook did
        alarms.close()
        again = attach_local_rules(gateway, chain.client.w3, chain.deployment, services.artifacts,
                                   tmp_path / "rules.json", receiver.url)  # fmt: skip
        assert again is not None
        alarms = again  # a restart sends what the last run could not
        [posted] = wait_for(receiver, 1)
        assert posted["reading_ids"] == ids[:1]
        deadline = time.monotonic() + 5
        while not alarms.recent()[0]["delivered"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alarms.recent()[0]["delivered"] is True
    finally:
        alarms.close()
        gateway.close()
        receiver.close()
