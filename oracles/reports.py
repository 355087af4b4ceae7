"""Oracle reports: claimed once in the database, built from stored readings and their proofs (or
signed by the committee), and submitted to `SensorOracle` idempotently.

A report's id is known before it is built: for evidence, the contract's own id (rule, device, first
reading's sequence); for a committee report, the rule and device. Whoever inserts the row first
owns the breach, so daemons that find the same breach do not both act; and the contract fires a
rule once whatever reaches it, so even two services on separate databases cannot act twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ledger_service.core.errors import ChainError, TransactionReverted
from ledger_service.core.locks import account_lock
from ledger_service.core.models import Batch, BatchStatus, OracleReport, ReportStatus, StoredReading
from ledger_service.services.container import Services
from ledger_service.services.proofs import stored_to_reading
from oracles.contract import CommitteeReport, SensorOracleContract, SignedReading
from oracles.coordinator import Coordinator, QuorumNotReached, all_anchored, committee_reading_ids, submit_gathered

log = logging.getLogger(__name__)

FINAL = (ReportStatus.FIRED.value, ReportStatus.SUPERSEDED.value, ReportStatus.FAILED.value)
#: Refusals that may pass later: the batch is not anchored yet (or was reorged out), the report's
#: time is ahead of the chain's clock, the committee changed under it.
RETRYABLE = ("OracleNotAnchored", "OracleInvalidReportTime", "OracleStaleCommittee")


class RetryLater(ChainError):
    """The report cannot be submitted yet; try again."""


def evidence_report_id(chain_id: int, oracle: str, rule_id: int, device_id: bytes, first_sequence: int) -> str:
    """The id `SensorOracle.submitEvidence` gives the report."""
    encoded = encode(
        ["uint256", "address", "uint256", "bytes32", "uint64"],
        [chain_id, to_checksum_address(oracle), rule_id, device_id, first_sequence],
    )
    return "0x" + keccak(encoded).hex()


def committee_breach_id(chain_id: int, oracle: str, rule_id: int, device_id: bytes) -> str:
    """The id of a committee report: one per rule and device (a rule fires once)."""
    encoded = encode(
        ["string", "uint256", "address", "uint256", "bytes32"],
        ["committee", chain_id, to_checksum_address(oracle), rule_id, device_id],
    )
    return "0x" + keccak(encoded).hex()


class ReportBook:
    """The `oracle_report` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, report: OracleReport) -> bool:
        """Inserts the report; False when it exists already (another daemon found it first)."""
        try:
            with Session(self.engine) as session:
                session.add(report)
                session.commit()
        except IntegrityError:
            return False
        return True

    def reclaim(self, report: OracleReport) -> bool:
        """Takes over a `failed` report with the same id (a committee report is one per rule and
        device) for a new breach: True when this call did (a conditional update, so one daemon wins)."""
        return self.move(
            report.report_id,
            [ReportStatus.FAILED.value],
            ReportStatus.PENDING.value,
            payload=report.payload,
            found_by=report.found_by,
            found_at=report.found_at,
            attempts=0,
            last_error=None,
            submitted_at=None,
        )

    def is_live(self, report_id: str) -> bool:
        """True when the report exists and has not failed."""
        report = self.get(report_id)
        return report is not None and report.status != ReportStatus.FAILED.value

    def live_rules(self) -> set[int]:
        """The rules with a report that has not failed: the daemons leave them alone."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(OracleReport.rule_id).where(col(OracleReport.status) != ReportStatus.FAILED.value).distinct()
            )
            return {int(r) for r in rows}

    def get(self, report_id: str) -> OracleReport | None:
        """One report."""
        with Session(self.engine) as session:
            return session.get(OracleReport, report_id)

    def move(self, report_id: str, expected: Sequence[str], status: str, **fields: Any) -> bool:
        """Moves the report to `status` if it is in one of `expected`; True when this call moved it."""
        with Session(self.engine) as session:
            result = session.execute(
                update(OracleReport)
                .where(col(OracleReport.report_id) == report_id, col(OracleReport.status).in_(list(expected)))
                .values(status=status, **fields)
            )
            session.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def with_status(self, *statuses: str) -> list[OracleReport]:
        """Reports in any of `statuses`, oldest first."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(OracleReport).where(col(OracleReport.status).in_(statuses)).order_by(col(OracleReport.found_at))
            )
            return list(rows)

    def for_item(self, item_id: str) -> list[OracleReport]:
        """The reports about an item, oldest first."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(OracleReport).where(OracleReport.item_id == item_id).order_by(col(OracleReport.found_at))
            )
            return list(rows)

    def latest_timestamp(self, report: OracleReport) -> int:
        """The latest time an evidence report's readings claim (0 when it has none stored)."""
        ids = [r for r in report.reading_ids.split(",") if r]
        with Session(self.engine) as session:
            stamps = session.exec(select(StoredReading.timestamp).where(col(StoredReading.id).in_(ids))).all()
        return max(stamps, default=0)

    def anchored(self, report: OracleReport) -> bool:
        """True when every reading of an evidence report is in an anchored batch."""
        ids = [r for r in report.reading_ids.split(",") if r]
        with Session(self.engine) as session:
            statuses = session.exec(
                select(Batch.status)
                .join(StoredReading, col(StoredReading.batch_id) == col(Batch.id))
                .where(col(StoredReading.id).in_(ids))
            ).all()
        return len(statuses) == len(ids) and all(s != BatchStatus.SEALED for s in statuses)


