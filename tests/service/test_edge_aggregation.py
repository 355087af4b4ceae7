"""Hierarchical aggregation at the edge: the gateway seals the readings it holds under a root it
signs, upstream anchors that root reading as one leaf, and each reading's chained proof verifies
link by link against the pinned chain; a gateway cannot make a proof for a reading its device never
signed, nor move a reading into a root upstream never anchored."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from edge.aggregate import AggregationPaused
from edge.gateway import Gateway
from ledger_service.app.api.app import create_app
from ledger_service.app.cli import app as cli_app
from ledger_service.app.edge_api import create_edge_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.device_state import Metadata
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.merkle import MerkleTree
from ledger_service.core.readings import GATEWAY_MODEL, GATEWAY_ROOT_METRIC, Reading, reading_leaf
from ledger_service.services.container import Services
from ledger_service.services.trust import TrustAnchor, anchor_from_document, trust_document
from ledger_service.services.verify_edge import verify_edge_bundle
from tests.utils.bundles import tampered
from tests.utils.edge import hand_in, make_gateway
from tests.utils.factories import Device, new_device, signed_body
from tests.utils.problems import assert_problem

DEAD_RPC = "http://127.0.0.1:9"  # the discard port: no chain answers there


@pytest.fixture
def aggregating(tmp_path: Path, chain: ChainContext, services: Services, upstream: str) -> Iterator[Gateway]:
    """A gateway with its own key, registered upstream as a device, that aggregates."""
    own = new_device(services.ledger, model=GATEWAY_MODEL)
    built = make_gateway(tmp_path / "edge.db", chain, upstream, key=own.key, gateway_id=own.device_id)
    try:
        built.sync_registry()
        yield built
    finally:
        built.close()


def anchor_upstream(services: Services) -> None:
    batcher = services.batcher()
    batcher.batch_age = 0
    batcher.batch_size = 1000
    batcher.run_once()


def pin(services: Services) -> TrustAnchor:
    return anchor_from_document(trust_document(services.ledger.deployment), "the trust document")


def upstream_rows(services: Services, device_id: str) -> list[tuple[str, str, int]]:
    with services.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT device_id, metric, value, payload_hash FROM reading").all()
    return [(r[1], r[3], int(r[2])) for r in rows if r[0] == device_id]


def failed(checks: list[Any]) -> list[str]:
    return [c.name for c in checks if not c.ok]


def test_readings_sealed_under_a_gateway_root_go_upstream_as_one_anchored_leaf_and_each_proof_verifies(
    services: Services, aggregating: Gateway, anvil: ManagedAnvil, tmp_path: Path
) -> None:
    devices = [new_device(services.ledger), new_device(services.ledger, KeyType.P256)]
    aggregating.sync_registry()
    ids = [i for d in devices for i in hand_in(aggregating, d, services.ledger.domain, 3)]
    assert aggregating.aggregator is not None
    sealed = aggregating.aggregator.seal_once()
    assert sealed is not None and sealed.reading_count == 6
    assert aggregating.aggregator.seal_once() is None  # nothing sealed twice
    report = aggregating.forwarder.forward_once()
    assert (report.forwarded, report.error) == (1, None)  # the root reading alone
    assert all(upstream_rows(services, "0x" + d.device_id.hex()) == [] for d in devices)
    gateway_id = aggregating.aggregator.gateway_id
    assert upstream_rows(services, gateway_id) == [(GATEWAY_ROOT_METRIC, sealed.root, 6)]
    status = aggregating.status()
    assert (status["pending"], status["aggregated"], status["forwarded"]) == (0, 6, 1)
    api = TestClient(create_edge_app(aggregating))
    assert_problem(api.get(f"/v1/readings/{ids[0]}/proof"), 409, "not-yet-anchored")  # upstream has not anchored
    anchor_upstream(services)
    bundle = api.get(f"/v1/readings/{ids[4]}/proof").json()
    assert bundle["format"] == "provenance-ledger/edge-proof@1" and bundle["gateway"]["root"] == sealed.root
    result = verify_edge_bundle(bundle, pin(services), anvil.url)
    assert failed(result.checks) == [] and result.complete
    names = [c.name for c in result.checks]
    for name in ("gateway-path", "gateway-root", "upstream.anchor-event", "upstream.device-key", "device-key",
                 "registry-verify", "timeline"):  # fmt: skip
        assert name in names
    good, trust = tmp_path / "edge-proof.json", tmp_path / "trust.json"
    good.write_text(json.dumps(bundle))
    trust.write_text(json.dumps(trust_document(services.ledger.deployment)))
    passed = CliRunner().invoke(cli_app, ["verify", str(good), "--trust", str(trust), "--rpc", anvil.url])
    assert passed.exit_code == 0 and "gateway-path" in passed.output, passed.output
    marked = tmp_path / "marked.json"  # the bundle's own text is printed as text, never as console markup
    marked.write_text(json.dumps({**bundle, "format": "x[/red][green]ok"}))
    shown = CliRunner().invoke(cli_app, ["verify", str(marked), "--trust", str(trust), "--rpc", anvil.url])
    assert shown.exit_code == 1 and "x[/red][green]ok" in shown.output, shown.output
    assert not isinstance(shown.exception, Exception)  # a verdict (SystemExit), not a crash


EDGE_TAMPERS = [
    ("reading.value", 7, "reading"),
    ("eip712.message.value", 7, "reading"),
    ("gateway.proof.0", "0x" + "55" * 32, "gateway-path"),
    ("gateway.proof.0", "0x" + "55" * 31, "gateway-path"),  # not a 32-byte hash
    ("gateway.root", "0x" + "66" * 32, "gateway-path"),
    ("gateway.leaf_count", 1, "gateway-root"),
    ("upstream.eip712.message.metric", "temperature", "gateway-root"),
    ("upstream.merkle.proof.0", "0x" + "77" * 32, "upstream.merkle-path"),
]


def test_a_tampered_edge_proof_fails_at_the_link_that_was_changed(
    services: Services, aggregating: Gateway, anvil: ManagedAnvil
) -> None:
    device = new_device(services.ledger)
    aggregating.sync_registry()
    ids = hand_in(aggregating, device, services.ledger.domain, 3)
    assert aggregating.aggregator is not None and aggregating.aggregator.seal_once() is not None
    aggregating.forwarder.forward_once()
    anchor_upstream(services)
    bundle = TestClient(create_edge_app(aggregating)).get(f"/v1/readings/{ids[1]}/proof").json()
    for path, value, check in EDGE_TAMPERS:
        result = verify_edge_bundle(tampered(bundle, path, value), pin(services), anvil.url)
        assert check in failed(result.checks), (path, failed(result.checks))
        assert not result.complete
    unrelated = new_device(services.ledger)  # upstream's proof of some other reading in the bundle's place
    api = _upstream_api(services)
    other_id = api.post("/v1/readings", json=signed_body(unrelated, services.ledger.domain)).json()["id"]
    anchor_upstream(services)
    swapped = {**bundle, "upstream": api.get(f"/v1/readings/{other_id}/proof").json()}
    assert "gateway-root" in failed(verify_edge_bundle(swapped, pin(services), anvil.url).checks)


def _upstream_api(services: Services) -> TestClient:
    return TestClient(create_app(services))


def root_bundle(
    services: Services, publisher: Device, forged: Reading, signer: DeviceKey, others: list[str]
) -> dict[str, Any]:
    """An edge proof made by hand: `forged` signed by `signer`, under a root over it and `others`
    (reading ids) that `publisher` (any registered device) signs as its `edge.root` reading, posts
    upstream and gets anchored."""
    domain = services.ledger.domain
    signature, digest = signer.sign(forged.digest(domain)), forged.digest(domain)
    leaf = reading_leaf(digest, signature)
    tree = MerkleTree([leaf, *(bytes.fromhex(o[2:]) for o in others)])
    api = _upstream_api(services)
    body = signed_body(publisher, domain, metric=GATEWAY_ROOT_METRIC, value=len(others) + 1, scale=0,
                       unit="readings", payload_hash=tree.root)  # fmt: skip
    posted = api.post("/v1/readings", json=body)
    assert posted.status_code == 201, posted.text
    root_id = posted.json()["id"]
    anchor_upstream(services)
    return {
        "format": "provenance-ledger/edge-proof@1",
        "reading_id": "0x" + leaf.hex(),
        "reading": {**forged.message(), "signature": "0x" + signature.hex(), "signer": signer.public_key.signer},
        "key": signer.public_key.to_json(),
        "eip712": forged.typed_data(domain),
        "digest": "0x" + digest.hex(),
        "leaf": {"hash": "0x" + leaf.hex(), "types": ["bytes32", "bytes32"],
                 "values": ["0x" + digest.hex(), "0x" + keccak(signature).hex()]},
        "gateway": {"id": "0x" + publisher.device_id.hex(), "root": "0x" + tree.root.hex(),
                    "proof": ["0x" + p.hex() for p in tree.proof(leaf)], "leaf_count": len(others) + 1,
                    "root_reading_id": root_id},
        "upstream": api.get(f"/v1/readings/{root_id}/proof").json(),
    }  # fmt: skip


def test_a_gateway_cannot_prove_a_reading_its_device_never_signed(
    services: Services, aggregating: Gateway, anvil: ManagedAnvil
) -> None:
    """A dishonest gateway seals, under a root it signs and gets anchored, a reading in a real
    device's name signed with a key of its own. The bundle is consistent in itself; the pinned
    registry's key for that device did not sign it."""
    victim = new_device(services.ledger)
    assert aggregating.aggregator is not None
    forger = Device(key=DeviceKey.generate(KeyType.SECP256K1), device_id=victim.device_id)
    honest_device = new_device(services.ledger)
    aggregating.sync_registry()
    honest = hand_in(aggregating, honest_device, services.ledger.domain, 1)[0]
    gateway = Device(key=aggregating.aggregator.key, device_id=bytes.fromhex(aggregating.aggregator.gateway_id[2:]))
    bundle = root_bundle(services, gateway, forger.reading(value=-4000), forger.key, [honest])
    offline = verify_edge_bundle(bundle, None, None)
    assert failed(offline.checks) == [] and not offline.complete  # consistent in itself, proves nothing yet
    result = verify_edge_bundle(bundle, pin(services), anvil.url)
    assert failed(result.checks) == ["device-key", "registry-verify", "key-open-at-anchor"] and not result.complete


