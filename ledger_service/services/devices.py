"""Device ids and keys as people give them: on the command line and in API bodies."""

from __future__ import annotations

import re
from pathlib import Path

from eth_utils import is_address, keccak

from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey, PublicKey

_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")


def default_device_id(key: PublicKey) -> bytes:
    """The id a device gets when none is given: its address left-padded (secp256k1), or
    keccak256(x ‖ y) of its point (P-256)."""
    if key.key_type is KeyType.SECP256K1:
        assert key.signer is not None
        return bytes(12) + bytes.fromhex(key.signer[2:])
    assert key.x is not None and key.y is not None
    return keccak(key.x.to_bytes(32, "big") + key.y.to_bytes(32, "big"))


def parse_device_id(text: str | None, key: PublicKey | None = None) -> bytes:
    """A device id from 0x + 64 hex digits, any other text (hashed with keccak256), or the key's default."""
    if text is None:
        if key is None:
            raise ValueError("a device id is needed")
        return default_device_id(key)
    if _HEX32.match(text):
        device_id = bytes.fromhex(text[2:])
    elif text.startswith("0x"):
        raise ValueError(f"a hex device id is 0x + 64 hex digits, got {text!r}")
    elif text.strip():
        device_id = keccak(text=text)
    else:
        raise ValueError("the device id is empty")
    if device_id == bytes(32):
        raise ValueError("the device id must not be zero")
    return device_id


def parse_public_key(text: str) -> PublicKey:
    """A public key from an address (secp256k1) or a key file written by `provenance device keygen`."""
    if is_address(text):
        return PublicKey(KeyType.SECP256K1, signer=text)
    path = Path(text)
    if path.is_file():
        return DeviceKey.load(path).public_key
    raise ValueError(f"{text!r} is neither an address nor a key file")
