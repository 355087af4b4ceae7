"""The indexer on a real anvil: backfill, reorgs (anvil_reorg and snapshots), kill and resume,
chain resets, SQLite against PostgreSQL, verification and rebuilding from the raw log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bench.chaingen import generate
from indexer.runner import ChainIndexer, target_of
from indexer.verify import verify
from ledger_service.core.chain.client import connect
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.deploy import deploy
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.chain.rpc import JsonRpc
from ledger_service.core.compiler import Artifact
from ledger_service.core.db import make_engine, upgrade_schema
from ledger_service.core.device_state import Metadata
from ledger_service.core.enums import KeyType
from ledger_service.core.errors import IndexChainChanged
from ledger_service.core.keys import DeviceKey
from ledger_service.core.mirror_models import BLOCK_TABLES, DERIVED_TABLES
from ledger_service.core.settings import Settings
from ledger_service.core.supply_chain import Location, SupplyChainContract
from tests.utils.accounts import outsider
from tests.utils.evidence import prove_breach
from tests.utils.postgres import postgres_database
from tests.utils.rpc_proxy import LogRangeLimitProxy
from tests.utils.settings import make_settings

ANCHORER_ROLE = keccak(text="ANCHORER_ROLE")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reorg_node() -> Iterator[ManagedAnvil]:
    """A fresh anvil for this module that keeps recent states in memory, so it can reorg."""
    with ManagedAnvil(state_dir=None, keep_states=512) as node:
        yield node


@pytest.fixture(scope="module")
def ix_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("indexed-chain"))


@pytest.fixture(scope="module")
def ix_chain(reorg_node: ManagedAnvil, artifacts: dict[str, Artifact], ix_settings: Settings) -> ChainContext:
    client = connect(ix_settings, reorg_node.url)
    deployment, deployed = deploy(client, artifacts, ix_settings.manifest_path)
    return ChainContext(client, deployment, artifacts, deployed)


@pytest.fixture(scope="module")
def ix_ledger(ix_chain: ChainContext) -> Ledger:
    ledger = Ledger(ix_chain.client, ix_chain.deployment, ix_chain.artifacts)
    activity(ledger, ix_chain)
    return ledger


def activity(ledger: Ledger, chain: ChainContext) -> list[bytes]:
    """Every kind of project event: registrations (both key types), rotation, suspension and
    reactivation, ownership transfer, metadata update, revocation, anchors and a role grant."""
    devices = []
    for key_type in (KeyType.SECP256K1, KeyType.P256, KeyType.SECP256K1):
        device_id = os.urandom(32)
        ledger.register_device(device_id, DeviceKey.generate(key_type).public_key, metadata=Metadata(model="m1"))
        devices.append(device_id)
    first, second, third = devices
    ledger.rotate_key(first, DeviceKey.generate(KeyType.P256).public_key)
    ledger.suspend_device(first)
    ledger.reactivate_device(first)
    ledger.update_metadata(second, Metadata(model="m2", firmware_hash=keccak(b"fw"), metadata_cid="bafy-x"))
    ledger.revoke_device(third)
    ledger.transfer_device(second, "0x" + "42" * 20)
    for index in range(3):
        ledger.anchor(os.urandom(32), 10 + index, 1_700_000_000, 1_700_000_060, f"cid-{index}")
    unlocked = ledger.client.w3.eth.accounts[0]
    ledger.client.for_role("admin").transact(ledger.notary.functions.grantRole(ANCHORER_ROLE, unlocked))
    supply_chain_activity(chain)
    return devices


def supply_chain_activity(context: ChainContext) -> None:
    """An item with a sensor, handed over and accepted, checkpointed, proven out of compliance, with
    its token minted; a second item recalled while a transfer was pending."""
    chain = context.client
    supply = SupplyChainContract(chain, context.deployment, context.artifacts)
    key = DeviceKey.generate(KeyType.SECP256K1)
    device = os.urandom(32)
    Ledger(chain, context.deployment, context.artifacts).register_device(device, key.public_key)
    receiver = outsider(chain)
    operator = chain.operator.address
    item_id = os.urandom(32)
    supply.register_item(item_id, operator, keccak(b"lot"), "bafy-lot", [device])
    expires = int(chain.w3.eth.get_block("latest")["timestamp"]) + 3600
    supply.propose_transfer(item_id, receiver.operator.address, Location.of(53.5, 9.9, "4012345000009"), expires)
    supply.as_account(receiver).accept_transfer(item_id, Location.of(51.9, 4.5))
    supply.as_account(receiver).record_checkpoint(item_id, Location.of(51.9, 4.5), 200)
    prove_breach(context, item_id, device, key)
    token = chain.w3.eth.contract(
        address=context.deployment.address_of("AssetToken"), abi=context.artifacts["AssetToken"].abi
    )
    chain.transact(token.functions.mint(operator, item_id, "ipfs://bafy-token"))
    other = os.urandom(32)
    supply.register_item(other, operator, keccak(b"other"), "", [])
    supply.propose_transfer(other, receiver.operator.address, Location(), expires)
    supply.recall(other, "contamination")


def indexer_for(url: str, chain: ChainContext, rpc_url: str | None = None, **options: Any) -> ChainIndexer:
    engine = make_engine(url, bulk=True)
    upgrade_schema(engine)
    options.setdefault("poll", 0.02)
    return ChainIndexer(
        engine, rpc_url or chain.client.rpc_url, target_of(chain.deployment, chain.artifacts), **options
    )


def contracts_and_abis(chain: ChainContext) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    contracts = {name: c.address for name, c in chain.deployment.contracts.items()}
    return contracts, {name: chain.artifacts[name].abi for name in contracts}


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every mirrored row, in a stable order, for comparing two mirrors."""
    tables = [m.__tablename__ for m in (*BLOCK_TABLES, *DERIVED_TABLES)] + ["anchored_batch"]
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in tables:
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            out[table] = sorted(
                (tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows), key=repr
            )
        out["index_state"] = [tuple(conn.execute(text("SELECT head_number, head_hash FROM index_state")).one())]
    return out


