"""The transaction manager on a real anvil with automine off: EIP-1559 fees under a cap, a
transaction priced under a base fee spike replaced and mined, a dropped transaction sent again, a
restart that watches the outbox instead of sending again, and sending paused by the gas budget and
by a low balance."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from web3 import Web3
from web3.types import TxParams, Wei

from ledger_service.app.api.app import create_app
from ledger_service.core.chain.fees import GWEI, FeePolicy, Fees, SendPolicy
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.chain.outbox import Outbox
from ledger_service.core.chain.rpc import JsonRpc, Web3Transport
from ledger_service.core.chain.sender import TxManager
from ledger_service.core.db import create_schema, make_engine
from ledger_service.core.enums import KeyType
from ledger_service.core.errors import ChainError, SendingPaused
from ledger_service.core.keys import DeviceKey
from ledger_service.core.models import OutboxTx
from ledger_service.services.container import Services


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))  # type: ignore[arg-type]


@pytest.fixture
def node() -> Iterator[ManagedAnvil]:
    with ManagedAnvil(state_dir=None, extra_args=["--no-mining"]) as anvil:
        yield anvil


@pytest.fixture
def w3(node: ManagedAnvil) -> Web3:
    return Web3(Web3Transport(JsonRpc(node.url, timeout=10, retries=2)))


@pytest.fixture
def account(w3: Web3) -> LocalAccount:
    made: LocalAccount = Account.create()
    rpc(w3, "anvil_setBalance", made.address, hex(10**20))
    return made


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    create_schema(engine)
    yield Outbox(engine)
    engine.dispose()


class Miner:
    """Mines a block every `interval` seconds in a thread (anvil runs with automine off)."""

    def __init__(self, w3: Web3, interval: float = 0.3) -> None:
        self.w3, self.interval = w3, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            rpc(self.w3, "evm_mine")

    def __enter__(self) -> Miner:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def transfer(w3: Web3, account: LocalAccount) -> TxParams:
    return {"from": account.address, "to": "0x" + "11" * 20, "value": Wei(1), "gas": 21_000, "chainId": w3.eth.chain_id}


def wait_for_row(outbox: Outbox) -> OutboxTx:
    deadline = time.monotonic() + 10
    while not rows(outbox) and time.monotonic() < deadline:
        time.sleep(0.02)
    return rows(outbox)[0]


def rows(outbox: Outbox) -> list[OutboxTx]:
    with Session(outbox.engine) as session:
        return list(session.exec(select(OutboxTx).order_by(OutboxTx.id)).all())  # type: ignore[arg-type]


def test_fees_are_eip1559_under_the_cap(w3: Web3) -> None:
    rpc(w3, "evm_mine")
    base = int(w3.eth.get_block("pending")["baseFeePerGas"])  # what the next block charges
    fees = FeePolicy(tip=2 * GWEI).quote(w3)
    assert fees == Fees(max_fee=2 * base + 2 * GWEI, tip=2 * GWEI)
    capped = FeePolicy(cap=base + GWEI, tip=2 * GWEI).quote(w3)
    assert capped.max_fee == base + GWEI and capped.tip == min(2 * GWEI, base + GWEI)
    bumped = fees.bumped()
    assert bumped.max_fee is not None and bumped.max_fee * 1000 >= fees.offered * 1125
    assert FeePolicy(cap=fees.offered).replacement(w3, fees) is None  # no room above the cap: no replacement


def test_a_chain_without_base_fee_gets_legacy_pricing() -> None:
    with ManagedAnvil(state_dir=None, extra_args=["--hardfork", "berlin"]) as legacy:
        w3 = Web3(Web3Transport(JsonRpc(legacy.url, timeout=10)))
        fees = FeePolicy(cap=10**9).quote(w3)
        assert fees.gas_price is not None and fees.max_fee is None and fees.gas_price <= 10**9
        assert set(fees.params()) == {"gasPrice"}


def test_a_transaction_under_a_base_fee_spike_is_replaced_and_mined(
    w3: Web3, account: LocalAccount, outbox: Outbox
) -> None:
    rpc(w3, "evm_mine")
    manager = TxManager(w3, account, SendPolicy(FeePolicy(tip=GWEI), replace_after=1.0, watch_timeout=30))
    manager.outbox = outbox

    def spike_then_mine() -> None:
        wait_for_row(outbox)  # sent at ~2 gwei; now the base fee jumps a hundredfold
        rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(200 * GWEI))
        with Miner(w3):
            time.sleep(4)

    spiker = threading.Thread(target=spike_then_mine)
    spiker.start()
    started = time.monotonic()
    receipt = manager.send(transfer(w3, account), "transfer")
    took = time.monotonic() - started
    spiker.join()
    (row,) = rows(outbox)
    assert receipt["status"] == 1 and row.status == "mined" and row.replacements >= 1
    assert row.tx_hash != json.loads(row.hashes)[0]  # the replacement was mined, not the first version
    assert int(receipt["effectiveGasPrice"]) > 20 * GWEI and took < 4  # the base fee decaying alone takes ~12 s
    assert manager.replacements == row.replacements


def test_a_transaction_refused_for_its_fees_is_priced_again(w3: Web3, account: LocalAccount, outbox: Outbox) -> None:
    manager = TxManager(w3, account, SendPolicy(FeePolicy(cap=500 * GWEI, tip=GWEI), replace_after=0.5))
    manager.outbox = outbox
    rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(200 * GWEI))
    rpc(w3, "evm_mine")  # the latest block's base fee is 200 gwei: a quote from it is right
    with Miner(w3):
        receipt = manager.send(transfer(w3, account), "transfer")
    assert receipt["status"] == 1 and rows(outbox)[0].status == "mined"


def test_the_fee_cap_holds_through_a_spike(w3: Web3, account: LocalAccount, outbox: Outbox) -> None:
    rpc(w3, "evm_mine")
    cap = 60 * GWEI
    manager = TxManager(w3, account, SendPolicy(FeePolicy(cap=cap, tip=GWEI), replace_after=0.5, watch_timeout=60))
    manager.outbox = outbox
    rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(100 * GWEI))  # over the cap: waits for it to fall
    with Miner(w3, interval=0.2):
        receipt = manager.send(transfer(w3, account), "transfer")
    (row,) = rows(outbox)
    assert receipt["status"] == 1 and int(receipt["effectiveGasPrice"]) <= cap
    assert int(row.max_fee_per_gas or 0) <= cap


def test_a_dropped_transaction_is_sent_again(w3: Web3, account: LocalAccount, outbox: Outbox) -> None:
    manager = TxManager(w3, account, SendPolicy(FeePolicy(tip=GWEI), replace_after=1.0, watch_timeout=30))
    manager.outbox = outbox
    dropped: list[str] = []

    def drop_the_first() -> None:
        first = wait_for_row(outbox).tx_hash
        rpc(w3, "anvil_dropTransaction", first)
        dropped.append(first)
        with Miner(w3):
            time.sleep(3)

    dropper = threading.Thread(target=drop_the_first)
    dropper.start()
    receipt = manager.send(transfer(w3, account), "transfer")
    dropper.join()
    (row,) = rows(outbox)
    assert receipt["status"] == 1 and row.status == "mined" and row.replacements == 1
    assert row.tx_hash != dropped[0] and w3.eth.get_transaction_count(account.address) == 1


def test_a_restart_watches_the_outbox_instead_of_sending_again(w3: Web3, account: LocalAccount, outbox: Outbox) -> None:
    first_run = TxManager(w3, account, SendPolicy(FeePolicy(tip=GWEI), replace_after=60, watch_timeout=0.5))
    first_run.outbox = outbox
    with pytest.raises(ChainError, match="not mined"):
        first_run.send(transfer(w3, account), "transfer")  # no block is mined: it gives up watching
    assert [r.status for r in rows(outbox)] == ["pending"]
    restarted = TxManager(w3, account, SendPolicy(FeePolicy(tip=GWEI), replace_after=60, watch_timeout=30))
    restarted.outbox = outbox
    with Miner(w3):
        restarted.resume()
    assert [r.status for r in rows(outbox)] == ["mined"]
    assert w3.eth.get_transaction_count(account.address) == 1  # sent once, watched twice


def test_sending_pauses_when_the_hour_budget_is_spent_or_the_balance_is_low(
    w3: Web3, account: LocalAccount, outbox: Outbox
) -> None:
    manager = TxManager(w3, account, SendPolicy(FeePolicy(tip=GWEI), budget_wei_per_hour=1))
    manager.outbox = outbox
    with Miner(w3, interval=0.1):
        manager.send(transfer(w3, account), "transfer")  # nothing spent yet: sent
        with pytest.raises(SendingPaused, match="budget"):
            manager.send(transfer(w3, account), "transfer")
    poor = TxManager(w3, account, SendPolicy(FeePolicy(tip=GWEI), min_balance_wei=10**21))
    with pytest.raises(SendingPaused, match="under the minimum"):
        poor.send(transfer(w3, account), "transfer")
    assert w3.eth.get_transaction_count(account.address) == 1  # the paused sends sent nothing


def test_a_stuck_transaction_is_cancelled(w3: Web3, account: LocalAccount, outbox: Outbox) -> None:
    stuck = TxManager(w3, account, SendPolicy(FeePolicy(tip=GWEI), replace_after=60, watch_timeout=0.3))
    stuck.outbox = outbox
    with pytest.raises(ChainError, match="not mined"):
        stuck.send(transfer(w3, account), "transfer")  # no block: it stays in the pool
    operator = TxManager(w3, account, SendPolicy(FeePolicy(tip=GWEI)))
    operator.outbox = outbox
    with Miner(w3):
        receipt = operator.cancel(0)
    assert receipt["status"] == 1 and receipt["to"] == account.address  # nothing to itself, in the nonce's place
    assert [r.status for r in rows(outbox)] == ["cancelled"]
    assert w3.eth.get_balance("0x" + "11" * 20) == 0  # the cancelled transfer never happened
    with pytest.raises(ChainError, match="mined already"):
        operator.cancel(0)


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_metrics_show_the_outbox_fees_and_budget(services: Services) -> None:
    client = TestClient(create_app(services))
    before = client.get("/metrics").text
    assert _metric(before, 'provenance_transactions{status="mined"}') == 0.0
    assert _metric(before, "provenance_gas_budget_left_wei") is None  # no budget set: no gauge
    receipt = services.ledger.register_device(os.urandom(32), DeviceKey.generate(KeyType.SECP256K1).public_key)
    paid = receipt["gasUsed"] * receipt["effectiveGasPrice"]  # from the node, not from the outbox
    assert paid > 0
    operator = services.ledger.client.sender
    kept = operator.policy
    operator.policy = dataclasses.replace(kept, budget_wei_per_hour=paid + 1000)
    try:
        after = client.get("/metrics").text
    finally:
        operator.policy = kept  # the session's chain client is shared
    assert _metric(after, 'provenance_transactions{status="mined"}') == 1.0
    assert _metric(after, 'provenance_transactions{status="pending"}') == 0.0
    assert _metric(after, "provenance_transaction_replacements") == 0.0
    assert _metric(after, "provenance_fees_last_hour_wei") == float(paid)
    assert _metric(after, "provenance_gas_budget_left_wei") == 1000.0
