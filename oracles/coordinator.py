"""The coordinator: gathers committee members' signatures over HTTP until quorum, for the oracle
daemon's submitter to send.

It builds the report's evidence from the store (the readings the observation rests on, each with its
signature and Merkle proof), asks every member (`POST /sign`, in parallel) and keeps the answers it
can check itself: an ECDSA signature must recover to a committee member, a BLS signature must verify
under the key the member registered on chain. As soon as it holds a quorum it stops asking. With too
few members up, or too many refusing, it raises `QuorumNotReached` and nothing is submitted.

It holds no member's key: each member signs in its own process, after its own checks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx
from eth_account import Account
from eth_typing import Hash32
from sqlmodel import Session, col, select

from ledger_service.core.enums import RuleKind
from ledger_service.core.errors import ChainError
from ledger_service.core.models import Batch, BatchStatus, StoredReading
from ledger_service.services.container import Services
from oracles import bls
from oracles.contract import CommitteeReport, SensorOracleContract, SignedReading
from oracles.member_wire import sign_request
from oracles.rules import Rule

log = logging.getLogger(__name__)


class QuorumNotReached(ChainError):
    """Fewer members signed than the quorum asks: nothing was submitted. `definitive` when so many
    members refused (checked the report and said no) that no quorum can be reached for it."""

    @property
    def definitive(self) -> bool:
        return bool(self.context.get("definitive", False))


class EvidenceNotReady(ChainError):
    """The readings a committee report rests on are not all anchored yet."""


@dataclass(frozen=True)
class Signed:
    """One member's checked signature."""

    address: str
    position: int
    ecdsa: bytes | None = None
    bls_point: bls.G1Affine | None = None


def parse_members(text: str) -> list[str]:
    """The member endpoint URLs of a comma-separated setting."""
    return [url.strip().rstrip("/") for url in text.split(",") if url.strip()]


def committee_reading_ids(services: Services, rule: Rule, report: CommitteeReport) -> list[str]:
    """The stored readings a committee report rests on, in sequence order: for a heartbeat, the last
    reading before the silence (none when the device was silent since the rule was made); for a
    mean, every reading of the device in the window."""
    device_hex = "0x" + report.device_id.hex()
    if rule.kind is RuleKind.HEARTBEAT and report.window_start == rule.created_at:
        return []
    with Session(services.engine) as session:
        query = select(StoredReading).where(StoredReading.device_id == device_hex)
        if rule.kind is RuleKind.HEARTBEAT:
            rows = list(
                session.exec(
                    query.where(col(StoredReading.timestamp) == report.window_start)
                    .order_by(col(StoredReading.sequence).desc())
                    .limit(1)
                )
            )
        else:
            rows = list(
                session.exec(
                    query.where(
                        col(StoredReading.timestamp) >= report.window_start,
                        col(StoredReading.timestamp) <= report.observed_at,
                    ).order_by(col(StoredReading.sequence))
                )
            )
    return [r.id for r in rows]


def all_anchored(services: Services, reading_ids: Sequence[str]) -> bool:
    """True when every reading is in a batch that was anchored."""
    if not reading_ids:
        return True
    with Session(services.engine) as session:
        statuses = session.exec(
            select(Batch.status)
            .join(StoredReading, col(StoredReading.batch_id) == col(Batch.id))
            .where(col(StoredReading.id).in_(list(reading_ids)))
        ).all()
    return len(statuses) == len(reading_ids) and all(s != BatchStatus.SEALED for s in statuses)


