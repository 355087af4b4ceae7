"""Anchoring as a Celery task through a real worker and Redis, concurrent workers sharing one
anchorer key, and an RPC outage in the middle of anchoring."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlmodel import Session, col, select

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.ledger import AnchorRecord, Ledger
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.models import Batch, BatchStatus
from ledger_service.core.settings import Settings
from ledger_service.services.container import Services
from tests.utils.factories import new_device
from tests.utils.readings import store
from tests.utils.settings import make_settings
from tests.utils.tcp_proxy import TcpProxy
from tests.utils.worker import start_worker, stop


def all_batches(services: Services) -> list[Batch]:
    with Session(services.engine) as session:
        return list(session.exec(select(Batch).order_by(col(Batch.id))).all())


def wait_until_anchored(services: Services, count: int, timeout: float) -> list[Batch]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batches = all_batches(services)
        if len(batches) == count and all(b.status != BatchStatus.SEALED for b in batches):
            return batches
        time.sleep(0.2)
    raise AssertionError(
        f"not all anchored after {timeout}s: {[(b.id, b.status, b.last_error) for b in all_batches(services)]}"
    )


def test_celery_workers_anchor_every_batch_once_without_nonce_collisions(
    services: Services, chain_settings: Settings, database_url: str, broker_url: str, anvil: ManagedAnvil,
    tmp_path: Path,
) -> None:  # fmt: skip
    from ledger_service.services.tasks import anchor_batch, configure

    settings = services.settings.model_copy(update={"broker_url": broker_url})
    configure(settings)
    device = new_device(services.ledger)
    store(services, device, 12)
    batcher = services.batcher(dispatch=lambda batch_id: anchor_batch.delay(batch_id))
    batcher.batch_size, batcher.batch_age = 2, 0
    assert len(batcher.seal_due()) == 6
    count_before = services.ledger.notary.functions.batchCount().call()
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [start_worker(chain_settings, database_url, broker_url, anvil.url, log) for log in logs]
    try:
        batcher.anchor_sealed()
        batcher.anchor_sealed()  # sent once only: the batcher remembers what it dispatched
        batches = wait_until_anchored(services, 6, timeout=90)
    finally:
        for worker in workers:
            stop(worker)
    assert services.ledger.notary.functions.batchCount().call() == count_before + 6
    assert len({b.transaction_hash for b in batches}) == 6
    for batch in batches:
        assert services.ledger.find_anchor(bytes.fromhex(batch.root[2:])) == AnchorRecord(
            batch.chain_batch_id or 0, batch.transaction_hash or "", batch.block_number or 0, batch.block_hash or ""
        )
    assert all("nonce" not in (b.last_error or "") for b in batches)
    assert any("provenance.anchor_batch" in log.read_text() for log in logs)


def test_rpc_outage_during_anchoring_is_retried_and_anchors_once(
    chain: ChainContext, chain_settings: Settings, database_url: str, anvil: ManagedAnvil, tmp_path: Path
) -> None:
    port = int(anvil.url.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        client = ChainClient(proxy.url, chain.client.for_role("anchorer").operator, timeout=3)
        client.errors = chain.client.errors
        settings = make_settings(tmp_path / "outage", database_url=database_url, batch_size=3, batch_age=0.01)
        services = Services.build(settings, client, chain.deployment, chain.artifacts)
        try:
            device = new_device(Ledger(chain.client, chain.deployment, chain.artifacts))
            services.registry.refresh(force=True)
            store(services, device, 3)
            count_before = (
                chain.client.w3.eth.contract(address=services.ledger.notary.address, abi=services.ledger.notary.abi)
                .functions.batchCount()
                .call()
            )
            from ledger_service.services.tasks import dispatcher

            batcher = services.batcher(dispatch=dispatcher(services))
            proxy.cut()
            stop_loop = threading.Event()
            loop = threading.Thread(target=batcher.run, args=(stop_loop, 0.1))
            loop.start()
            time.sleep(1.5)
            (batch,) = all_batches(services)
            assert batch.status == BatchStatus.SEALED and batch.attempts >= 1 and batch.last_error
            proxy.restore()
            batch = wait_until_anchored(services, 1, timeout=60)[0]
            stop_loop.set()
            loop.join(timeout=30)
        finally:
            services.close()
    notary = chain.client.w3.eth.contract(address=services.ledger.notary.address, abi=services.ledger.notary.abi)
    assert notary.functions.batchCount().call() == count_before + 1
    assert batch.status in (BatchStatus.ANCHORED, BatchStatus.CONFIRMED)