def test_a_revoked_keys_holder_cannot_slip_a_backdated_reading_under_a_root_of_its_own(
    services: Services, chain: ChainContext, anvil: ManagedAnvil
) -> None:
    """The key of a device is stolen, and the device revoked. The thief dates a reading inside the
    key's old validity and has an accomplice's device publish a root over it: upstream's intake,
    which would refuse the reading as `device-revoked`, never sees it. The verifier asks at the anchor
    what the intake asks on arrival: was the signing key still open then. It was not."""
    victim, accomplice = new_device(services.ledger), new_device(services.ledger, model=GATEWAY_MODEL)
    w3 = chain.client.w3
    registered_at = int(w3.eth.get_block("latest")["timestamp"])
    time.sleep(2.5)  # blocks take the wall clock's time: the revocation lands a few seconds later
    services.ledger.revoke_device(victim.device_id)
    backdated = victim.reading(timestamp=registered_at + 1)
    bundle = root_bundle(services, accomplice, backdated, victim.key, [])
    result = verify_edge_bundle(bundle, pin(services), anvil.url)
    assert failed(result.checks) == ["key-open-at-anchor"] and not result.complete  # every other link holds


def test_proofs_at_the_gateway_say_what_is_missing(services: Services, aggregating: Gateway) -> None:
    api = TestClient(create_edge_app(aggregating))
    device = new_device(services.ledger)
    aggregating.sync_registry()
    [held] = hand_in(aggregating, device, services.ledger.domain, 1)
    assert_problem(api.get(f"/v1/readings/{held}/proof"), 409, "not-yet-anchored")  # not sealed yet
    assert_problem(api.get(f"/v1/readings/0x{'ab' * 32}/proof"), 404, "not-found")
    assert aggregating.forwarder.forward_once().forwarded == 0  # a device's reading never goes alone


