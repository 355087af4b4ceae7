"""A remote signer: keys kept out of the service's process, in a Web3Signer-compatible signer (or
Clef, or a node's unlocked account) that answers `eth_signTransaction`.

The service trusts the signer with nothing it cannot check: every signed transaction it hands back
is decoded, its sender recovered from the signature, and each field compared with what was asked
for; a transaction signed by another account, or with another recipient, value, data, nonce, gas
or fee, is refused before it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from ledger_service.core.chain.rpc import JsonRpc, RpcError
from ledger_service.core.errors import ChainError

_CHECKED = ("nonce", "to", "value", "data", "gas", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "chainId")


@dataclass(frozen=True)
class SignedByRemote:
    """A transaction the signer signed and this service checked."""

    raw_transaction: bytes
    hash: bytes


def _quantity(value: Any) -> str:
    return hex(int(value))


def _request(tx: dict[str, Any], address: str) -> dict[str, Any]:
    """`tx` in the JSON-RPC form of `eth_signTransaction` (quantities as 0x-hex)."""
    wanted: dict[str, Any] = {"from": address}
    for key, value in tx.items():
        if key in ("from", "type") or value is None:
            continue
        if key in ("to", "data"):
            wanted[key] = value if isinstance(value, str) else HexBytes(value).to_0x_hex()
        else:
            wanted[key] = _quantity(value)
    return wanted


def _fields(raw: bytes) -> dict[str, Any]:
    if raw[:1] and raw[0] < 0x7F:  # a typed (EIP-2718) transaction
        return dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())
    import rlp  # a legacy transaction: [nonce, gasPrice, gas, to, value, data, v, r, s]

    nonce, price, gas, to, value, data, v, _r, _s = rlp.decode(raw)
    chain_id = (int.from_bytes(v, "big") - 35) // 2 if int.from_bytes(v, "big") >= 35 else None
    return {
        "nonce": nonce, "gasPrice": price, "gas": gas, "to": to, "value": value, "data": data, "chainId": chain_id,
    }  # fmt: skip


def _same(asked: Any, got: Any) -> bool:
    if isinstance(asked, str) and asked.startswith("0x") and not isinstance(got, int):
        return HexBytes(asked) == HexBytes(got or b"")
    as_int = int.from_bytes(got, "big") if isinstance(got, bytes) else int(got or 0)
    return int(asked if not isinstance(asked, str) else int(asked, 16)) == as_int


class RemoteSigner:
    """Signs one account's transactions through `eth_signTransaction` at `url`."""

    def __init__(self, url: str, address: str, timeout: float = 10.0) -> None:
        self.rpc = JsonRpc(url, timeout=timeout, retries=2)
        self.address = to_checksum_address(address)

    def sign_transaction(self, tx: dict[str, Any]) -> SignedByRemote:
        """`tx` signed by the signer, after checking that it is `tx`, signed by this account."""
        asked = _request(tx, self.address)
        try:
            answer = self.rpc.call("eth_signTransaction", asked)
        except RpcError as exc:
            raise ChainError(f"the remote signer refused to sign for {self.address}: {exc}") from exc
        raw = bytes(HexBytes(answer if isinstance(answer, str) else answer.get("raw", "")))
        signer = Account.recover_transaction(raw)
        if signer != self.address:
            raise ChainError(f"the remote signer signed with {signer}, not {self.address}: refused")
        fields = _fields(raw)
        for key in _CHECKED:
            if key in asked and not _same(asked[key], fields.get(key)):
                raise ChainError(f"the remote signer changed the transaction's {key}: refused")
        return SignedByRemote(raw, keccak(raw))
