"""Completeness proofs over a notary of their own: a device owner sees every sequence the log holds
for the device and every gap; an acknowledged reading the operator drops shows up as a gap; a
proof that hides a batch, claims the device absent where it is present, leaves out a reading, or
rests on a checkpoint another key signed, fails."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from indexer.runner import ChainIndexer, target_of
from ledger_service.app.api.app import create_app
from ledger_service.app.cli import app as cli_app
from ledger_service.core import tlog
from ledger_service.core.chain.client import connect
from ledger_service.core.chain.deploy import deploy
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.compiler import Artifact
from ledger_service.core.device_index import Entry, build_entries, commitment, unpack
from ledger_service.core.enums import KeyType
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.keys import DeviceKey
from ledger_service.core.merkle import MerkleTree
from ledger_service.core.readings import reading_leaf
from ledger_service.core.signed_note import checkpoint_body, open_note, sign_note, verifier_key
from ledger_service.services.completeness import CompletenessProofs
from ledger_service.services.completeness_check import check_completeness
from ledger_service.services.container import Services
from ledger_service.services.content import cid_of
from ledger_service.services.monitor import DeviceMonitor
from ledger_service.services.payload_audit import audit_payload, registry_keys
from ledger_service.services.transparency_log import LeafFields, decode_leaf_data
from ledger_service.services.verification import Check
from tests.utils.factories import Device, new_device, signed_body
from tests.utils.problems import assert_problem
from tests.utils.service import serving
from tests.utils.settings import make_settings


@dataclass
class Own:
    services: Services
    api: TestClient
    artifacts: dict[str, Artifact]
    owner: Device  # the device whose record is proven
    other: Device

    def send(self, device: Device, count: int) -> list[dict[str, Any]]:
        answers = [self.api.post("/v1/readings", json=signed_body(device, self.services.ledger.domain))
                   for _ in range(count)]  # fmt: skip
        assert all(a.status_code == 201 for a in answers), answers[0].text
        return [a.json() for a in answers]

    def seal_and_index(self) -> None:
        batcher = self.services.batcher()
        batcher.batch_age = 0.0
        batcher.run_once()
        ledger = self.services.ledger
        indexer = ChainIndexer(
            self.services.engine, ledger.client.rpc_url, target_of(ledger.deployment, self.artifacts)
        )
        try:
            indexer.backfill()
        finally:
            indexer.close()

    def proof(self, device: Device, since: int = 0) -> dict[str, Any]:
        answer = self.api.get(f"/v1/devices/0x{device.device_id.hex()}/completeness", params={"from": since})
        assert answer.status_code == 200, answer.text
        proof: dict[str, Any] = answer.json()
        return proof


@pytest.fixture(scope="module")
def own(anvil: ManagedAnvil, artifacts: dict[str, Artifact], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
    """A service over a notary of its own, so that every batch of its log is its own; three batches:
    the owner's sequences 1-4, another device's alone, the owner's 5-6 with the other's."""
    data_dir = tmp_path_factory.mktemp("completeness")
    settings = make_settings(data_dir, database_url=f"sqlite:///{data_dir / 'p.db'}", batch_size=100, batch_age=60.0)
    client = connect(settings, anvil.url)
    deployment, _ = deploy(client, artifacts, settings.manifest_path)
    services = Services.build(settings, client, deployment, artifacts)
    with TestClient(create_app(services)) as api:
        setup = Own(services, api, artifacts, new_device(services.ledger), new_device(services.ledger))
        setup.send(setup.owner, 4)
        setup.seal_and_index()
        setup.send(setup.other, 2)
        setup.seal_and_index()
        setup.send(setup.owner, 2)
        setup.send(setup.other, 1)
        setup.seal_and_index()
        yield setup
    services.close()


def _key(own: Own) -> str:
    return own.services.transparency_log.verifier


def _device(device: Device) -> str:
    return "0x" + device.device_id.hex()


def test_the_owner_sees_every_sequence_in_every_batch_and_where_it_is_absent(own: Own) -> None:
    report = check_completeness(own.proof(own.owner), _key(own), _device(own.owner))
    assert report.ok, [(c.name, c.detail) for c in report.checks]
    assert report.sequences == {0: [1, 2, 3, 4, 5, 6]} and report.gaps() == {}
    assert report.absent_from == 1 and report.start == 0 and report.checkpoint is not None
    assert [r["batch"] for r in report.readings] == [0, 0, 0, 0, 2, 2]
    other = check_completeness(own.proof(own.other), _key(own), _device(own.other))
    assert other.ok and other.sequences == {0: [1, 2, 3]} and other.absent_from == 1
    later = check_completeness(own.proof(own.owner, since=2**40), _key(own), _device(own.owner))
    assert later.ok and later.checkpoint is not None and later.start == later.checkpoint.size  # nothing that late


def test_an_acknowledged_reading_the_operator_drops_is_reported_as_a_gap(own: Own) -> None:
    acknowledged = own.send(own.owner, 3)  # sequences 7, 8, 9: each answered 201
    with own.services.engine.begin() as conn:  # the operator drops the middle one before sealing
        conn.execute(text("DELETE FROM reading WHERE id = :id"), {"id": acknowledged[1]["id"]})
    own.seal_and_index()
    report = check_completeness(own.proof(own.owner), _key(own), _device(own.owner))
    assert report.ok  # a valid proof: what the log holds is shown whole, and it lacks sequence 8
    assert report.sequences[0][-2:] == [7, 9] and report.gaps() == {0: [(8, 8)]}


def _tampered(proof: dict[str, Any], change: Any) -> dict[str, Any]:
    copied = copy.deepcopy(proof)
    change(copied)
    return copied


def _claim_absent(proof: dict[str, Any], own: Own) -> None:
    """Batch 0 shown without the owner: its neighbours in another batch's index would be needed."""
    batch = proof["batches"][0]
    batch["run"]["entries"] = [e for e in batch["run"]["entries"] if e["entry"][2:66] != own.owner.device_id.hex()]
    batch["readings"] = []


