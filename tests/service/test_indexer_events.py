"""The indexer's event catalog and bloom filters against the project's compiled contracts and real blocks.
(The decoders on generated values: tests/unit/test_indexer_abi.py.)"""

from __future__ import annotations

import os
from typing import Any

from indexer.catalog import EventCatalog
from ledger_service.core.compiler import Artifact


def test_every_project_event_has_a_typed_table(artifacts: dict[str, Artifact]) -> None:
    catalog = EventCatalog([a.abi for a in artifacts.values()])
    names = {spec.name for spec in catalog.by_topic.values()}
    declared = {e["name"] for a in artifacts.values() for e in a.abi if e["type"] == "event"}
    assert names == declared


def test_bloom_bits_find_the_contracts_in_real_blocks(chain: Any, ledger: Any) -> None:
    from indexer.fetch import bloom_bits, bloom_mentions

    record = ledger.anchor(os.urandom(32), 1, 1_700_000_000, 1_700_000_000, "bloom")
    w3 = chain.client.w3
    notary = bytes.fromhex(ledger.notary.address[2:])
    block = w3.eth.get_block(record.block_number)
    assert bloom_mentions("0x" + bytes(block["logsBloom"]).hex(), [bloom_bits(notary)])
    empty = "0x" + "00" * 256
    assert not bloom_mentions(empty, [bloom_bits(notary)]) and not bloom_mentions(None, [bloom_bits(notary)])