def build_evidence(services: Services, reading_ids: Sequence[str]) -> list[SignedReading]:
    """The readings with signatures and Merkle proofs, from the store and the proof service."""
    evidence = []
    with Session(services.engine) as session:
        rows = {r.id: r for r in session.exec(select(StoredReading).where(col(StoredReading.id).in_(reading_ids)))}
    for reading_id in reading_ids:
        row = rows[reading_id]
        bundle = services.proofs.bundle(reading_id)
        evidence.append(
            SignedReading(
                stored_to_reading(row),
                bytes.fromhex(row.signature[2:]),
                bytes.fromhex(bundle["merkle"]["root"][2:]),
                [bytes.fromhex(p[2:]) for p in bundle["merkle"]["proof"]],
            )
        )
    return evidence


class ReportSubmitter:
    """Submits claimed reports from `oracle`'s account (the reporter), holding its sender lock (one
    sender, fresh nonces)."""

    def __init__(
        self,
        services: Services,
        oracle: SensorOracleContract,
        coordinator: Coordinator | None = None,
    ) -> None:
        self.services = services
        self.oracle = oracle
        self.coordinator = coordinator
        self.book = ReportBook(services.engine)

    def submit(self, report_id: str) -> str:
        """Submits report `report_id` unless it is settled; returns its status afterwards.

        Raises `RetryLater` (or a `ChainError`) when it should be tried again."""
        report = self.book.get(report_id)
        if report is None:
            raise LookupError(f"no oracle report {report_id}")
        if report.status in FINAL:
            return report.status
        sender = self.oracle.client
        with account_lock(self.services.engine, self.services.settings.data_dir, sender.operator.address):
            sender.reset_nonce()
            self.book.move(report_id, [report.status], report.status, attempts=report.attempts + 1)
            rule = self.oracle.rule(report.rule_id)
            if rule.fired_at != 0:
                return self._settle_fired(report)
            if not rule.active:
                self.book.move(report_id, [report.status], ReportStatus.FAILED.value, last_error="rule disabled")
                return ReportStatus.FAILED.value
            try:
                receipt, chain_report_id = self._send(report)
            except TransactionReverted as exc:
                return self._refused(report, exc)
        self.book.move(
            report_id,
            [report.status],
            ReportStatus.FIRED.value,
            transaction_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block_number=int(receipt["blockNumber"]),
            submitted_at=time.time(),
            last_error=None,
            payload=_with_chain_id(report.payload, chain_report_id),
        )
        log.info("oracle report fired", extra={"report_id": report_id, "rule_id": report.rule_id})
        return ReportStatus.FIRED.value

    def _send(self, report: OracleReport) -> tuple[Any, str]:
        if report.path == "evidence":
            readings = build_evidence(self.services, [r for r in report.reading_ids.split(",") if r])
            return self.oracle.submit_evidence(report.rule_id, readings), report.report_id
        if self.coordinator is None or not self.coordinator.urls:
            raise TransactionReverted(
                "no committee member endpoints are configured (PROVENANCE_ORACLE_MEMBERS)", error="NoCommitteeMembers"
            )
        data = json.loads(report.payload)
        committee_report = CommitteeReport.from_json({**data, "config_version": self.oracle.config_version()})
        rule = self.oracle.rule(report.rule_id)
        reading_ids = committee_reading_ids(self.services, rule, committee_report)
        if not all_anchored(self.services, reading_ids):
            self._retry(report, "the report's readings are not anchored yet")
        try:
            signatures = self.coordinator.gather(
                self.oracle, committee_report, build_evidence(self.services, reading_ids), report.path
            )
        except QuorumNotReached as exc:
            if exc.definitive:  # the members checked it and refused: a refusal, like the contract's
                raise TransactionReverted(str(exc), error="CommitteeRefused") from exc
            self._retry(report, str(exc))
        start = self.services.ledger.deployment.contracts["SensorOracle"].block_number
        receipt = submit_gathered(self.oracle, committee_report, signatures, report.path, start)
        return receipt, "0x" + self.oracle.committee_digest(committee_report).hex()

    def _retry(self, report: OracleReport, reason: str) -> NoReturn:
        """Keeps the report for a later attempt: nothing was submitted."""
        self.book.move(report.report_id, [report.status], report.status, last_error=reason)
        log.info("oracle report not submitted yet", extra={"report_id": report.report_id, "reason": reason})
        raise RetryLater(f"report {report.report_id}: {reason}")

    def _refused(self, report: OracleReport, exc: TransactionReverted) -> str:
        error = exc.context.get("error")
        if error == "OracleRuleAlreadyFired":
            return self._settle_fired(report)
        if error in RETRYABLE:
            self.book.move(report.report_id, [report.status], report.status, last_error=str(exc))
            raise RetryLater(f"report {report.report_id} refused for now: {error}") from exc
        self.book.move(report.report_id, [report.status], ReportStatus.FAILED.value, last_error=str(exc))
        log.warning("oracle report refused", extra={"report_id": report.report_id, "error": error})
        return ReportStatus.FAILED.value

    def _settle_fired(self, report: OracleReport) -> str:
        """The rule fired already: on this report (an earlier attempt whose outcome was not
        recorded: a crash, a lost response) or on another one."""
        events = self.oracle.contract.events.RuleFired().get_logs(
            argument_filters={"ruleId": report.rule_id},
            from_block=self.services.ledger.deployment.contracts["SensorOracle"].block_number,
        )
        for event in events:
            args = event["args"]
            if report.path == "evidence":
                ours = "0x" + bytes(args["reportId"]).hex() == report.report_id
            else:
                ours = args["path"] != 0 and "0x" + bytes(args["deviceId"]).hex() == report.device_id
            if ours:
                self.book.move(
                    report.report_id,
                    [report.status],
                    ReportStatus.FIRED.value,
                    transaction_hash="0x" + bytes(event["transactionHash"]).hex(),
                    block_number=int(event["blockNumber"]),
                )
                return ReportStatus.FIRED.value
        self.book.move(report.report_id, [report.status], ReportStatus.SUPERSEDED.value)
        return ReportStatus.SUPERSEDED.value


def _with_chain_id(payload: str, chain_report_id: str) -> str:
    data = json.loads(payload) if payload else {}
    data["chain_report_id"] = chain_report_id
    return json.dumps(data)
