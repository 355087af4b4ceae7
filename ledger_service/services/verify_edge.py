"""Checks an edge proof (`provenance-ledger/edge-proof@1`): a reading a gateway sealed under a root
it signed, that root carried upstream by the gateway's own reading, and that reading anchored.

Each link is checked, and nothing the gateway says is believed:
1. the device's reading, digest (under the pinned domain), signature and leaf, as in any bundle;
2. `gateway-path`: the leaf's path leads to the gateway root;
3. `gateway-root`: upstream's bundle is of a reading by the gateway with metric `edge.root`, whose
   payloadHash is that root and whose value is the leaf count;
4. upstream's bundle by every rule of `verify.verify_bundle` (its checks named `upstream.*`): pinned
   contracts, the gateway's key in the pinned registry, the path, the anchor on the pinned chain;
5. on the chain: the device's key in the pinned registry at the reading's time signed it
   (`device-key`, `registry-verify`), the reading's time is not after the anchor (`timeline`), and
   that key was still open, the device not suspended, when the root was anchored
   (`key-open-at-anchor`): what upstream's intake would have asked of the reading had it come directly;
   and the root's publisher is registered as an edge gateway (`gateway-kind`: its metadata model).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hexbytes import HexBytes
from web3 import Web3

from ledger_service.core.merkle import process_proof
from ledger_service.core.readings import GATEWAY_MODEL, GATEWAY_ROOT_METRIC, Domain
from ledger_service.services.proofs import EDGE_PROOF_FORMAT
from ledger_service.services.trust import TrustAnchor
from ledger_service.services.verification import Check, Verification
from ledger_service.services.verify import (
    anchor_time,
    contract_at,
    device_key_checks,
    reading_of,
    signed_reading_checks,
    verify_bundle,
)
from ledger_service.services.verify_abi import REGISTRY_ABI


def _hex(value: Any) -> str:
    return str(value).lower()


def edge_offline_checks(bundle: dict[str, Any], domain: Domain | None) -> Iterator[Check]:
    """The device's signed reading, its path to the gateway root, and the root reading upstream."""
    fmt = bundle.get("format")
    yield Check("format", fmt == EDGE_PROOF_FORMAT, f"{fmt}")
    leaf = yield from signed_reading_checks(bundle, domain)
    if leaf is None:
        return
    try:
        gateway, upstream = bundle["gateway"], bundle["upstream"]
        siblings = [bytes(HexBytes(p)) for p in gateway["proof"]]
        if any(len(sibling) != 32 for sibling in siblings):
            raise ValueError("a sibling is not a 32-byte hash")
        root = process_proof(leaf, siblings)
        message = upstream["eip712"]["message"]
        carried = (str(message["metric"]), _hex(message["payloadHash"]), int(message["value"]),
                   _hex(message["deviceId"]), _hex(upstream["reading_id"]))  # fmt: skip
        claimed = (GATEWAY_ROOT_METRIC, _hex(gateway["root"]), int(gateway["leaf_count"]), _hex(gateway["id"]),
                   _hex(gateway["root_reading_id"]))  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        yield Check("gateway-path", False, f"the bundle's gateway section is malformed: {exc}")
        return
    path_ok = "0x" + root.hex() == claimed[1]
    yield Check("gateway-path", path_ok, f"{len(gateway['proof'])} siblings lead to 0x{root.hex()}"
                + ("" if path_ok else f", not the gateway root {gateway['root']}"))  # fmt: skip
    same = carried == claimed
    detail = (f"reading {claimed[4]} of gateway {claimed[3]} carries root {claimed[1]} of {claimed[2]} readings"
              if same else f"upstream's reading carries {carried}; the bundle claims {claimed}")  # fmt: skip
    yield Check("gateway-root", same, detail)


def _device_chain_checks(bundle: dict[str, Any], trust: TrustAnchor, rpc_url: str) -> Iterator[Check]:
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    try:
        yield from device_key_checks(w3, bundle, trust)
        anchored_at = anchor_time(w3, bundle["upstream"]["anchor"]["block_hash"])  # upstream's checks found it there
        reading = reading_of(bundle)
        signature = bytes(HexBytes(bundle["reading"]["signature"]))
        registry = contract_at(w3, trust.registry.address, REGISTRY_ABI).functions
        still_open = bool(registry.verifyReadingAt(reading.device_id, reading.digest(trust.domain), signature,
                                                   anchored_at).call())  # fmt: skip
        gateway_id = bytes(HexBytes(bundle["gateway"]["id"]))
        model = str(registry.getDevice(gateway_id).call()[3][0])
    except Exception as exc:  # noqa: BLE001 - an unreachable node or a reverted call is a failed check
        yield Check("chain", False, f"the device checks stopped: {type(exc).__name__}")
        return
    taken = reading.timestamp
    yield Check("timeline", 0 < anchored_at and taken <= anchored_at,
                f"taken at {taken}, anchored (through the gateway root) at {anchored_at}, "
                f"{anchored_at - taken} s later")  # fmt: skip
    # What the service's intake asks of a reading on arrival, asked of it at the anchor: the key that
    # signed it not rotated out or closed by a revocation, the device not suspended. Without this, a
    # revoked key's holder could date a reading inside the key's old validity and have any device
    # that publishes roots carry it (upstream's intake never sees the reading itself).
    yield Check("gateway-kind", model == GATEWAY_MODEL,
                f"the root's publisher 0x{gateway_id.hex()} is registered with model {model!r}"
                + ("" if model == GATEWAY_MODEL else f", not {GATEWAY_MODEL!r}: not an edge gateway"))  # fmt: skip
    yield Check("key-open-at-anchor", still_open,
                f"DeviceRegistry.verifyReadingAt(device, digest, signature, {anchored_at}): the signing key was "
                + ("still open and the device not suspended when the root was anchored" if still_open else
                   "rotated out, revoked or suspended by the time the root was anchored"))  # fmt: skip


def verify_edge_bundle(
    bundle: dict[str, Any], trust: TrustAnchor | None, rpc_url: str | None, min_confirmations: int = 1
) -> Verification:
    """Every link, offline first; against the chain only with a pinned trust anchor and a node."""
    checks = list(edge_offline_checks(bundle, trust.domain if trust else None))
    upstream = bundle.get("upstream")
    if not isinstance(upstream, dict):
        checks.append(Check("upstream", False, "the bundle carries no upstream proof of the gateway root"))
        return Verification(checks, trust, False)
    go_on = all(c.ok for c in checks)
    inner = verify_bundle(upstream, trust, rpc_url if go_on else None, min_confirmations)
    checks.extend(Check(f"upstream.{c.name}", c.ok, c.detail) for c in inner.checks)
    chain = inner.chain_checked and all(c.ok for c in checks)
    if chain:
        assert trust is not None and rpc_url is not None
        checks.extend(_device_chain_checks(bundle, trust, rpc_url))
    return Verification(checks, trust, chain)
