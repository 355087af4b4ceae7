"""The P256VERIFY precompile (RIP-7212, in Osaka) and the probe that tells whether a chain has it."""

from __future__ import annotations

P256_PRECOMPILE = "0x0000000000000000000000000000000000000100"

# A valid P-256 signature with small r and s (Wycheproof), the probe OpenZeppelin uses too.
WYCHEPROOF_VECTOR = (
    "bb5a52f42f9c9261ed4361f59422a1e30036e7c32b270c8807a419feca605023"
    + "00" * 31 + "05" + "00" * 31 + "01"
    + "a71af64de5126a4a4e02b7922d66ce9415ce88a4c9d25514d91082c8725ac957"
    + "5d47723c8fbe580bb369fec9c2665d8e30a435b9932645482e7c9f11e872296b"
)  # fmt: skip
