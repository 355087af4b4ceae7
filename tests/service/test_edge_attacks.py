"""Attacks on the device library and the edge gateway, each one found by an attacker's review: answers
that are not about the readings sent must never settle them, one device must not hold up the others,
a stale registry copy must not make a device give up its readings, and a planted snapshot must not run."""

from __future__ import annotations

import pickle
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient

from edge.gateway import SNAPSHOT, Gateway
from ledger_service.app.api.app import create_app
from ledger_service.app.edge_api import EdgeLimits, create_edge_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey as CoreDeviceKey
from ledger_service.services.container import Services
from provenance_device import DeviceKey, Domain, HttpTransport, Outbox, Sender
from tests.utils.edge import hand_in, make_gateway
from tests.utils.factories import Device, body_of, new_device, signed_body
from tests.utils.problems import assert_problem
from tests.utils.service import serving

DEAD = "http://127.0.0.1:9"


def liar(kind: str) -> FastAPI:
    """A service that answers every batch with `kind`: not an answer about the readings sent."""
    app = FastAPI()

    @app.post("/v1/readings/batch")
    async def answer(request: Request) -> Any:
        readings = (await request.json())["readings"]
        if kind == "redirect":
            return RedirectResponse("http://127.0.0.1:9/elsewhere", status_code=308)
        if kind == "whole-batch-422":
            body = {"code": "validation-error", "detail": "no", "status": 422}
            return JSONResponse(body, status_code=422, media_type="application/problem+json")
        if kind == "wrong-ids":
            results = [{"index": i, "status": "stored", "id": "0x" + "ab" * 32, "code": None, "detail": None}
                       for i in range(len(readings))]  # fmt: skip
            return {"stored": len(readings), "duplicates": 0, "refused": 0, "results": results}
        return {"stored": 0, "duplicates": 0, "refused": 0, "results": [1] * len(readings)}  # malformed

    return app


def library_sender(services: Services, device: Device, url: str, tmp_path: Path) -> Sender:
    key = DeviceKey(device.key.key_type.label, device.key.secret)
    domain = Domain(services.ledger.domain.chain_id, services.ledger.domain.verifying_contract)
    outbox = Outbox(tmp_path / f"outbox-{uuid.uuid4().hex[:8]}.db", first_sequence=1)
    return Sender(key, device.device_id, domain, outbox, HttpTransport(url, timeout=3))


@pytest.mark.parametrize("kind", ["404", "redirect", "whole-batch-422", "wrong-ids", "malformed"])
def test_an_answer_that_is_not_about_the_readings_sent_settles_none_of_them(
    services: Services, tmp_path: Path, kind: str
) -> None:
    app = FastAPI() if kind == "404" else liar(kind)
    with serving(app) as port:
        sender = library_sender(services, new_device(services.ledger), f"http://127.0.0.1:{port}", tmp_path)
        for n in range(5):
            sender.record("temperature", n)
        report = sender.flush()
    assert (report.confirmed, report.refused, report.pending) == (0, 0, 5)
    assert report.error is not None and sender.outbox.refused() == []


def test_the_gateway_forwards_nothing_to_a_liar_and_loses_nothing(
    services: Services, gateway: Gateway, upstream: str
) -> None:
    device = new_device(services.ledger)
    gateway.sync_registry()
    hand_in(gateway, device, services.ledger.domain, 4)
    for kind in ("redirect", "whole-batch-422", "wrong-ids", "malformed"):
        with serving(liar(kind)) as port:
            gateway.forwarder.transport = HttpTransport(f"http://127.0.0.1:{port}")
            report = gateway.forwarder.forward_once()
        assert (report.forwarded, report.refused) == (0, 0) and report.error is not None, kind
        assert gateway.status()["pending"] == 4 and gateway.store.refused() == []
    gateway.forwarder.transport = HttpTransport(upstream)
    assert gateway.forwarder.forward_once().forwarded == 4


def test_a_device_whose_readings_wait_upstream_holds_up_no_other_device(
    services: Services, chain: ChainContext, upstream: str, tmp_path: Path
) -> None:
    gateway = make_gateway(tmp_path / "edge.db", chain, upstream, max_clock_skew=3600.0, forward_batch=2)
    try:
        early, others = new_device(services.ledger), [new_device(services.ledger) for _ in range(2)]
        gateway.sync_registry()
        ahead = int(time.time()) + 1800  # upstream refuses these for now (timestamp-in-future)
        hand_in(gateway, early, services.ledger.domain, 5, timestamp=ahead)
        for device in others:
            hand_in(gateway, device, services.ledger.domain, 3)
        report = gateway.forwarder.forward_once()
        assert report.forwarded == 6 and "timestamp-in-future" in str(report.error)
        assert gateway.status()["pending"] == 5 and gateway.store.refused() == []
        assert len(gateway.store.pending(10)) == 5  # the waiting ones are still there, none skipped
    finally:
        gateway.close()


