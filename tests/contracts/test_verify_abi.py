"""The verifier's written-out ABI (it runs without compiled artifacts) matches the contracts."""

from __future__ import annotations

from typing import Any

from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector

from ledger_service.core.compiler import Artifact
from ledger_service.services.verify_abi import BATCH_ANCHORED_TOPIC, NOTARY_ABI, REGISTRY_ABI


def shape(params: list[dict[str, Any]]) -> list[Any]:
    """Types in order, struct components included (their field names too: the verifier reads them)."""
    return [
        (p["name"], p["type"], shape(p.get("components", []))) if p["type"] == "tuple" else p["type"] for p in params
    ]


def selectors(abi: list[dict[str, Any]]) -> dict[bytes, list[Any]]:
    return {function_abi_to_4byte_selector(e): shape(e["outputs"]) for e in abi if e["type"] == "function"}


def test_the_verifiers_functions_and_event_are_the_contracts_own(artifacts: dict[str, Artifact]) -> None:
    for name, written in (("DataNotary", NOTARY_ABI), ("DeviceRegistry", REGISTRY_ABI)):
        compiled = selectors(artifacts[name].abi)
        for selector, outputs in selectors(written).items():
            assert selector in compiled, (name, selector.hex())
            assert outputs == compiled[selector], (name, selector.hex())
    (event,) = [e for e in artifacts["DataNotary"].abi if e["type"] == "event" and e["name"] == "BatchAnchored"]
    assert event_abi_to_log_topic(event) == BATCH_ANCHORED_TOPIC
