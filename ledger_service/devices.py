"""Device ids as people type them."""

from __future__ import annotations

import re

from eth_utils import is_address, keccak, to_checksum_address

_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")


def parse_device_id(text: str | None, address: str) -> tuple[bytes, str]:
    """Returns (device id, checksummed signer) from a CLI id option and a signing address.

    The id is 0x + 64 hex digits taken as is, any other text hashed with keccak256, or by default
    the address left-padded to 32 bytes.
    """
    if not is_address(address):
        raise ValueError(f"not an address: {address!r}")
    signer = to_checksum_address(address)
    if text is None:
        return bytes(12) + bytes.fromhex(signer[2:]), signer
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
    return device_id, signer