def catch_up(indexer: ChainIndexer, rpc: JsonRpc, timeout: float = 30) -> None:
    """Steps the indexer until its head is the chain's head block."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        indexer.step()
        state = indexer.store.state()
        if state is not None and state.head_hash == rpc.call("eth_getBlockByNumber", "latest", False)["hash"]:
            return
    raise AssertionError("the indexer did not reach the chain head")


def fresh_dump(tmp_path: Path, chain: ChainContext, name: str) -> dict[str, list[tuple[Any, ...]]]:
    """The mirror a new indexer builds from the chain as it is now."""
    indexer = indexer_for(f"sqlite:///{tmp_path / name}", chain)
    try:
        indexer.backfill()
        return dump(indexer.store.engine)
    finally:
        indexer.close()


def test_backfill_mirrors_the_contracts(database_url: str, ix_chain: ChainContext, ix_ledger: Ledger) -> None:
    indexer = indexer_for(database_url, ix_chain)
    try:
        assert indexer.backfill() > 0
        engine = indexer.store.engine
        report = verify(engine, ix_chain.client.rpc_url, *contracts_and_abis(ix_chain))
        assert report.ok, report.divergences
        assert report.checked["devices"] >= 3 and report.checked["batches"] >= 3
        assert report.checked["items"] >= 2 and report.checked["tokens"] >= 1
        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT status, COUNT(*) FROM device GROUP BY status")).all())
            assert statuses.get("revoked", 0) >= 1 and statuses.get("active", 0) >= 2
            history = conn.execute(
                text(
                    "SELECT key_index, key_type, valid_until_block FROM device_key WHERE device_id IN "
                    "(SELECT device_id FROM ev_device_key_rotated) ORDER BY device_id, key_index"
                )
            ).all()
            assert [(k, t) for k, t, _ in history[:2]] == [(0, 1), (1, 2)]
            assert history[0][2] is not None and history[1][2] is None
            assert (
                conn.execute(
                    text("SELECT COUNT(*) FROM role_member WHERE role = :r"), {"r": "0x" + ANCHORER_ROLE.hex()}
                ).scalar_one()
                == 2
            )
            batch = conn.execute(
                text("SELECT status, content_id, reading_count FROM anchored_batch ORDER BY batch_id")
            ).first()
            assert batch is not None and batch[0] == "confirmed" and batch[1] == "cid-0" and batch[2] == 10
            breached = conn.execute(
                text("SELECT item_id FROM item WHERE condition = 'out_of_compliance' AND status = 'active'")
            ).scalar_one()
            periods = conn.execute(
                text("SELECT custodian, until_block FROM custody_period WHERE item_id = :i ORDER BY sequence"),
                {"i": breached},
            ).all()
            assert len(periods) == 2 and periods[0][1] is not None and periods[1][1] is None
            assert (
                conn.execute(text("SELECT custodian FROM item WHERE item_id = :i"), {"i": breached}).scalar_one()
                == periods[1][0]
            )
            assert (
                conn.execute(text("SELECT COUNT(*) FROM item_device WHERE item_id = :i"), {"i": breached}).scalar_one()
                == 1
            )
            assert (
                conn.execute(
                    text("SELECT breaches FROM v_breaches_per_item WHERE item_id = :i"), {"i": breached}
                ).scalar_one()
                == 1
            )
            assert (
                conn.execute(
                    text("SELECT COUNT(*) FROM v_custody_durations WHERE item_id = :i"), {"i": breached}
                ).scalar_one()
                == 2
            )
            assert (
                conn.execute(
                    text("SELECT COUNT(*) FROM item WHERE status = 'recalled' AND pending_receiver IS NULL")
                ).scalar_one()
                >= 1
            )
            token = conn.execute(text("SELECT item_id, uri FROM asset_token WHERE item_id = :i"), {"i": breached}).one()
            assert token[1] == "ipfs://bafy-token"
            assert conn.execute(text("SELECT COUNT(*) FROM v_token_ownership_history")).scalar_one() >= 1
            logs, typed = conn.execute(
                text("SELECT COUNT(*), SUM(CASE WHEN event IS NULL THEN 0 ELSE 1 END) FROM event_log")
            ).one()
            assert logs == typed  # every project log was decoded
            tx = conn.execute(
                text("SELECT status, gas_used, input FROM chain_transaction ORDER BY block_number DESC")
            ).first()
            assert (
                tx is not None
                and tx[0] == 1
                and tx[1] > 21_000
                and bytes(tx[2])[:4] == keccak(text="recallItem(bytes32,string)")[:4]
            )
    finally:
        indexer.close()


def test_sqlite_and_postgresql_mirrors_are_identical(ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path) -> None:
    sqlite = indexer_for(f"sqlite:///{tmp_path / 'a.db'}", ix_chain)
    for url in postgres_database():
        postgres = indexer_for(url, ix_chain)
        try:
            head = ix_chain.client.w3.eth.block_number
            sqlite.backfill()
            postgres.backfill()
            assert sqlite.store.state().head_number == postgres.store.state().head_number == head  # type: ignore[union-attr]
            assert dump(sqlite.store.engine) == dump(postgres.store.engine)
        finally:
            postgres.close()
            postgres.store.engine.dispose()
    sqlite.close()


def _anchor_tx(ledger: Ledger, sender: str, root: bytes) -> dict[str, Any]:
    data = ledger.notary.encode_abi("anchor", [root, 7, 1_700_000_000, 1_700_000_001, "replacement"])
    return {"from": sender, "to": ledger.notary.address, "data": data, "gas": hex(300_000)}


@pytest.mark.parametrize("depth", [1, 3])
def test_reorg_rolls_back_to_the_common_ancestor(
    depth: int, ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path
) -> None:
    indexer = indexer_for(f"sqlite:///{tmp_path / 'live.db'}", ix_chain)
    rpc = JsonRpc(ix_chain.client.rpc_url)
    try:
        indexer.backfill()
        lost_root = os.urandom(32)
        ix_ledger.anchor(lost_root, 5, 1_700_000_000, 1_700_000_005, "to-be-reorged")
        for _ in range(depth - 1):
            ix_ledger.register_device(os.urandom(32), DeviceKey.generate(KeyType.SECP256K1).public_key)
        catch_up(indexer, rpc)
        engine = indexer.store.engine
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT COUNT(*) FROM anchored_batch WHERE root = :r"), {"r": "0x" + lost_root.hex()}
                ).scalar_one()
                == 1
            )
        replacement = os.urandom(32)
        unlocked = ix_chain.client.w3.eth.accounts[0]
        rpc.call("anvil_reorg", depth, [[_anchor_tx(ix_ledger, unlocked, replacement), 0]])
        ix_chain.client.reset_nonce()
        catch_up(indexer, rpc)
        with engine.connect() as conn:
            roots = {r[0] for r in conn.execute(text("SELECT root FROM anchored_batch"))}
            reorgs = conn.execute(text("SELECT reorgs FROM index_state")).scalar_one()
        assert "0x" + lost_root.hex() not in roots and "0x" + replacement.hex() in roots
        assert reorgs == 1
        assert dump(engine) == fresh_dump(tmp_path, ix_chain, "fresh.db")
        assert verify(engine, ix_chain.client.rpc_url, *contracts_and_abis(ix_chain)).ok
    finally:
        rpc.close()
        indexer.close()


def test_snapshot_revert_to_a_shorter_chain(ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path) -> None:
    indexer = indexer_for(f"sqlite:///{tmp_path / 'live.db'}", ix_chain)
    rpc = JsonRpc(ix_chain.client.rpc_url)
    try:
        snapshot = rpc.call("evm_snapshot")
        activity(ix_ledger, ix_chain)
        indexer.backfill()
        assert rpc.call("evm_revert", snapshot) is True
        ix_chain.client.reset_nonce()
        ix_ledger.anchor(os.urandom(32), 1, 1_700_000_000, 1_700_000_000, "after-revert")
        indexer.backfill()
        assert indexer.store.state().head_number == ix_chain.client.w3.eth.block_number  # type: ignore[union-attr]
        assert dump(indexer.store.engine) == fresh_dump(tmp_path, ix_chain, "fresh.db")
    finally:
        rpc.close()
        indexer.close()


def test_follows_the_head(ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path) -> None:
    indexer = indexer_for(f"sqlite:///{tmp_path / 'follow.db'}", ix_chain)
    stop = threading.Event()
    runner = threading.Thread(target=indexer.run, args=(stop,), daemon=True)
    runner.start()
    try:
        root = os.urandom(32)
        record = ix_ledger.anchor(root, 3, 1_700_000_000, 1_700_000_003, "followed")
        deadline = time.monotonic() + 10
        with indexer.store.engine.connect() as conn:
            while time.monotonic() < deadline:
                found = conn.execute(
                    text("SELECT block_number FROM anchored_batch WHERE root = :r"), {"r": "0x" + root.hex()}
                ).first()
                conn.commit()
                if found:
                    break
                time.sleep(0.02)
        assert found is not None and found[0] == record.block_number
    finally:
        stop.set()
        runner.join(timeout=30)
        indexer.close()
    assert not runner.is_alive()


def test_chain_reset_is_detected_and_reset_recovers(
    artifacts: dict[str, Artifact], tmp_path: Path, ix_chain: ChainContext, ix_ledger: Ledger
) -> None:
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    first = indexer_for(url, ix_chain)
    first.backfill()
    first.close()
    with ManagedAnvil(state_dir=None) as other:
        settings = make_settings(tmp_path / "other")
        client = connect(settings, other.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        restarted = ChainContext(client, deployment, artifacts, True)
        indexer = indexer_for(url, restarted)
        try:
            with pytest.raises(IndexChainChanged, match="provenance index reset"):
                indexer.open()
            with pytest.raises(IndexChainChanged):
                indexer.backfill()
            assert indexer.store.state().genesis_hash == ix_chain.deployment.genesis_hash  # type: ignore[union-attr]
            indexer.store.reset()
            indexer.backfill()
            state = indexer.store.state()
            assert state is not None and state.genesis_hash == deployment.genesis_hash
            assert verify(indexer.store.engine, other.url, *contracts_and_abis(restarted)).ok
        finally:
            indexer.close()


def test_cli_refuses_another_chain_and_index_reset_clears(
    ix_chain: ChainContext, ix_ledger: Ledger, ix_settings: Settings, tmp_path: Path, artifacts: dict[str, Artifact]
) -> None:
    database = f"sqlite:///{tmp_path / 'mirror.db'}"
    env = {**os.environ, "PROVENANCE_DATA_DIR": str(ix_settings.data_dir), "PROVENANCE_DATABASE_URL": database}
    env.pop("CI", None)

    def cli(*args: str, rpc: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
        run_env = {**env, "PROVENANCE_RPC_URL": rpc, "PROVENANCE_DATA_DIR": str(data_dir)}
        return subprocess.run(
            [sys.executable, "-m", "ledger_service.app.cli", *args],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = cli("index", "--once", rpc=ix_chain.client.rpc_url, data_dir=ix_settings.data_dir)
    assert done.returncode == 0, done.stderr
    assert "backfilled" in done.stderr
    with ManagedAnvil(state_dir=None) as other:
        other_dir = tmp_path / "other"
        refused = cli("index", "--once", rpc=other.url, data_dir=other_dir)
        assert refused.returncode == 1
        assert "index-chain-changed" in refused.stderr and "provenance index reset" in refused.stderr
        cleared = cli("index", "reset", "--yes", rpc=other.url, data_dir=other_dir)
        assert cleared.returncode == 0 and "mirror reset" in cleared.stderr
        again = cli("index", "--once", rpc=other.url, data_dir=other_dir)
        assert again.returncode == 0, again.stderr
        checked = cli("index", "verify", rpc=other.url, data_dir=other_dir)
        assert checked.returncode == 0 and "matches the chain" in checked.stderr


def test_killed_mid_backfill_resumes_without_gap_or_duplicate(
    ix_chain: ChainContext, ix_ledger: Ledger, ix_settings: Settings, tmp_path: Path
) -> None:
    generate(ix_chain.client, ix_chain.deployment, ix_chain.artifacts, 3000, per_block=10, per_tx=5)
    ix_chain.client.reset_nonce()
    head = ix_chain.client.w3.eth.block_number
    database = tmp_path / "mirror.db"
    env = {
        **os.environ, "PROVENANCE_DATA_DIR": str(ix_settings.data_dir), "PROVENANCE_RPC_URL": ix_chain.client.rpc_url,
        "PROVENANCE_DATABASE_URL": f"sqlite:///{database}", "PROVENANCE_INDEX_MAX_SPAN": "3",
    }  # fmt: skip
    command = [sys.executable, "-m", "ledger_service.app.cli", "index", "--once"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_at = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if database.exists():
                try:
                    with create_engine(f"sqlite:///{database}").connect() as conn:
                        row = conn.execute(text("SELECT head_number FROM index_state")).first()
                except Exception:  # noqa: BLE001 - the schema may not be there yet
                    row = None
                if row and row[0] is not None and row[0] > 20:
                    process.send_signal(signal.SIGKILL)
                    killed_at = row[0]
                    break
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert killed_at is not None and killed_at < head, "the backfill ended before it could be killed"
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        numbers = [r[0] for r in conn.execute(text("SELECT number FROM chain_block ORDER BY number"))]
        assert numbers == list(range(ix_chain.deployment.start_block, numbers[-1] + 1))
        logged = conn.execute(text("SELECT COUNT(*) FROM event_log")).scalar_one()
    chain_logs = ix_chain.client.w3.eth.get_logs({
        "fromBlock": ix_chain.deployment.start_block, "toBlock": numbers[-1],
        "address": [c.address for c in ix_chain.deployment.contracts.values()],
    })  # fmt: skip
    assert logged == len(chain_logs)
    assert verify(engine, ix_chain.client.rpc_url, *contracts_and_abis(ix_chain)).ok


def test_verify_lists_every_corrupted_row(ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path) -> None:
    indexer = indexer_for(f"sqlite:///{tmp_path / 'mirror.db'}", ix_chain)
    try:
        indexer.backfill()
        engine = indexer.store.engine
        with engine.begin() as conn:
            device = conn.execute(text("SELECT device_id FROM device WHERE status = 'active' LIMIT 1")).scalar_one()
            conn.execute(
                text("UPDATE device SET owner = :o WHERE device_id = :d"), {"o": "0x" + "66" * 20, "d": device}
            )
            conn.execute(text("UPDATE ev_batch_anchored SET reading_count = reading_count + 1 WHERE batch_id = 1"))
            gone = int(conn.execute(text("SELECT MIN(number) FROM chain_block")).scalar_one()) + 2
            conn.execute(text("DELETE FROM chain_block WHERE number = :n"), {"n": gone})
        report = verify(engine, ix_chain.client.rpc_url, *contracts_and_abis(ix_chain))
        text_report = "\n".join(report.divergences)
        assert not report.ok
        assert f"device {device}: owner" in text_report
        assert "batch 1 " in text_report
        assert f"missing [{gone}]" in text_report
    finally:
        indexer.close()


def _step_recording(indexer: ChainIndexer, failures: list[BaseException]) -> None:
    try:
        indexer.step()
    except Exception as exc:  # noqa: BLE001 - the failure is what the caller wants
        failures.append(exc)


def test_a_write_killed_midway_leaves_no_device_folded_twice(
    ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path
) -> None:
    """The device projection keeps folded devices in memory; a write that dies after folding a
    chunk's events (here: its PostgreSQL connection terminated while it waits on a lock) must not
    leave them folded, or the retried chunk applies the key rotation twice."""
    device_id = os.urandom(32)
    ix_ledger.register_device(device_id, DeviceKey.generate(KeyType.SECP256K1).public_key)
    for url in postgres_database():
        indexer = indexer_for(url, ix_chain)
        rpc = JsonRpc(ix_chain.client.rpc_url)
        locker = create_engine(url)
        try:
            indexer.backfill()  # the device is folded, and kept, by now
            ix_ledger.rotate_key(device_id, DeviceKey.generate(KeyType.P256).public_key)
            failures: list[BaseException] = []

            with locker.connect() as conn:
                conn.execute(text("LOCK TABLE device IN ACCESS EXCLUSIVE MODE"))
                writer = threading.Thread(target=_step_recording, args=(indexer, failures))
                writer.start()
                waiting = None
                deadline = time.monotonic() + 20
                while waiting is None and time.monotonic() < deadline:
                    waiting = conn.execute(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                        )
                    ).scalar()
                    time.sleep(0.02)
                assert waiting is not None, "the indexer's write never reached the device table"
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": waiting})
                writer.join(timeout=30)
                conn.rollback()
            assert not writer.is_alive() and len(failures) == 1
            catch_up(indexer, rpc)
            with indexer.store.engine.connect() as conn:
                keys = conn.execute(
                    text("SELECT COUNT(*) FROM device_key WHERE device_id = :d"), {"d": "0x" + device_id.hex()}
                ).scalar_one()
            assert keys == 2
            assert dump(indexer.store.engine) == fresh_dump(tmp_path, ix_chain, "fresh.db")
        finally:
            locker.dispose()
            rpc.close()
            indexer.close()
            indexer.store.engine.dispose()


def test_two_writers_taking_turns_keep_the_devices_right(
    ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path
) -> None:
    """A writer whose mirror another writer moved on (a standby taking over, then handing back)
    must not write devices from what it folded before."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = indexer_for(url, ix_chain), indexer_for(url, ix_chain)
    rpc = JsonRpc(ix_chain.client.rpc_url)
    device_id = os.urandom(32)
    try:
        ix_ledger.register_device(device_id, DeviceKey.generate(KeyType.SECP256K1).public_key)
        first.backfill()
        ix_ledger.rotate_key(device_id, DeviceKey.generate(KeyType.P256).public_key)
        catch_up(second, rpc)
        ix_ledger.suspend_device(device_id)
        catch_up(first, rpc)
        with first.store.engine.connect() as conn:
            row = conn.execute(
                text("SELECT status, key_index, key_type FROM device WHERE device_id = :d"),
                {"d": "0x" + device_id.hex()},
            ).one()
        assert tuple(row) == ("suspended", 1, int(KeyType.P256))
        assert dump(first.store.engine) == fresh_dump(tmp_path, ix_chain, "fresh.db")
    finally:
        rpc.close()
        first.close()
        second.close()


