"""The oracle committee on chain: registering members (the admin's job) from their public records.

No file holds more than one member's key: each member's keys live in its own folder
(`oracles.member_keys.MemberFile`, `provenance oracle committee init --member NAME`) and are used by its
own process (`provenance oracle --member NAME`). The admin registers a member from its public
record (address, BLS key) and a proof of possession the member makes for this contract; the
service's coordinator (`oracles.coordinator`) then asks the members to sign reports over HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

from oracles import bls
from oracles.contract import CommitteeMember, SensorOracleContract
from oracles.member_keys import MemberFile


def proof_of_possession(oracle: SensorOracleContract, member: CommitteeMember) -> bls.G1Affine:
    """The member's signature of the contract's `popMessage` for its own key (made by the member)."""
    key = member.bls_key
    return key.proof_of_possession(oracle.pop_message(member.address, key.public_g1))


def register_member(oracle: SensorOracleContract, member: MemberFile) -> bool:
    """Adds `member` to the committee (from the admin's client) unless it is on it; True when added."""
    if member.keys.address in oracle.members():
        return False
    oracle.add_member(member.keys, proof_of_possession(oracle, member.keys))
    return True


def register_committee(oracle: SensorOracleContract, members: Sequence[CommitteeMember], quorum: int) -> None:
    """Adds the members not yet on chain (with proofs of possession) and sets the quorum."""
    on_chain = set(oracle.members())
    for member in members:
        if member.address not in on_chain:
            oracle.add_member(member)
    if oracle.quorum() != quorum:
        oracle.set_quorum(quorum)
