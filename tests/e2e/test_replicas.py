"""Two replicas of every component (API, batcher, Celery worker, indexer, oracle daemon), as
separate processes on one PostgreSQL, one broker and one chain: readings posted to either API are
each anchored exactly once, in a batch whose root is the tree of exactly its readings, with a proof
that verifies; every anchor on chain is one batch of the database; one indexer writes the mirror
while the other stands by, and a standby takes over when the writer dies."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import Engine, create_engine, text

from ledger_service.core.chain.client import connect
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.chain.manifest import load_manifest
from ledger_service.core.compiler import Artifact
from ledger_service.core.device_index import build_entries, commitment
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.merkle import MerkleTree
from tests.e2e.test_end_to_end import run_cli
from tests.utils.factories import Device, signed_body
from tests.utils.postgres import postgres_database
from tests.utils.service import RunningService
from tests.utils.settings import make_settings
from tests.utils.skeleton import verify_on_chain
from tests.utils.worker import REDIS_URL

READINGS_PER_DEVICE = 40


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgres_database()


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A Redis database of its own for the test."""
    url = f"{REDIS_URL}/{1 + uuid.uuid4().int % 15}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


def test_two_replicas_of_every_component_anchor_every_reading_once(
    tmp_path: Path, artifacts: dict[str, Artifact], database_url: str, broker_url: str
) -> None:
    env = {
        "PROVENANCE_BROKER_URL": broker_url,
        "PROVENANCE_DATABASE_URL": database_url, "PROVENANCE_BATCH_SIZE": "16", "PROVENANCE_BATCH_AGE": "0.3",
        "PROVENANCE_DEVICE_RATE": "0", "PROVENANCE_DATA_DIR": str(tmp_path / ".provenance"),
    }  # fmt: skip
    with RunningService(tmp_path, command=("chain",), ready_text="chain up", env=env) as chain:
        deployed = run_cli(tmp_path, "deploy", env={"PROVENANCE_KEYSTORE_SCRYPT_N": "1024"})
        assert deployed.returncode == 0, deployed.stderr
        settings = make_settings(tmp_path / ".provenance", database_url=database_url)
        deployment = load_manifest(settings.manifest_path)
        assert deployment is not None
        ledger = Ledger(connect(settings, chain.rpc_url), deployment, artifacts)
        devices = [Device(key=DeviceKey.generate(KeyType.SECP256K1)) for _ in range(4)]
        for device in devices:
            ledger.register_device(device.device_id, device.key.public_key)
        serve = ("serve",)
        with ExitStack() as stack:

            def replica(name: str, command: tuple[str, ...], ready: str) -> RunningService:
                return stack.enter_context(RunningService(tmp_path / name, command=command, ready_text=ready, env=env))

            first = replica("api-1", serve, "API on http://")
            second = replica("api-2", serve, "API on http://")
            b1 = replica("batcher-1", ("batcher",), "batcher running")
            b2 = replica("batcher-2", ("batcher",), "batcher running")
            workers = [replica(f"worker-{n}", ("worker",), "anchoring worker on") for n in (1, 2)]
            replica("index-1", ("index",), "following the head")
            standby = replica("index-2", ("index",), "standing by")
            for name in ("a", "b"):
                replica(f"oracle-{name}", ("oracle", "--name", name), "running")
            urls = [service.log().split("API on ")[-1].split()[0] for service in (first, second)]
            assert urls[0] != urls[1]
            apis = [httpx.Client(base_url=url, timeout=30) for url in urls]
            try:
                sent = []
                for round_ in range(READINGS_PER_DEVICE):
                    for index, device in enumerate(devices):  # one device's readings alternate between the APIs
                        answer = apis[(round_ + index) % 2].post(
                            "/v1/readings", json=signed_body(device, ledger.domain)
                        )
                        assert answer.status_code == 201, answer.text
                        sent.append(answer.json()["id"])
                engine = create_engine(database_url)
                try:
                    wait_all_anchored(engine, len(sent))
                    check_batches(engine, sent)
                    with engine.connect() as conn:
                        anchored = conn.execute(text("SELECT COUNT(*) FROM batch")).scalar_one()
                finally:
                    engine.dispose()
                assert ledger.notary.functions.batchCount().call() == anchored  # no batch anchored twice
                assert all("sealed batch" in batcher.log() for batcher in (b1, b2))  # both batchers took part
                assert "this indexer writes" not in standby.log()  # one writer only
                assert all(w.process is not None and w.process.poll() is None for w in workers)  # both still up
                wait_indexed(database_url, ledger.client.w3.eth.block_number)
                for reading_id in sent[:: len(sent) // 8]:  # proofs from the other API than the one that took it
                    bundle = apis[1].get(f"/v1/readings/{reading_id}/proof").json()
                    assert verify_on_chain(chain.rpc_url, artifacts, bundle) == (True, False)
            finally:
                for api in apis:
                    api.close()


def wait_indexed(database_url: str, head: int) -> None:
    engine = create_engine(database_url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if (conn.execute(text("SELECT head_number FROM index_state")).scalar() or -1) >= head:
                    return
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise AssertionError(f"the mirror did not reach block {head}")


def wait_all_anchored(engine: Engine, count: int) -> None:
    deadline = time.monotonic() + 120
    query = text(
        "SELECT COUNT(*) FROM reading r JOIN batch b ON b.id = r.batch_id WHERE b.transaction_hash IS NOT NULL"
    )
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one() == count:
                return
        time.sleep(0.2)
    raise AssertionError("not every reading was anchored")


def check_batches(engine: Engine, sent: list[str]) -> None:
    """Each reading in one batch; each batch's root the tree of exactly its readings."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, batch_id, tree_index, device_id, key_index, sequence, timestamp FROM reading")
        ).all()
        batches = {row.id: row.root for row in conn.execute(text("SELECT id, root FROM batch"))}
    assert sorted(row.id for row in rows) == sorted(sent)
    for batch_id, root in batches.items():
        held = sorted((row for row in rows if row.batch_id == batch_id), key=lambda row: row.tree_index)
        leaves = [bytes.fromhex(row.id[2:]) for row in held] + [commitment(build_entries(held))]
        assert root == "0x" + MerkleTree(leaves).root.hex()


def test_one_indexer_writes_and_a_standby_takes_over_when_it_dies(
    tmp_path: Path, artifacts: dict[str, Artifact], database_url: str
) -> None:
    env = {"PROVENANCE_DATABASE_URL": database_url, "PROVENANCE_DATA_DIR": str(tmp_path / ".provenance")}
    with RunningService(tmp_path, command=("chain",), ready_text="chain up", env=env) as chain:
        deployed = run_cli(tmp_path, "deploy", env={"PROVENANCE_KEYSTORE_SCRYPT_N": "1024"})
        assert deployed.returncode == 0, deployed.stderr
        index = ("index",)
        with (
            RunningService(tmp_path / "index-1", command=index, ready_text="following the head", env=env) as first,
            RunningService(tmp_path / "index-2", command=index, ready_text="standing by", env=env) as second,
        ):
            assert "this indexer writes" not in second.log()  # the standby writes nothing
            first.kill()  # SIGKILL: its database session ends, and the lease with it
            deadline = time.monotonic() + 30
            while "following the head" not in second.log() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "this indexer writes the mirror" in second.log() and "following the head" in second.log()
            settings = make_settings(tmp_path / ".provenance", database_url=database_url)
            deployment = load_manifest(settings.manifest_path)
            assert deployment is not None
            ledger = Ledger(connect(settings, chain.rpc_url), deployment, artifacts)
            ledger.register_device(os.urandom(32), DeviceKey.generate(KeyType.SECP256K1).public_key)
            head = ledger.client.w3.eth.block_number
            engine = create_engine(database_url)
            try:
                while time.monotonic() < deadline + 30:
                    with engine.connect() as conn:
                        indexed = conn.execute(text("SELECT head_number FROM index_state")).scalar_one()
                    if indexed >= head:
                        break
                    time.sleep(0.2)
                assert indexed >= head  # the new writer follows the chain
            finally:
                engine.dispose()