def test_rebuild_from_the_raw_log_restores_derived_tables(
    ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path
) -> None:
    indexer = indexer_for(f"sqlite:///{tmp_path / 'mirror.db'}", ix_chain)
    try:
        indexer.backfill()
        engine = indexer.store.engine
        before = dump(engine)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM device"))
            conn.execute(text("UPDATE device_key SET signer = 'x'"))
            conn.execute(text("DELETE FROM ev_batch_anchored"))
        assert dump(engine) != before
        count = indexer.store.rebuild_from_log(indexer.catalog)
        assert count == len(before["event_log"])
        assert dump(engine) == before
    finally:
        indexer.close()


def test_log_queries_shrink_when_the_node_refuses_large_ranges(
    ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path
) -> None:
    with LogRangeLimitProxy(ix_chain.client.rpc_url, max_blocks=7) as proxy:
        indexer = indexer_for(
            f"sqlite:///{tmp_path / 'mirror.db'}", ix_chain, rpc_url=proxy.url, transactions="project", max_span=500
        )
        indexer.fetcher.span = 400
        try:
            indexer.backfill()
            assert 0 < proxy.refused <= 12 and indexer.fetcher.span <= 7
            engine = indexer.store.engine
            with engine.connect() as conn:
                logged = conn.execute(text("SELECT COUNT(*) FROM event_log")).scalar_one()
                transactions = conn.execute(text("SELECT COUNT(*) FROM chain_transaction")).scalar_one()
                with_events = conn.execute(text("SELECT COUNT(DISTINCT transaction_hash) FROM event_log")).scalar_one()
            chain_logs = ix_chain.client.w3.eth.get_logs({
                "fromBlock": ix_chain.deployment.start_block, "toBlock": indexer.store.state().head_number,  # type: ignore[union-attr]
                "address": [c.address for c in ix_chain.deployment.contracts.values()],
            })  # fmt: skip
            assert logged == len(chain_logs)
            assert transactions == with_events  # project mode keeps the transactions that emitted events
        finally:
            indexer.close()


