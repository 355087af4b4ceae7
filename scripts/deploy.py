"""Brownie smoke deploy: DeviceRegistry and DataNotary on a local chain, exercised once.

Run with `brownie run scripts/deploy.py --network development` (see scripts/brownie-smoke.sh).
This is a Brownie script, not part of the service: ledger_service never imports it.
"""

from __future__ import annotations

from brownie import DataNotary, DeviceRegistry, accounts, web3


def _leaf(payload_hash: bytes) -> bytes:
    """StandardMerkleTree leaf of the value tuple (bytes32): keccak256(keccak256(abi.encode(v))).

    abi.encode of a single bytes32 is the 32 bytes themselves.
    """
    return bytes(web3.keccak(web3.keccak(payload_hash)))


def main() -> tuple[str, str]:
    admin = accounts[0]
    registry = DeviceRegistry.deploy(admin, {"from": admin})
    notary = DataNotary.deploy(admin, {"from": admin})

    device_id = bytes(web3.keccak(text="brownie-smoke-device"))
    secp256k1_key = (1, accounts[1].address, bytes(32), bytes(32))  # DeviceRegistry.PublicKey
    metadata = ("brownie-smoke", bytes(32), "")  # DeviceRegistry.Metadata
    registry.registerDevice(device_id, admin, secp256k1_key, metadata, {"from": admin})
    if not registry.isRegistered(device_id):
        raise RuntimeError("device was not registered")

    # A single-leaf tree: the root is the leaf itself and the proof is empty.
    leaf = _leaf(bytes(web3.keccak(text="brownie-smoke-reading")))
    root = leaf
    notary.anchor(root, 1, 1_700_000_000, 1_700_000_000, "brownie-smoke", {"from": admin})
    if notary.verify(root, leaf, []):
        raise RuntimeError("DataNotary.verify answered for a batch not recorded")
    # The log's first batch is the frontier's node at height 0: an empty log path records it.
    notary.recordAnchor(0, root, 1, 1_700_000_000, 1_700_000_000, "brownie-smoke", [], {"from": admin})
    if not notary.verify(root, leaf, []):
        raise RuntimeError("DataNotary.verify rejected a valid proof")
    if notary.verify(root, bytes(32), []):
        raise RuntimeError("DataNotary.verify accepted a wrong leaf")

    print(f"DeviceRegistry: {registry.address}")
    print(f"DataNotary:     {notary.address}")
    print(f"batches anchored: {notary.batchCount()}, proof verified: True")
    return registry.address, notary.address
