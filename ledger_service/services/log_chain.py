"""The transparency log as the chain holds it, read without the service: the notary's
`BatchAnchored` events give the leaves, and its `logHead()` (which the contract grows itself, one
leaf per anchor) must be their RFC 9162 root. Checkpoints the operator signed are then checked
against it: a checkpoint of size M must carry the root of the chain's first M leaves, so a log that
leaves a batch out, rewrites one, or shows one client a different history is caught by anyone
holding the notary's address and an RPC endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import to_checksum_address
from web3 import Web3

from ledger_service.core import tlog
from ledger_service.core.chain.notary_log import batch_anchored_logs, leaf_hashes
from ledger_service.core.signed_note import Checkpoint
from ledger_service.services.log_audit import Check
from ledger_service.services.verify_abi import NOTARY_ABI


@dataclass(frozen=True)
class ChainLog:
    """The log at one block: the head the contract holds and the leaves of its events."""

    block: int
    size: int
    root: bytes
    leaves: list[bytes]  # leaf hashes, by batch id


def read_chain_log(w3: Web3, notary: str, from_block: int = 0) -> ChainLog:
    """The notary's log head at the latest block, and the leaves of its events up to that block (those
    the node gave: unlike `NotaryLog`, an auditor goes on with a log missing events, to report it)."""
    contract = w3.eth.contract(address=to_checksum_address(notary), abi=NOTARY_ABI)
    block = int(w3.eth.block_number)
    size, root = contract.functions.logHead().call(block_identifier=block)
    leaves = leaf_hashes(batch_anchored_logs(contract, from_block, block))
    ordered = [leaves[i] for i in range(len(leaves)) if i in leaves]
    return ChainLog(block, int(size), bytes(root), ordered)


def check_chain(chain: ChainLog) -> Check:
    """The contract's head is the root of its own events (an RPC endpoint hiding events fails this)."""
    held = chain.size == len(chain.leaves) and chain.root == tlog.root(chain.leaves)
    detail = "" if held else f"logHead() is size {chain.size}; the events give {len(chain.leaves)} leaves, another root"
    what = f"the chain's log head (size {chain.size}, block {chain.block}) is the root of its events"
    return Check(what, held, detail)


def check_against_chain(checkpoints: Sequence[Checkpoint], chain: ChainLog) -> list[Check]:
    """Each checkpoint's root against the chain's log at the checkpoint's size."""
    checks = []
    for checkpoint in sorted(checkpoints, key=lambda c: c.size):
        what = f"checkpoint of size {checkpoint.size} is the chain's log at that size"
        if checkpoint.size > chain.size:
            checks.append(Check(what, False, f"the chain's log holds {chain.size} batches: the checkpoint is ahead"))
            continue
        held = checkpoint.root == tlog.root(chain.leaves[: checkpoint.size])
        checks.append(Check(what, held, "" if held else "another root: the operator's log differs from the chain's"))
    return checks
