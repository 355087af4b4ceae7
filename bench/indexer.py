"""Indexer speed: backfill events/s into SQLite and PostgreSQL, and head-follow latency.

    .venv/bin/python bench/indexer.py [--events 100000] [--per-tx 20] [--per-block 100]

Generates a chain on a fresh anvil (device registrations, key rotations, metadata updates and
batch anchors; `--per-tx` events a transaction through `multicall`, about `--per-block` events a
block), then indexes it from scratch with everything the mirror keeps (blocks, transactions with
receipts, raw logs, typed event tables, derived devices, keys, batches and roles), once into a
fresh SQLite file and once into a fresh PostgreSQL database. Then it follows the head while single
transactions are mined and reports the time from each receipt to its block being in SQL.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chaingen import generate  # noqa: E402
from indexer.runner import ChainIndexer, IndexTarget  # noqa: E402
from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.deploy import deploy  # noqa: E402
from ledger_service.core.chain.ledger import Ledger  # noqa: E402
from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.db import make_engine, upgrade_schema  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fresh_postgres() -> tuple[str, str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_postgres(name: str) -> None:
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def backfill(url: str, rpc_url: str, target: IndexTarget, label: str) -> tuple[float, int, int]:
    engine = make_engine(url)
    upgrade_schema(engine)
    indexer = ChainIndexer(engine, rpc_url, target)
    try:
        indexer.open()
        started = time.perf_counter()
        blocks = indexer.backfill()
        seconds = time.perf_counter() - started
    finally:
        indexer.close()
    with engine.connect() as conn:
        events = int(conn.execute(text("SELECT COUNT(*) FROM event_log")).scalar_one())
        txs = int(conn.execute(text("SELECT COUNT(*) FROM chain_transaction")).scalar_one())
    engine.dispose()
    print(
        f"{label}: {events:,} events, {txs:,} transactions, {blocks:,} blocks in {seconds:.2f} s: "
        f"{events / seconds:,.0f} events/s, {blocks / seconds:,.0f} blocks/s",
        flush=True,
    )
    return seconds, events, blocks


def decode_rates(rpc_url: str, target: IndexTarget, artifacts: dict[str, Any], count: int = 20_000) -> None:
    """Logs decoded per second: this indexer's generated decoders against web3's `process_log`."""
    from web3 import Web3

    from indexer.catalog import EventCatalog
    from ledger_service.core.chain.rpc import JsonRpc

    rpc = JsonRpc(rpc_url)
    head = int(rpc.call("eth_blockNumber"), 16)
    logs: list[dict[str, Any]] = []
    start = target.start_block
    while len(logs) < count and start <= head:
        logs += rpc.call(
            "eth_getLogs",
            {"fromBlock": hex(start), "toBlock": hex(min(head, start + 99)), "address": target.contracts["DataNotary"]},
        )
        start += 100
    rpc.close()
    catalog = EventCatalog(target.abis)
    anchored = next(topic for topic, spec in catalog.by_topic.items() if spec.name == "BatchAnchored")
    logs = [entry for entry in logs if entry["topics"][0] == anchored][:count]
    started = time.perf_counter()
    for entry in logs:
        spec = catalog.by_topic[entry["topics"][0]]
        spec.row((0, 0, "", ""), entry["topics"], bytes.fromhex(entry["data"][2:]))
    ours = len(logs) / (time.perf_counter() - started)
    w3 = Web3()
    event = w3.eth.contract(abi=artifacts["DataNotary"].abi).events.BatchAnchored()
    formatted = [
        {**e, "blockNumber": int(e["blockNumber"], 16), "logIndex": int(e["logIndex"], 16),
         "transactionIndex": int(e["transactionIndex"], 16), "topics": [bytes.fromhex(t[2:]) for t in e["topics"]],
         "data": bytes.fromhex(e["data"][2:]), "address": Web3.to_checksum_address(e["address"])}
        for e in logs
    ]  # fmt: skip
    started = time.perf_counter()
    for entry in formatted:
        event.process_log(entry)  # type: ignore[arg-type]
    theirs = len(logs) / (time.perf_counter() - started)
    print(
        f"decoding {len(logs):,} BatchAnchored logs: {ours:,.0f} logs/s here, "
        f"{theirs:,.0f} logs/s with web3 process_log"
    )


def follow_latency(url: str, rpc_url: str, target: IndexTarget, ledger: Ledger, samples: int) -> list[float]:
    engine = make_engine(url)
    indexer = ChainIndexer(engine, rpc_url, target, poll=0.02)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(stop,), daemon=True)
    thread.start()
    latencies: list[float] = []
    try:
        time.sleep(1.0)
        with engine.connect() as conn:
            for index in range(samples):
                root = uuid.uuid4().bytes + uuid.uuid4().bytes
                record = ledger.anchor(root, 1, 1_700_000_000, 1_700_000_000, f"bench-{index}")
                mined = time.perf_counter()
                while True:
                    head = conn.execute(text("SELECT head_number FROM index_state")).scalar_one()
                    conn.commit()
                    if head is not None and head >= record.block_number:
                        break
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - mined)
    finally:
        stop.set()
        thread.join(timeout=30)
        indexer.close()
        engine.dispose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-tx", type=int, default=50)
    parser.add_argument("--per-block", type=int, default=100)
    parser.add_argument("--follow-samples", type=int, default=50)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-indexer-"))
    settings = Settings(_env_file=None, data_dir=workdir)  # type: ignore[call-arg]
    artifacts = compile_contracts(settings.build_dir)
    with ManagedAnvil(state_dir=None) as node:
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        done = [0]

        def progress(count: int) -> None:
            done[0] += count
            if done[0] % 20_000 < count:
                print(f"  generated {done[0]:,} events", flush=True)

        generated = generate(client, deployment, artifacts, args.events, args.per_block, args.per_tx, progress)
        head = client.w3.eth.block_number
        print(
            f"chain: {generated.events:,} project events in {generated.transactions:,} transactions over "
            f"{generated.blocks:,} blocks (head {head}), up to {args.per_tx} events a transaction, "
            f"generated in {generated.seconds:.1f} s",
            flush=True,
        )
        target = IndexTarget(
            chain_id=deployment.chain_id,
            genesis_hash=deployment.genesis_hash,
            contracts={name: c.address for name, c in deployment.contracts.items()},
            start_block=deployment.start_block,
            abis=[artifacts[name].abi for name in deployment.contracts],
        )
        sqlite_url = f"sqlite:///{workdir / 'mirror.db'}"
        backfill(sqlite_url, node.url, target, "SQLite backfill")
        if not args.skip_postgres:
            name, pg_url = fresh_postgres()
            try:
                backfill(pg_url, node.url, target, "PostgreSQL backfill")
            finally:
                drop_postgres(name)
        decode_rates(node.url, target, artifacts)
        ledger = Ledger(client, deployment, artifacts)
        latencies = follow_latency(sqlite_url, node.url, target, ledger, args.follow_samples)
        print(
            f"head follow (SQLite, {len(latencies)} blocks): receipt to block in SQL median "
            f"{statistics.median(latencies) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
