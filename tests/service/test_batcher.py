"""The batcher: sealing by size and by age, anchoring once, surviving chain failures."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from ledger_service.core.chain.client import connect
from ledger_service.core.chain.deploy import deploy
from ledger_service.core.chain.ledger import AnchorRecord, Ledger
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.compiler import Artifact
from ledger_service.core.db import make_engine
from ledger_service.core.device_index import Entry, build_entries, commitment, unpack
from ledger_service.core.errors import ChainError, SealingRaced
from ledger_service.core.merkle import MerkleTree
from ledger_service.core.models import Batch, BatchStatus, StoredReading
from ledger_service.services.batcher import Batcher
from ledger_service.services.container import Services
from ledger_service.services.content import cid_of
from ledger_service.services.sealing import Sealer
from tests.utils.factories import new_device
from tests.utils.readings import store
from tests.utils.reverts import error_of
from tests.utils.settings import make_settings


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        self.now += 0.001  # time moves on a little at every look
        return self.now


def batcher_for(services: Services, clock: Clock, **overrides: Any) -> Batcher:
    """The service's batcher with a test clock and the given fields replaced."""
    batcher = services.batcher()
    batcher.clock = clock
    for name, value in overrides.items():
        setattr(batcher, name, value)
    return batcher


def batches(services: Services) -> list[Batch]:
    with Session(services.engine) as session:
        return list(session.exec(select(Batch).order_by(col(Batch.id))).all())


@pytest.fixture
def clock(services: Services) -> Clock:
    clock = Clock()
    services.ingestor.policy.clock = clock
    return clock


