"""A web3 connection with an operator account that signs and sends transactions."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import Nonce, RPCEndpoint, TxParams, TxReceipt, Wei

from ledger_service.chain.revert import RevertDecoder
from ledger_service.errors import ChainError, TransactionReverted
from ledger_service.settings import Settings

log = logging.getLogger(__name__)

_FUNDING_WEI = 100 * 10**18
_METHOD_NOT_FOUND = -32601
_UNSUPPORTED_HINTS = ("does not exist", "not available", "not supported", "method not found", "unknown method")


def _is_unsupported_method(error: dict[str, Any]) -> bool:
    """True when a JSON-RPC error says the node lacks the method (each node words it its own way)."""
    message = str(error.get("message", "")).lower()
    return error.get("code") == _METHOD_NOT_FOUND or any(hint in message for hint in _UNSUPPORTED_HINTS)


def operator_account(settings: Settings) -> LocalAccount:
    """The account that deploys and anchors: the configured key, else one kept in the data directory."""
    if settings.operator_key is not None:
        configured: LocalAccount = Account.from_key(settings.operator_key.get_secret_value())
        return configured
    key_file = settings.data_dir / "operator.key"
    if key_file.exists():
        stored: LocalAccount = Account.from_key(key_file.read_text().strip())
        return stored
    account: LocalAccount = Account.create()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(account.key.hex())
    log.info("generated operator key", extra={"address": account.address, "path": str(key_file)})
    return account


class ChainClient:
    """Signs transactions with the operator key and sends them one at a time, in nonce order."""

    def __init__(self, rpc_url: str, operator: LocalAccount, timeout: float = 30.0) -> None:
        self.rpc_url = rpc_url
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self.operator = operator
        self.errors = RevertDecoder()
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._sync_send: bool | None = None

    @property
    def chain_id(self) -> int:
        """The chain's id."""
        return int(self.w3.eth.chain_id)

    def genesis_hash(self) -> str:
        """The hash of block 0, which tells one chain from another with the same id."""
        return HexBytes(self.w3.eth.get_block(0)["hash"]).to_0x_hex()

    def ensure_funded(self, minimum_wei: int = 10**18) -> None:
        """Funds the operator from the node's first unlocked account when it runs low (dev chains)."""
        balance = self.w3.eth.get_balance(self.operator.address)
        if balance >= minimum_wei:
            return
        accounts = self.w3.eth.accounts
        if not accounts:
            raise ChainError(
                f"operator {self.operator.address} has {balance} wei and the node has no unlocked account "
                "to fund it: send it ether or set PROVENANCE_OPERATOR_KEY"
            )
        amount = min(_FUNDING_WEI, self.w3.eth.get_balance(accounts[0]) // 2)
        try:
            tx_hash = self.w3.eth.send_transaction(
                {"from": accounts[0], "to": self.operator.address, "value": Wei(amount)}
            )
            self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        except Web3RPCError as exc:
            raise ChainError(f"could not fund the operator {self.operator.address} from {accounts[0]}: {exc}") from exc
        log.info("funded operator", extra={"address": self.operator.address, "from": accounts[0]})

    def transact(self, call: ContractFunction | ContractConstructor, value: int = 0) -> TxReceipt:
        """Sends `call` (a function call or a contract creation, with `value` wei) from the operator;
        returns the receipt.

        The gas estimate runs the call first, so a revert raises `TransactionReverted` with the
        decoded custom error before anything is sent.
        """
        with self._lock:
            base: TxParams = {"from": self.operator.address, "chainId": self.chain_id}
            if value:
                base["value"] = Wei(value)
            try:
                tx = call.build_transaction(base)
            except (ContractCustomError, ContractLogicError) as exc:
                raise TransactionReverted(
                    self.errors.describe(exc), error=self.errors.name_of(exc), data=getattr(exc, "data", None)
                ) from exc
            if "gasPrice" not in tx and "maxFeePerGas" not in tx:
                tx["gasPrice"] = self.w3.eth.gas_price
            receipt = self._sign_and_send(tx)
        if receipt["status"] != 1:
            raise TransactionReverted(
                f"transaction {HexBytes(receipt['transactionHash']).to_0x_hex()} reverted", receipt=receipt
            )
        return receipt

    def _sign_and_send(self, tx: TxParams) -> TxReceipt:
        """Signs with the next nonce and sends; when another process used the same key in the
        meantime ("nonce too low"), takes a fresh nonce from the node and tries once more."""
        for attempt in (1, 2):
            tx["nonce"] = Nonce(self._next_nonce())
            signed = self.operator.sign_transaction(dict(tx))  # type: ignore[arg-type]
            try:
                receipt = self._send_raw(signed.raw_transaction)
            except ChainError as exc:
                self._nonce = None
                if attempt == 1 and "nonce" in str(exc).lower():
                    continue
                raise
            except Exception:
                self._nonce = None
                raise
            self._nonce = int(tx["nonce"]) + 1
            return receipt
        raise AssertionError("unreachable")

    def reset_nonce(self) -> None:
        """Forgets the cached nonce, so the next transaction asks the node (other senders may have sent)."""
        with self._lock:
            self._nonce = None

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = int(self.w3.eth.get_transaction_count(self.operator.address, "pending"))
        return self._nonce

    def _send_raw(self, raw: bytes) -> TxReceipt:
        if self._sync_send is not False:
            response: dict[str, Any] = self.w3.provider.make_request(  # type: ignore[assignment]
                RPCEndpoint("eth_sendRawTransactionSync"), [HexBytes(raw).to_0x_hex()]
            )
            error = response.get("error")
            if error is None:
                self._sync_send = True
                tx_hash = response["result"]["transactionHash"]
                return self.w3.eth.get_transaction_receipt(tx_hash)
            if not _is_unsupported_method(error):
                raise ChainError(f"sending the transaction failed: {error.get('message')}", error=error)
            self._sync_send = False
        try:
            tx_hash = self.w3.eth.send_raw_transaction(raw)
        except Web3RPCError as exc:
            raise ChainError(f"sending the transaction failed: {exc}") from exc
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.05)

    def code_at(self, address: str) -> bytes:
        """The runtime code at `address`."""
        return bytes(self.w3.eth.get_code(to_checksum_address(address)))


def connect(settings: Settings, rpc_url: str) -> ChainClient:
    """Connects to `rpc_url` with the operator account that `settings` name, funded on dev chains."""
    client = ChainClient(rpc_url, operator_account(settings))
    if not client.w3.is_connected():
        raise ChainError(f"no JSON-RPC node answers at {rpc_url}")
    client.ensure_funded()
    return client
