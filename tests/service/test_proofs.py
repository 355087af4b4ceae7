"""Proof bundles and `provenance verify`, multiproofs, and the batch status endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

from ledger_service.app.api.app import create_app
from ledger_service.app.cli import app as cli_app
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.enums import KeyType
from ledger_service.core.merkle import split_path, verify
from ledger_service.core.models import StoredReading
from ledger_service.services.container import Services
from ledger_service.services.trust import TrustAnchor, anchor_from_document, trust_document
from ledger_service.services.verify import verify_bundle
from tests.utils.bundles import tampered
from tests.utils.factories import new_device, signed_body
from tests.utils.problems import assert_problem


@pytest.fixture
def api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as http:
        yield http


def anchored_ids(api: TestClient, services: Services, count: int, key_type: KeyType = KeyType.SECP256K1) -> list[str]:
    device = new_device(services.ledger, key_type)
    ids = [
        api.post("/v1/readings", json=signed_body(device, services.ledger.domain)).json()["id"] for _ in range(count)
    ]
    batcher = services.batcher()
    batcher.batch_age = 0
    batcher.batch_size = 1000
    batcher.run_once()
    return ids


def failed(checks: list[Any]) -> list[str]:
    return [c.name for c in checks if not c.ok]


def pin(services: Services) -> TrustAnchor:
    """The operator's trust document, as a verifier pins it."""
    return anchor_from_document(trust_document(services.ledger.deployment), "the trust document")


@pytest.mark.parametrize("key_type", [KeyType.SECP256K1, KeyType.P256])
def test_bundle_verifies_offline_and_on_chain(
    api: TestClient, services: Services, anvil: ManagedAnvil, key_type: KeyType
) -> None:
    reading_id = anchored_ids(api, services, 5, key_type)[2]
    bundle = api.get(f"/v1/readings/{reading_id}/proof").json()
    assert bundle["status"] == "confirmed" and bundle["anchor"]["confirmations"] >= 1
    assert bundle["batch"]["content_id"].startswith("bafkrei") and bundle["key"]["type"] == key_type.label
    result = verify_bundle(bundle, pin(services), anvil.url)
    assert failed(result.checks) == [] and result.complete
    assert [c.name for c in result.checks] == [
        "pinned-contracts", "format", "reading", "digest", "signature", "leaf", "merkle-path", "log-path",
        "chain-id", "genesis", "contract-code", "contract-code", "transaction", "anchor-event", "anchor-record",
        "timeline", "confirmations", "device-key", "registry-verify",
    ]  # fmt: skip


TAMPERS = [
    ("reading.value", 1, "reading"),
    ("eip712.message.value", 1, "reading"),
    ("digest", "0x" + "11" * 32, "digest"),
    ("reading.signature", "0x" + "22" * 65, "signature"),
    ("key.address", "0x" + "33" * 20, "signature"),
    ("leaf.hash", "0x" + "44" * 32, "leaf"),
    ("merkle.proof.0", "0x" + "55" * 32, "merkle-path"),
    ("merkle.root", "0x" + "66" * 32, "merkle-path"),
    ("anchor.chain_id", 1, "pinned-contracts"),
    ("anchor.registry", "0x" + "98" * 20, "pinned-contracts"),
    ("eip712.domain.chainId", 1, "pinned-contracts"),
    ("anchor.transaction_hash", "0x" + "77" * 32, "transaction"),
    ("anchor.block_hash", "0x" + "88" * 32, "transaction"),
    ("anchor.batch_id", 10**6, "anchor-event"),
    ("batch.reading_count", 10**6, "anchor-record"),  # the chain's record of the batch disagrees
    ("batch.last_timestamp", 1, "anchor-record"),
    ("batch.content_id", "bafkreiother", "anchor-record"),
    ("anchor.notary", "0x" + "99" * 20, "pinned-contracts"),
]


def test_each_tampered_bundle_fails_at_its_check(api: TestClient, services: Services, anvil: ManagedAnvil) -> None:
    ids = anchored_ids(api, services, 4)
    bundle = api.get(f"/v1/readings/{ids[0]}/proof").json()
    for path, value, check in TAMPERS:
        results = verify_bundle(tampered(bundle, path, value), pin(services), anvil.url)
        assert failed(results.checks)[:1] == [check], (path, failed(results.checks))
    too_deep = verify_bundle(bundle, pin(services), anvil.url, min_confirmations=10**6)
    assert failed(too_deep.checks) == ["confirmations"]


def test_verify_command_prints_each_check_and_exits_non_zero_on_failure(
    api: TestClient, services: Services, anvil: ManagedAnvil, tmp_path: Path
) -> None:
    bundle = api.get(f"/v1/readings/{anchored_ids(api, services, 2)[0]}/proof").json()
    good, bad, trust = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "trust.json"
    good.write_text(json.dumps(bundle))
    bad.write_text(json.dumps(tampered(bundle, "merkle.proof.0", "0x" + "55" * 32)))
    trust.write_text(json.dumps(trust_document(services.ledger.deployment)))
    runner = CliRunner()
    passed = runner.invoke(cli_app, ["verify", str(good), "--trust", str(trust), "--rpc", anvil.url])
    assert passed.exit_code == 0, passed.output
    assert "merkle-path" in passed.output and "the bundle verifies" in passed.output
    refused = runner.invoke(cli_app, ["verify", str(bad), "--trust", str(trust), "--rpc", anvil.url])
    assert refused.exit_code == 1 and "FAIL merkle-path" in refused.output
    consistent = runner.invoke(cli_app, ["verify", str(good), "--self-consistency-only"])
    assert consistent.exit_code == 0 and "only self-consistency was checked" in consistent.output
    (tmp_path / "junk.json").write_text("{")
    junk = runner.invoke(cli_app, ["verify", str(tmp_path / "junk.json"), "--self-consistency-only"])
    assert junk.exit_code == 2 and "cannot read" in junk.output


