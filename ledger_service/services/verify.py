"""Checks a proof bundle against a trust anchor the verifier pinned.

Offline, the bundle is checked for self-consistency: digest, signature by the key it names, leaf,
Merkle path. That alone proves nothing about who signed or whether anything was anchored: anyone
can make a consistent bundle with contracts of their own. The proof holds only against a trust
anchor (ledger_service/services/trust.py) and a node of the pinned chain: the genesis block and the runtime
code of the pinned contracts are checked, the anchor event must come from the pinned DataNotary,
and the signing key is read from the pinned DeviceRegistry at the reading's time. Nothing the
bundle says about chain, contracts, domain or key is trusted. docs/proof-format.md lists each check.

Standalone: it needs the bundle, a trust anchor and a JSON-RPC URL; no database, no service.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from ledger_service.core.keys import KeyError_, PublicKey
from ledger_service.core.log_leaf import EVENT_DATA_TYPES
from ledger_service.core.merkle import process_proof
from ledger_service.core.readings import Domain, Reading, leaf_values, reading_leaf
from ledger_service.services.proofs import EARLIER_PROOF_FORMATS, PROOF_FORMAT
from ledger_service.services.trust import TrustAnchor
from ledger_service.services.verification import Check, Verification
from ledger_service.services.verify_abi import BATCH_ANCHORED_TOPIC, REGISTRY_ABI
from ledger_service.services.verify_log import log_key_checks, log_path_checks

SELF_CONSISTENCY_WARNING = (
    "only self-consistency was checked: nothing here shows that the device, the registry or the anchor "
    "are the real ones (anyone can make such a bundle with contracts of their own); pin a trust anchor "
    "(--trust FILE|URL, --manifest, or --chain-id/--notary/--registry) and check against the chain"
)


def contract_at(w3: Web3, address: str, abi: list[dict[str, Any]]) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=abi)


def _b(text: str) -> bytes:
    return bytes(HexBytes(text))


def reading_of(bundle: dict[str, Any]) -> Reading:
    message = bundle["eip712"]["message"]
    return Reading(
        device_id=_b(message["deviceId"]),
        sequence=int(message["sequence"]),
        timestamp=int(message["timestamp"]),
        metric=str(message["metric"]),
        value=int(message["value"]),
        scale=int(message["scale"]),
        unit=str(message["unit"]),
        payload_hash=_b(message["payloadHash"]),
    )


def _bundle_domain(bundle: dict[str, Any]) -> Domain:
    domain = bundle["eip712"]["domain"]
    return Domain(int(domain["chainId"]), str(domain["verifyingContract"]))


def pin_checks(bundle: dict[str, Any], trust: TrustAnchor) -> Iterator[Check]:
    """The bundle must claim exactly the pinned chain, contracts and EIP-712 domain."""
    try:
        anchor = bundle["anchor"]
        claimed = (int(anchor["chain_id"]), to_checksum_address(anchor["notary"]),
                   to_checksum_address(anchor["registry"]), _bundle_domain(bundle))  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        yield Check("pinned-contracts", False, f"the bundle's anchor is malformed: {exc}")
        return
    expected = (trust.chain_id, trust.notary.address, trust.registry.address, trust.domain)
    same = claimed == expected
    detail = f"chain {trust.chain_id}, DataNotary {trust.notary.address}, DeviceRegistry {trust.registry.address}"
    if not same:
        detail = (f"the bundle names chain {claimed[0]}, notary {claimed[1]}, registry {claimed[2]}, domain "
                  f"{claimed[3].chain_id}/{claimed[3].verifying_contract}; pinned: {detail}")  # fmt: skip
    yield Check("pinned-contracts", same, detail + f" from {trust.source}")


def offline_checks(bundle: dict[str, Any], domain: Domain | None = None) -> Iterator[Check]:
    """Self-consistency. The digest is computed under `domain` (the pinned one) when given, else the
    bundle's own. Stops at the first failure that later checks build on."""
    fmt = bundle.get("format")
    yield Check("format", fmt == PROOF_FORMAT or fmt in EARLIER_PROOF_FORMATS, f"{fmt}")
    leaf = yield from signed_reading_checks(bundle, domain)
    if leaf is None:
        return
    try:
        root = process_proof(leaf, [_b(p) for p in bundle["merkle"]["proof"]])
        path_ok = "0x" + root.hex() == bundle["merkle"]["root"]
    except (KeyError, TypeError, ValueError) as exc:
        yield Check("merkle-path", False, f"the bundle's Merkle path is malformed: {exc!r}")
        return
    yield Check("merkle-path", path_ok, f"{len(bundle['merkle']['proof'])} siblings lead to 0x{root.hex()}")
    if fmt == PROOF_FORMAT:
        yield from log_path_checks(bundle)


