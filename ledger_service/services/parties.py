"""Parties: on-chain accounts the service holds keys for, so that an API key can act as a
custodian (a carrier, a warehouse) or a device owner rather than as the operator.

Each party's key lives in the data directory (`parties/NAME.key`, mode 0600). Parties are made
by an admin: `provenance party create NAME`, `POST /v1/parties` with an admin key, or by issuing
an API key for the party (`provenance apikey create --party NAME`). The API never makes one as a
side effect: a request naming `party:NAME` for a party that does not exist is refused with
`unknown-party` and leaves no file behind. The command line, which runs with the operator's key,
still makes a party on first use unless told otherwise.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.errors import ChainError, ConfigurationError, PartyExists, UnknownParty
from ledger_service.core.models import ApiKey

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PREFIX = "party:"


def check_party_name(name: str) -> str:
    """`name` if it is a valid party name (lowercase letters, digits, dashes; up to 63)."""
    if not _NAME.match(name):
        raise ConfigurationError(f"party name {name!r}: use lowercase letters, digits and dashes (up to 63)")
    return name


def _key_path(data_dir: Path, name: str) -> Path:
    return data_dir / "parties" / f"{check_party_name(name)}.key"


def party_exists(data_dir: Path, name: str) -> bool:
    """Whether the party's key is in the data directory."""
    return _key_path(data_dir, name).exists()


def party_account(data_dir: Path, name: str, create: bool = False) -> LocalAccount:
    """The party's account; with `create`, its key is made and kept in the data directory when it
    has none yet, else an unknown party raises `UnknownParty`."""
    path = _key_path(data_dir, name)
    if path.exists():
        account: LocalAccount = Account.from_key(path.read_text().strip())
        return account
    if not create:
        raise UnknownParty(f"no party {name!r}: an admin creates it with `provenance party create {name}`", party=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    made: LocalAccount = Account.create()
    draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(made.key.hex())
    try:
        os.link(draft, path)  # appears complete or not at all; the first writer wins
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    kept: LocalAccount = Account.from_key(path.read_text().strip())
    return kept


def create_party(data_dir: Path, name: str) -> LocalAccount:
    """Makes a new party (an admin's act); raises `PartyExists` when the name is taken."""
    if party_exists(data_dir, name):
        raise PartyExists(f"party {name!r} exists already", party=name)
    return party_account(data_dir, name, create=True)


def list_parties(data_dir: Path) -> list[tuple[str, str]]:
    """Every party, as (name, address), by name."""
    folder = data_dir / "parties"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.key")):
        if _NAME.match(path.stem):
            found.append((path.stem, str(Account.from_key(path.read_text().strip()).address)))
    return found


class Parties:
    """Chain clients of the parties, one per name.

    `create_on_use` (the command line's mode) makes a party the first time it is named. The API
    switches it off with `admin_created_only`: then a party exists only when its key file does,
    or when an admin issued an API key for it (the key record names the party; its account is
    made when the key is first used).
    """

    def __init__(self, data_dir: Path, rpc_url: str, operator: ChainClient, create_on_use: bool = True) -> None:
        self.data_dir = data_dir
        self.rpc_url = rpc_url
        self.operator = operator
        self.create_on_use = create_on_use
        self.engine: Engine | None = None
        self._clients: dict[str, ChainClient] = {}
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
        create = self.create_on_use or party_exists(self.data_dir, name) or self._issued_a_key(name)
        return party_account(self.data_dir, name, create=create)

    def create(self, name: str) -> str:
        """Makes party `name` (admins only); returns its address. On a dev chain it is funded
        from the node's unlocked account; elsewhere the admin sends it ether."""
        account = create_party(self.data_dir, name)
        with self._lock:
            client = ChainClient(self.rpc_url, account)
            client.errors = self.operator.errors
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
                client = ChainClient(self.rpc_url, self._account(name))
                client.errors = self.operator.errors
                client.ensure_funded()
                self._clients[name] = client
            return client

    def address(self, name: str) -> str:
        """The party's address; `UnknownParty` when no admin created it (and parties are not made on use)."""
        return str(self._account(name).address)

    def resolve(self, who: str) -> str:
        """An address for `who`: an address as it is, or `party:NAME` of an existing party."""
        return self.address(who[len(PREFIX) :]) if who.startswith(PREFIX) else who