def test_multiproof_verifies_on_chain(api: TestClient, services: Services) -> None:
    ids = anchored_ids(api, services, 9)
    picked = [ids[1], ids[4], ids[8]]
    proof = api.post("/v1/proofs/multi", json={"reading_ids": picked}).json()
    assert sorted(proof["leaves"]) == sorted(picked)
    notary = services.ledger.notary.functions
    root = bytes.fromhex(proof["root"][2:])
    leaves = [bytes.fromhex(x[2:]) for x in proof["leaves"]]
    siblings = [bytes.fromhex(x[2:]) for x in proof["proof"]]
    services.ledger.record_anchors([root])
    assert notary.verifyMulti(root, leaves, siblings, proof["proof_flags"]).call()
    assert not notary.verifyMulti(root, leaves[::-1], siblings, proof["proof_flags"]).call()


def test_multiproof_refusals(api: TestClient, services: Services) -> None:
    first = anchored_ids(api, services, 2)
    second = anchored_ids(api, services, 2)
    assert_problem(
        api.post("/v1/proofs/multi", json={"reading_ids": [first[0], second[0]]}), 422, "readings-span-batches"
    )
    assert_problem(api.post("/v1/proofs/multi", json={"reading_ids": ["0x" + "ab" * 32]}), 404, "not-found")
    assert_problem(api.post("/v1/proofs/multi", json={"reading_ids": []}), 422, "validation-error")
    device = new_device(services.ledger)
    pending = api.post("/v1/readings", json=signed_body(device, services.ledger.domain)).json()["id"]
    assert_problem(api.post("/v1/proofs/multi", json={"reading_ids": [pending]}), 409, "not-yet-anchored")


def test_batch_endpoints_show_status_and_lag(api: TestClient, services: Services) -> None:
    ids = anchored_ids(api, services, 3)
    device = new_device(services.ledger)
    api.post("/v1/readings", json=signed_body(device, services.ledger.domain))
    listed = api.get("/v1/batches", params={"status": "confirmed"}).json()
    assert listed["count"] == 1 and listed["data"][0]["reading_count"] == 3
    batch_id = listed["data"][0]["id"]
    one = api.get(f"/v1/batches/{batch_id}").json()
    assert one["root"] == api.get(f"/v1/readings/{ids[0]}/proof").json()["merkle"]["root"]
    assert api.get("/v1/batches", params={"status": "open"}).json()["data"][0]["reading_count"] == 1
    lag = api.get("/v1/batches/lag").json()
    assert lag["last_anchored"]["id"] == batch_id and lag["open"]["reading_count"] == 1
    assert lag["lag_seconds"] is not None
    assert_problem(api.get("/v1/batches/999999"), 404, "not-found")
    assert_problem(api.get("/v1/batches", params={"status": "lost"}), 422, "validation-error")


def test_a_proof_is_two_reads_by_key_and_never_a_tree_rebuild(
    api: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sealing stores each reading's sibling path: a bundle reads the reading and its batch, and
    no statement touches the batch's other readings. (A batch the transparency log does not hold
    yet makes the log look at the mirror at most once a `miss_interval`: here, once.)"""
    from sqlalchemy import event

    ids = anchored_ids(api, services, 9)
    services.proofs.bundle(ids[4])
    monkeypatch.setattr(services.transparency_log, "miss_interval", 3600.0)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(services.engine, "before_cursor_execute", record)
    try:
        bundle = services.proofs.bundle(ids[4])
    finally:
        event.remove(services.engine, "before_cursor_execute", record)
    assert len(statements) == 2, statements
    assert [s.startswith("SELECT") for s in statements] == [True, True]
    assert "WHERE reading.id =" in statements[0] and "WHERE batch.id =" in statements[1], statements
    with Session(services.engine) as session:
        stored = session.get(StoredReading, ids[4])
        assert stored is not None and stored.proof is not None
    assert bundle["merkle"]["proof"] == ["0x" + stored.proof[i : i + 32].hex() for i in range(0, len(stored.proof), 32)]
    assert verify(bytes.fromhex(bundle["merkle"]["root"][2:]), bytes.fromhex(ids[4][2:]), split_path(stored.proof))


def test_a_batch_sealed_without_paths_gets_them_once(api: TestClient, services: Services) -> None:
    """A batch sealed by a service older than the stored paths (a rolling upgrade) still proves;
    its paths are filled in at the first request, for all its readings."""
    ids = anchored_ids(api, services, 5)
    with Session(services.engine) as session:
        for reading_id in ids:
            row = session.get(StoredReading, reading_id)
            assert row is not None
            row.proof, row.tree_index = None, None
            session.add(row)
        session.commit()
    bundle = api.get(f"/v1/readings/{ids[0]}/proof").json()
    offline = verify_bundle(bundle, pin(services), None)
    assert offline.checks and failed(offline.checks) == []
    with Session(services.engine) as session:
        assert all(session.get(StoredReading, i).proof is not None for i in ids)  # type: ignore[union-attr]
    proof = api.post("/v1/proofs/multi", json={"reading_ids": ids[1:4]}).json()
    leaves = [bytes.fromhex(x[2:]) for x in proof["leaves"]]
    services.ledger.record_anchors([bytes.fromhex(proof["root"][2:])])
    assert services.ledger.notary.functions.verifyMulti(
        bytes.fromhex(proof["root"][2:]), leaves, [bytes.fromhex(x[2:]) for x in proof["proof"]], proof["proof_flags"]
    ).call()