def test_a_proof_that_hides_a_batch_claims_absence_or_drops_a_reading_fails(own: Own) -> None:
    proof = own.proof(own.owner)
    device = _device(own.owner)

    def hide_batch(p: dict[str, Any]) -> None:
        del p["log"]["leaves"][1], p["batches"][1]
        for later in p["batches"][1:]:
            later["leaf_index"] -= 1

    def drop_reading(p: dict[str, Any]) -> None:
        p["batches"][0]["readings"].pop(1)

    def bent_index(p: dict[str, Any]) -> None:
        p["batches"][0]["index_root"] = "0x" + "11" * 32

    def fake_reading(p: dict[str, Any]) -> None:  # a reading made up to fill a gap: not a leaf of the batch
        reading = p["batches"][0]["readings"][0]
        reading[3] = "0x" + "22" * 32

    cases = {
        "log-range": hide_batch,
        "device-index": lambda p: _claim_absent(p, own),
    }
    for failing, change in cases.items():
        report = check_completeness(_tampered(proof, change), _key(own), device)
        assert [c.name for c in report.checks if not c.ok] == [failing], failing
    for change in (drop_reading, bent_index, fake_reading):
        report = check_completeness(_tampered(proof, change), _key(own), device)
        assert [c.name for c in report.checks if not c.ok] == ["device-index"]
    assert not check_completeness(proof, _key(own), _device(own.other)).ok  # another device's proof


def test_a_proof_from_before_the_log_with_a_made_up_first_batch_fails(own: Own) -> None:
    """A start below zero once let a made-up leaf and batch ride in front of the real ones."""
    proof = own.proof(own.owner)
    made_up = {**copy.deepcopy(proof["batches"][0]), "leaf_index": -1}
    leaves = [proof["log"]["leaves"][0], *proof["log"]["leaves"]]
    forged = _tampered(proof, lambda p: p["log"].update(start=-1, prefix=["0x" + "33" * 32], leaves=leaves))
    forged["batches"] = [made_up, *forged["batches"]]
    report = check_completeness(forged, _key(own), _device(own.owner))
    assert [c.name for c in report.checks if not c.ok] == ["log-range"]
    renumbered = _tampered(proof, lambda p: p["log"]["leaves"].reverse())  # leaves out of their places
    assert not check_completeness(renumbered, _key(own), _device(own.owner)).ok
    assert not check_completeness(proof, _key(own), "not hex").ok  # a bad device id is a failed check


def test_a_proof_that_starts_later_than_asked_leaves_the_owners_first_sequences_as_a_gap(own: Own) -> None:
    """Covering from batch 1 with batch 0 summed up is a valid proof of less: the owner who knows
    its first sequence sees the ones before the cover as missing, never as absent from the record."""
    proof = own.proof(own.owner)
    prefix = ["0x" + h.hex() for h in tlog.prefix_nodes(own.services.transparency_log.tree().levels, 1)]
    shifted = _tampered(proof, lambda p: p["log"].update(start=1, prefix=prefix, leaves=p["log"]["leaves"][1:]))
    del shifted["batches"][0]
    report = check_completeness(shifted, _key(own), _device(own.owner))
    assert report.ok and report.start == 1
    assert report.gaps({0: 1})[0][0] == (1, 4) and report.gaps({5: 1}) == {**report.gaps(), 5: [(1, None)]}


