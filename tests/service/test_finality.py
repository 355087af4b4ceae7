"""Finality: a confirmed batch is watched until the chain cannot take it back (the `finalized` tag,
or a depth where the chain has none), and anchored again when a reorg drops its transaction, on a
real anvil reorganized with `anvil_reorg`; its readings' proofs then name the new anchor."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.client import connect
from ledger_service.core.chain.deploy import deploy
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.compiler import Artifact
from ledger_service.core.models import Batch, BatchStatus
from ledger_service.services.batcher import Batcher
from ledger_service.services.container import Services
from tests.utils.factories import new_device
from tests.utils.readings import store
from tests.utils.settings import make_settings


def batches(services: Services) -> list[Batch]:
    with Session(services.engine) as session:
        return list(session.exec(select(Batch).order_by(col(Batch.id))).all())


def mine(services: Services, blocks: int) -> None:
    for _ in range(blocks):
        services.ledger.client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def batcher_of(services: Services, **overrides: Any) -> Batcher:
    batcher = services.batcher()
    batcher.batch_size, batcher.batch_age, batcher.recheck_every = 2, 60, 0
    for name, value in overrides.items():
        setattr(batcher, name, value)
    return batcher


class WithoutFinalizedTag(Ledger):
    """The deployed contracts, reached through a node that does not know the `finalized` tag."""

    def finalized_block(self) -> int | None:
        return None


def test_confirmed_batch_becomes_final_at_the_finalized_block(services: Services) -> None:
    store(services, new_device(services.ledger), 2)
    batcher = batcher_of(services)
    batcher.run_once()
    (batch,) = batches(services)
    assert batch.status == BatchStatus.CONFIRMED and batch.final_at is None
    finalized = services.ledger.finalized_block()
    assert finalized is not None and finalized < (batch.block_number or 0)  # anvil: two blocks behind the head
    mine(services, 1)
    assert batcher.finalize_confirmed() == []
    mine(services, 1)
    assert batcher.finalize_confirmed() == [batch.id]
    (batch,) = batches(services)
    assert batch.status == BatchStatus.FINAL and batch.final_at is not None
    mine(services, 1)
    batcher.run_once()
    assert batches(services)[0].final_at == batch.final_at  # a final batch is not looked at again


def test_depth_decides_where_the_chain_has_no_finalized_tag(services: Services) -> None:
    ledger = services.ledger
    store(services, new_device(ledger), 2)
    untagged = WithoutFinalizedTag(ledger.client, ledger.deployment, services.artifacts)
    batcher = batcher_of(services, anchorer=untagged, final_depth=4)
    batcher.run_once()
    assert batches(services)[0].status == BatchStatus.CONFIRMED
    mine(services, 2)
    assert batcher.finalize_confirmed() == []  # three deep
    mine(services, 1)
    assert batcher.finalize_confirmed() == [batches(services)[0].id]


def test_rechecks_are_spaced_by_recheck_every(services: Services) -> None:
    store(services, new_device(services.ledger), 2)
    batcher = batcher_of(services, recheck_every=3600)
    batcher.run_once()  # confirms, and takes this round's look at confirmed batches
    mine(services, 3)
    assert batcher.finalize_confirmed() == []
    batcher.recheck_every = 0
    assert batcher.finalize_confirmed() == [batches(services)[0].id]


@pytest.fixture
def reorg_chain(artifacts: dict[str, Artifact], tmp_path: Path, database_url: str) -> Iterator[Services]:
    """Services over an anvil of their own that keeps the states `anvil_reorg` needs."""
    with ManagedAnvil(state_dir=None, keep_states=128) as node:
        settings = make_settings(tmp_path / "reorg", database_url=database_url, batch_size=2, batch_age=60.0)
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        services = Services.build(settings, client, deployment, artifacts)
        try:
            yield services
        finally:
            services.close()


def reorg(services: Services, depth: int) -> None:
    answer = services.ledger.client.w3.provider.make_request("anvil_reorg", [depth, []])  # type: ignore[arg-type]
    assert "error" not in answer, answer


def test_reorg_after_confirmation_anchors_the_batch_again(reorg_chain: Services) -> None:
    """Attack (or accident): the chain drops the block of a confirmed anchor."""
    services = reorg_chain
    ledger = services.ledger
    ids = store(services, new_device(ledger), 2)
    batcher = batcher_of(services)
    batcher.run_once()
    (first,) = batches(services)
    assert first.status == BatchStatus.CONFIRMED  # one confirmation: shallow
    with TestClient(create_app(services)) as api:
        before = api.get(f"/v1/readings/{ids[0]}/proof").json()["anchor"]
        assert before["transaction_hash"] == first.transaction_hash

        reorg(services, 1)  # the anchor's block is replaced by an empty one
        root = bytes.fromhex(first.root[2:])
        assert ledger.find_anchor(root) is None
        assert ledger.client.w3.eth.get_block(first.block_number or 0)["hash"].to_0x_hex() != first.block_hash

        assert batcher.finalize_confirmed() == []
        (back,) = batches(services)
        assert back.status == BatchStatus.SEALED and back.transaction_hash is None and back.confirmed_at is None
        assert api.get(f"/v1/readings/{ids[0]}/proof").json()["code"] == "not-yet-anchored"

        batcher.run_once()  # anchored again, with a fresh nonce
        (again,) = batches(services)
        assert again.status == BatchStatus.CONFIRMED
        assert again.transaction_hash != first.transaction_hash and again.root == first.root
        assert ledger.find_anchor(root) is not None
        assert ledger.notary.functions.batchCount().call() == 1
        ledger.record_anchors([root])
        for reading_id in ids:
            bundle = api.get(f"/v1/readings/{reading_id}/proof").json()
            anchor = bundle["anchor"]
            assert (anchor["transaction_hash"], anchor["block_number"], anchor["block_hash"]) == (
                again.transaction_hash, again.block_number, again.block_hash,
            )  # fmt: skip
            proof = [bytes.fromhex(p[2:]) for p in bundle["merkle"]["proof"]]
            assert ledger.verify(root, bytes.fromhex(reading_id[2:]), proof)

        mine(services, 2)
        batcher.run_once()
        assert batches(services)[0].status == BatchStatus.FINAL
        assert api.get(f"/v1/readings/{ids[0]}/proof").json()["status"] == "final"


def test_reorg_of_an_anchored_batch_on_a_chain_without_the_tag(reorg_chain: Services) -> None:
    services = reorg_chain
    ledger = services.ledger
    store(services, new_device(ledger), 2)
    untagged = WithoutFinalizedTag(ledger.client, ledger.deployment, services.artifacts)
    batcher = batcher_of(services, anchorer=untagged, confirmations=1, final_depth=10)
    batcher.run_once()
    mine(services, 3)
    batcher.run_once()
    (batch,) = batches(services)
    assert batch.status == BatchStatus.CONFIRMED  # four deep, not ten
    reorg(services, 5)
    batcher.run_once()  # sees the anchor gone and sends the batch back
    batcher.run_once()  # anchors it again
    (again,) = batches(services)
    assert again.status == BatchStatus.CONFIRMED and again.block_hash != batch.block_hash
    mine(services, 9)
    time.sleep(0.01)
    batcher.run_once()
    assert batches(services)[0].status == BatchStatus.FINAL


class TagThenOutage(Ledger):
    """A node that answers the `finalized` tag, then fails to (an outage of that call)."""

    answered = False

    def finalized_block(self) -> int | None:
        if self.answered:
            return None
        self.answered = True
        return super().finalized_block()


def test_a_failed_look_at_the_finalized_tag_does_not_fall_back_to_depth(services: Services) -> None:
    ledger = services.ledger
    store(services, new_device(ledger), 2)
    flaky = TagThenOutage(ledger.client, ledger.deployment, services.artifacts)
    batcher = batcher_of(services, anchorer=flaky, final_depth=1)
    batcher.run_once()  # confirmed; the tag answered (the anchor is above the finalized block)
    assert flaky.answered and batches(services)[0].status == BatchStatus.CONFIRMED
    mine(services, 3)
    assert batcher.finalize_confirmed() == []  # deep enough by depth, but this chain decides by its tag
    assert batches(services)[0].status == BatchStatus.CONFIRMED