def signed_reading_checks(bundle: dict[str, Any], domain: Domain | None) -> Generator[Check, None, bytes | None]:
    """The reading, its digest, the signature by the key the bundle names, and the leaf; returns the
    leaf computed here (None when the reading is malformed)."""
    try:
        reading = reading_of(bundle)
        digest = reading.digest(domain or _bundle_domain(bundle))
        signature = _b(bundle["reading"]["signature"])
    except (KeyError, TypeError, ValueError) as exc:
        yield Check("reading", False, f"the bundle's reading is malformed: {exc}")
        return None
    same_fields = all(bundle["reading"].get(k) == v for k, v in reading.message().items())
    yield Check("reading", same_fields, "the reading matches its EIP-712 message" if same_fields else "they differ")
    ok = "0x" + digest.hex() == bundle.get("digest")
    yield Check("digest", ok, f"EIP-712 digest 0x{digest.hex()}" + ("" if ok else f" != {bundle.get('digest')}"))
    try:
        key = PublicKey.from_json(bundle["key"])
        signed = key.verify(digest, signature)
        detail = f"{key.key_type.label} key {key.to_json().get('address') or key.to_json()['x']} named by the bundle"
    except (KeyError, TypeError, KeyError_) as exc:
        signed, detail = False, f"no usable signing key in the bundle: {exc}"
    yield Check("signature", signed, detail if signed else f"not a valid signature by the {detail}")
    leaf = reading_leaf(digest, signature)
    values_ok = ["0x" + v.hex() for v in leaf_values(digest, signature)] == bundle["leaf"]["values"]
    leaf_ok = values_ok and "0x" + leaf.hex() == bundle["leaf"]["hash"] == bundle.get("reading_id")
    yield Check("leaf", leaf_ok, f"leaf 0x{leaf.hex()}" + ("" if leaf_ok else " does not match the bundle"))
    return leaf


def _code_check(w3: Web3, name: str, address: str, code_hash: str | None) -> Check:
    code = bytes(w3.eth.get_code(to_checksum_address(address)))
    found = HexBytes(keccak(code)).to_0x_hex()
    if not code:
        return Check("contract-code", False, f"no code at the pinned {name} {address}")
    if code_hash is None:
        return Check("contract-code", True, f"{name} has code (no code hash pinned)")
    ok = found == code_hash
    return Check("contract-code", ok, f"{name} runtime code {found}" + ("" if ok else f", pinned {code_hash}"))


def _chain_identity(w3: Web3, trust: TrustAnchor) -> Iterator[Check]:
    chain_id = int(w3.eth.chain_id)
    yield Check("chain-id", chain_id == trust.chain_id, f"node's chain {chain_id}, pinned {trust.chain_id}")
    if trust.genesis_hash is not None:
        genesis = HexBytes(w3.eth.get_block(0)["hash"]).to_0x_hex()
        yield Check("genesis", genesis == trust.genesis_hash, f"genesis block {genesis}, pinned {trust.genesis_hash}")
    for name, contract in (("DataNotary", trust.notary), ("DeviceRegistry", trust.registry)):
        yield _code_check(w3, name, contract.address, contract.code_hash)


def _anchor_checks(w3: Web3, bundle: dict[str, Any], trust: TrustAnchor, min_confirmations: int) -> Iterator[Check]:
    anchor = bundle["anchor"]
    try:
        receipt = w3.eth.get_transaction_receipt(anchor["transaction_hash"])
    except Exception as exc:  # noqa: BLE001 - not found, or not a hash: the anchor is not on this chain
        yield Check("transaction", False, f"{anchor.get('transaction_hash')} not found: {type(exc).__name__}")
        return
    in_block = (receipt["status"] == 1 and int(receipt["blockNumber"]) == anchor["block_number"]
                and HexBytes(receipt["blockHash"]).to_0x_hex() == anchor["block_hash"])  # fmt: skip
    yield Check("transaction", in_block,
                f"mined in block {receipt['blockNumber']} ({HexBytes(receipt['blockHash']).to_0x_hex()})")  # fmt: skip
    root = _b(bundle["merkle"]["root"])
    notary = trust.notary.address
    events = [entry for entry in receipt["logs"]
              if entry["address"] == notary and len(entry["topics"]) >= 3
              and bytes(entry["topics"][0]) == BATCH_ANCHORED_TOPIC and bytes(entry["topics"][2]) == root]  # fmt: skip
    events = [entry for entry in events if int.from_bytes(bytes(entry["topics"][1]), "big") == anchor["batch_id"]]
    event_ok = bool(events)
    yield Check(
        "anchor-event",
        event_ok,
        f"BatchAnchored(batch {anchor['batch_id']}, root {bundle['merkle']['root']}) by the pinned {notary}",
    )
    if not event_ok:
        return
    # the event is the chain's record of the batch (the notary stores nothing per batch): its data
    # must be what the bundle, and its log leaf, say of the batch; its block dates the anchor
    count, first, last, content_id = abi_decode(EVENT_DATA_TYPES, bytes(events[0]["data"]))
    batch = bundle["batch"]
    claimed = (int(batch["reading_count"]), int(batch["first_timestamp"]), int(batch["last_timestamp"]),
               str(batch.get("content_id")))  # fmt: skip
    yield Check("anchor-record", (count, first, last, content_id) == claimed,
                f"BatchAnchored: {count} readings taken from {first} to {last}, content {content_id}")  # fmt: skip
    anchored_at = anchor_time(w3, receipt["blockHash"])
    taken = int(bundle["eip712"]["message"]["timestamp"])
    yield Check(
        "timeline", taken <= anchored_at, f"taken at {taken}, anchored at {anchored_at}: the reading existed by then"
    )
    depth = int(w3.eth.block_number) - int(receipt["blockNumber"]) + 1
    yield Check("confirmations", depth >= min_confirmations, f"{depth} confirmations (need {min_confirmations})")


