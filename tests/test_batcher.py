"""The batcher: sealing by size and by age, anchoring once, surviving chain failures."""

from __future__ import annotations

import time

import pytest
from sqlmodel import Session, col, select

from ledger_service.batcher import Batcher
from ledger_service.chain.ledger import AnchorRecord, Ledger
from ledger_service.errors import ChainError
from ledger_service.merkle import MerkleTree
from ledger_service.models import Batch, BatchStatus, StoredReading
from ledger_service.services import Services
from tests.factories import Device, new_device


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        self.now += 0.001  # time moves on a little at every look
        return self.now


def store(services: Services, device: Device, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        reading = device.reading()
        signature = device.sign(reading, services.ledger.domain)
        ids.append(services.ingestor.ingest(reading, signature).reading.id)
    return ids


def batches(services: Services) -> list[Batch]:
    with Session(services.engine) as session:
        return list(session.exec(select(Batch).order_by(col(Batch.id))).all())


@pytest.fixture
def clock(services: Services) -> Clock:
    clock = Clock()
    services.ingestor.clock = clock
    return clock


def test_batch_closes_at_size_and_leaves_the_rest_open(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    ids = store(services, device, 10)
    batcher = Batcher(services.engine, services.ledger, batch_size=4, batch_age=60, clock=clock)
    assert len(batcher.seal_due()) == 2
    assert batcher.seal_due() == []  # 2 readings left, younger than the age limit
    sealed = batches(services)
    assert [b.reading_count for b in sealed] == [4, 4]
    with Session(services.engine) as session:
        first_batch = session.exec(select(StoredReading.id).where(StoredReading.batch_id == sealed[0].id)).all()
    assert sorted(first_batch) == sorted(ids[:4])
    assert sealed[0].root == "0x" + MerkleTree([bytes.fromhex(i[2:]) for i in ids[:4]]).root.hex()


def test_batch_closes_at_age(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 2)
    batcher = Batcher(services.engine, services.ledger, batch_size=100, batch_age=5, clock=clock)
    clock.now += 4.9
    assert batcher.seal_due() == []
    clock.now += 0.2
    assert len(batcher.seal_due()) == 1
    assert batches(services)[0].reading_count == 2


def test_anchoring_marks_batches_anchored_with_their_transaction(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 5)
    batcher = Batcher(services.engine, services.ledger, batch_size=5, batch_age=60, clock=clock)
    batcher.run_once()
    (batch,) = batches(services)
    assert batch.status == BatchStatus.ANCHORED
    onchain = services.ledger.notary.functions.getBatch(batch.chain_batch_id).call()
    assert "0x" + onchain[0].hex() == batch.root
    assert onchain[1] == 5
    assert services.ledger.find_anchor(bytes.fromhex(batch.root[2:])) == AnchorRecord(
        batch.chain_batch_id or 0, batch.transaction_hash or "", batch.block_number or 0
    )


def test_batch_anchored_before_a_crash_is_recorded_not_anchored_again(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 3)
    batcher = Batcher(services.engine, services.ledger, batch_size=3, batch_age=60, clock=clock)
    batcher.seal_due()
    (batch,) = batches(services)
    # The transaction went out, then the process died before it wrote the result down.
    sent = services.ledger.anchor(bytes.fromhex(batch.root[2:]), 3, batch.first_timestamp, batch.last_timestamp, "")
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

    def find_anchor(self, root: bytes) -> AnchorRecord | None:
        raise ChainError("connection refused")


def test_chain_failure_keeps_the_batch_sealed_for_a_retry(services: Services, clock: Clock) -> None:
    device = new_device(services.ledger)
    store(services, device, 2)
    down = Batcher(services.engine, DownChain(), batch_size=2, batch_age=60, clock=clock)
    with pytest.raises(ChainError):
        down.run_once()
    (batch,) = batches(services)
    assert batch.status == BatchStatus.SEALED
    assert batch.attempts == 1 and "connection refused" in (batch.last_error or "")

    Batcher(services.engine, services.ledger, batch_size=2, batch_age=60, clock=clock).run_once()
    (batch,) = batches(services)
    assert batch.status == BatchStatus.ANCHORED and batch.last_error is None


def test_nothing_to_do_is_a_quiet_round(services: Services, ledger: Ledger, clock: Clock) -> None:
    count = ledger.notary.functions.batchCount().call()
    Batcher(services.engine, services.ledger, batch_size=2, batch_age=0, clock=clock).run_once()
    assert batches(services) == []
    assert ledger.notary.functions.batchCount().call() == count