def test_a_checkpoint_signed_by_another_key_fails(own: Own) -> None:
    proof = own.proof(own.owner)
    note = proof["log"]["checkpoint"]
    body = note.split("\n\n")[0] + "\n"
    other_key = sign_note(body, "provenance-ledger", Ed25519PrivateKey.generate())
    forged = _tampered(proof, lambda p: p["log"].update(checkpoint=other_key))
    report = check_completeness(forged, _key(own), _device(own.owner))
    assert [c.name for c in report.checks if not c.ok] == ["log-checkpoint"]
    assert open_note(note, _key(own)).size == len(proof["log"]["leaves"])


def test_a_proof_over_too_many_batches_or_batches_without_an_index_is_refused(own: Own) -> None:
    with pytest.raises(InvalidFilter, match="at most 2 per proof"):
        CompletenessProofs(own.services.engine, own.services.transparency_log, max_batches=2).prove(
            _device(own.owner), 0
        )
    with own.services.engine.begin() as conn:
        kept = conn.execute(text("SELECT id, device_index FROM batch ORDER BY id LIMIT 1")).one()
        conn.execute(text("UPDATE batch SET device_index = NULL WHERE id = :id"), {"id": kept.id})
    try:
        assert_problem(own.api.get(f"/v1/devices/{_device(own.owner)}/completeness"), 422, "invalid-filter")
    finally:
        with own.services.engine.begin() as conn:
            conn.execute(
                text("UPDATE batch SET device_index = :d WHERE id = :id"), {"d": kept.device_index, "id": kept.id}
            )
    assert len(unpack(kept.device_index)) == 1


def _fetchers(own: Own) -> tuple[Any, Any]:
    def proof(leaf: int) -> dict[str, Any]:
        answer = own.api.get(f"/v1/devices/{_device(own.owner)}/completeness", params={"leaf": leaf})
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def consistency(old: int, new: int) -> list[bytes]:
        answer = own.api.get("/v1/log/proof/consistency", params={"from": old, "to": new}).json()
        return [bytes.fromhex(p[2:]) for p in answer["proof"]]

    return proof, consistency


def test_the_monitor_alerts_on_a_dropped_reading_a_fork_a_bad_proof_and_an_unexpected_key(
    own: Own, tmp_path: Path
) -> None:
    proof, consistency = _fetchers(own)
    watcher = DeviceMonitor(tmp_path / "m", _device(own.owner), _key(own))
    known_gaps = check_completeness(proof(0), _key(own), _device(own.owner)).gaps()  # an earlier test's drops
    first = watcher.look(proof, consistency)
    assert [a.kind for a in first.alerts] == ["gap"] * len(known_gaps.get(0, [])) and first.sequences[0] >= 6
    assert watcher.look(proof, consistency).alerts == []  # nothing new, nothing old alerted again
    sent = own.send(own.owner, 3)
    with own.services.engine.begin() as conn:
        conn.execute(text("DELETE FROM reading WHERE id = :id"), {"id": sent[1]["id"]})
    own.seal_and_index()
    dropped = watcher.look(proof, consistency)
    missing = first.sequences[0] + 2
    assert [(a.kind, a.detail) for a in dropped.alerts] == [("gap", f"key 0: sequence {missing} missing from the log")]
    assert watcher.look(proof, consistency).alerts == []  # alerted once
    state = json.loads((tmp_path / "m" / "monitor.json").read_text())
    checkpoint = open_note(state["note"], _key(own))
    fork = sign_note(checkpoint_body(checkpoint.origin, checkpoint.size, b"\x07" * 32), "provenance-ledger",
                     own.services.transparency_log.key)  # fmt: skip
    (tmp_path / "m" / "monitor.json").write_text(json.dumps({**state, "note": fork}))
    own.send(own.owner, 1)
    own.seal_and_index()
    assert [a.kind for a in watcher.look(proof, consistency).alerts] == ["fork"]
    assert [a.kind for a in watcher.look(lambda leaf: {**proof(leaf), "device_id": "0x" + "00" * 32},
                                         consistency).alerts] == ["invalid-proof"]  # fmt: skip
    assert [a.kind for a in watcher.look(lambda leaf: proof(leaf + 1), consistency).alerts] == ["skipped"]
    ahead = json.loads((tmp_path / "m" / "monitor.json").read_text())
    (tmp_path / "m" / "monitor.json").write_text(json.dumps({**ahead, "size": ahead["size"] + 5}))
    assert [a.kind for a in watcher.look(proof, consistency).alerts] == ["rollback"]  # a smaller log than seen
    strict = DeviceMonitor(tmp_path / "strict", _device(own.owner), _key(own), expected_keys={1})
    assert "unexpected-key" in {a.kind for a in strict.look(proof, consistency).alerts}  # and the gaps, afresh


