"""A committee member's key file: one member's ECDSA account and BLS key in `members/NAME/member.json`
(mode 0600), with the chain and SensorOracle it serves pinned beside them."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address

from ledger_service.core.errors import ConfigurationError
from oracles import bls
from oracles.contract import CommitteeMember

MEMBER_FILE = "member.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_member_name(name: str) -> str:
    """`name` if it is a valid member name (lowercase letters, digits, dashes; up to 63)."""
    if not _NAME.match(name):
        raise ConfigurationError(f"member name {name!r}: use lowercase letters, digits and dashes (up to 63)")
    return name


def member_dir(data_dir: Path, name: str) -> Path:
    """The folder of member `name` in a data directory (a member may live anywhere: `--dir`)."""
    return data_dir / "members" / check_member_name(name)


@dataclass(frozen=True)
class MemberFile:
    """What a member keeps: its keys and the chain and oracle it serves."""

    keys: CommitteeMember
    chain_id: int
    genesis_hash: str
    oracle: str

    def public(self) -> dict[str, Any]:
        """What others may know: address, BLS public key, chain and oracle."""
        key = self.keys.bls_key
        return {
            "address": self.keys.address,
            "bls_public_key": "0x" + bls.encode_key(key).hex(),
            "chain_id": self.chain_id,
            "oracle": self.oracle,
        }

    def save(self, directory: Path) -> Path:
        """Writes `member.json` (mode 0600) in `directory`; refuses to replace one."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MEMBER_FILE
        content = {
            **self.public(),
            "genesis_hash": self.genesis_hash,
            "ecdsa_key": "0x" + bytes(self.keys.account.key).hex(),
            "bls_secret": hex(self.keys.bls_key.secret),
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(content, handle, indent=2)
            handle.write("\n")
        return path

    @classmethod
    def load(cls, directory: Path) -> MemberFile:
        """Reads `member.json` from `directory`."""
        path = directory / MEMBER_FILE
        try:
            data = json.loads(path.read_text())
            keys = CommitteeMember(
                Account.from_key(data["ecdsa_key"]), bls.BlsKey.from_secret(int(data["bls_secret"], 16))
            )
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"no member key at {path}: create it with `oracle committee init --member`"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"{path} is not a member key file: {exc}") from exc
        if keys.address != data.get("address"):
            raise ConfigurationError(f"{path}: the address does not match the key")
        return cls(keys, int(data["chain_id"]), str(data["genesis_hash"]), str(to_checksum_address(data["oracle"])))


def load_public(directory: Path) -> dict[str, Any]:
    """A member's public record, read from its folder (for registering it)."""
    return MemberFile.load(directory).public()


# ------------------------------------------------------------------------------------ wire format
