"""The accounts the service acts with: the operator's and one per role (deployer, admin, anchorer,
registrar, reporter), each from its configured key or an encrypted keystore of its own in the data
directory (`ledger_service.core.chain.keystore`)."""

from __future__ import annotations

import logging
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from pydantic import SecretStr

from ledger_service.core.chain.keystore import stored_account
from ledger_service.core.chain.remote_signer import RemoteSigner
from ledger_service.core.chain.signing import Signer
from ledger_service.core.errors import ConfigurationError
from ledger_service.core.settings import Settings

log = logging.getLogger(__name__)

#: The roles whose accounts the service may hold keys for (the admin's only on dev chains).
ROLES: tuple[str, ...] = ("deployer", "admin", "anchorer", "registrar", "reporter")


def remote_account(settings: Settings, role: str) -> RemoteSigner | None:
    """The account the remote signer signs for in `role` ("operator" or a role), if it is one."""
    address = settings.signer_accounts.get(role)
    if address is None:
        return None
    if settings.signer_url is None:
        raise ConfigurationError("PROVENANCE_SIGNER_ACCOUNTS names accounts but PROVENANCE_SIGNER_URL is not set")
    if not is_address(address):
        raise ConfigurationError(f"PROVENANCE_SIGNER_ACCOUNTS: {address!r} ({role}) is not an address")
    return RemoteSigner(settings.signer_url, address)


def operator_account(settings: Settings) -> Signer:
    """The service's own account (items, tokens, its devices): the remote signer's, the configured
    key, else one kept in the data directory."""
    remote = remote_account(settings, "operator")
    if remote is not None:
        return remote
    if settings.operator_key is not None:
        configured: LocalAccount = Account.from_key(settings.operator_key.get_secret_value())
        return configured
    return stored_account(settings, settings.data_dir / "operator.json", "operator")


def role_key_path(data_dir: Path, role: str) -> Path:
    """Where the keystore of `role` is kept in the data directory."""
    if role not in ROLES:
        raise ConfigurationError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    return data_dir / "roles" / f"{role}.json"


def role_account(settings: Settings, role: str) -> Signer | None:
    """The account of `role`: the remote signer's, its configured key, else its key in the data
    directory. None for the admin when `PROVENANCE_ADMIN_ADDRESS` names it (its key is not the
    service's to hold)."""
    path = role_key_path(settings.data_dir, role)
    remote = remote_account(settings, role) if role != "admin" else None
    if remote is not None:
        return remote
    if role == "admin":
        if settings.admin_address is not None:
            return None
        return stored_account(settings, path, role)
    configured: SecretStr | None = getattr(settings, f"{role}_key")
    if configured is not None:
        account: LocalAccount = Account.from_key(configured.get_secret_value())
        return account
    return stored_account(settings, path, role)


def admin_address(settings: Settings) -> str:
    """The address that is to be the admin of every contract."""
    if settings.admin_address is not None:
        if not is_address(settings.admin_address) or int(settings.admin_address, 16) == 0:
            raise ConfigurationError(f"PROVENANCE_ADMIN_ADDRESS={settings.admin_address!r} is not an address")
        return str(to_checksum_address(settings.admin_address))
    account = role_account(settings, "admin")
    assert account is not None
    return str(account.address)
