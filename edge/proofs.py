"""Proofs of aggregated readings (`provenance-ledger/edge-proof@1`, docs/proof-format.md): the
device's signed reading, its path to the gateway root, and upstream's own proof bundle of the
gateway's root reading, fetched from upstream as it stands. The gateway adds nothing a verifier has
to believe: `provenance verify` checks the device's signature against the pinned registry, the path
to the root, that the root reading carries that root, and upstream's bundle against the chain."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from edge.store import EdgeStore
from ledger_service.core.errors import NotFound, NotYetAnchored, ProvenanceError
from ledger_service.services.proofs import EDGE_PROOF_FORMAT, ProofService

_READING = text("SELECT * FROM reading WHERE id = :id").bindparams(bindparam("id"))


class UpstreamUnreachable(ProvenanceError):
    """Upstream did not give the root reading's proof (out of reach, or an error of its own)."""

    code = "upstream-unreachable"
    status = 502
    title = "Upstream unreachable"


class EdgeProofs:
    """Builds the proof bundles of readings the gateway sealed under its roots."""

    def __init__(self, engine: Engine, store: EdgeStore, proofs: ProofService, upstream_url: str,
                 timeout: float = 10.0) -> None:  # fmt: skip
        self.engine = engine
        self.store = store
        self.proofs = proofs
        self.upstream_url = upstream_url.rstrip("/")
        self.timeout = timeout

    def bundle(self, reading_id: str) -> dict[str, Any]:
        """The chained bundle of `reading_id`; `NotFound` if the gateway never took it,
        `NotYetAnchored` while it waits to be sealed or its root to be anchored upstream."""
        with self.engine.connect() as connection:
            row = connection.execute(_READING, {"id": reading_id.lower()}).first()
        if row is None:
            raise NotFound(f"no reading {reading_id} at this gateway")
        member = self.store.membership(row.id)
        if member is None:
            raise NotYetAnchored(f"reading {reading_id} is held, not sealed under a gateway root yet",
                                 batch_status="held")  # fmt: skip
        upstream = self._upstream_bundle(member.root_reading_id)
        return {
            "format": EDGE_PROOF_FORMAT,
            "reading_id": row.id,
            "status": upstream.get("status"),
            **self.proofs.signed_reading(row),
            "gateway": {
                "id": member.gateway_id,
                "root": member.root,
                "proof": ["0x" + p.hex() for p in member.path],
                "leaf_count": member.reading_count,
                "root_reading_id": member.root_reading_id,
            },
            "upstream": upstream,
        }

    def _upstream_bundle(self, root_reading_id: str) -> dict[str, Any]:
        url = f"{self.upstream_url}/v1/readings/{root_reading_id}/proof"
        try:
            answer = httpx.get(url, timeout=self.timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise UpstreamUnreachable(f"{url}: {type(exc).__name__}") from exc
        if answer.status_code in (404, 409):  # not forwarded yet, or not anchored yet
            raise NotYetAnchored(f"the gateway root reading {root_reading_id} is not anchored upstream yet",
                                 batch_status="forwarding")  # fmt: skip
        if answer.status_code != 200:
            raise UpstreamUnreachable(f"{url} answered {answer.status_code}")
        try:
            bundle = answer.json()
        except ValueError as exc:
            raise UpstreamUnreachable(f"{url} answered something other than JSON") from exc
        if not isinstance(bundle, dict):
            raise UpstreamUnreachable(f"{url} answered something other than a proof bundle")
        return bundle
