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

from eth_abi import decoding, encoding
from eth_abi.codec import ABICodec
from eth_abi.registry import BaseEquals
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, Web3RPCError
from web3.types import TxParams, TxReceipt, Wei

from ledger_service.core.chain.accounts import ROLES, admin_address, operator_account, role_account
from ledger_service.core.chain.fees import SendPolicy
from ledger_service.core.chain.outbox import Outbox
from ledger_service.core.chain.revert import RevertDecoder
from ledger_service.core.chain.rpc import JsonRpc, Web3Transport
from ledger_service.core.chain.sender import TxManager
from ledger_service.core.chain.signing import Signer
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

    def __init__(self, rpc_url: str, operator: Signer, timeout: float = 30.0, policy: SendPolicy | None = None) -> None:
        self.rpc_url = rpc_url
        # a short retry budget: calls made while serving a request fail fast; the loops
        # (`core.loops`) wait out longer outages
        self.w3 = Web3(Web3Transport(JsonRpc(rpc_url, timeout=timeout, retries=2)))
        self.w3.codec = lenient_codec(self.w3.codec)
        self.operator = operator
        self.errors = RevertDecoder()
        self.sender = TxManager(self.w3, operator, policy)
        self._lock = threading.Lock()
        self._roles: dict[str, ChainClient] = {}
        self.admin_address: str | None = None

    def use_outbox(self, outbox: Outbox | None) -> None:
        """Records this client's transactions, and its role clients', in `outbox` (None: nowhere)."""
        self.sender.outbox = outbox
        for client in self._roles.values():
            client.sender.outbox = outbox

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
            receipt = self.sender.send(tx, getattr(call, "fn_name", None) or "deploy")
        if receipt["status"] != 1:
            raise TransactionReverted(
                f"transaction {HexBytes(receipt['transactionHash']).to_0x_hex()} reverted", receipt=receipt
            )
        return receipt

    def settle(self) -> None:
        """Waits for this account's transactions that an earlier run left pending (the outbox's) to
        be mined or dropped, so what the chain shows next includes them (`TxManager.resume`)."""
        with self._lock:
            self.sender.resume()

    def cancel(self, nonce: int) -> TxReceipt:
        """Cancels this account's unmined transaction of `nonce` (`TxManager.cancel`)."""
        with self._lock:
            return self.sender.cancel(nonce)

    def reset_nonce(self) -> None:
        """Forgets the cached nonce, so the next transaction asks the node (other senders may have
        sent, a reorg may have dropped some); the role clients attached to this one forget theirs too."""
        for client in {id(c): c for c in (self, *self._roles.values())}.values():
            with client._lock:
                client.sender.reset_nonce()

    def code_at(self, address: str) -> bytes:
        """The runtime code at `address`."""
        return bytes(self.w3.eth.get_code(to_checksum_address(address)))


def connect(settings: Settings, rpc_url: str) -> ChainClient:
    """Connects to `rpc_url` with the operator account that `settings` name and one client per role
    (`ChainClient.for_role`), funded on dev chains."""
    policy = SendPolicy.from_settings(settings)
    client = ChainClient(rpc_url, operator_account(settings), policy=policy)
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
        role_client = ChainClient(rpc_url, account, policy=policy)
        role_client.ensure_funded(strict=False)
        client.attach_role(role, role_client)
    if client.admin_address in seen and seen[client.admin_address] != "admin":
        raise ConfigurationError(f"the admin and the {seen[client.admin_address]} must be separate accounts")
    return client
