"""Auditing a batch from its payload (format batch@2), against its log leaf: what the operator built
at sealing, re-derived by the verifier.

- the payload's bytes have the CID the leaf (and the anchor event) names;
- every reading's id is recomputed from its fields and signature under the pinned EIP-712 domain,
  and the signature is by the key the reading names (`signer`; a P-256 key is named by x alone, so
  both points with that x are tried);
- the anchored root is the tree of exactly these readings and one device index leaf: no made-up
  leaf, no second index leaf (which could show two verifiers two different runs of a device);
- the device index is the index of these readings.

That the named key was the device's registered key at the reading's time is the registry's to say:
`provenance verify` of a reading's bundle checks it.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ledger_service.core.device_index import Entry, build_entries, commitment
from ledger_service.core.keys import recover_secp256k1, verify_p256
from ledger_service.core.merkle import MerkleTree
from ledger_service.core.readings import Domain, Reading, reading_leaf
from ledger_service.services.content import cid_of
from ledger_service.services.transparency_log import LeafFields
from ledger_service.services.verification import Check

_P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
_P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def audit_payload(data: bytes, leaf: LeafFields, domain: Domain) -> list[Check]:
    """The checks of batch payload `data` against its log leaf; stops at the first failure."""
    named = cid_of(data) == leaf.content_id
    said = f"the payload of batch {leaf.batch_id} has CID {leaf.content_id}" + ("" if named else ": it has not")
    checks = [Check("payload-cid", named, said)]
    if not named:
        return checks
    try:
        document = json.loads(data)
        readings = document["readings"]
        index = [Entry.decode(bytes.fromhex(e[2:])) for e in document["device_index"]]
        problem = next((p for p in (_reading_problem(r, domain) for r in readings) if p), None)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [*checks, Check("payload-readings", False, f"not a batch@2 payload: {type(exc).__name__}: {exc}")]
    checks.append(Check("payload-readings", problem is None, problem or f"{len(readings)} readings, each id and "
                        "signature recomputed under the pinned domain"))  # fmt: skip
    if problem:
        return checks
    ids = [bytes.fromhex(r["id"][2:]) for r in readings]
    rebuilt = "0x" + MerkleTree([*ids, commitment(index)]).root.hex()
    whole = rebuilt == leaf.root == document.get("root")
    checks.append(Check("payload-tree", whole, "the anchored root is the tree of exactly these readings and one "
                        "device index" + ("" if whole else f": the tree rebuilt is {rebuilt}")))  # fmt: skip
    if not whole:
        return checks
    rows = [SimpleNamespace(**{k: r[k] for k in ("device_id", "key_index", "sequence", "timestamp", "id")})
            for r in readings]  # fmt: skip
    same = build_entries(rows) == index
    checks.append(Check("payload-index", same, "the device index is the index of these readings"
                        + ("" if same else ": it is not")))  # fmt: skip
    return checks


def _reading_problem(r: dict[str, Any], domain: Domain) -> str | None:
    device, payload_hash = bytes.fromhex(r["device_id"][2:]), bytes.fromhex(r["payload_hash"][2:])
    reading = Reading(device, int(r["sequence"]), int(r["timestamp"]), str(r["metric"]), int(r["value"]),
                      int(r["scale"]), str(r["unit"]), payload_hash)  # fmt: skip
    digest, signature = reading.digest(domain), bytes.fromhex(r["signature"][2:])
    if "0x" + reading_leaf(digest, signature).hex() != r["id"]:
        return f"reading {r['id']}: its id is not the leaf of its fields and signature"
    if not _signed_by(str(r["signer"]), digest, signature):
        return f"reading {r['id']}: not signed by {r['signer']}"
    return None


def _signed_by(signer: str, digest: bytes, signature: bytes) -> bool:
    if not signer.startswith("p256:"):
        recovered = recover_secp256k1(digest, signature)
        return recovered is not None and "0x" + recovered.hex() == signer.lower()
    x = int(signer.removeprefix("p256:"), 16)
    y = pow((x**3 - 3 * x + _P256_B) % _P256_P, (_P256_P + 1) // 4, _P256_P)
    for candidate in (y, _P256_P - y):
        try:
            public = ec.EllipticCurvePublicNumbers(x, candidate, ec.SECP256R1()).public_key()
        except ValueError:
            continue
        if verify_p256(public, digest, signature):
            return True
    return False
