"""A web3 connection with an operator account that signs and sends transactions, and one client
per on-chain role, each with its own account.

The roles are split across keys so that no hot key holds more than its job needs:

- the *deployer* deploys and wires the contracts, then renounces every role;
- the *admin* (an address given at deploy, `PROVENANCE_ADMIN_ADDRESS`, a multisig in production;
  on a dev chain an account whose key is kept in the data directory) is the only holder of
  `DEFAULT_ADMIN_ROLE` in every contract;
- the *anchorer* holds `DataNotary.ANCHORER_ROLE` and does nothing else;
- the *registrar* holds `DeviceRegistry.REGISTRAR_ROLE` and does nothing else;
- the *reporter* submits oracle reports (the contract lets anyone submit; it holds no role);
- the *operator* is the service's own party: it manufactures items and mints their tokens
  (`MANUFACTURER_ROLE`, `MINTER_ROLE`) and owns the devices it registers for itself; it cannot set
  an item's condition (only the SensorOracle bound in SupplyChain can).

Each role's key is the configured one (`PROVENANCE_<ROLE>_KEY`) or `roles/<role>.key` in the
data directory, made on first use (mode 0600).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from eth_abi import decoding, encoding
from eth_abi.codec import ABICodec
from eth_abi.registry import BaseEquals
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import Nonce, RPCEndpoint, TxParams, TxReceipt, Wei

from ledger_service.core.chain.accounts import ROLES, admin_address, operator_account, role_account
from ledger_service.core.chain.revert import RevertDecoder
from ledger_service.core.chain.rpc import JsonRpc, RpcError, Web3Transport
from ledger_service.core.errors import ChainError, ConfigurationError, TransactionReverted
from ledger_service.core.settings import Settings

log = logging.getLogger(__name__)

_FUNDING_WEI = 100 * 10**18


def lenient_codec(codec: ABICodec) -> ABICodec:
    """`codec` with strings decoded leniently (invalid UTF-8 replaced by U+FFFD). Contracts accept any
    bytes as a string, so a device owner could put invalid UTF-8 in its metadata; a strict decoder
    would then fail on that log for ever and freeze every reader of the registry's events behind it
    (the indexer's decoders replace the same way)."""
    registry = codec._registry.copy()  # type: ignore[no-untyped-call]
    registry.unregister("string")
    registry.register(
        BaseEquals("string"),  # type: ignore[no-untyped-call]
        encoding.TextStringEncoder,
        decoding.StringDecoder(handle_string_errors="replace"),  # type: ignore[no-untyped-call]
        label="string",
    )
    return ABICodec(registry)


class ChainClient:
    """Signs transactions with the operator key and sends them one at a time, in nonce order."""

    def __init__(self, rpc_url: str, operator: LocalAccount, timeout: float = 30.0) -> None:
        self.rpc_url = rpc_url
        # a short retry budget: calls made while serving a request fail fast; the loops
        # (`core.loops`) wait out longer outages
        self.w3 = Web3(Web3Transport(JsonRpc(rpc_url, timeout=timeout, retries=2)))
        self.w3.codec = lenient_codec(self.w3.codec)
        self.operator = operator
        self.errors = RevertDecoder()
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._sync_send: bool | None = None
        self._roles: dict[str, ChainClient] = {}
        self.admin_address: str | None = None

    def attach_role(self, role: str, client: ChainClient) -> None:
        """Makes `client` the one `for_role(role)` answers (it shares this client's error decoder)."""
        client.errors = self.errors
        self._roles[role] = client

    def for_role(self, role: str) -> ChainClient:
        """The client that acts in `role` (anchorer, registrar, reporter, deployer, admin).

        A client with no role clients attached (an account made for one purpose, a test's
        stranger) acts in every role as itself, so the contract decides whether it may.
        """
        if not self._roles:
            return self
        try:
            return self._roles[role]
        except KeyError:
            if role == "admin":
                raise ConfigurationError(
                    f"the admin is {self.admin_address}, whose key this service does not hold: "
                    "send the call from the admin account (a multisig)"
                ) from None
            raise ConfigurationError(f"no account for role {role!r}") from None

    @property
    def roles(self) -> dict[str, str]:
        """The address of each role's account (and the admin's), by role."""
        addresses = {role: str(client.operator.address) for role, client in self._roles.items()}
        if self.admin_address is not None:
            addresses["admin"] = self.admin_address
        return addresses

    @property
    def chain_id(self) -> int:
        """The chain's id."""
        return int(self.w3.eth.chain_id)

    def genesis_hash(self) -> str:
        """The hash of block 0, which tells one chain from another with the same id."""
        return HexBytes(self.w3.eth.get_block(0)["hash"]).to_0x_hex()

    def ensure_funded(self, minimum_wei: int = 10**18, strict: bool = True) -> None:
        """Funds the operator from the node's first unlocked account when it runs low (dev chains).

        With `strict` false, an account that cannot be funded is only logged: it fails when it sends."""
        balance = self.w3.eth.get_balance(self.operator.address)
        if balance >= minimum_wei:
            return
        accounts = self.w3.eth.accounts
        if not accounts and not strict:
            log.warning("account low on ether", extra={"address": self.operator.address, "balance": balance})
            return
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

    def transact(
        self, call: ContractFunction | ContractConstructor, value: int = 0, gas: int | None = None
    ) -> TxReceipt:
        """Sends `call` (a function call or a contract creation, with `value` wei) from the operator;
        returns the receipt.

        The gas estimate runs the call first, so a revert raises `TransactionReverted` with the
        decoded custom error before anything is sent. With `gas` given there is no estimate (a
        revert then shows in the receipt, and raises `TransactionReverted` too).
        """
        with self._lock:
            base: TxParams = {"from": self.operator.address, "chainId": self.chain_id}
            if value:
                base["value"] = Wei(value)
            if gas is not None:
                base["gas"] = gas
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
        """Forgets the cached nonce, so the next transaction asks the node (other senders may have
        sent, a reorg may have dropped some); the role clients attached to this one forget theirs too."""
        with self._lock:
            self._nonce = None
        for client in self._roles.values():
            if client is not self:
                with client._lock:
                    client._nonce = None

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
            if not RpcError("eth_sendRawTransactionSync", error).unsupported:
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
    """Connects to `rpc_url` with the operator account that `settings` name and one client per role
    (`ChainClient.for_role`), funded on dev chains."""
    client = ChainClient(rpc_url, operator_account(settings))
    if not client.w3.is_connected():
        raise ChainError(f"no JSON-RPC node answers at {rpc_url}")
    client.ensure_funded()
    client.admin_address = admin_address(settings)
    seen: dict[str, str] = {str(client.operator.address): "operator"}
    for role in ROLES:
        account = role_account(settings, role)
        if account is None:
            continue
        if str(account.address) in seen:
            raise ConfigurationError(f"the {role} and the {seen[account.address]} must be separate accounts")
        seen[str(account.address)] = role
        role_client = ChainClient(rpc_url, account)
        role_client.ensure_funded(strict=False)
        client.attach_role(role, role_client)
    if client.admin_address in seen and seen[client.admin_address] != "admin":
        raise ConfigurationError(f"the admin and the {seen[client.admin_address]} must be separate accounts")
    return client
