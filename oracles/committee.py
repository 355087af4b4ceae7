"""The oracle committee's keys held by this service, and how a report gets their signatures.

In production each member is its own node with its own key and the report travels between them;
here the members whose keys this service holds (`committee.json` in the data directory, created by
`provenance oracle committee init`) sign locally. The contract cannot tell the difference: it
counts valid member signatures against its quorum.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from eth_account import Account
from web3.types import TxReceipt

from oracles import bls
from oracles.contract import CommitteeMember, CommitteeReport, SensorOracleContract, sign_bls, sign_ecdsa

COMMITTEE_FILE = "committee.json"
SCHEMES = ("bls", "ecdsa")


def committee_path(data_dir: Path) -> Path:
    """Where this service keeps its committee members' keys."""
    return data_dir / COMMITTEE_FILE


def load_committee(data_dir: Path) -> list[CommitteeMember]:
    """The members whose keys this service holds (none when there is no committee file)."""
    path = committee_path(data_dir)
    if not path.exists():
        return []
    entries = json.loads(path.read_text())
    return [
        CommitteeMember(Account.from_key(e["ecdsa_key"]), bls.BlsKey.from_secret(int(e["bls_secret"], 16)))
        for e in entries
    ]


def save_committee(data_dir: Path, members: Sequence[CommitteeMember]) -> Path:
    """Writes the members' keys (owner-only permissions), replacing the file atomically."""
    path = committee_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [
        {"address": m.address, "ecdsa_key": m.account.key.hex(), "bls_secret": hex(m.bls_key.secret)} for m in members
    ]
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(entries, handle, indent=2)
    tmp.replace(path)
    return path


def register_committee(oracle: SensorOracleContract, members: Sequence[CommitteeMember], quorum: int) -> None:
    """Adds the members not yet on chain (with proofs of possession) and sets the quorum."""
    on_chain = set(oracle.members())
    for member in members:
        if member.address not in on_chain:
            oracle.add_member(member)
    if oracle.quorum() != quorum:
        oracle.set_quorum(quorum)


def submit_signed(
    oracle: SensorOracleContract, members: Sequence[CommitteeMember], report: CommitteeReport, scheme: str
) -> TxReceipt:
    """Has the local members who are on the committee sign `report` and submits it by `scheme`."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown committee scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    positions = {address: i for i, address in enumerate(oracle.members())}
    signers = [m for m in members if m.address in positions]
    digest = oracle.committee_digest(report)
    if scheme == "ecdsa":
        return oracle.submit_committee_ecdsa(report, sign_ecdsa(signers, digest))
    return oracle.submit_committee_bls(report, *sign_bls(signers, positions, digest))