def test_finalized_mode_stops_at_the_finalized_block(ix_chain: ChainContext, ix_ledger: Ledger, tmp_path: Path) -> None:
    indexer = indexer_for(f"sqlite:///{tmp_path / 'final.db'}", ix_chain, use_finalized=True)
    try:
        indexer.backfill()
        finalized = int(ix_chain.client.w3.eth.get_block("finalized")["number"])
        head = ix_chain.client.w3.eth.block_number
        assert finalized < head
        assert indexer.store.state().head_number == finalized  # type: ignore[union-attr]
    finally:
        indexer.close()


def test_metrics_expose_the_indexer(services: Any, chain: ChainContext) -> None:
    from fastapi.testclient import TestClient

    from ledger_service.app.api.app import create_app

    client = TestClient(create_app(services))
    assert "provenance_index_head_block" not in client.get("/metrics").text
    indexer = ChainIndexer(services.engine, chain.client.rpc_url, target_of(chain.deployment, chain.artifacts))
    try:
        indexer.backfill()
    finally:
        indexer.close()
    head = indexer.store.state().head_number  # type: ignore[union-attr]
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert f"provenance_index_head_block {float(head)}" in answer.text
    assert "provenance_index_lag_blocks 0.0" in answer.text
    assert 'provenance_batches{status="confirmed"}' in answer.text


def test_liveness_and_readiness(services: Any, chain: ChainContext) -> None:
    from fastapi.testclient import TestClient

    from ledger_service.app.api.app import create_app

    client = TestClient(create_app(services))
    assert client.get("/healthz").json() == {"status": "ok", "pid": os.getpid()}
    waiting = client.get("/readyz")
    assert waiting.status_code == 503 and waiting.headers["content-type"].startswith("application/problem+json")
    body = waiting.json()
    assert body["code"] == "not-ready" and body["checks"]["database"]["ok"] and body["checks"]["chain"]["ok"]
    assert body["checks"]["indexer"]["ok"] is False
    indexer = ChainIndexer(services.engine, chain.client.rpc_url, target_of(chain.deployment, chain.artifacts))
    try:
        indexer.backfill()
    finally:
        indexer.close()
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["indexer"]["lag_blocks"] <= services.settings.ready_max_lag
