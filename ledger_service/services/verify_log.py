"""A proof bundle's transparency-log section (proof@3), checked: the leaf is the bundle's batch,
the path leads to the root of the checkpoint the bundle carries, and (against a trust anchor) that
checkpoint is signed by the pinned log key and names the pinned chain and notary.

Offline, the checkpoint's signature is not checked: a path to a root nobody vouched for shows
nothing. Whether the checkpoint is the chain's own log is `provenance log verify --rpc`'s check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hexbytes import HexBytes

from ledger_service.core import tlog
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.signed_note import open_note, unverified_checkpoint
from ledger_service.services.transparency_log import decode_leaf_data
from ledger_service.services.trust import TrustAnchor
from ledger_service.services.verification import Check


def log_path_checks(bundle: dict[str, Any]) -> Iterator[Check]:
    """Self-consistency of the log section: its leaf is this batch, its path reaches its checkpoint."""
    log = bundle.get("log")
    if log is None:
        yield Check("log-path", True, "no log path: the batch was not in the transparency log yet (it holds "
                    "confirmed batches); fetch the bundle again later for one")  # fmt: skip
        return
    try:
        data = bytes(HexBytes(log["leaf_data"]))
        index, size = int(log["leaf_index"]), int(log["tree_size"])
        proof = [bytes(HexBytes(p)) for p in log["proof"]]
        checkpoint = unverified_checkpoint(str(log["checkpoint"]))
        leaf = decode_leaf_data(data)
        batch, anchor = bundle["batch"], bundle["anchor"]
        fields = (leaf.reading_count, leaf.first_timestamp, leaf.last_timestamp, leaf.content_id)
        claimed = (batch["reading_count"], batch["first_timestamp"], batch["last_timestamp"], batch["content_id"])
        same = leaf.batch_id == index == anchor["batch_id"] and leaf.root == bundle["merkle"]["root"]
        same = same and fields == claimed
    except (KeyError, TypeError, ValueError, AttributeError, InvalidFilter) as exc:
        yield Check("log-leaf", False, f"the bundle's log section is malformed: {exc}")
        return
    yield Check("log-leaf", same, f"leaf {index} is batch {leaf.batch_id}, root {leaf.root}"
                + ("" if same else ": not the bundle's batch"))  # fmt: skip
    if not same:
        return
    held = checkpoint.size == size and tlog.verify_inclusion(tlog.leaf_hash(data), index, size, proof, checkpoint.root)
    yield Check("log-path", held, f"{len(proof)} hashes lead from leaf {index} to the root of the checkpoint "
                f"of size {checkpoint.size}" + ("" if held else ": they do not"))  # fmt: skip


def log_key_checks(bundle: dict[str, Any], trust: TrustAnchor) -> Iterator[Check]:
    """The bundle's checkpoint is signed by the pinned log key and is the pinned notary's log."""
    log = bundle.get("log")
    note = str(log.get("checkpoint", "")) if isinstance(log, dict) else ""
    if trust.log_key is None:
        yield Check("log-checkpoint", True, f"not checked: {trust.source} pins no transparency log key")
        return
    try:
        checkpoint = open_note(note, trust.log_key)
    except InvalidFilter as exc:
        yield Check("log-checkpoint", False, f"the checkpoint is not signed by the pinned log key: {exc.detail}")
        return
    suffix = f"/{trust.chain_id}/{trust.notary.address.lower()}"
    ours = checkpoint.origin.endswith(suffix)
    yield Check("log-checkpoint", ours, f"signed by the pinned log key, origin {checkpoint.origin}"
                + ("" if ours else f": not the pinned notary's log (…{suffix})"))  # fmt: skip
