"""Committee members as separate processes (`provenance oracle --member`), each with its key in its
own folder and its own RPC URL: each checks a report against the chain before it signs and refuses
otherwise; the coordinator reaches quorum with N of M members up and, with too few, fails cleanly
(nothing submitted); no file holds every member's key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_utils import keccak

from ledger_service.core.chain.context import ChainContext
from ledger_service.core.enums import Action, Comparison, Condition, RuleKind
from ledger_service.core.readings import Reading
from ledger_service.core.settings import Settings
from ledger_service.services.container import Services
from oracles.committee import register_member
from oracles.contract import CommitteeReport, SensorOracleContract, SignedReading
from oracles.coordinator import Coordinator, QuorumNotReached
from oracles.daemon import OracleDaemon
from oracles.member_keys import MemberFile
from oracles.member_wire import sign_request
from oracles.reports import ReportBook, build_evidence
from oracles.rules import RuleSpec
from oracles.tasks import report_dispatcher, submitter_for
from tests.utils.oracle import Sensor, fired_events, now, oracle_of, shipment
from tests.utils.service import VENV_BIN

QUORUM = 2
NAMES = ("north", "south", "west")


class MemberProcess:
    """`provenance oracle --member NAME` in its own data directory, reading the chain at `rpc_url`."""

    def __init__(self, home: Path, name: str, rpc_url: str) -> None:
        self.home, self.name = home, name
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
        env.update(
            PROVENANCE_DATA_DIR=str(home), PROVENANCE_RPC_URL=rpc_url, PYTHONPATH=os.environ.get("PYTHONPATH", "")
        )
        self.process = subprocess.Popen(
            [str(VENV_BIN / "provenance"), "oracle", "--member", name, "--port", "0"],
            env=env, stdout=subprocess.PIPE, stderr=(home / f"{name}.log").open("ab"), stdin=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            raise AssertionError(f"member {name} did not start: {(home / f'{name}.log').read_text()[-2000:]}")
        self.url = str(json.loads(line)["url"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def create_member(home: Path, name: str, chain: ChainContext, chain_settings: Settings) -> MemberFile:
    """`provenance oracle committee init --member NAME` run by the member in its own folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env.update(
        PROVENANCE_DATA_DIR=str(chain_settings.data_dir),  # the deployment's manifest, to pin chain and oracle
        PROVENANCE_RPC_URL=chain.client.rpc_url,
    )
    folder = home / "members" / name
    result = subprocess.run(
        [str(VENV_BIN / "provenance"), "oracle", "committee", "init", "--member", name, "--dir", str(folder)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    public = json.loads(result.stdout.strip().splitlines()[-1])
    keys = MemberFile.load(folder)
    assert public["address"] == keys.keys.address and "ecdsa_key" not in public and "bls_secret" not in public
    return keys


@pytest.fixture(scope="module")
def homes(chain: ChainContext, chain_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each member's own data directory with its key, registered on chain by the admin; quorum 2."""
    admin = oracle_of_chain(chain).as_account(chain.client.for_role("admin"))
    result = {}
    for name in NAMES:
        home = tmp_path_factory.mktemp(f"member-{name}")
        keys = create_member(home, name, chain, chain_settings)
        assert register_member(admin, keys)
        result[name] = home
    admin.set_quorum(QUORUM)
    return result


def oracle_of_chain(chain: ChainContext) -> SensorOracleContract:
    return SensorOracleContract(chain.client, chain.deployment, chain.artifacts)


@pytest.fixture
def members(homes: dict[str, Path], chain: ChainContext) -> Iterator[dict[str, MemberProcess]]:
    """All three members running, each its own process."""
    running: dict[str, MemberProcess] = {}
    try:
        for name, home in homes.items():
            running[name] = MemberProcess(home, name, chain.client.rpc_url)
        yield running
    finally:
        for process in running.values():
            process.stop()


def readings_at(services: Services, sensor: Sensor, values: list[int], start: int) -> list[str]:
    ids = []
    for offset, value in enumerate(values):
        sensor.sequence += 1
        reading = Reading(sensor.device_id, sensor.sequence, start + offset, "temperature", value, 2, "Cel")
        ids.append(
            services.ingestor.ingest(reading, sensor.key.sign(reading.digest(services.ledger.domain))).reading.id
        )
    return ids


def mean_rule(services: Services, window: int) -> tuple[bytes, Sensor, int, int]:
    """An item with a sensor and a rule on the mean temperature over `window` s (breach above 8 °C)."""
    item_id, sensor = shipment(services)
    rule_id, receipt = oracle_of(services).add_rule(
        RuleSpec(
            item_id, "temperature", unit="Cel", kind=RuleKind.AGGREGATE, comparison=Comparison.ABOVE, upper=800,
            scale=2, min_readings=2, min_duration=window, actions=Action.MARK_OUT_OF_COMPLIANCE,
        )
    )  # fmt: skip
    created = int(services.ledger.client.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    return item_id, sensor, rule_id, created


def with_members(services: Services, urls: list[str]) -> None:
    services.settings = services.settings.model_copy(update={"oracle_members": ",".join(urls), "member_timeout": 60})


def test_committee_reaches_quorum_with_two_of_three_members_up_and_fires(
    services: Services, members: dict[str, MemberProcess]
) -> None:
    members["west"].stop()  # one member down: two of three still make the quorum of two
    with_members(services, [m.url for m in members.values()])
    item_id, sensor, rule_id, created = mean_rule(services, window=3)
    readings_at(services, sensor, [850, 900, 950, 1000], created + 1)
    services.batcher().run_once()  # four readings: one full batch, anchored
    daemon = OracleDaemon(services, report_dispatcher(services), name="coordinator", clock=lambda: created + 4.5)
    result = daemon.step()
    assert len(result.claimed) == 1 and result.queued == result.claimed
    report = ReportBook(services.engine).get(result.claimed[0])
    assert report is not None and report.status == "fired", report.last_error if report else None
    (event,) = fired_events(services, rule_id)
    assert (
        event["args"]["value"] == 925
        and event["args"]["submitter"] == submitter_for(services).oracle.client.operator.address
    )
    assert services.supply_chain().get_item(item_id).condition is Condition.OUT_OF_COMPLIANCE


def test_with_too_few_members_up_nothing_is_submitted(services: Services, members: dict[str, MemberProcess]) -> None:
    members["south"].stop()
    members["west"].stop()
    with_members(services, [m.url for m in members.values()])
    item_id, sensor, rule_id, created = mean_rule(services, window=3)
    readings_at(services, sensor, [900, 900, 900, 900], created + 1)
    services.batcher().run_once()
    daemon = OracleDaemon(services, report_dispatcher(services), name="short", clock=lambda: created + 4.5)
    result = daemon.step()
    assert len(result.queued) == 1
    report = ReportBook(services.engine).get(result.queued[0])
    assert report is not None and report.status == "queued"  # kept for a later attempt, not failed
    assert "1 of 2 member signatures" in (report.last_error or "") and "unreachable" in (report.last_error or "")
    assert fired_events(services, rule_id) == []
    assert services.supply_chain().get_item(item_id).condition is Condition.COMPLIANT


def signed_for(services: Services, reading_ids: list[str]) -> list[SignedReading]:
    return build_evidence(services, reading_ids)


def ask(
    member: MemberProcess, report: CommitteeReport, readings: list[SignedReading], scheme: str = "ecdsa"
) -> httpx.Response:
    return httpx.post(f"{member.url}/sign", json=sign_request(report, readings, scheme), timeout=60)


def test_a_member_checks_the_evidence_itself_and_refuses_what_the_chain_does_not_bear_out(
    services: Services, members: dict[str, MemberProcess]
) -> None:
    oracle = oracle_of(services)
    item_id, sensor, rule_id, created = mean_rule(services, window=3)
    ids = readings_at(services, sensor, [900, 950, 1000, 1050], created + 1)
    version = oracle.config_version()
    report = CommitteeReport(rule_id, sensor.device_id, 975, created + 1, created + 4, version)
    member = members["north"]

    # the readings exist and are signed, but no root covering them is anchored yet
    unanchored = [SignedReading(r.reading, r.signature, keccak(b"no such root"), []) for r in _unproven(services, ids)]
    refused = ask(member, report, unanchored)
    assert refused.status_code == 422 and refused.json()["code"] == "not-anchored", refused.text

    services.batcher().run_once()
    evidence = signed_for(services, ids)
    cases = {
        "value-mismatch": (replace(report, value=1200), evidence),
        "invalid-signature": (report, [replace(evidence[0], signature=evidence[1].signature), *evidence[1:]]),
        "not-consecutive": (report, [evidence[0], *evidence[2:]]),
        "stale-committee": (replace(report, config_version=version - 1), evidence),
        "invalid-report-time": (replace(report, observed_at=created + 3600), evidence),
        "window-too-short": (replace(report, window_start=created + 2), evidence[1:]),
        "unknown-rule": (replace(report, rule_id=10_000), evidence),
    }
    for code, (bad, readings) in cases.items():
        answer = ask(member, bad, readings)
        assert answer.status_code == 422 and answer.json()["code"] == code, (code, answer.text)
    # valid, anchored readings whose mean does not breach the rule
    _, calm, calm_rule, calm_created = mean_rule(services, window=3)
    calm_ids = readings_at(services, calm, [700, 750, 700, 750], calm_created + 1)
    services.batcher().run_once()
    calm_report = CommitteeReport(calm_rule, calm.device_id, 725, calm_created + 1, calm_created + 4, version)
    answer = ask(member, calm_report, signed_for(services, calm_ids))
    assert answer.status_code == 422 and answer.json()["code"] == "no-breach", answer.text
    # a device that is not the rule's item's: even with valid, anchored readings
    other_item, other_sensor = shipment(services)
    other_ids = readings_at(services, other_sensor, [900, 900, 900, 900], now(services) + 1)
    services.batcher().run_once()
    foreign = replace(report, device_id=other_sensor.device_id)
    answer = ask(member, foreign, signed_for(services, other_ids))
    assert answer.status_code == 422 and answer.json()["code"] == "device-not-attached"
    # the report the chain bears out is signed, in both schemes, over the digest the member computed
    for scheme in ("ecdsa", "bls"):
        answer = ask(member, report, evidence, scheme)
        assert answer.status_code == 200, answer.text
        assert answer.json()["digest"] == "0x" + oracle.committee_digest(report).hex()
    assert fired_events(services, rule_id) == []  # a member signs; it never submits
    del other_item


def _unproven(services: Services, ids: list[str]) -> list[SignedReading]:
    """The readings with their signatures, before any batch holds them."""
    from sqlmodel import Session, col, select

    from ledger_service.core.models import StoredReading
    from ledger_service.services.proofs import stored_to_reading

    with Session(services.engine) as session:
        rows = {r.id: r for r in session.exec(select(StoredReading).where(col(StoredReading.id).in_(ids)))}
    return [SignedReading(stored_to_reading(rows[i]), bytes.fromhex(rows[i].signature[2:]), bytes(32), []) for i in ids]


class Forger(BaseHTTPRequestHandler):
    """Answers every request with a signature made by a key that is not the member it names."""

    named = ""
    key = Account.create()
    oracle: SensorOracleContract

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        digest = self.oracle.committee_digest(CommitteeReport.from_json(body["report"]))  # anyone can
        signature = bytes(self.key.unsafe_sign_hash(digest).signature)
        data = json.dumps({"address": self.named, "signature": "0x" + signature.hex()}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


def test_the_coordinator_counts_only_signatures_it_can_check(
    services: Services, members: dict[str, MemberProcess], homes: dict[str, Path]
) -> None:
    """A forger at a member's URL answers in the name of a member (south) with another key's signature."""
    oracle = oracle_of(services)
    members["south"].stop()
    members["west"].stop()
    item_id, sensor, rule_id, created = mean_rule(services, window=3)
    ids = readings_at(services, sensor, [900, 900, 900, 900], created + 1)
    services.batcher().run_once()
    report = CommitteeReport(rule_id, sensor.device_id, 900, created + 1, created + 4, oracle.config_version())
    Forger.oracle = oracle
    Forger.named = MemberFile.load(homes["south"] / "members" / "south").keys.address
    server = ThreadingHTTPServer(("127.0.0.1", 0), Forger)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        coordinator = Coordinator([members["north"].url, f"http://127.0.0.1:{server.server_address[1]}"], timeout=60)
        with pytest.raises(QuorumNotReached, match="1 of 2") as info:
            coordinator.gather(oracle, report, signed_for(services, ids), "ecdsa")
        assert "not by the member it names" in str(info.value)
    finally:
        server.shutdown()
        server.server_close()
    assert fired_events(services, rule_id) == []
    assert services.supply_chain().get_item(item_id).condition is Condition.COMPLIANT


def test_no_file_holds_more_than_one_member_key(homes: dict[str, Path], chain_settings: Settings) -> None:
    secrets = {}
    for name, home in homes.items():
        keys = MemberFile.load(home / "members" / name)
        secrets[name] = (bytes(keys.keys.account.key).hex(), hex(keys.keys.bls_key.secret)[2:])
        mode = (home / "members" / name / "member.json").stat().st_mode & 0o777
        assert mode == 0o600, name
    roots = [*homes.values(), chain_settings.data_dir]
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or path.stat().st_size > 10_000_000:
                continue
            text = path.read_bytes().decode(errors="replace").lower()
            holders = [name for name, (ecdsa, blskey) in secrets.items() if ecdsa in text or blskey in text]
            assert len(holders) <= 1, (path, holders)
            if root == chain_settings.data_dir:
                assert holders == [], path  # the service holds no member's key


def test_member_cli_refuses_a_missing_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env.update(PROVENANCE_DATA_DIR=str(tmp_path), PROVENANCE_RPC_URL="http://127.0.0.1:9")
    result = subprocess.run(
        [sys.executable, "-m", "ledger_service.app.cli", "oracle", "--member", "nobody"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and "no member key" in result.stderr
