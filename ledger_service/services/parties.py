"""Parties: on-chain accounts the service holds keys for, so that an API key can act as a
custodian (a carrier, a warehouse) or a device owner rather than as the operator.

Each party's key lives in the data directory as an encrypted V3 keystore (`parties/NAME.json`,
mode 0600, the service's keystore password; a plaintext `NAME.key` of an earlier version is
encrypted on first use). Parties are made
by an admin: `provenance party create NAME`, `POST /v1/parties` with an admin key, or by issuing
an API key for the party (`provenance apikey create --party NAME`). The API never makes one as a
side effect: a request naming `party:NAME` for a party that does not exist is refused with
`unknown-party` and leaves no file behind. The command line, which runs with the operator's key,
still makes a party on first use unless told otherwise.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.keystore import stored_account
from ledger_service.core.errors import ChainError, ConfigurationError, PartyExists, UnknownParty
from ledger_service.core.models import ApiKey
from ledger_service.core.settings import Settings

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PREFIX = "party:"


def check_party_name(name: str) -> str:
    """`name` if it is a valid party name (lowercase letters, digits, dashes; up to 63)."""
    if not _NAME.match(name):
        raise ConfigurationError(f"party name {name!r}: use lowercase letters, digits and dashes (up to 63)")
    return name


def _key_path(data_dir: Path, name: str) -> Path:
    return data_dir / "parties" / f"{check_party_name(name)}.json"


def party_exists(data_dir: Path, name: str) -> bool:
    """Whether the party's key is in the data directory (a keystore, or a plaintext key from before)."""
    path = _key_path(data_dir, name)
    return path.exists() or path.with_suffix(".key").exists()


def party_account(settings: Settings, name: str, create: bool = False) -> LocalAccount:
    """The party's account; with `create`, its key is made and kept in the data directory when it
    has none yet, else an unknown party raises `UnknownParty`."""
    if not create and not party_exists(settings.data_dir, name):
        raise UnknownParty(f"no party {name!r}: an admin creates it with `provenance party create {name}`", party=name)
    account = stored_account(settings, _key_path(settings.data_dir, name), f"party:{name}")
    assert isinstance(account, LocalAccount)
    return account


def create_party(settings: Settings, name: str) -> LocalAccount:
    """Makes a new party (an admin's act); raises `PartyExists` when the name is taken."""
    if party_exists(settings.data_dir, name):
        raise PartyExists(f"party {name!r} exists already", party=name)
    return party_account(settings, name, create=True)


def list_parties(data_dir: Path) -> list[tuple[str, str]]:
    """Every party, as (name, address), by name: the address a keystore names (no password needed),
    or a plaintext key's from an earlier version."""
    folder = data_dir / "parties"
    if not folder.is_dir():
        return []
    found = {}
    for path in folder.glob("*.key"):
        if _NAME.match(path.stem):
            found[path.stem] = str(Account.from_key(path.read_text().strip()).address)
    for path in folder.glob("*.json"):
        if _NAME.match(path.stem):
            found[path.stem] = to_checksum_address(json.loads(path.read_text())["address"])
    return sorted(found.items())


class Parties:
    """Chain clients of the parties, one per name.

    `create_on_use` (the command line's mode) makes a party the first time it is named. The API
    switches it off with `admin_created_only`: then a party exists only when its key file does,
    or when an admin issued an API key for it (the key record names the party; its account is
    made when the key is first used).
    """

    def __init__(self, settings: Settings, rpc_url: str, operator: ChainClient, create_on_use: bool = True) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.rpc_url = rpc_url
        self.operator = operator
        self.create_on_use = create_on_use
        self.engine: Engine | None = None
        self._clients: dict[str, ChainClient] = {}
        self._accounts: dict[str, LocalAccount] = {}  # a keystore is opened once per process
        self._lock = threading.Lock()

    def admin_created_only(self, engine: Engine) -> None:
        """From now on, refuse parties no admin created (`engine` holds the API keys)."""
        self.engine = engine
        self.create_on_use = False

    def _issued_a_key(self, name: str) -> bool:
        if self.engine is None:
            return False
        with Session(self.engine) as session:
            found = session.exec(
                select(ApiKey.id).where(ApiKey.party == name, col(ApiKey.revoked_at).is_(None)).limit(1)
            ).first()
        return found is not None

    def _account(self, name: str) -> LocalAccount:
        known = self._accounts.get(name)
        if known is not None:
            return known
        create = self.create_on_use or party_exists(self.data_dir, name) or self._issued_a_key(name)
        account = self._accounts[name] = party_account(self.settings, name, create=create)
        return account

    def _client_of(self, account: LocalAccount) -> ChainClient:
        """A chain client for a party's account, pricing and recording its transactions as the
        operator's are (the same send policy and outbox)."""
        client = ChainClient(self.rpc_url, account, policy=self.operator.sender.policy)
        client.errors = self.operator.errors
        client.sender.outbox = self.operator.sender.outbox
        return client

    def create(self, name: str) -> str:
        """Makes party `name` (admins only); returns its address. On a dev chain it is funded
        from the node's unlocked account; elsewhere the admin sends it ether."""
        account = create_party(self.settings, name)
        with self._lock:
            self._accounts[name] = account
            client = self._client_of(account)
            try:
                client.ensure_funded()
            except ChainError as exc:  # a real chain: nobody to fund it from; the party exists all the same
                log.warning("party created without funds", extra={"party": name, "reason": exc.detail})
            self._clients[name] = client
        return str(account.address)

    def client(self, name: str | None) -> ChainClient:
        """The client acting as party `name`, or the operator's for None; `UnknownParty` when no
        admin created it (and parties are not made on use)."""
        if name is None:
            return self.operator
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = self._client_of(self._account(name))
                client.ensure_funded()
                self._clients[name] = client
            return client

    def address(self, name: str) -> str:
        """The party's address; `UnknownParty` when no admin created it (and parties are not made on use)."""
        return str(self._account(name).address)

    def resolve(self, who: str) -> str:
        """An address for `who`: an address as it is, or `party:NAME` of an existing party."""
        return self.address(who[len(PREFIX) :]) if who.startswith(PREFIX) else who