def test_verify_completeness_and_monitor_from_the_shell(own: Own, tmp_path: Path) -> None:
    saved = tmp_path / "completeness.json"
    saved.write_text(json.dumps(own.proof(own.owner)))
    runner = CliRunner()
    args = ["verify", str(saved), "--completeness", "--log-key", _key(own)]
    checked = runner.invoke(cli_app, args)
    assert checked.exit_code == 0, checked.output
    assert "the proof verifies" in checked.output and "gaps" in checked.output  # the dropped readings above
    stranger = verifier_key("provenance-ledger", Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    refused = runner.invoke(cli_app, ["verify", str(saved), "--completeness", "--log-key", stranger])
    assert refused.exit_code == 1 and "log-checkpoint" in refused.output
    unpinned = runner.invoke(cli_app, ["verify", str(saved), "--completeness"])
    assert unpinned.exit_code == 2 and "no log key pinned" in unpinned.output
    with serving(own.api.app) as port:
        watch = ["monitor", "--device", _device(own.owner), "--key", _key(own), "--state", str(tmp_path / "w"),
                 "--url", f"http://127.0.0.1:{port}", "--once"]  # fmt: skip
        first = runner.invoke(cli_app, watch)  # the gaps the tests above made, alerted once
        assert first.exit_code == 2 and "ALERT gap: key 0: sequence" in first.output, first.output
        looked = runner.invoke(cli_app, watch)
        assert looked.exit_code == 0 and "ok at size" in looked.output, looked.output
        fresh = [*watch[:5], "--state", str(tmp_path / "w2"), *watch[7:-1]]
        other = runner.invoke(cli_app, [*fresh, "--expect-key", "3", "--once"])
        assert other.exit_code == 2 and "ALERT unexpected-key" in other.output


def _payload_and_leaf(own: Own, index: int = 0) -> tuple[dict[str, Any], LeafFields]:
    leaf = decode_leaf_data(own.services.transparency_log.tree().data[index])
    answer = own.api.get(f"/v1/content/{leaf.content_id}")
    assert answer.status_code == 200 and cid_of(answer.content) == leaf.content_id
    payload: dict[str, Any] = json.loads(answer.content)
    return payload, leaf


def _sealed_as(payload: dict[str, Any], leaf: LeafFields, leaves: list[bytes]) -> tuple[bytes, LeafFields]:
    """What an operator who anchored the tree of `leaves` and published `payload` would show."""
    root = "0x" + MerkleTree(leaves).root.hex()
    data = json.dumps({**payload, "root": root}, sort_keys=True, separators=(",", ":")).encode()
    return data, replace(leaf, root=root, content_id=cid_of(data))


def test_a_batch_payload_audit_passes_an_honest_batch_and_catches_what_sealing_could_fake(own: Own) -> None:
    domain = own.services.ledger.domain
    payload, leaf = _payload_and_leaf(own)
    honest = audit_payload(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode(), leaf, domain)
    assert [c.name for c in honest if c.ok] == ["payload-cid", "payload-readings", "payload-tree", "payload-index"]
    ids = [bytes.fromhex(r["id"][2:]) for r in payload["readings"]]
    entries = [Entry.decode(bytes.fromhex(e[2:])) for e in payload["device_index"]]
    # Two index leaves in the anchored tree (one without the owner), the payload naming one of them.
    second = commitment([replace(entries[0], device_id=b"\xff" * 32)])
    two = _sealed_as(payload, leaf, [*ids, commitment(entries), second])
    # An index that leaves the owner out while its readings stay in the tree, consistently sealed.
    hidden = {**payload, "device_index": []}
    left_out = _sealed_as(hidden, leaf, [*ids, commitment([])])
    # A made-up reading leaf in the tree, listed in the payload with a signature it does not have.
    fake = {**payload["readings"][0], "id": "0x" + "44" * 32, "sequence": 999}
    made_up = _sealed_as({**payload, "readings": [*payload["readings"], fake]}, leaf,
                         [*ids, bytes.fromhex("44" * 32), commitment(entries)])  # fmt: skip
    cases = {"payload-tree": two, "payload-index": left_out, "payload-readings": made_up}
    for failing, (data, claimed) in cases.items():
        assert [c.name for c in audit_payload(data, claimed, domain) if not c.ok] == [failing], failing
    elsewhere = audit_payload(b"{}", leaf, domain)
    assert [c.name for c in elsewhere if not c.ok] == ["payload-cid"]
    assert own.api.get("/v1/content/bafkrei" + "a" * 52).status_code == 404


def test_verify_completeness_audits_every_covered_payload_from_the_shell(own: Own, tmp_path: Path) -> None:
    saved = tmp_path / "completeness.json"
    saved.write_text(json.dumps(own.proof(own.owner)))
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(own.api.get("/.well-known/provenance-ledger.json").json()))
    with serving(own.api.app) as port:
        args = ["verify", str(saved), "--completeness", "--trust", str(trust), "--payloads", f"http://127.0.0.1:{port}",
                "--rpc", own.services.ledger.client.rpc_url]  # fmt: skip
        audited = CliRunner().invoke(cli_app, args)
    assert audited.exit_code == 0, audited.output
    assert "batch payloads audited" in audited.output and "payload-index" in audited.output


