"""The trust document verifiers pin (`/.well-known/provenance-ledger.json`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ledger_service.app.api.deps import ServicesDep
from ledger_service.services.trust import WELL_KNOWN_PATH, trust_document

router = APIRouter(tags=["trust"])


@router.get(WELL_KNOWN_PATH)
def well_known(services: ServicesDep) -> dict[str, Any]:
    """Chain id, genesis hash, every contract with its runtime code hash, the EIP-712 domain, and the
    transparency log's verifier key.

    A verifier fetches this once, compares its fingerprint out of band, and pins it: proof bundles
    are checked against it, never against the addresses a bundle names (docs/proof-format.md)."""
    return trust_document(services.ledger.deployment, services.transparency_log.verifier)