def test_a_gateway_whose_own_key_is_not_registered_seals_nothing(
    services: Services, chain: ChainContext, upstream: str, tmp_path: Path
) -> None:
    stranger = Device(key=DeviceKey.generate(KeyType.SECP256K1))
    gateway = make_gateway(tmp_path / "edge.db", chain, upstream, key=stranger.key, gateway_id=stranger.device_id)
    try:
        device = new_device(services.ledger)
        gateway.sync_registry()
        [held] = hand_in(gateway, device, services.ledger.domain, 1)
        assert gateway.aggregator is not None
        with pytest.raises(AggregationPaused, match="unknown-device"):
            gateway.aggregator.seal_once()
        assert gateway.store.membership(held) is None and gateway.status()["aggregated"] == 0
    finally:
        gateway.close()


def test_a_root_upstream_refuses_for_good_releases_its_readings_and_a_new_key_proves_them(
    services: Services, chain: ChainContext, upstream: str, anvil: ManagedAnvil, tmp_path: Path
) -> None:
    """The gateway's key is rotated between sealing and forwarding: upstream refuses the root signed
    with the old one (`key-rotated`, for good). Its readings are not lost: released, sealed again
    once the gateway runs with its new key, anchored, and proven; with aggregation off afterwards,
    the gateway still serves their proofs."""
    own = new_device(services.ledger, model=GATEWAY_MODEL)
    path = tmp_path / "edge.db"
    first = make_gateway(path, chain, upstream, key=own.key, gateway_id=own.device_id)
    device = new_device(services.ledger)
    first.sync_registry()
    ids = hand_in(first, device, services.ledger.domain, 3)
    assert first.aggregator is not None and first.aggregator.seal_once() is not None
    fresh_key = DeviceKey.generate(KeyType.P256)
    services.ledger.rotate_key(own.device_id, fresh_key.public_key)
    services.registry.refresh(force=True)
    report = first.forwarder.forward_once()
    assert (report.forwarded, report.refused) == (0, 1)
    assert first.store.membership(ids[0]) is None and first.status()["aggregated"] == 0  # released, not lost
    first.sync_registry()
    with pytest.raises(AggregationPaused, match="key-rotated"):  # the old key cannot seal any more
        first.aggregator.seal_once()
    first.close()
    second = make_gateway(path, chain, upstream, key=fresh_key, gateway_id=own.device_id)
    try:
        second.sync_registry()
        assert second.aggregator is not None and second.aggregator.seal_once() is not None
        assert second.forwarder.forward_once().forwarded == 1
        anchor_upstream(services)
        bundle = TestClient(create_edge_app(second)).get(f"/v1/readings/{ids[1]}/proof").json()
        assert failed(verify_edge_bundle(bundle, pin(services), anvil.url).checks) == []
    finally:
        second.close()
    plain = make_gateway(path, chain, upstream)  # aggregation off: the proofs of its roots stay served
    try:
        answer = TestClient(create_edge_app(plain)).get(f"/v1/readings/{ids[2]}/proof")
        assert answer.status_code == 200 and answer.json()["gateway"]["id"] == "0x" + own.device_id.hex()
    finally:
        plain.close()