def _impostor_payload(own: Own, payload: dict[str, Any], leaf: LeafFields) -> tuple[bytes, LeafFields]:
    """A batch sealed with one more reading of the owner's device, signed with the operator's own key."""
    impostor = Device(DeviceKey.generate(KeyType.SECP256K1), own.owner.device_id, sequence=998)
    reading = impostor.reading(timestamp=payload["readings"][0]["timestamp"])
    signature = impostor.sign(reading, own.services.ledger.domain)
    digest = reading.digest(own.services.ledger.domain)
    made = {**payload["readings"][0], "id": "0x" + reading_leaf(digest, signature).hex(),
            "sequence": reading.sequence, "value": str(reading.value), "signature": "0x" + signature.hex(),
            "signer": impostor.key.public_key.signer.lower() if impostor.key.public_key.signer else ""}  # fmt: skip
    readings = [*payload["readings"], made]
    rows = [SimpleNamespace(**{k: r[k] for k in ("device_id", "key_index", "sequence", "timestamp", "id")})
            for r in readings]  # fmt: skip
    index = build_entries(rows)
    sealed = {**payload, "readings": readings, "device_index": ["0x" + e.encode().hex() for e in index]}
    data, claimed = _sealed_as(sealed, leaf, [*(bytes.fromhex(r["id"][2:]) for r in readings), commitment(index)])
    return data, replace(claimed, reading_count=len(readings))


def test_the_payload_audit_with_the_registry_catches_a_reading_the_operator_signed_itself(own: Own) -> None:
    domain = own.services.ledger.domain
    payload, leaf = _payload_and_leaf(own)
    data, claimed = _impostor_payload(own, payload, leaf)
    assert all(c.ok for c in audit_payload(data, claimed, domain))  # a signature by the key it names...
    ledger = own.services.ledger
    keys = registry_keys(ledger.client.w3, ledger.deployment.address_of("DeviceRegistry"))
    with_registry = audit_payload(data, claimed, domain, keys)  # ...but not the device's registered key
    assert [c.name for c in with_registry if not c.ok] == ["payload-readings"]
    assert "is not the registry's key" in with_registry[-1].detail
    honest = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    assert all(c.ok for c in audit_payload(honest, leaf, domain, keys))
    repeated = [*payload["readings"], payload["readings"][0]]
    twice = _sealed_as({**payload, "readings": repeated}, leaf, [bytes.fromhex(r["id"][2:]) for r in repeated])
    assert [c.name for c in audit_payload(*twice, domain) if not c.ok] == ["payload-readings"]
    miscounted = replace(leaf, reading_count=leaf.reading_count + 1)
    assert [c.name for c in audit_payload(honest, miscounted, domain) if not c.ok] == ["payload-tree"]


def test_the_monitor_with_a_payload_audit_alerts_on_a_forged_batch_and_keeps_its_state(
    own: Own, tmp_path: Path
) -> None:
    proof, consistency = _fetchers(own)
    watcher = DeviceMonitor(tmp_path / "m", _device(own.owner), _key(own))
    refuse = lambda data: [Check("payload-readings", False, "a reading signed by another key")]  # noqa: E731
    look = watcher.look(proof, consistency, refuse)
    assert [a.kind for a in look.alerts] == ["forged-batch"] and not (tmp_path / "m" / "monitor.json").exists()
    domain = own.services.ledger.domain

    def honest(data: bytes) -> list[Check]:
        found = decode_leaf_data(data)
        return audit_payload(own.api.get(f"/v1/content/{found.content_id}").content, found, domain)

    assert "forged-batch" not in {a.kind for a in watcher.look(proof, consistency, honest).alerts}