def test_batch_closes_at_size_and_leaves_the_rest_open(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    ids = store(services, device, 10)
    batcher = batcher_for(services, clock, batch_size=4, batch_age=60)
    assert len(batcher.seal_due()) == 2
    assert batcher.seal_due() == []  # 2 readings left, younger than the age limit
    sealed = batches(services)
    assert [b.reading_count for b in sealed] == [4, 4]
    with Session(services.engine) as session:
        first_batch = session.exec(select(StoredReading.id).where(StoredReading.batch_id == sealed[0].id)).all()
    assert sorted(first_batch) == sorted(ids[:4])
    index = commitment(unpack(sealed[0].device_index or b""))  # the batch's device index leaf
    assert sealed[0].root == "0x" + MerkleTree([bytes.fromhex(i[2:]) for i in ids[:4]] + [index]).root.hex()
    (entry,) = unpack(sealed[0].device_index or b"")
    assert (entry.device_id, entry.first_sequence, entry.last_sequence, entry.count) == (device.device_id, 1, 4, 4)


def test_batch_closes_at_age(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 2)
    batcher = batcher_for(services, clock, batch_size=100, batch_age=5)
    clock.now += 4.9
    assert batcher.seal_due() == []
    clock.now += 0.2
    assert len(batcher.seal_due()) == 1
    assert batches(services)[0].reading_count == 2


def test_anchoring_marks_batches_anchored_with_their_transaction(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 5)
    batcher = batcher_for(services, clock, batch_size=5, batch_age=60)
    batcher.run_once()
    (batch,) = batches(services)
    assert batch.status == BatchStatus.CONFIRMED  # one confirmation, the default, is the anchor block itself
    root = bytes.fromhex(batch.root[2:])
    services.ledger.record_anchors([root])
    batch_id, count, first, last = services.ledger.notary.functions.getRecord(root).call()
    assert (batch_id, count) == (batch.chain_batch_id, 5)
    assert (first, last) == (batch.first_timestamp, batch.last_timestamp)
    assert services.ledger.find_anchor(root) == AnchorRecord(
        batch.chain_batch_id or 0, batch.transaction_hash or "", batch.block_number or 0, batch.block_hash or ""
    )
    (event,) = services.ledger.notary.events.BatchAnchored().get_logs(
        from_block=batch.block_number, to_block=batch.block_number
    )
    assert event["args"]["contentId"] == batch.content_id


def test_payload_is_stored_under_its_cid_and_lists_every_reading(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    ids = store(services, device, 3)
    batcher_for(services, clock, batch_size=3, batch_age=60).seal_due()
    (batch,) = batches(services)
    data = services.content_store().get(batch.content_id)
    assert cid_of(data) == batch.content_id and batch.content_id.startswith("bafkrei")
    payload = json.loads(data)
    assert payload["format"] == "provenance-ledger/batch@2" and payload["root"] == batch.root
    assert payload["chain_id"] == services.ledger.deployment.chain_id
    assert [r["id"] for r in payload["readings"]] == sorted(ids)
    assert data == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    entries = [Entry.decode(bytes.fromhex(e[2:])) for e in payload["device_index"]]
    assert entries == build_entries(SimpleNamespace(**r) for r in payload["readings"])
    tree = MerkleTree([bytes.fromhex(r["id"][2:]) for r in payload["readings"]] + [commitment(entries)])
    assert "0x" + tree.root.hex() == batch.root


def test_batch_is_confirmed_after_enough_blocks(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 2)
    batcher = batcher_for(services, clock, batch_size=2, batch_age=60, confirmations=3)
    batcher.run_once()
    assert batches(services)[0].status == BatchStatus.ANCHORED
    w3 = services.ledger.client.w3
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert batcher.confirm_anchored() == []
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    assert batcher.confirm_anchored() == [batches(services)[0].id]
    assert batches(services)[0].status == BatchStatus.CONFIRMED


def test_anchor_lost_in_a_reorg_is_anchored_again(
    artifacts: dict[str, Artifact], tmp_path: Path, database_url: str, clock: Clock
) -> None:
    with ManagedAnvil(state_dir=None) as node:
        settings = make_settings(tmp_path / "reorg", database_url=database_url)
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        services = Services.build(settings, client, deployment, artifacts)
        try:
            services.ingestor.policy.clock = clock
            device = new_device(services.ledger)
            store(services, device, 2)
            snapshot = client.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
            batcher = batcher_for(services, clock, batch_size=2, batch_age=60, confirmations=5)
            batcher.run_once()
            first = batches(services)[0]
            assert first.status == BatchStatus.ANCHORED
            client.w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
            client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            client.reset_nonce()
            batcher.confirm_anchored()
            assert batches(services)[0].status == BatchStatus.SEALED
            batcher.anchor_sealed()
            again = batches(services)[0]
            assert again.status == BatchStatus.ANCHORED and again.block_hash != first.block_hash
            assert services.ledger.notary.functions.batchCount().call() == 1
        finally:
            services.close()


def test_an_anchor_a_reorg_put_back_is_recorded_and_never_doubled(
    artifacts: dict[str, Artifact], tmp_path: Path, database_url: str, clock: Clock
) -> None:
    """A reorg drops the anchor; a node puts the transaction back and it lands again (geth does;
    anvil drops it, so the test sends it back itself). The batch is recorded from it. And an anchor
    sent against the log as it was before that copy landed reverts instead of appending the root
    a second time (the notary keeps nothing per root to refuse it by)."""
    with ManagedAnvil(state_dir=None) as node:
        settings = make_settings(tmp_path / "repool", database_url=database_url)
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        services = Services.build(settings, client, deployment, artifacts)
        try:
            services.ingestor.policy.clock = clock
            store(services, new_device(services.ledger), 2)
            w3 = client.w3
            snapshot = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
            batcher = batcher_for(services, clock, batch_size=2, batch_age=60, confirmations=5)
            batcher.run_once()
            first = batches(services)[0]
            raw = w3.provider.make_request("eth_getRawTransactionByHash", [first.transaction_hash])["result"]  # type: ignore[arg-type]
            w3.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            client.reset_nonce()
            batcher.confirm_anchored()
            assert batches(services)[0].status == BatchStatus.SEALED
            stale_id = services.ledger.notary.functions.batchCount().call()
            w3.eth.send_raw_transaction(raw)  # the dropped transaction is back, and lands
            batcher.anchor_sealed()
            again = batches(services)[0]
            assert again.status == BatchStatus.ANCHORED and again.transaction_hash == first.transaction_hash
            assert services.ledger.notary.functions.batchCount().call() == 1
            root = bytes.fromhex(again.root[2:])
            anchorer = client.for_role("anchorer")
            late = services.ledger.notary.functions.anchorAs(
                stale_id, root, again.reading_count, again.first_timestamp, again.last_timestamp, again.content_id
            )
            assert error_of(lambda: anchorer.transact(late)) == "DataNotaryNotNextBatch"
            assert services.ledger.notary.functions.batchCount().call() == 1
        finally:
            services.close()


def test_batch_anchored_before_a_crash_is_recorded_not_anchored_again(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 3)
    batcher = batcher_for(services, clock, batch_size=3, batch_age=60)
    batcher.seal_due()
    (batch,) = batches(services)
    # The transaction went out, then the process died before it wrote the result down.
    root = bytes.fromhex(batch.root[2:])
    sent = services.ledger.anchor(root, 3, batch.first_timestamp, batch.last_timestamp, batch.content_id)
    count = services.ledger.notary.functions.batchCount().call()

    batcher.anchor_sealed()

    (batch,) = batches(services)
    assert batch.status == BatchStatus.ANCHORED
    assert batch.transaction_hash == sent.transaction_hash
    assert services.ledger.notary.functions.batchCount().call() == count


class DownChain:
    """A chain that does not answer."""

    def anchor(self, root: bytes, count: int, first_ts: int, last_ts: int, content_id: str) -> AnchorRecord:
        raise ChainError("connection refused")

    def find_anchor(self, root: bytes, batch: tuple[int, int, int, str] | None = None) -> AnchorRecord | None:
        raise ChainError("connection refused")

    def anchor_depth(self, transaction_hash: str, block_hash: str) -> int | None:
        raise ChainError("connection refused")

    def finalized_block(self) -> int | None:
        raise ChainError("connection refused")

    def reset_nonce(self) -> None:
        pass


def test_chain_failure_keeps_the_batch_sealed_for_a_retry(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 2)
    down = batcher_for(services, clock, batch_size=2, batch_age=60, anchorer=DownChain())
    with pytest.raises(ChainError):
        down.run_once()
    (batch,) = batches(services)
    assert batch.status == BatchStatus.SEALED
    assert batch.attempts == 1 and "connection refused" in (batch.last_error or "")

    batcher_for(services, clock, batch_size=2, batch_age=60).run_once()
    (batch,) = batches(services)
    assert batch.status == BatchStatus.CONFIRMED and batch.last_error is None


def test_nothing_to_do_is_a_quiet_round(services: Services, ledger: Ledger, clock: Clock) -> None:
    count = ledger.notary.functions.batchCount().call()
    batcher_for(services, clock, batch_size=2, batch_age=0).run_once()
    assert batches(services) == []
    assert ledger.notary.functions.batchCount().call() == count


def test_two_batchers_never_seal_one_reading_twice(services: Services, clock: Clock) -> None:
    """Two batchers (each with its own database engine, as two processes have) seal the same
    pending readings at once. Each reading ends in exactly one batch, and every batch's root is the
    tree of the readings it holds: a batcher that lost a race rolls back instead of taking the
    other's readings (on PostgreSQL the rows one claims are passed over by the other)."""
    device = new_device(services.ledger)
    ids = store(services, device, 240)
    engines = [make_engine(services.settings.database_url) for _ in range(2)]
    raced: list[int] = []

    def seal(engine: Engine) -> None:
        sealer = Sealer(engine, services.content_store(), batch_size=4, batch_age=0.0)
        while True:
            try:
                if not sealer.seal_due():
                    return
            except SealingRaced:
                raced.append(1)

    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(seal, engines))
    finally:
        for engine in engines:
            engine.dispose()
    sealed = batches(services)
    with Session(services.engine) as session:
        rows = session.exec(select(StoredReading)).all()
    assert sorted(r.id for r in rows if r.batch_id is not None) == sorted(ids)  # every reading, once
    for batch in sealed:
        held = sorted((r for r in rows if r.batch_id == batch.id), key=lambda r: r.tree_index or 0)
        assert len(held) == batch.reading_count == 4
        leaves = [bytes.fromhex(r.id[2:]) for r in held] + [commitment(build_entries(held))]
        assert batch.root == "0x" + MerkleTree(leaves).root.hex()
    if services.engine.dialect.name == "postgresql":
        assert raced == []  # SKIP LOCKED: each batcher claimed rows the other had not, no work thrown away