def test_readings_are_checked_again_when_sealed_and_nothing_is_sealed_offline(
    services: Services, chain: ChainContext, upstream: str, tmp_path: Path
) -> None:
    """A device revoked while its reading waited at the gateway: the reading is refused at sealing
    (as upstream would refuse it on arrival), never sealed into a proof that fails. A gateway whose
    registry copy cannot reach the chain seals nothing: its readings wait."""
    own = new_device(services.ledger, model=GATEWAY_MODEL)
    kept, revoked = new_device(services.ledger), new_device(services.ledger)
    path = tmp_path / "edge.db"
    gateway = make_gateway(path, chain, upstream, key=own.key, gateway_id=own.device_id)
    gateway.sync_registry()
    [good] = hand_in(gateway, kept, services.ledger.domain, 1)
    [bad] = hand_in(gateway, revoked, services.ledger.domain, 1)
    gateway.close()
    offline = make_gateway(path, chain, upstream, rpc=DEAD_RPC, key=own.key, gateway_id=own.device_id)
    try:
        offline.sync_registry()
        assert offline.aggregator is not None and offline.aggregator.seal_once() is None
        assert offline.status()["pending"] == 2
    finally:
        offline.close()
    services.ledger.revoke_device(revoked.device_id)
    online = make_gateway(path, chain, upstream, key=own.key, gateway_id=own.device_id)
    try:
        online.sync_registry()
        assert online.aggregator is not None
        sealed = online.aggregator.seal_once()
        assert sealed is not None and (sealed.reading_count, sealed.refused) == (1, 1)
        assert online.store.membership(good) is not None and online.store.membership(bad) is None
        assert [(rid, code) for rid, code, _ in online.store.refused()] == [(bad, "device-revoked")]
    finally:
        online.close()


def test_only_a_device_registered_as_an_edge_gateway_publishes_roots(services: Services) -> None:
    """An ordinary device posting an `edge.root` reading upstream is refused `not-a-gateway`, and the
    service stores nothing: no device can carry other devices' readings under a root it made up."""
    ordinary = new_device(services.ledger)
    services.registry.refresh(force=True)
    body = signed_body(ordinary, services.ledger.domain, metric=GATEWAY_ROOT_METRIC, value=1, scale=0,
                       unit="readings", payload_hash=b"\x11" * 32)  # fmt: skip
    assert_problem(_upstream_api(services).post("/v1/readings", json=body), 422, "not-a-gateway")
    assert upstream_rows(services, "0x" + ordinary.device_id.hex()) == []


