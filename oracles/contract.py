"""The SensorOracle contract from Python: rules, committee, and the two kinds of report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.types import TxReceipt

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.compiler import Artifact
from ledger_service.core.readings import Reading
from oracles import bls
from oracles.rules import Rule, RuleSpec


@dataclass(frozen=True)
class SignedReading:
    """A reading with its device signature and Merkle proof (`SensorOracle.SignedReading`)."""

    reading: Reading
    signature: bytes
    root: bytes
    proof: list[bytes]

    def as_tuple(self) -> tuple[Any, ...]:
        """The struct tuple."""
        return (self.reading.as_tuple(), self.signature, self.root, self.proof)


@dataclass(frozen=True)
class CommitteeReport:
    """What a committee observed (`SensorOracle.CommitteeReport`)."""

    rule_id: int
    device_id: bytes
    value: int
    window_start: int
    observed_at: int
    config_version: int

    def as_tuple(self) -> tuple[Any, ...]:
        """The struct tuple."""
        return (self.rule_id, self.device_id, self.value, self.window_start, self.observed_at, self.config_version)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (ids as hex)."""
        return {
            "rule_id": self.rule_id,
            "device_id": "0x" + self.device_id.hex(),
            "value": str(self.value),
            "window_start": self.window_start,
            "observed_at": self.observed_at,
            "config_version": self.config_version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommitteeReport:
        """Reads `to_json`'s form."""
        return cls(
            int(data["rule_id"]),
            bytes.fromhex(str(data["device_id"]).removeprefix("0x")),
            int(data["value"]),
            int(data["window_start"]),
            int(data["observed_at"]),
            int(data["config_version"]),
        )


@dataclass(frozen=True)
class CommitteeMember:
    """One member's keys: an ECDSA account and a BLS key."""

    account: LocalAccount
    bls_key: bls.BlsKey

    @classmethod
    def generate(cls) -> CommitteeMember:
        """A member with new random keys."""
        return cls(Account.create(), bls.BlsKey.generate())

    @property
    def address(self) -> str:
        """The member's ECDSA address."""
        return str(self.account.address)


class SensorOracleContract:
    """SensorOracle called from one account (its `ChainClient`)."""

    def __init__(self, client: ChainClient, deployment: Deployment, artifacts: dict[str, Artifact]) -> None:
        self.client = client
        self._deployment, self._artifacts = deployment, artifacts
        self._abi = artifacts["SensorOracle"].abi
        client.errors.register(self._abi)
        for name in ("SupplyChain", "AssetToken", "ShipmentEscrow", "DeviceRegistry"):
            client.errors.register(artifacts[name].abi)
        self.address = to_checksum_address(deployment.address_of("SensorOracle"))
        self.contract: Contract = client.w3.eth.contract(address=self.address, abi=self._abi)
        self._ledger = Ledger(client, deployment, artifacts)

    def as_account(self, client: ChainClient) -> SensorOracleContract:
        """The same contract called from another account."""
        other = SensorOracleContract.__new__(SensorOracleContract)
        other.client = client
        other._deployment, other._artifacts = self._deployment, self._artifacts
        other._abi = self._abi
        other.address = self.address
        client.errors.register(self._abi)
        other.contract = client.w3.eth.contract(address=self.address, abi=self._abi)
        other._ledger = Ledger(client, self._deployment, self._artifacts, log=self._ledger.log)
        return other

    @property
    def functions(self) -> Any:
        """The contract's functions."""
        return self.contract.functions

    # rules

    def add_rule(self, spec: RuleSpec) -> tuple[int, TxReceipt]:
        """Adds a rule; returns its id and the receipt."""
        receipt = self.client.transact(self.functions.addRule(spec.as_tuple()))
        event = self.contract.events.RuleAdded().process_receipt(receipt)[0]
        return int(event["args"]["ruleId"]), receipt

    def disable_rule(self, rule_id: int) -> TxReceipt:
        """Disables a rule."""
        return self.client.transact(self.functions.disableRule(rule_id))

    def rule(self, rule_id: int, block: int | str = "latest") -> Rule:
        """Rule `rule_id` as stored."""
        return Rule.from_tuple(rule_id, self.functions.getRule(rule_id).call(block_identifier=block))

    def rule_count(self) -> int:
        """How many rules exist (ids 1..count)."""
        return int(self.functions.ruleCount().call())

    def rules(self) -> list[Rule]:
        """All rules."""
        return [self.rule(rule_id) for rule_id in range(1, self.rule_count() + 1)]

    # reports

    def record_batches(self, readings: Sequence[SignedReading]) -> None:
        """Records the batches the readings' proofs rest on in the notary, from this account, so that
        `DataNotary.verify` answers for them (it keeps nothing per batch until someone asks)."""
        self._ledger.record_anchors(r.root for r in readings)

    def submit_evidence(self, rule_id: int, readings: Sequence[SignedReading]) -> TxReceipt:
        """Fires a threshold rule on evidence (its batches recorded first: `record_batches`)."""
        self.record_batches(readings)
        return self.client.transact(self.functions.submitEvidence(rule_id, [r.as_tuple() for r in readings]))

    def committee_digest(self, report: CommitteeReport) -> bytes:
        """The EIP-712 digest members sign."""
        return bytes(self.functions.committeeDigest(report.as_tuple()).call())

    def submit_committee_ecdsa(self, report: CommitteeReport, signatures: Sequence[bytes]) -> TxReceipt:
        """Fires a heartbeat or aggregate rule on ECDSA signatures (ordered by signer)."""
        return self.client.transact(self.functions.submitCommitteeEcdsa(report.as_tuple(), list(signatures)))

    def submit_committee_bls(
        self, report: CommitteeReport, signer_map: int, signers_key_g2: bls.G2Affine, signature: bls.G1Affine
    ) -> TxReceipt:
        """Fires a heartbeat or aggregate rule on an aggregate BLS signature."""
        return self.client.transact(
            self.functions.submitCommitteeBls(
                report.as_tuple(), signer_map, bls.g2_tuple(signers_key_g2), bls.g1_tuple(signature)
            )
        )

    # committee

    def add_member(self, member: CommitteeMember, proof_of_possession: bls.G1Affine | None = None) -> TxReceipt:
        """Registers a member with its BLS key and proof of possession (made here unless given)."""
        key = member.bls_key
        if proof_of_possession is None:
            proof_of_possession = key.proof_of_possession(self.pop_message(member.address, key.public_g1))
        return self.client.transact(
            self.functions.addMember(
                member.address,
                bls.g1_tuple(key.public_g1),
                bls.g2_tuple(key.public_g2),
                bls.g1_tuple(proof_of_possession),
            )
        )

    def remove_member(self, address: str) -> TxReceipt:
        """Removes a member."""
        return self.client.transact(self.functions.removeMember(to_checksum_address(address)))

    def set_quorum(self, quorum: int) -> TxReceipt:
        """Sets the quorum."""
        return self.client.transact(self.functions.setQuorum(quorum))

    def pop_message(self, signer: str, key_g1: bls.G1Affine) -> bytes:
        """The message a member's BLS key signs to prove possession."""
        return bytes(self.functions.popMessage(to_checksum_address(signer), bls.g1_tuple(key_g1)).call())

    def members(self) -> list[str]:
        """Member addresses in position order."""
        return [str(m[0]) for m in self.functions.members().call()]

    def quorum(self) -> int:
        """Signatures a committee report needs."""
        return int(self.functions.quorum().call())

    def config_version(self) -> int:
        """The committee's version."""
        return int(self.functions.configVersion().call())


def sign_ecdsa(members: Sequence[CommitteeMember], digest: bytes) -> list[bytes]:
    """Each member's signature of `digest`, ordered by signer address as the contract wants."""
    ordered = sorted(members, key=lambda m: int(m.address, 16))
    return [bytes(m.account.unsafe_sign_hash(Hash32(digest)).signature) for m in ordered]


def sign_bls(
    members: Sequence[CommitteeMember], positions: dict[str, int], digest: bytes
) -> tuple[int, bls.G2Affine, bls.G1Affine]:
    """The signer map, the signers' summed G2 key and their aggregate signature of `digest`."""
    signer_map = 0
    for member in members:
        signer_map |= 1 << positions[member.address]
    signature = bls.aggregate_g1(m.bls_key.sign(bls.REPORT_DOMAIN, digest) for m in members)
    key_g2 = bls.aggregate_g2(m.bls_key.public_g2 for m in members)
    return signer_map, key_g2, signature
