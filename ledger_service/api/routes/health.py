"""Service health."""

from __future__ import annotations

from fastapi import APIRouter

from ledger_service.api.deps import ServicesDep
from ledger_service.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(services: ServicesDep) -> Health:
    """Whether the service is up, which chain it anchors to, and how much work is queued."""
    deployment = services.ledger.deployment
    try:
        block: int | None = int(services.ledger.client.w3.eth.block_number)
    except Exception:  # noqa: BLE001 - health reports an unreachable chain instead of failing
        block = None
    return Health(
        status="ok" if block is not None else "degraded",
        chain_id=deployment.chain_id,
        block_number=block,
        contracts={name: c.address for name, c in deployment.contracts.items()},
        counts=services.proofs.counts(),
    )
