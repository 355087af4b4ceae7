"""The oracle daemon over the real store and chain: breaches found in ingested readings, reported
once their batch is anchored, exactly once with several daemons; heartbeat rules through the
committee (both schemes, each member at its own endpoint); submission through a real Celery worker;
the evaluator's edge cases; the contract's own tests applied before submitting (attachment periods,
units, time order), also after a restart; a refused report leaves the rule armed and the next
breach is reported."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from eth_utils import keccak
from sqlmodel import Session

from ledger_service.core.chain.context import ChainContext
from ledger_service.core.enums import Action, Comparison, Condition, KeyType, Outcome, RuleKind
from ledger_service.core.enums import Path as ReportPath
from ledger_service.core.keys import DeviceKey
from ledger_service.core.models import OracleReport
from ledger_service.core.settings import Settings
from ledger_service.core.supply_chain import SupplyChainContract
from ledger_service.services.container import Services
from oracles.committee import register_member
from oracles.contract import CommitteeMember
from oracles.daemon import OracleDaemon
from oracles.member import Member, MemberServer
from oracles.member_keys import MemberFile
from oracles.reports import ReportBook, build_evidence
from oracles.rules import RuleSpec
from oracles.tasks import report_dispatcher, submit_report, submitter_for
from tests.utils.accounts import outsider
from tests.utils.oracle import Sensor, fired_events, ingest, now, oracle_of, shipment
from tests.utils.worker import start_worker, stop
from tokenization.assets import AssetTokens, token_id_of
from tokenization.escrow import ShipmentEscrowContract

ETHER = 10**18


def test_two_daemons_fire_a_proven_breach_once_after_anchoring(services: Services, chain: ChainContext) -> None:
    item_id, sensor = shipment(services)
    client = services.ledger.client
    tokens = AssetTokens(client, services.ledger.deployment, services.artifacts, services.content_store())
    tokens.mint(item_id, client.operator.address)
    escrow = ShipmentEscrowContract(client, services.ledger.deployment, services.artifacts)
    buyer = outsider(client)
    rule_id, _ = oracle_of(services).add_rule(
        RuleSpec(
            item_id, "temperature", unit="Cel", comparison=Comparison.ABOVE, upper=800, scale=2, min_readings=3,
            min_duration=20, actions=Action.MARK_OUT_OF_COMPLIANCE | Action.FREEZE_TOKEN | Action.SETTLE_ESCROW,
        )
    )  # fmt: skip
    escrow.designate_buyer(item_id, buyer.operator.address)
    escrow.as_account(buyer).open(item_id, now(services) + 86_400, ETHER, [rule_id])
    daemons = [OracleDaemon(services, report_dispatcher(services), name=name) for name in ("east", "west")]
    ids = ingest(services, sensor, [500, 850, 900, 950], now(services) + 1)

    results = [daemon.step() for daemon in daemons]
    claimed = [report for result in results for report in result.claimed]
    assert len(claimed) == 1  # both found it; one claimed it
    book = ReportBook(services.engine)
    report = book.get(claimed[0])
    assert report is not None and report.status == "pending" and report.reading_ids.split(",") == ids[1:]
    assert not any(result.queued for result in results)  # not anchored yet: nothing sent

    services.batcher().run_once()  # four readings: a full batch, sealed and anchored
    barrier = threading.Barrier(2)
    queued: list[list[str]] = []

    def race(daemon: OracleDaemon) -> None:
        barrier.wait()
        queued.append(daemon.step().queued)

    threads = [threading.Thread(target=race, args=(daemon,)) for daemon in daemons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(q) for q in queued) == [0, 1]

    report = book.get(claimed[0])
    assert report is not None and report.status == "fired" and report.transaction_hash
    supply = services.supply_chain()
    assert supply.get_item(item_id).condition is Condition.OUT_OF_COMPLIANCE
    assert tokens.contract.functions.isFrozen(token_id_of(item_id)).call()
    assert escrow.escrow_of(item_id).outcome is Outcome.REFUNDED_ON_BREACH  # type: ignore[union-attr]
    assert escrow.credit_of(buyer.operator.address) == ETHER
    events = fired_events(services, rule_id)
    assert len(events) == 1 and "0x" + bytes(events[0]["args"]["reportId"]).hex() == report.report_id

    # more breaching readings, and a daemon started afresh: the rule fired, nothing more happens
    ingest(services, sensor, [990, 990, 990, 990], now(services) + 100)
    services.batcher().run_once()
    fresh = OracleDaemon(services, report_dispatcher(services), name="late")
    for daemon in [*daemons, fresh]:
        assert daemon.step().claimed == []
    assert len(fired_events(services, rule_id)) == 1


def test_a_breach_proven_by_someone_else_first_is_recorded_as_such(services: Services) -> None:
    oracle = oracle_of(services)
    rival = oracle.as_account(outsider(services.ledger.client))
    outcomes = []
    for rival_takes in (slice(0, 2), slice(2, 4)):  # the same readings as the daemon, or a later stretch
        item_id, sensor = shipment(services)
        rule_id, _ = oracle.add_rule(
            RuleSpec(
                item_id,
                "temperature",
                unit="Cel",
                upper=800,
                scale=2,
                min_readings=2,
                actions=Action.MARK_OUT_OF_COMPLIANCE,
            )
        )
        ids = ingest(services, sensor, [900, 900, 900, 900], now(services) + 1)
        claimed = OracleDaemon(services, lambda report_id: None, name="slow").step().claimed
        services.batcher().run_once()
        rival.submit_evidence(rule_id, build_evidence(services, ids[rival_takes]))
        outcomes.append(submitter_for(services).submit(claimed[0]))
        assert len(fired_events(services, rule_id)) == 1
    assert outcomes == ["fired", "superseded"]


def member_servers(services: Services, chain: ChainContext, folder: Path, count: int) -> list[MemberServer]:
    """`count` committee members, each with its key in its own folder and its own endpoint (threads
    here; tests/service/test_committee_members.py runs them as processes), registered by the admin."""
    oracle = oracle_of(services)
    admin = oracle.as_account(chain.client.for_role("admin"))
    servers = []
    for index in range(count):
        keys = MemberFile(
            CommitteeMember.generate(), chain.deployment.chain_id, chain.deployment.genesis_hash, oracle.address
        )
        keys.save(folder / f"m{index}")
        register_member(admin, keys)
        member = Member(MemberFile.load(folder / f"m{index}"), services.ledger.client.rpc_url, chain.artifacts)
        servers.append(MemberServer(member).start())
    return servers


@pytest.mark.parametrize("scheme", ["bls", "ecdsa"])
def test_silent_device_fires_heartbeat_rule_through_the_committee(
    services: Services, chain: ChainContext, scheme: str, tmp_path: Path
) -> None:
    servers = member_servers(services, chain, tmp_path / "members", 3)
    try:
        oracle_of(services).as_account(chain.client.for_role("admin")).set_quorum(3)
        services.settings = services.settings.model_copy(update={"oracle_members": ",".join(s.url for s in servers)})
        item_id, sensor = shipment(services)
        ingest(services, sensor, [400], now(services))
        rule_id, _ = oracle_of(services).add_rule(
            RuleSpec(item_id, "", kind=RuleKind.HEARTBEAT, upper=2, actions=Action.MARK_OUT_OF_COMPLIANCE)
        )
        daemon = OracleDaemon(services, report_dispatcher(services), name="watch", scheme=scheme)
        assert daemon.step().claimed == []  # silent for less than 2 s since the rule
        threading.Event().wait(3.5)
        result = daemon.step()
    finally:
        for server in servers:
            server.shutdown()
    assert len(result.claimed) == 1 and result.queued == result.claimed
    report = ReportBook(services.engine).get(result.claimed[0])
    assert report is not None and report.status == "fired" and report.path == scheme, report.last_error
    events = fired_events(services, rule_id)
    path = ReportPath.COMMITTEE_BLS if scheme == "bls" else ReportPath.COMMITTEE_ECDSA
    assert len(events) == 1 and events[0]["args"]["path"] == path
    assert events[0]["args"]["submitter"] == services.ledger.client.for_role("reporter").operator.address
    assert services.supply_chain().get_item(item_id).condition is Condition.OUT_OF_COMPLIANCE


def test_reports_are_submitted_by_a_celery_worker(
    services: Services,
    chain_settings: Settings,
    database_url: str,
    broker_url: str,
    tmp_path: Path,
) -> None:
    from ledger_service.services.tasks import configure

    settings = services.settings.model_copy(update={"broker_url": broker_url})
    configure(settings)
    item_id, sensor = shipment(services)
    rule_id, _ = oracle_of(services).add_rule(
        RuleSpec(
            item_id,
            "temperature",
            unit="Cel",
            upper=800,
            scale=2,
            min_readings=2,
            actions=Action.MARK_OUT_OF_COMPLIANCE,
        )
    )
    daemons = [OracleDaemon(services, lambda report_id: submit_report.delay(report_id), name=f"d{i}") for i in range(2)]
    ingest(services, sensor, [900, 900, 900, 900], now(services) + 1)
    services.batcher().run_once()
    log = tmp_path / "worker.log"
    worker = start_worker(chain_settings, database_url, broker_url, services.ledger.client.rpc_url, log)
    try:
        for daemon in daemons:
            daemon.step()
        book = ReportBook(services.engine)
        deadline = threading.Event()
        for _ in range(150):
            reports = book.with_status("fired")
            if reports:
                break
            deadline.wait(0.2)
    finally:
        stop(worker)
        configure(services.settings)
    assert [r.rule_id for r in book.with_status("fired")] == [rule_id], log.read_text()[-3000:]
    assert "provenance.submit_report" in log.read_text()
    assert len(fired_events(services, rule_id)) == 1
    assert (
        SupplyChainContract(services.ledger.client, services.ledger.deployment, services.artifacts)
        .get_item(item_id)
        .condition
        is Condition.OUT_OF_COMPLIANCE
    )


def test_readings_before_the_attachment_are_not_reported(services: Services) -> None:
    """The device was attached after the rule was added: its earlier hot readings are no evidence
    (the contract would refuse them: OracleNotAttachedThen), for a daemon running and one started
    afresh; the hot readings taken after the attachment are reported and fire the rule."""
    item_id = os.urandom(32)
    supply = services.supply_chain()
    supply.register_item(item_id, supply.client.operator.address, keccak(b"lot"), "", [])
    rule_id, _ = oracle_of(services).add_rule(
        RuleSpec(item_id, "temperature", unit="Cel", upper=800, scale=2, min_readings=2,
                 actions=Action.MARK_OUT_OF_COMPLIANCE)
    )  # fmt: skip
    key = DeviceKey.generate(KeyType.SECP256K1)
    sensor = Sensor(os.urandom(32), key)
    services.ledger.register_device(sensor.device_id, key.public_key)
    services.registry.refresh(force=True)
    start = now(services)
    early = ingest(services, sensor, [900, 900, 900], start, spacing=1)
    while now(services) <= start + 3:  # the early readings span 2 s from `start`
        threading.Event().wait(0.5)
        services.ledger.client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    receipt = supply.attach_device(item_id, sensor.device_id)
    attached = int(services.ledger.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    services.batcher().run_once()
    running = OracleDaemon(services, lambda report_id: None, name="running")
    assert running.step().claimed == []
    restarted = OracleDaemon(services, lambda report_id: None, name="restarted")
    assert restarted.step().claimed == []
    later = ingest(services, sensor, [900, 900, 900, 900, 900], attached)  # with the early ones: two batches
    claimed = running.step().claimed
    assert len(claimed) == 1
    report = ReportBook(services.engine).get(claimed[0])
    assert report is not None and report.reading_ids.split(",") == later[:2] and not set(early) & set(later)
    services.batcher().run_once()
    assert submitter_for(services).submit(claimed[0]) == "fired"
    assert len(fired_events(services, rule_id)) == 1


def test_a_unit_mix_is_not_reported_as_a_breach(services: Services) -> None:
    item_id, sensor = shipment(services)
    oracle_of(services).add_rule(
        RuleSpec(item_id, "temperature", unit="Cel", upper=800, scale=2, min_readings=3,
                 actions=Action.MARK_OUT_OF_COMPLIANCE)
    )  # fmt: skip
    start = now(services) + 1
    ingest(services, sensor, [900], start)
    ingest(services, sensor, [29_000], start + 10, unit="K")
    ingest(services, sensor, [900], start + 20)
    ingest(services, sensor, [90], start + 30, scale=1)
    ingest(services, sensor, [900, 900], start + 40)
    daemon = OracleDaemon(services, lambda report_id: None, name="units")
    assert daemon.step().claimed == []
    assert len(daemon.evaluator.refused) == 2
    assert OracleDaemon(services, lambda report_id: None, name="units-restarted").step().claimed == []


def test_a_refused_report_leaves_the_rule_armed_and_the_next_breach_fires(services: Services) -> None:
    """Liveness: the chain refuses a report (here its readings were tampered with in the store
    after the breach was found): the report is failed, the rule stays armed on chain and for
    every daemon, the next breach is found, reported and fires the rule."""
    item_id, sensor = shipment(services)
    oracle = oracle_of(services)
    rule_id, _ = oracle.add_rule(
        RuleSpec(item_id, "temperature", unit="Cel", upper=800, scale=2, min_readings=2,
                 actions=Action.MARK_OUT_OF_COMPLIANCE)
    )  # fmt: skip
    daemon = OracleDaemon(services, lambda report_id: None, name="live")
    first = ingest(services, sensor, [900, 900, 900, 900], now(services) + 1)  # one full batch
    claimed = daemon.step().claimed
    assert len(claimed) == 1
    book = ReportBook(services.engine)
    with Session(services.engine) as session:
        row = session.get(OracleReport, claimed[0])
        assert row is not None
        row.reading_ids = ",".join(reversed(first[:2]))  # not consecutive any more
        session.add(row)
        session.commit()
    services.batcher().run_once()
    assert submitter_for(services).submit(claimed[0]) == "failed"
    failed = book.get(claimed[0])
    assert failed is not None and "OracleNotConsecutive" in (failed.last_error or "")
    assert oracle.rule(rule_id).armed
    assert supply_condition(services, item_id) is Condition.COMPLIANT

    second = ingest(services, sensor, [700, 950, 950, 950], now(services) + 40)
    claimed_again = daemon.step().claimed
    assert len(claimed_again) == 1 and claimed_again != claimed
    report = book.get(claimed_again[0])
    assert report is not None and report.reading_ids.split(",") == second[1:3]
    services.batcher().run_once()
    assert submitter_for(services).submit(claimed_again[0]) == "fired"
    assert supply_condition(services, item_id) is Condition.OUT_OF_COMPLIANCE
    assert len(fired_events(services, rule_id)) == 1


def supply_condition(services: Services, item_id: bytes) -> Condition:
    return services.supply_chain().get_item(item_id).condition


def test_a_refused_committee_report_is_found_again_and_fires(
    services: Services, chain: ChainContext, tmp_path: Path
) -> None:
    """Liveness on the committee path: a committee report is one per rule and device; once the
    chain refused it (here its window was moved before the attachment in the store), the next
    daemon step takes the failed report over with a fresh observation, and it fires."""
    servers = member_servers(services, chain, tmp_path / "members", 3)
    try:
        refused_then_fired(services, chain, servers)
    finally:
        for server in servers:
            server.shutdown()


def refused_then_fired(services: Services, chain: ChainContext, servers: list[MemberServer]) -> None:
    oracle = oracle_of(services)
    oracle.as_account(chain.client.for_role("admin")).set_quorum(3)
    services.settings = services.settings.model_copy(update={"oracle_members": ",".join(s.url for s in servers)})
    item_id, sensor = shipment(services)
    rule_id, _ = oracle.add_rule(
        RuleSpec(item_id, "", kind=RuleKind.HEARTBEAT, upper=2, actions=Action.MARK_OUT_OF_COMPLIANCE)
    )
    daemon = OracleDaemon(services, lambda report_id: None, name="committee", scheme="ecdsa")
    threading.Event().wait(3.5)
    claimed = daemon.step().claimed
    assert len(claimed) == 1
    with Session(services.engine) as session:
        row = session.get(OracleReport, claimed[0])
        assert row is not None
        payload = json.loads(row.payload)
        payload["window_start"] -= 3600
        row.payload = json.dumps(payload)
        session.add(row)
        session.commit()
    assert submitter_for(services).submit(claimed[0]) == "failed"
    assert oracle.rule(rule_id).armed
    again = daemon.step().claimed
    assert again == claimed  # the same id, taken over from `failed`
    assert submitter_for(services).submit(claimed[0]) == "fired"
    assert services.supply_chain().get_item(item_id).condition is Condition.OUT_OF_COMPLIANCE


def test_a_detachment_the_daemon_has_not_refreshed_yet_is_still_respected(services: Services) -> None:
    """The daemon caches attachment periods between rule refreshes; a device detached in between
    and its later hot readings are checked against the chain again before a breach is claimed."""
    item_id, sensor = shipment(services)
    oracle_of(services).add_rule(
        RuleSpec(item_id, "temperature", unit="Cel", upper=800, scale=2, min_readings=2,
                 actions=Action.MARK_OUT_OF_COMPLIANCE)
    )  # fmt: skip
    daemon = OracleDaemon(services, lambda report_id: None, name="cached", rule_refresh=3600)
    assert daemon.step().claimed == []  # periods cached: attached, open-ended
    receipt = services.supply_chain().detach_device(item_id, sensor.device_id)
    detached = int(services.ledger.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    ingest(services, sensor, [900, 900], detached)
    assert daemon.step().claimed == []
    assert daemon.periods_of(item_id, sensor.device_id)[-1].detached_at == detached
