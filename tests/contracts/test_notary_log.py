"""NotaryLog, the client's copy of the notary's log, on an anvil of its own (reorgs are made here):
it reads only the blocks it has not read, and never hands out a log the contract did not grow."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from ledger_service.core import tlog
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.chain.notary_log import NotaryLog
from ledger_service.core.compiler import Artifact
from ledger_service.core.log_leaf import BATCH_ANCHORED_TOPIC
from tests.utils.rpc_proxy import LogRangeLimitProxy


@pytest.fixture(scope="module")
def node() -> Iterator[ManagedAnvil]:
    with ManagedAnvil(state_dir=None) as anvil:
        yield anvil


def deploy_notary(w3: Web3, artifacts: dict[str, Artifact]) -> Contract:
    w3.eth.default_account = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=artifacts["DataNotary"].abi, bytecode=artifacts["DataNotary"].bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(w3.eth.accounts[0]).transact())
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifacts["DataNotary"].abi)


def anchor(notary: Contract, count: int) -> list[bytes]:
    roots = [os.urandom(32) for _ in range(count)]
    for root in roots:
        notary.w3.eth.wait_for_transaction_receipt(notary.functions.anchor(root, 1, 1, 2, "bafy-log").transact())
    return roots


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    return w3.provider.make_request(method, list(params))["result"]  # type: ignore[arg-type]


def test_a_second_read_asks_only_for_the_new_blocks_and_equals_a_fresh_read(
    node: ManagedAnvil, artifacts: dict[str, Artifact]
) -> None:
    notary = deploy_notary(Web3(Web3.HTTPProvider(node.url)), artifacts)
    anchor(notary, 5)
    with LogRangeLimitProxy(node.url, max_blocks=10**9) as proxy:
        via_proxy = Web3(Web3.HTTPProvider(proxy.url)).eth.contract(address=notary.address, abi=notary.abi)
        log = NotaryLog(via_proxy, 0)
        first, _ = log.read()
        read_to = proxy.queries[-1][1]
        anchor(notary, 3)
        proxy.queries.clear()
        leaves, events = log.read()
        assert proxy.queries == [(read_to + 1, notary.w3.eth.block_number)]
    assert leaves[:5] == first and len(leaves) == 8
    assert (leaves, events) == NotaryLog(notary, 0).read()
    assert tlog.root(leaves) == notary.functions.logHead().call()[1]


def test_a_reorg_under_a_kept_log_is_read_again(node: ManagedAnvil, artifacts: dict[str, Artifact]) -> None:
    """Blocks already read are replaced by others holding another batch of the same id: the kept
    leaves no longer give the contract's head, so everything is read again."""
    w3 = Web3(Web3.HTTPProvider(node.url))
    notary = deploy_notary(w3, artifacts)
    anchor(notary, 3)
    snapshot = rpc(w3, "evm_snapshot")
    dropped = anchor(notary, 2)
    log = NotaryLog(notary, 0)
    assert [bytes(e["root"]) for e in log.read()[1][3:]] == dropped
    rpc(w3, "evm_revert", snapshot)
    replacement = anchor(notary, 3)
    leaves, events = log.read()
    assert [bytes(e["root"]) for e in events[3:]] == replacement
    assert tlog.root(leaves) == notary.functions.logHead().call()[1]
    root = replacement[1]
    call = log.record_call(root)
    assert call is not None
    w3.eth.wait_for_transaction_receipt(call.transact())
    assert notary.functions.isRecorded(root).call()
    assert log.record_call(dropped[0]) is None  # the log no longer holds it


def test_a_node_hiding_a_batch_gets_no_log_built(node: ManagedAnvil, artifacts: dict[str, Artifact]) -> None:
    """The node leaves one BatchAnchored event out: the leaves it gives do not make the head the
    contract computed, and no record call is built from them."""
    notary = deploy_notary(Web3(Web3.HTTPProvider(node.url)), artifacts)
    roots = anchor(notary, 4)
    topic = "0x" + BATCH_ANCHORED_TOPIC.hex()

    def hidden(log: dict[str, Any]) -> bool:
        return log["topics"][0] == topic and log["topics"][2] == "0x" + roots[2].hex()

    with LogRangeLimitProxy(node.url, max_blocks=10**9, hide=hidden) as proxy:
        lying = Web3(Web3.HTTPProvider(proxy.url)).eth.contract(address=notary.address, abi=notary.abi)
        with pytest.raises(RuntimeError, match="not the notary's log of 4 batches"):
            NotaryLog(lying, 0).record_call(roots[0])