def anchor_time(w3: Web3, block_hash: Any) -> int:
    """The time of the block an anchor is in (the block the transaction check found it in)."""
    return int(w3.eth.get_block(HexBytes(block_hash))["timestamp"])


def _registry_key(w3: Web3, trust: TrustAnchor, reading: Reading) -> tuple[int, PublicKey] | None:
    """The key the pinned registry held for the device at the reading's time, newest first."""
    registry = contract_at(w3, trust.registry.address, REGISTRY_ABI).functions
    for index in range(int(registry.keyCount(reading.device_id).call()) - 1, -1, -1):
        record = registry.getKey(reading.device_id, index).call()
        valid_from, valid_until = int(record[1]), int(record[3])
        if valid_from > reading.timestamp:
            continue
        if valid_until != 0 and reading.timestamp >= valid_until:
            return None
        return index, PublicKey.from_tuple(record[0])
    return None


def device_key_checks(w3: Web3, bundle: dict[str, Any], trust: TrustAnchor) -> Iterator[Check]:
    """The key the pinned registry held for the device at the reading's time signed it, and the
    registry's own `verifySignedReading` agrees."""
    reading = reading_of(bundle)
    digest = reading.digest(trust.domain)
    signature = _b(bundle["reading"]["signature"])
    found = _registry_key(w3, trust, reading)
    if found is None:
        yield Check("device-key", False, f"the pinned registry holds no key of device 0x{reading.device_id.hex()} "
                    f"valid at {reading.timestamp}")  # fmt: skip
    else:
        index, key = found
        signed = key.verify(digest, signature)
        label = key.to_json().get("address") or key.to_json()["x"]
        yield Check(
            "device-key",
            signed,
            f"key {index} of device 0x{reading.device_id.hex()} in the pinned "
            f"registry ({key.key_type.label} {label})" + ("" if signed else " did not sign this reading"),
        )
    registry = contract_at(w3, trust.registry.address, REGISTRY_ABI)
    yield call_check("registry-verify", "DeviceRegistry.verifySignedReading",
                lambda: registry.functions.verifySignedReading(reading.as_tuple(), signature).call())  # fmt: skip


def chain_checks(
    bundle: dict[str, Any], trust: TrustAnchor, rpc_url: str, min_confirmations: int = 1
) -> Iterator[Check]:
    """Checks against a node of the pinned chain, every call made to the pinned contracts."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    stages: list[Callable[[], Iterator[Check]]] = [
        lambda: _chain_identity(w3, trust),
        lambda: _anchor_checks(w3, bundle, trust, min_confirmations),
        lambda: device_key_checks(w3, bundle, trust),
    ]
    for stage in stages:
        try:
            for check in stage():
                yield check
                if not check.ok:  # later checks build on this one
                    return
        except Exception as exc:  # noqa: BLE001 - an unreachable node or a reverted call is a failed check
            yield Check("chain", False, f"the chain checks stopped: {type(exc).__name__}")
            return


def call_check(name: str, what: str, run: Callable[[], Any]) -> Check:
    try:
        return Check(name, bool(run()), what)
    except Exception as exc:  # noqa: BLE001 - a failed call is a failed check
        return Check(name, False, f"{what} failed: {type(exc).__name__}")


def verify_bundle(
    bundle: dict[str, Any], trust: TrustAnchor | None, rpc_url: str | None, min_confirmations: int = 1
) -> Verification:
    """Every check, offline first. Without a trust anchor only self-consistency is checked, and the
    chain is not asked at all: the bundle's own addresses are never used."""
    checks: list[Check] = []
    if trust is not None:
        checks.extend(pin_checks(bundle, trust))
    checks.extend(offline_checks(bundle, trust.domain if trust else None))
    if trust is not None and bundle.get("log"):
        checks.extend(log_key_checks(bundle, trust))
    chain = trust is not None and rpc_url is not None and all(c.ok for c in checks)
    if chain:
        assert trust is not None and rpc_url is not None
        checks.extend(chain_checks(bundle, trust, rpc_url, min_confirmations))
    return Verification(checks, trust, chain)
