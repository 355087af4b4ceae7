"""The service's own account keys at rest: Ethereum V3 keystores (scrypt, AES-128-CTR), the format
geth, Clef and every wallet read.

The password comes from `PROVENANCE_KEYSTORE_PASSWORD`, or the file `PROVENANCE_KEYSTORE_PASSWORD_FILE`
names (a mounted secret, say); with neither, from `keystore.password` in the data directory, made
on first use, so a fresh machine runs without setup: production moves that password out of the
data directory. A plaintext key file left by an earlier version is encrypted into a keystore on
first use and then removed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

import eth_keyfile
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger_service.core.enums import KeyType
from ledger_service.core.errors import ConfigurationError
from ledger_service.core.keys import DeviceKey
from ledger_service.core.settings import Settings

log = logging.getLogger(__name__)

PASSWORD_FILE = "keystore.password"


def _write_once(path: Path, text: str) -> bool:
    """Writes `text` to `path` (mode 0600) unless it exists; concurrent writers agree on one
    content: the file appears whole or not at all, and the first writer wins. True if written here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(draft, path)
        return True
    except FileExistsError:
        return False
    finally:
        draft.unlink()


def keystore_password(settings: Settings) -> bytes:
    """The password of the service's keystores."""
    if settings.keystore_password is not None:
        return settings.keystore_password.get_secret_value().encode()
    if settings.keystore_password_file is not None:
        try:
            return settings.keystore_password_file.read_text().strip().encode()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read PROVENANCE_KEYSTORE_PASSWORD_FILE={settings.keystore_password_file}: {exc.strerror}"
            ) from exc
    path = settings.data_dir / PASSWORD_FILE
    if _write_once(path, secrets.token_urlsafe(32)):
        log.warning(
            "made a keystore password in the data directory: for production set PROVENANCE_KEYSTORE_PASSWORD "
            "or PROVENANCE_KEYSTORE_PASSWORD_FILE and keep the password apart from the keystores",
            extra={"path": str(path)},
        )
    return path.read_text().strip().encode()


def load_keystore(path: Path, password: bytes) -> LocalAccount:
    """The account of the keystore at `path`."""
    try:
        document = json.loads(path.read_text())
        key = eth_keyfile.decode_keyfile_json(document, password)
    except ValueError as exc:  # a wrong password fails the MAC check; a damaged file fails to parse
        raise ConfigurationError(f"cannot open the keystore {path}: wrong password or a damaged file") from exc
    account: LocalAccount = Account.from_key(key)
    return account


def stored_account(settings: Settings, path: Path, label: str) -> LocalAccount:
    """The account kept in the keystore `path` (a `.json` file), made on first use; a plaintext
    `.key` file beside it from an earlier version is encrypted into the keystore and removed."""
    password = keystore_password(settings)
    if not path.exists():
        plain = path.with_suffix(".key")
        secret = (
            plain.read_text().strip() if plain.exists() else f"0x{DeviceKey.generate(KeyType.SECP256K1).secret:064x}"
        )
        document = eth_keyfile.create_keyfile_json(
            bytes.fromhex(secret.removeprefix("0x")), password, kdf="scrypt", iterations=settings.keystore_scrypt_n
        )
        if _write_once(path, json.dumps(document)):
            address = Account.from_key(secret).address
            if plain.exists():
                if load_keystore(path, password).address == address:
                    plain.unlink()
                    log.warning("encrypted a plaintext key into a keystore", extra={"role": label, "path": str(path)})
            else:
                log.info("generated key", extra={"role": label, "address": address, "path": str(path)})
    return load_keystore(path, password)