def test_an_offline_gateway_does_not_make_a_device_give_up_readings_signed_with_a_rotated_key(
    services: Services, chain: ChainContext, tmp_path: Path
) -> None:
    device = new_device(services.ledger)
    online = make_gateway(tmp_path / "edge.db", chain, DEAD)
    assert online.sync_registry()
    online.close()
    new_key = CoreDeviceKey.generate(KeyType.SECP256K1)
    services.ledger.rotate_key(device.device_id, new_key.public_key)  # while the gateway is cut off
    rotated = Device(key=new_key, device_id=device.device_id, sequence=device.sequence)
    offline = make_gateway(tmp_path / "edge.db", chain, DEAD, rpc=DEAD)
    try:
        with serving(create_edge_app(offline)) as port:
            sender = library_sender(services, rotated, f"http://127.0.0.1:{port}", tmp_path)
            sender.record("temperature", 1, timestamp=int(time.time()) + 5)
            report = sender.flush()
        assert (report.confirmed, report.refused, report.pending) == (0, 0, 1)
        assert "registry-stale" in str(report.error)
    finally:
        offline.close()


def test_a_planted_or_unreadable_registry_snapshot_is_refused_and_never_run(
    services: Services, chain: ChainContext, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.touch, (marker,))

    first = make_gateway(tmp_path / "edge.db", chain, DEAD)
    first.store.save(SNAPSHOT, pickle.dumps(Payload()))
    first.close()
    planted = make_gateway(tmp_path / "edge.db", chain, DEAD)  # starts, with an empty copy
    try:
        assert not marker.exists() and planted.registry.synced_block is None
        assert planted.sync_registry() and planted.registry.synced_block is not None
    finally:
        planted.close()
    for junk in (b"{}", b'{"version": 2}', b"\xff\xfe", b'{"version": 2, "registry": "x"}'):
        assert planted.registry.restore(junk) is False


def test_readings_left_behind_the_cursor_are_found_and_forwarded(services: Services, gateway: Gateway) -> None:
    device = new_device(services.ledger)
    gateway.sync_registry()
    hand_in(gateway, device, services.ledger.domain, 3)
    gateway.store.mark([], 10**6)  # as if rowids had been renumbered below the cursor
    assert gateway.store.pending(10) == [] and gateway.store.behind_cursor() == 3
    gateway.forwarder._audited = 0.0  # the minute since the last check has passed
    gateway.forwarder.forward_once()  # finds them, moves the cursor back
    assert gateway.forwarder.forward_once().forwarded == 3 and gateway.status()["pending"] == 0


def test_a_batch_refused_whole_as_too_large_or_too_many_bad_signatures_is_sent_again_in_halves(
    services: Services, upstream: str, tmp_path: Path
) -> None:
    """A stand-in in front of the real service refuses any batch of more than two readings, one way
    or the other; the sender halves until the service takes them, and stores every one."""
    refusals = iter([(413, "payload-too-large"), (422, "too-many-bad-signatures")] * 10)
    app = FastAPI()

    @app.post("/v1/readings/batch")
    async def front(request: Request) -> Any:
        body = await request.json()
        if len(body["readings"]) > 2:
            status, code = next(refusals)
            problem = {"code": code, "detail": "no", "status": status}
            return JSONResponse(problem, status_code=status, media_type="application/problem+json")
        return TestClient(create_app(services)).post("/v1/readings/batch", json=body).json()

    with serving(app) as port:
        sender = library_sender(services, new_device(services.ledger), f"http://127.0.0.1:{port}", tmp_path)
        sender.batch_size = 8
        for n in range(5):
            sender.record("temperature", n)
        report = sender.flush()
    assert (report.confirmed, report.refused, report.pending, report.error) == (5, 0, 0, None)


def test_the_gateways_api_limits_a_flooding_client_as_the_service_does(services: Services, gateway: Gateway) -> None:
    """A client on the local network that floods the gateway with forged signatures, or with
    requests, is turned away (429) before it costs the gateway its signature checks; nothing forged
    is kept."""
    device = new_device(services.ledger)
    gateway.sync_registry()
    domain = services.ledger.domain
    forged_key = CoreDeviceKey.generate(KeyType.SECP256K1)
    budgeted = TestClient(create_edge_app(gateway, EdgeLimits(bad_signature_rate=0.01, bad_signature_burst=2)))
    for _ in range(2):
        reading = device.reading()
        forged = budgeted.post("/v1/readings", json=body_of(reading, forged_key.sign(reading.digest(domain))))
        assert_problem(forged, 422, "invalid-signature")
    assert_problem(budgeted.post("/v1/readings", json=signed_body(device, domain)), 429, "bad-signature-budget-spent")
    assert gateway.status()["pending"] == 0
    paced = TestClient(create_edge_app(gateway, EdgeLimits(ingest_client_rate=0.2)))
    assert paced.post("/v1/readings", json=signed_body(device, domain)).status_code == 201
    assert_problem(paced.post("/v1/readings", json=signed_body(device, domain)), 429, "too-many-requests")
    made_up = {"Authorization": "Bearer not-a-key-here"}  # a made-up token buys no bucket of its own
    assert_problem(paced.post("/v1/readings", json=signed_body(device, domain), headers=made_up), 429,
                   "too-many-requests")  # fmt: skip
    assert paced.get("/v1/edge/status").json()["pending"] == 1  # reads are not ingest: still answered
