"""The service's keys at rest: V3 keystores that geth's format readers open, a password from the
environment, a file or (by default) the data directory, a wrong password refused, and a plaintext
key from an earlier version encrypted and removed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import eth_keyfile
import pytest
from eth_account import Account

from ledger_service.core.chain.accounts import operator_account, role_account
from ledger_service.core.chain.keystore import PASSWORD_FILE, keystore_password, load_keystore
from ledger_service.core.errors import ConfigurationError, UnknownParty
from ledger_service.core.redact import redact
from ledger_service.services.parties import create_party, list_parties, party_account
from tests.utils.settings import make_settings


def test_a_new_key_is_an_encrypted_v3_keystore(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, keystore_password="correct horse battery staple")
    account = operator_account(settings)
    document = json.loads((tmp_path / "operator.json").read_text())
    assert document["version"] == 3 and document["crypto"]["kdf"] == "scrypt"
    assert document["address"].lower() == account.address[2:].lower()
    assert account.key.hex().removeprefix("0x") not in (tmp_path / "operator.json").read_text()
    assert eth_keyfile.decode_keyfile_json(document, b"correct horse battery staple") == account.key
    assert (tmp_path / "operator.json").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / PASSWORD_FILE).exists()  # the configured password is used, none is made
    assert operator_account(settings).address == account.address  # the same account the next time


def test_a_wrong_password_is_refused_clearly(tmp_path: Path) -> None:
    operator_account(make_settings(tmp_path, keystore_password="right"))
    with pytest.raises(ConfigurationError, match="wrong password"):
        operator_account(make_settings(tmp_path, keystore_password="wrong"))


def test_the_password_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-mounted-secret\n")
    settings = make_settings(tmp_path / "data", keystore_password_file=secret)
    account = role_account(settings, "anchorer")
    assert account is not None
    assert load_keystore(tmp_path / "data" / "roles" / "anchorer.json", b"from-a-mounted-secret").address == (
        account.address
    )
    with pytest.raises(ConfigurationError, match="PASSWORD_FILE"):
        operator_account(make_settings(tmp_path / "other", keystore_password_file=tmp_path / "missing"))


def test_without_a_password_one_is_made_in_the_data_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path)
    with caplog.at_level(logging.WARNING):
        account = operator_account(settings)
    assert (tmp_path / PASSWORD_FILE).stat().st_mode & 0o777 == 0o600
    assert "PROVENANCE_KEYSTORE_PASSWORD" in caplog.text
    assert load_keystore(tmp_path / "operator.json", keystore_password(settings)).address == account.address


def test_a_plaintext_key_from_before_is_encrypted_and_removed(tmp_path: Path) -> None:
    old = Account.create()
    (tmp_path / "roles").mkdir()
    (tmp_path / "roles" / "reporter.key").write_text(old.key.to_0x_hex())
    settings = make_settings(tmp_path, keystore_password="pw")
    account = role_account(settings, "reporter")
    assert account is not None and account.address == old.address  # the same account, kept
    assert not (tmp_path / "roles" / "reporter.key").exists()
    assert load_keystore(tmp_path / "roles" / "reporter.json", b"pw").address == old.address


def test_the_keystore_password_never_reaches_a_log_or_an_error(tmp_path: Path) -> None:
    make_settings(tmp_path, keystore_password="s3cret-Pa55word-xyz")
    assert "s3cret-Pa55word-xyz" not in redact("connecting with s3cret-Pa55word-xyz failed")


def test_party_keys_are_keystores_and_old_plaintext_ones_are_encrypted(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, keystore_password="pw")
    old = Account.create()
    (tmp_path / "parties").mkdir()
    (tmp_path / "parties" / "carrier.key").write_text(old.key.to_0x_hex())
    assert party_account(settings, "carrier").address == old.address  # the same account, kept
    assert not (tmp_path / "parties" / "carrier.key").exists()
    made = create_party(settings, "warehouse")
    assert made.key.hex().removeprefix("0x") not in (tmp_path / "parties" / "warehouse.json").read_text()
    assert list_parties(tmp_path) == [("carrier", old.address), ("warehouse", made.address)]  # no password needed
    with pytest.raises(UnknownParty):
        party_account(settings, "ghost")
    assert not (tmp_path / "parties" / "ghost.json").exists()