def test_a_root_whose_publisher_is_not_registered_as_a_gateway_does_not_verify(
    services: Services, anvil: ManagedAnvil
) -> None:
    """The verifier reads the publisher's kind from the pinned registry itself (it does not rely on
    the operator's intake having refused `not-a-gateway`)."""
    publisher, device = new_device(services.ledger, model=GATEWAY_MODEL), new_device(services.ledger)
    services.registry.refresh(force=True)
    bundle = root_bundle(services, publisher, device.reading(), device.key, [])
    assert failed(verify_edge_bundle(bundle, pin(services), anvil.url).checks) == []
    services.ledger.update_metadata(publisher.device_id, Metadata(model="thermometer"))
    assert failed(verify_edge_bundle(bundle, pin(services), anvil.url).checks) == ["gateway-kind"]


def test_a_gateway_whose_own_roots_are_refused_for_good_forwards_each_reading_instead(
    services: Services, chain: ChainContext, upstream: str, tmp_path: Path
) -> None:
    """Registered as a plain device (not an edge gateway), the gateway's own root is refused
    `not-a-gateway` by its own checks: it stops aggregating and forwards each reading, so what it
    acknowledged is not held for a root that can never be made."""
    plain = new_device(services.ledger)
    gateway = make_gateway(tmp_path / "edge.db", chain, upstream, key=plain.key, gateway_id=plain.device_id)
    try:
        device = new_device(services.ledger)
        gateway.sync_registry()
        ids = hand_in(gateway, device, services.ledger.domain, 2)
        assert gateway.aggregator is not None
        with pytest.raises(AggregationPaused, match="not-a-gateway"):
            gateway.aggregator.seal_once()
        assert gateway.status()["aggregation_stopped"] is not None and gateway.aggregator.seal_once() is None
        assert all(gateway.store.membership(i) is None for i in ids)
        assert gateway.forwarder.forward_once().forwarded == 2
        assert [row[0] for row in upstream_rows(services, "0x" + device.device_id.hex())] == ["temperature"] * 2
    finally:
        gateway.close()


def test_a_crash_between_a_roots_members_and_its_reading_seals_the_readings_again(
    services: Services, aggregating: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The members are written first; the gateway dies before its root reading is stored (here: the
    store raises). The next sealing finds the root without its reading, releases the readings and
    seals them again: none stays marked under a root that does not exist."""
    device = new_device(services.ledger)
    aggregating.sync_registry()
    ids = hand_in(aggregating, device, services.ledger.domain, 2)
    assert aggregating.aggregator is not None
    store_reading = aggregating.ingestor.ingest_many

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the process died here")

    monkeypatch.setattr(aggregating.ingestor, "ingest_many", crash)
    with pytest.raises(OSError):
        aggregating.aggregator.seal_once()
    assert aggregating.status()["aggregated"] == 2  # marked, under a root whose reading was never stored
    monkeypatch.setattr(aggregating.ingestor, "ingest_many", store_reading)
    sealed = aggregating.aggregator.seal_once()
    assert sealed is not None and sealed.reading_count == 2
    member = aggregating.store.membership(ids[0])
    assert member is not None and member.root_reading_id == sealed.root_reading_id
    assert aggregating.forwarder.forward_once().forwarded == 1


def test_a_proof_asked_while_upstream_is_out_of_reach_is_a_502_not_a_half_bundle(
    services: Services, chain: ChainContext, tmp_path: Path
) -> None:
    own = new_device(services.ledger, model=GATEWAY_MODEL)
    gateway = make_gateway(tmp_path / "edge.db", chain, "http://127.0.0.1:9", key=own.key, gateway_id=own.device_id)
    try:
        device = new_device(services.ledger)
        gateway.sync_registry()
        [held] = hand_in(gateway, device, services.ledger.domain, 1)
        assert gateway.aggregator is not None and gateway.aggregator.seal_once() is not None
        assert_problem(TestClient(create_edge_app(gateway)).get(f"/v1/readings/{held}/proof"), 502,
                       "upstream-unreachable")  # fmt: skip
    finally:
        gateway.close()
