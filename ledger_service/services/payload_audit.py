"""Auditing a batch from its payload (format batch@2), against its log leaf: what the operator built
at sealing, re-derived by the verifier.

- the payload's bytes have the CID the leaf (and the anchor event) names;
- every reading's id is recomputed from its fields and signature under the pinned EIP-712 domain,
  and the signature is by the key the reading names (`signer`; a P-256 key is named by x alone, so
  both points with that x are tried);
- the anchored root is the tree of exactly these readings and one device index leaf: no made-up
  leaf, no second index leaf (which could show two verifiers two different runs of a device);
- the device index is the index of these readings.

With the pinned registry (`registry_keys`), each reading's key must also be the device's registered
key at its key index and time, so a reading the operator signed with a key of its own is caught.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from eth_utils import to_checksum_address
from web3 import Web3

from ledger_service.core.device_index import Entry, build_entries, commitment
from ledger_service.core.keys import PublicKey, recover_secp256k1, verify_p256
from ledger_service.core.merkle import MerkleTree
from ledger_service.core.readings import Domain, Reading, reading_leaf
from ledger_service.services.content import cid_of
from ledger_service.services.transparency_log import LeafFields
from ledger_service.services.verification import Check
from ledger_service.services.verify_abi import REGISTRY_ABI

_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


#: (device id, key index, reading time) -> the signer label (an address, or p256:0x<x>) of the key the
#: pinned registry held for that device at that index and time, or None.
RegistryKeys = Callable[[bytes, int, int], str | None]


def audit_payload(data: bytes, leaf: LeafFields, domain: Domain, keys: RegistryKeys | None = None) -> list[Check]:
    """The checks of batch payload `data` against its log leaf; stops at the first failure. With
    `keys` (the pinned registry), each reading's signer must be the device's key at its index and time."""
    named = cid_of(data) == leaf.content_id
    said = f"the payload of batch {leaf.batch_id} has CID {leaf.content_id}" + ("" if named else ": it has not")
    checks = [Check("payload-cid", named, said)]
    if not named:
        return checks
    try:
        checks += _content_checks(json.loads(data), leaf, domain, keys)
    except Exception as exc:  # noqa: BLE001 - a payload malformed in any way fails the audit
        checks.append(Check("payload-readings", False, f"not a batch@2 payload: {type(exc).__name__}: {exc}"))
    return checks


def _content_checks(document: dict[str, Any], leaf: LeafFields, domain: Domain, keys: RegistryKeys | None) -> Any:
    readings = document["readings"]
    index = [Entry.decode(bytes.fromhex(e[2:])) for e in document["device_index"]]
    problem = _duplicate(readings) or next(
        (p for p in (_reading_problem(r, domain, keys) for r in readings) if p), None
    )
    vouched = "the pinned registry's key of each device" if keys else "the key each reading names"
    yield Check("payload-readings", problem is None, problem or f"{len(readings)} readings, each id recomputed "
                f"under the pinned domain and signed by {vouched}")  # fmt: skip
    if problem:
        return
    ids = [bytes.fromhex(r["id"][2:]) for r in readings]
    rebuilt = "0x" + MerkleTree([*ids, commitment(index)]).root.hex()
    times = [int(r["timestamp"]) for r in readings]
    summary = (len(readings), min(times), max(times)) == (leaf.reading_count, leaf.first_timestamp, leaf.last_timestamp)
    whole = rebuilt == leaf.root == document.get("root") and summary
    yield Check("payload-tree", whole, "the anchored root is the tree of exactly these readings and one device "
                "index, and the leaf's count and times are theirs" + ("" if whole else ": they are not"))  # fmt: skip
    if not whole:
        return
    rows = [SimpleNamespace(**{k: r[k] for k in ("device_id", "key_index", "sequence", "timestamp", "id")})
            for r in readings]  # fmt: skip
    same = build_entries(rows) == index
    yield Check("payload-index", same, "the device index is the index of these readings" + ("" if same else ": not"))


def _duplicate(readings: list[dict[str, Any]]) -> str | None:
    ids = [r["id"] for r in readings]
    places = [(r["device_id"], int(r["key_index"]), int(r["sequence"])) for r in readings]
    if len(set(ids)) != len(ids) or len(set(places)) != len(places):
        return "a reading, or a device's sequence under one key, is listed twice"
    return None


def _reading_problem(r: dict[str, Any], domain: Domain, keys: RegistryKeys | None) -> str | None:
    device, payload_hash = bytes.fromhex(r["device_id"][2:]), bytes.fromhex(r["payload_hash"][2:])
    reading = Reading(device, int(r["sequence"]), int(r["timestamp"]), str(r["metric"]), int(r["value"]),
                      int(r["scale"]), str(r["unit"]), payload_hash)  # fmt: skip
    digest, signature = reading.digest(domain), bytes.fromhex(r["signature"][2:])
    if "0x" + reading_leaf(digest, signature).hex() != r["id"]:
        return f"reading {r['id']}: its id is not the leaf of its fields and signature"
    if not _signed_by(str(r["signer"]), digest, signature):
        return f"reading {r['id']}: not signed by {r['signer']}"
    registered = keys(device, int(r["key_index"]), reading.timestamp) if keys is not None else None
    if keys is not None and (registered or "").lower() != str(r["signer"]).lower():
        return f"reading {r['id']}: {r['signer']} is not the registry's key {r['key_index']} of its device then"
    return None


def _signed_by(signer: str, digest: bytes, signature: bytes) -> bool:
    if not signer.startswith("p256:"):
        recovered = recover_secp256k1(digest, signature)
        return recovered is not None and "0x" + recovered.hex() == signer.lower()
    if not re.fullmatch(r"p256:0x[0-9a-f]{64}", signer):
        return False  # one name per key: 0x and 64 lowercase hex digits
    x = int(signer.removeprefix("p256:"), 16)
    if x >= _P256_P:
        return False
    y = pow((x**3 - 3 * x + _P256_B) % _P256_P, (_P256_P + 1) // 4, _P256_P)
    for candidate in (y, _P256_P - y):
        try:
            public = ec.EllipticCurvePublicNumbers(x, candidate, ec.SECP256R1()).public_key()
        except ValueError:
            continue
        if verify_p256(public, digest, signature):
            return True
    return False


def registry_keys(w3: Web3, registry: str) -> RegistryKeys:
    """The pinned DeviceRegistry's keys, as `audit_payload` asks for them (each key read once)."""
    contract = w3.eth.contract(address=to_checksum_address(registry), abi=REGISTRY_ABI)
    records: dict[tuple[bytes, int], Any] = {}

    def lookup(device: bytes, key_index: int, timestamp: int) -> str | None:
        if (device, key_index) not in records:
            try:
                records[(device, key_index)] = contract.functions.getKey(device, key_index).call()
            except Exception:  # noqa: BLE001 - no such key (the call reverts): not the device's key
                records[(device, key_index)] = None
        record = records[(device, key_index)]
        if record is None:
            return None
        valid_from, valid_until = int(record[1]), int(record[3])
        if timestamp < valid_from or (valid_until and timestamp >= valid_until):
            return None
        key = PublicKey.from_tuple(record[0])
        return key.signer.lower() if key.signer else f"p256:0x{key.x:064x}"

    return lookup
