"""The outcome of checking a proof bundle: each check, and whether they amount to a proof."""

from __future__ import annotations

from dataclasses import dataclass

from ledger_service.services.trust import TrustAnchor


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verification:
    """Every check run on a bundle, and whether they amount to a proof."""

    checks: list[Check]
    trust: TrustAnchor | None
    chain_checked: bool

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(c.ok for c in self.checks)

    @property
    def complete(self) -> bool:
        """No check failed, and the bundle was checked against a pinned trust anchor on its chain."""
        return self.ok and self.trust is not None and self.chain_checked

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]
