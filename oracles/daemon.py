"""The oracle daemon: follows verified readings in the store, evaluates every armed rule, and hands
reports to the submit task once their evidence is anchored.

Each step: load new rules (and refresh the others, with the attachment periods of their devices,
now and then), read the readings stored since the last step for every device a rule watches (in
sequence order), feed threshold rules, claim the breaches found, check heartbeat and aggregate
rules against the clock, and queue the claimed reports whose readings are anchored. Several daemons
may run on one database: each evaluates everything, but a breach is claimed once (the row's primary
key) and queued once (a conditional status change), and a report left queued by a daemon that died
is queued again.

A rule is left alone only while one of its reports is live (pending, queued, fired or superseded),
as the report book says, not this process's memory: a report the contract refused (`failed`) leaves
the rule armed, and the next breach is found and reported; a daemon that restarts knows the same.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from ledger_service.core.enums import RuleKind
from ledger_service.core.loops import HealthRecorder, run_loop
from ledger_service.core.models import OracleReport, ReportStatus, StoredReading
from ledger_service.core.supply_chain import Attachment, SupplyChainContract, attached_throughout
from ledger_service.services.container import Services
from oracles.contract import SensorOracleContract
from oracles.evaluator import Breach, Observed, ThresholdEvaluator
from oracles.observations import observe
from oracles.reports import ReportBook, committee_breach_id, evidence_report_id
from oracles.rules import ZERO32, Rule

#: SensorOracle.CLOCK_TOLERANCE: how far evidence may be dated ahead of the block.
CLOCK_TOLERANCE = 60

log = logging.getLogger(__name__)

_PAGE = 2000


@dataclass
class StepResult:
    """What one step did."""

    readings: int = 0
    claimed: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


class OracleDaemon:
    """Finds breaches and queues their reports; `dispatch(report_id)` submits one."""

    def __init__(
        self,
        services: Services,
        dispatch: Callable[[str], None],
        name: str = "oracle",
        rule_refresh: float = 5.0,
        requeue_after: float = 10.0,
        scheme: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.services = services
        self.dispatch = dispatch
        self.name = name
        self.rule_refresh = rule_refresh
        self.requeue_after = requeue_after
        self.clock = clock
        self.scheme = scheme or services.settings.oracle_scheme
        client = services.ledger.client
        deployment = services.ledger.deployment
        self.oracle = SensorOracleContract(client, deployment, services.artifacts)
        self.supply = SupplyChainContract(client, deployment, services.artifacts)
        self.chain_id = deployment.chain_id
        self.book = ReportBook(services.engine)
        self._periods: dict[tuple[bytes, bytes], list[Attachment]] = {}  # (item, device) -> periods
        self.evaluator = ThresholdEvaluator(self.periods_of)
        self.rules: dict[int, Rule] = {}
        self._devices: dict[int, list[bytes]] = {}  # rule id -> devices it watches
        self._cursor: dict[bytes, tuple[int, int]] = {}  # device -> (key index, sequence) last evaluated
        self._refreshed = 0.0
        self._done: set[int] = set()  # rules with a live report (refreshed from the book each step)

    def periods_of(self, item_id: bytes, device_id: bytes) -> list[Attachment]:
        """The device's attachment periods to the item, as last read from the chain."""
        key = (item_id, device_id)
        if key not in self._periods:
            self._periods[key] = self.supply.attachments_of(item_id, device_id)
        return self._periods[key]

    # rules

    def _load_rules(self) -> None:
        count = self.oracle.rule_count()
        refresh = self.clock() - self._refreshed >= self.rule_refresh
        for rule_id in range(1, count + 1):
            known = self.rules.get(rule_id)
            if known is not None and (not known.armed or not refresh):
                continue
            rule = self.oracle.rule(rule_id)
            self.rules[rule_id] = rule
            if not rule.armed:
                self.evaluator.forget(rule_id)
                self._devices.pop(rule_id, None)
                continue
            if rule.item_id == ZERO32:
                self._devices[rule_id] = [rule.device_id]
                continue
            history = self.supply.device_history_of(rule.item_id)
            self._devices[rule_id] = [rule.device_id] if rule.device_id != ZERO32 else history
            for device in history:  # read again on first use (one call per rule here, as before)
                self._periods.pop((rule.item_id, device), None)
        if refresh:
            self._refreshed = self.clock()

    def _armed(self) -> list[Rule]:
        return [r for r in self.rules.values() if r.armed and r.rule_id not in self._done]

    # threshold rules

    def _follow_readings(self, result: StepResult) -> None:
        threshold = [r for r in self._armed() if r.kind is RuleKind.THRESHOLD]
        by_device: dict[bytes, list[Rule]] = {}
        for rule in threshold:
            for device in self._devices.get(rule.rule_id, []):
                by_device.setdefault(device, []).append(rule)
        for device, rules in by_device.items():
            since = min(r.created_at for r in rules)
            for reading in self._new_readings(device, since):
                result.readings += 1
                for rule in rules:
                    if rule.rule_id in self._done:
                        continue
                    breach = self.evaluator.observe(rule, reading)
                    if breach is not None:
                        self._claim_evidence(breach, result)

    def _new_readings(self, device: bytes, since: int) -> list[Observed]:
        device_hex = _hex(device)
        with Session(self.services.engine) as session:
            query = select(StoredReading).where(StoredReading.device_id == device_hex)
            cursor = self._cursor.get(device)
            if cursor is None:
                query = query.where(col(StoredReading.timestamp) >= since)
            else:  # a key rotation starts a fresh sequence space (docs/device-time.md)
                key_index, sequence = cursor
                query = query.where(
                    or_(
                        col(StoredReading.key_index) > key_index,
                        and_(col(StoredReading.key_index) == key_index, col(StoredReading.sequence) > sequence),
                    )
                )
            order = (col(StoredReading.key_index), col(StoredReading.sequence))
            rows = session.exec(query.order_by(*order).limit(_PAGE)).all()
        if rows:
            self._cursor[device] = (rows[-1].key_index, rows[-1].sequence)
        return [
            Observed(r.id, device, r.sequence, r.timestamp, r.metric, int(r.value), r.scale, r.received_at, r.unit)
            for r in rows
        ]

    def _still_attached(self, breach: Breach) -> bool:
        """Reads the device's attachment periods afresh (the cached ones may predate a detachment)
        and checks the stretch against them as the contract will."""
        rule = breach.rule
        if rule.item_id == ZERO32:
            return True
        periods = self.supply.attachments_of(rule.item_id, breach.device_id)
        self._periods[(rule.item_id, breach.device_id)] = periods
        return attached_throughout(periods, breach.readings[0].timestamp, breach.readings[-1].timestamp)

    def _claim_evidence(self, breach: Breach, result: StepResult) -> None:
        rule = breach.rule
        if not self._still_attached(breach):
            log.info("breach outside the device's attachment, not reported", extra={"rule_id": rule.rule_id})
            return
        report_id = evidence_report_id(
            self.chain_id, self.oracle.address, rule.rule_id, breach.device_id, breach.first_sequence
        )
        report = OracleReport(
            report_id=report_id,
            rule_id=rule.rule_id,
            item_id=_hex(rule.item_id),
            device_id=_hex(breach.device_id),
            path="evidence",
            reading_ids=",".join(r.reading_id for r in breach.readings),
            found_by=self.name,
            found_at=self.clock(),
            breach_reading_at=breach.readings[-1].received_at,
        )
        if self.book.claim(report):
            self._done.add(rule.rule_id)
            result.claimed.append(report_id)
            log.info("breach found", extra={"report_id": report_id, "rule_id": rule.rule_id, "by": self.name})
        elif self.book.is_live(report_id):
            self._done.add(rule.rule_id)  # another daemon (or this one before a restart) has it

    # committee rules

    def _check_committee_rules(self, result: StepResult) -> None:
        now = int(self.clock())
        for rule in self._armed():
            if rule.kind is RuleKind.THRESHOLD:
                continue
            for device in self._devices.get(rule.rule_id, []):
                periods = self.periods_of(rule.item_id, device) if rule.item_id != ZERO32 else []
                observation = observe(self.services.engine, rule, device, now, periods)
                if observation is None:
                    continue
                value, window_start = observation
                report_id = committee_breach_id(self.chain_id, self.oracle.address, rule.rule_id, device)
                payload = {
                    "rule_id": rule.rule_id,
                    "device_id": _hex(device),
                    "value": str(value),
                    "window_start": window_start,
                    "observed_at": now,
                }
                report = OracleReport(
                    report_id=report_id,
                    rule_id=rule.rule_id,
                    item_id=_hex(rule.item_id),
                    device_id=_hex(device),
                    path=self.scheme,
                    payload=json.dumps(payload),
                    found_by=self.name,
                    found_at=self.clock(),
                )
                if self.book.claim(report) or self.book.reclaim(report):
                    result.claimed.append(report_id)
                    log.info("breach found", extra={"report_id": report_id, "rule_id": rule.rule_id, "by": self.name})
                self._done.add(rule.rule_id)
                break

    # queueing

    def _queue_ready(self, result: StepResult) -> None:
        now = self.clock()
        for report in self.book.with_status(ReportStatus.PENDING.value, ReportStatus.QUEUED.value):
            if report.status == ReportStatus.QUEUED.value:
                if report.submitted_at is not None and now - report.submitted_at < self.requeue_after:
                    continue
            elif report.path == "evidence" and (not self.book.anchored(report) or self._ahead_of_the_chain(report)):
                continue
            if not self.book.move(report.report_id, [report.status], ReportStatus.QUEUED.value, submitted_at=now):
                continue  # another daemon took it
            result.queued.append(report.report_id)
            try:
                self.dispatch(report.report_id)
            except Exception as exc:  # eager mode: the task failed here; it is queued again later
                log.warning("oracle report not submitted yet", extra={"report_id": report.report_id, "error": str(exc)})

    def _ahead_of_the_chain(self, report: OracleReport) -> bool:
        """True while the report's latest reading is dated past the chain's time plus the contract's
        tolerance: SensorOracle would refuse it (OracleReadingFromTheFuture), so it waits."""
        latest = self.book.latest_timestamp(report)
        if latest <= self.clock() - 2 * CLOCK_TOLERANCE:  # well in the past: no need to ask the chain
            return False
        chain_now = int(self.services.ledger.client.w3.eth.get_block("latest")["timestamp"])
        return latest > chain_now + CLOCK_TOLERANCE

    # loop

    def step(self) -> StepResult:
        """One pass; returns what it did."""
        result = StepResult()
        self._load_rules()
        self._done = self.book.live_rules()
        self._follow_readings(result)
        self._check_committee_rules(result)
        self._queue_ready(result)
        return result

    def run(self, stop: threading.Event, poll: float) -> None:
        """Steps until `stop` is set, `poll` seconds apart when idle, by the loop policy (`core.loops`)."""
        log.info("oracle daemon running", extra={"daemon": self.name, "poll": poll})

        def step() -> bool:
            result = self.step()
            return bool(result.readings or result.queued)

        run_loop(f"oracle:{self.name}", step, stop, poll, HealthRecorder(self.services.engine))
