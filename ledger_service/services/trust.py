"""Trust anchors: what a verifier pins before it believes a proof bundle.

A bundle names the chain and the contracts it claims to be anchored in, but anyone can deploy a
DataNotary and a DeviceRegistry of their own and hand over a bundle that names them. So a verifier
takes the chain, the contracts and the EIP-712 domain from a source it chose itself, never from the
bundle: a published trust document (`GET /.well-known/provenance-ledger.json`,
`provenance trust export`), a deployment manifest, or explicit values. docs/proof-format.md states
the rule for third-party verifiers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_utils import is_address, to_checksum_address

from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.errors import InvalidFilter, TrustAnchorError
from ledger_service.core.readings import DOMAIN_NAME, DOMAIN_VERSION, Domain
from ledger_service.core.signed_note import parse_verifier_key

TRUST_FORMAT = "provenance-ledger/trust@1"
WELL_KNOWN_PATH = "/.well-known/provenance-ledger.json"
#: The contracts a reading's proof rests on.
REQUIRED = ("DataNotary", "DeviceRegistry")


@dataclass(frozen=True)
class PinnedContract:
    """A contract address, and the keccak256 of its runtime code when the source pins it."""

    address: str
    code_hash: str | None = None


@dataclass(frozen=True)
class TrustAnchor:
    """The chain and contracts a verifier trusts, and where it got them from."""

    chain_id: int
    genesis_hash: str | None
    contracts: dict[str, PinnedContract] = field(default_factory=dict)
    source: str = "explicit values"
    log_key: str | None = None  # the transparency log's note verifier key, when the source pins one

    def __post_init__(self) -> None:
        missing = [name for name in REQUIRED if name not in self.contracts]
        if missing:
            raise TrustAnchorError(f"the trust anchor names no {' or '.join(missing)}")

    @property
    def notary(self) -> PinnedContract:
        return self.contracts["DataNotary"]

    @property
    def registry(self) -> PinnedContract:
        return self.contracts["DeviceRegistry"]

    @property
    def domain(self) -> Domain:
        """The EIP-712 domain readings must be signed under: the pinned registry on the pinned chain."""
        return Domain(self.chain_id, self.registry.address)


def _hex32(value: Any, what: str) -> str:
    text = str(value).lower()
    if not (text.startswith("0x") and len(text) == 66 and all(c in "0123456789abcdef" for c in text[2:])):
        raise TrustAnchorError(f"{what} is not a 32-byte 0x-hex value: {value!r}")
    return text


def _address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise TrustAnchorError(f"{what} is not an address: {value!r}")
    return str(to_checksum_address(value))


def pinned(address: str, code_hash: str | None = None, name: str = "contract") -> PinnedContract:
    """A checked PinnedContract."""
    return PinnedContract(
        _address(address, f"{name} address"), _hex32(code_hash, f"{name} code hash") if code_hash else None
    )


def trust_document(deployment: Deployment, log_key: str | None = None) -> dict[str, Any]:
    """The trust document an operator publishes for its deployment (with its transparency log's
    verifier key, when given)."""
    registry = deployment.address_of("DeviceRegistry")
    document: dict[str, Any] = {
        "format": TRUST_FORMAT,
        "chain_id": deployment.chain_id,
        "genesis_hash": deployment.genesis_hash,
        "contracts": {
            name: {"address": c.address, "code_hash": c.code_hash, "deploy_block": c.block_number}
            for name, c in sorted(deployment.contracts.items())
        },
        "eip712_domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": deployment.chain_id,
            "verifyingContract": registry,
        },
    }
    if log_key is not None:
        document["transparency_log"] = {"verifier_key": log_key}
    return document


def fingerprint(document: dict[str, Any]) -> str:
    """sha256 of the document's canonical JSON (keys sorted, no whitespace): compare it out of band."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def anchor_from_document(document: Any, source: str) -> TrustAnchor:
    """A TrustAnchor from a trust document or a deployment manifest (both name chain and contracts)."""
    if not isinstance(document, dict):
        raise TrustAnchorError(f"{source} is not a JSON object")
    try:
        chain_id = int(document["chain_id"])
        contracts = {
            str(name): pinned(entry["address"], entry.get("code_hash"), str(name))
            for name, entry in dict(document["contracts"]).items()
        }
        genesis = _hex32(document["genesis_hash"], "genesis hash") if document.get("genesis_hash") else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TrustAnchorError(f"{source} is not a trust document or manifest: {exc}") from exc
    anchor = TrustAnchor(
        chain_id, genesis, contracts, f"{source} ({fingerprint(document)})", _log_key(document, source)
    )
    domain = document.get("eip712_domain")
    if domain is not None:
        expected = {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
                    "verifyingContract": anchor.registry.address}  # fmt: skip
        given = {**domain, "verifyingContract": _address(domain.get("verifyingContract"), "verifyingContract")}
        if given != expected:
            raise TrustAnchorError(f"{source}: its EIP-712 domain does not match its chain and registry")
    return anchor


def _log_key(document: dict[str, Any], source: str) -> str | None:
    entry = document.get("transparency_log")
    if entry is None:
        return None
    try:
        key = str(entry["verifier_key"])
        parse_verifier_key(key)
    except (KeyError, TypeError, InvalidFilter) as exc:
        raise TrustAnchorError(f"{source}: its transparency log key is not a note verifier key") from exc
    return key


def load_trust(spec: str, timeout: float = 10.0) -> TrustAnchor:
    """The trust anchor in a file, or at an http(s) URL (a service's well-known trust document)."""
    if spec.startswith(("http://", "https://")):
        url = spec.rstrip("/")
        if "/.well-known/" not in url:
            url += WELL_KNOWN_PATH
        try:
            response = httpx.get(url, timeout=timeout, follow_redirects=False)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TrustAnchorError(f"cannot fetch the trust document at {url}: {type(exc).__name__}") from exc
        return anchor_from_document(document, f"trust document {url}")
    path = Path(spec)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrustAnchorError(f"cannot read the trust document {path}: {exc}") from exc
    kind = "trust document" if document.get("format") == TRUST_FORMAT else "deployment manifest"
    return anchor_from_document(document, f"{kind} {path}")


def explicit_anchor(chain_id: int, notary: str, registry: str, genesis_hash: str | None = None) -> TrustAnchor:
    """A trust anchor from values the verifier typed in."""
    return TrustAnchor(
        chain_id,
        _hex32(genesis_hash, "genesis hash") if genesis_hash else None,
        {"DataNotary": pinned(notary, name="DataNotary"), "DeviceRegistry": pinned(registry, name="DeviceRegistry")},
        "command-line values",
    )