class Coordinator:
    """Asks the members at `urls` to sign, until quorum."""

    def __init__(self, urls: Sequence[str], timeout: float = 30.0, from_block: int = 0) -> None:
        self.urls = list(urls)
        self.timeout = timeout
        self.from_block = from_block  # where to look for the members' registrations

    def gather(
        self, oracle: SensorOracleContract, report: CommitteeReport, readings: Sequence[SignedReading], scheme: str
    ) -> list[Signed]:
        """Checked signatures of `report` from a quorum of members (exactly the quorum), or raises
        `QuorumNotReached` saying what each member answered."""
        quorum = oracle.quorum()
        positions = {address: i for i, address in enumerate(oracle.members())}
        if quorum == 0 or not positions:
            raise QuorumNotReached("the oracle has no committee")
        digest = oracle.committee_digest(report)
        keys = _registered_g2(oracle, self.from_block) if scheme == "bls" else {}
        body = sign_request(report, readings, scheme)
        signed: dict[str, Signed] = {}
        outcomes: dict[str, str] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, len(self.urls)), thread_name_prefix="coordinator")
        try:
            with httpx.Client(timeout=self.timeout) as http:
                pending: dict[Future[httpx.Response], str] = {
                    pool.submit(http.post, f"{url}/sign", json=body): url for url in self.urls
                }
                while pending and len(signed) < quorum:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        url = pending.pop(future)
                        outcome = self._check(
                            future, digest, positions, keys, scheme, signed, oracle.client.w3.eth.call
                        )
                        outcomes[url] = outcome
                for future in pending:
                    future.cancel()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if len(signed) < quorum:
            detail = "; ".join(f"{url}: {outcome}" for url, outcome in outcomes.items())
            refusals = sum(1 for outcome in outcomes.values() if outcome.startswith("refused"))
            raise QuorumNotReached(
                f"{len(signed)} of {quorum} member signatures ({detail})",
                definitive=len(self.urls) - refusals < quorum,
            )
        chosen = sorted(signed.values(), key=lambda s: int(s.address, 16))[:quorum]
        log.info("quorum reached", extra={"rule_id": report.rule_id, "signers": [s.address for s in chosen]})
        return chosen

    @staticmethod
    def _check(
        future: Future[httpx.Response],
        digest: bytes,
        positions: dict[str, int],
        keys: dict[str, bls.G2Affine],
        scheme: str,
        signed: dict[str, Signed],
        call: Any,
    ) -> str:
        try:
            response = future.result()
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__})"
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            return f"HTTP {response.status_code}, not JSON"
        if response.status_code != 200:
            return f"refused ({answer.get('code')}: {answer.get('detail')})"
        address = str(answer.get("address", ""))
        if address not in positions:
            return f"signer {address} is not on the committee"
        try:
            if scheme == "ecdsa":
                signature = bytes.fromhex(str(answer["signature"]).removeprefix("0x"))
                if Account._recover_hash(Hash32(digest), signature=signature) != address:
                    return "an ECDSA signature not by the member it names"
                entry = Signed(address, positions[address], ecdsa=signature)
            else:
                point = (int(answer["signature"][0], 16), int(answer["signature"][1], 16))
                if address not in keys or not bls.verify_with_precompile(
                    call, bls.REPORT_DOMAIN, digest, keys[address], point
                ):
                    return "a BLS signature that does not verify under the member's registered key"
                entry = Signed(address, positions[address], bls_point=point)
        except (KeyError, TypeError, ValueError) as exc:
            return f"a malformed answer ({exc})"
        signed[address] = entry
        return "signed"


def _registered_g2(oracle: SensorOracleContract, from_block: int) -> dict[str, bls.G2Affine]:
    """Each member's G2 key, as registered (the `CommitteeMemberAdded` events; the contract checked
    each against its G1 key with a proof of possession)."""
    keys: dict[str, bls.G2Affine] = {}
    events = oracle.contract.events.CommitteeMemberAdded().get_logs(from_block=from_block)
    for event in events:
        _, g2 = bls.decode_key(bytes(event["args"]["blsKey"]))
        keys[str(event["args"]["signer"])] = g2
    return keys


def submit_gathered(
    oracle: SensorOracleContract,
    report: CommitteeReport,
    signatures: Sequence[Signed],
    scheme: str,
    from_block: int = 0,
) -> Any:
    """Submits `report` with the gathered signatures by `scheme`; returns the receipt."""
    if scheme == "ecdsa":
        ordered = sorted(signatures, key=lambda s: int(s.address, 16))
        return oracle.submit_committee_ecdsa(report, [s.ecdsa or b"" for s in ordered])
    signer_map = 0
    for entry in signatures:
        signer_map |= 1 << entry.position
    keys = _registered_g2(oracle, from_block)
    aggregate = bls.aggregate_g1(s.bls_point for s in signatures if s.bls_point is not None)
    key_g2 = bls.aggregate_g2(keys[s.address] for s in signatures)
    return oracle.submit_committee_bls(report, signer_map, key_g2, aggregate)
