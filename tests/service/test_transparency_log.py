"""The transparency log over the session's anvil: the checkpoint verifies with the pinned key and
its root is the one anyone computes from the chain's BatchAnchored events; inclusion proofs show a
batch in it; a later checkpoint is proven consistent with an earlier one, which stays served;
tampered or foreign notes are refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger_service.core import tlog
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.signed_note import (
    Checkpoint,
    checkpoint_body,
    cosigned_at,
    open_note,
    sign_note,
    verifier_key,
)
from ledger_service.services.log_audit import audit
from ledger_service.services.log_chain import ChainLog, check_against_chain, check_chain, read_chain_log
from ledger_service.services.transparency_log import leaf_data
from ledger_service.services.trust import anchor_from_document
from ledger_service.services.verify import verify_bundle
from ledger_service.services.witness import Witness
from tests.utils.event_flow import Flow, index
from tests.utils.factories import new_device, signed_body
from tests.utils.problems import assert_problem


def chain_leaves(flow: Flow) -> list[bytes]:
    """The log's leaf hashes, computed from the chain's events without the service."""
    notary = flow.services.ledger.notary
    logs = notary.events.BatchAnchored.get_logs(from_block=0)
    ordered = sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"]))
    return [
        tlog.leaf_hash(leaf_data(a["batchId"], "0x" + a["root"].hex(), a["readingCount"], a["firstTimestamp"],
                                 a["lastTimestamp"], a["contentId"]))
        for a in (log["args"] for log in ordered)
    ]  # fmt: skip


def latest(flow: Flow) -> tuple[str, Any]:
    verifier = flow.api.get("/v1/log/key").json()["verifier_key"]
    note = flow.api.get("/v1/log/checkpoint").text
    return note, open_note(note, verifier)


def anchor_one_more(flow: Flow) -> None:
    device = new_device(flow.services.ledger)
    assert flow.api.post("/v1/readings", json=signed_body(device, flow.services.ledger.domain)).status_code == 201
    batcher = flow.services.batcher()
    batcher.batch_age = 0.0
    batcher.run_once()
    index(flow.services, flow.chain)


def test_the_checkpoint_verifies_and_its_root_is_the_chains(flow: Flow) -> None:
    note, checkpoint = latest(flow)
    leaves = chain_leaves(flow)
    assert checkpoint.size == len(leaves) >= 2 and checkpoint.root == tlog.root(leaves)
    assert checkpoint.origin.endswith(flow.services.ledger.deployment.address_of("DataNotary").lower())
    assert note.splitlines()[3] == "" and note.splitlines()[4].startswith("— provenance-ledger ")


def test_an_inclusion_proof_shows_a_batch_in_the_log(flow: Flow) -> None:
    _, checkpoint = latest(flow)
    batch_root = flow.api.get(f"/v1/readings/{flow.readings[0]}").json()["batch"]["root"]
    found = None
    for position in range(checkpoint.size):
        answer = flow.api.get("/v1/log/proof/inclusion", params={"index": position, "size": checkpoint.size}).json()
        if answer["leaf_data"][2 + 18 : 2 + 18 + 64] == batch_root.removeprefix("0x"):
            found = answer
            break
    assert found is not None, "the flow's batch is not in the log"
    data = bytes.fromhex(found["leaf_data"][2:])
    proof = [bytes.fromhex(p[2:]) for p in found["proof"]]
    assert tlog.verify_inclusion(tlog.leaf_hash(data), found["leaf_index"], checkpoint.size, proof, checkpoint.root)
    assert not tlog.verify_inclusion(
        tlog.leaf_hash(data + b"x"), found["leaf_index"], checkpoint.size, proof, checkpoint.root
    )


def test_a_later_checkpoint_is_consistent_with_an_earlier_one_which_stays_served(flow: Flow) -> None:
    old_note, old = latest(flow)
    anchor_one_more(flow)
    _, new = latest(flow)
    assert new.size == old.size + 1
    answer = flow.api.get("/v1/log/proof/consistency", params={"from": old.size, "to": new.size}).json()
    proof = [bytes.fromhex(p[2:]) for p in answer["proof"]]
    assert tlog.verify_consistency(old.size, new.size, old.root, new.root, proof)
    assert flow.api.get(f"/v1/log/checkpoints/{old.size}").text == old_note


def test_foreign_or_tampered_notes_are_refused(flow: Flow) -> None:
    note, checkpoint = latest(flow)
    verifier = flow.api.get("/v1/log/key").json()["verifier_key"]
    other = Ed25519PrivateKey.generate()
    forged = sign_note(
        checkpoint_body(checkpoint.origin, checkpoint.size + 1, checkpoint.root), "provenance-ledger", other
    )
    with pytest.raises(InvalidFilter):
        open_note(forged, verifier)  # the right name, another key
    with pytest.raises(InvalidFilter):
        open_note(note.replace(f"\n{checkpoint.size}\n", f"\n{checkpoint.size + 1}\n"), verifier)
    with pytest.raises(InvalidFilter):
        open_note(note, verifier_key("provenance-ledger", other.public_key().public_bytes_raw()))


def test_proofs_out_of_the_log_are_refused(flow: Flow) -> None:
    _, checkpoint = latest(flow)
    size = checkpoint.size
    assert_problem(flow.api.get("/v1/log/proof/inclusion", params={"index": size, "size": size}), 422, "invalid-filter")
    assert_problem(
        flow.api.get("/v1/log/proof/inclusion", params={"index": 0, "size": size + 1}), 422, "invalid-filter"
    )
    assert_problem(
        flow.api.get("/v1/log/proof/consistency", params={"from": size, "to": size + 1}), 422, "invalid-filter"
    )
    assert_problem(flow.api.get("/v1/log/checkpoints/999999"), 404, "not-found")


def _fetch(flow: Flow) -> Any:
    def fetch(old: int, new: int) -> list[bytes]:
        answer = flow.api.get("/v1/log/proof/consistency", params={"from": old, "to": new}).json()
        return [bytes.fromhex(p[2:]) for p in answer["proof"]]

    return fetch


def test_an_audit_passes_an_honest_history_and_catches_a_fork_and_a_rewrite(flow: Flow) -> None:
    verifier = flow.api.get("/v1/log/key").json()["verifier_key"]
    old_note, old = latest(flow)
    anchor_one_more(flow)
    new_note, new = latest(flow)
    honest = audit([new_note, old_note], verifier, _fetch(flow))
    assert all(check.ok for check in honest) and len(honest) == 4
    log_key = flow.services.transparency_log.key  # the operator's own key: a dishonest operator
    other_root = tlog.root([tlog.leaf_hash(b"a history shown to someone else")] * new.size)
    fork = sign_note(checkpoint_body(new.origin, new.size, other_root), "provenance-ledger", log_key)
    forked = audit([old_note, new_note, fork], verifier, _fetch(flow))
    assert [c.what for c in forked if not c.ok] == [f"one tree of size {new.size}"]
    rewritten = sign_note(checkpoint_body(new.origin, new.size + 1, other_root), "provenance-ledger", log_key)
    caught = audit([new_note, rewritten], verifier, lambda a, b: [])
    assert [c.what for c in caught if not c.ok] == [f"size {new.size} is a prefix of size {new.size + 1}"]
    elsewhere = verifier_key("provenance-ledger", Ed25519PrivateKey.generate().public_key().public_bytes_raw())
    stranger = audit([new_note], elsewhere, _fetch(flow))
    assert not stranger[0].ok  # a key other than the pinned one signed it


def test_a_witness_cosigns_what_extends_its_last_and_raises_an_alarm_on_a_fork_or_rollback(
    flow: Flow, tmp_path: Path
) -> None:
    verifier = flow.api.get("/v1/log/key").json()["verifier_key"]
    watcher = Witness(tmp_path / "witness", "witness-1", verifier)
    old_note, old = latest(flow)
    first = watcher.observe(old_note, _fetch(flow))
    assert first.status == "cosigned" and cosigned_at(first.note, watcher.verifier) > 0
    assert open_note(first.note, verifier) == old  # the log's signature still verifies beside the witness's
    assert watcher.observe(old_note, _fetch(flow)).status == "unchanged"
    anchor_one_more(flow)
    new_note, new = latest(flow)
    assert watcher.observe(new_note, _fetch(flow)).status == "cosigned"
    log_key = flow.services.transparency_log.key
    other = tlog.root([tlog.leaf_hash(b"elsewhere")] * (new.size + 2))
    fork = sign_note(checkpoint_body(new.origin, new.size, other), "provenance-ledger", log_key)
    rewrite = sign_note(checkpoint_body(new.origin, new.size + 2, other), "provenance-ledger", log_key)
    assert watcher.observe(fork, _fetch(flow)).status == "fork"
    assert watcher.observe(old_note, _fetch(flow)).status == "rollback"
    assert watcher.observe(rewrite, lambda a, b: []).status == "inconsistent"
    assert (
        watcher.observe(new_note.replace("provenance-ledger", "someone-else"), _fetch(flow)).status == "bad-signature"
    )
    assert all(watcher.observe(n, _fetch(flow)).alarm for n in (fork, rewrite))
    assert open_note((tmp_path / "witness" / "last.note").read_text(), verifier) == new  # alarms changed nothing
    with pytest.raises(InvalidFilter):
        cosigned_at(new_note, watcher.verifier)  # not cosigned: the raw note


def _chain(flow: Flow) -> ChainLog:
    ledger = flow.services.ledger
    return read_chain_log(ledger.client.w3, ledger.deployment.address_of("DataNotary"))


def test_the_contracts_log_head_is_the_root_of_its_events_and_of_the_services_checkpoint(flow: Flow) -> None:
    _, checkpoint = latest(flow)
    chain = _chain(flow)
    assert chain.size >= checkpoint.size >= 2
    assert chain.leaves[: checkpoint.size] == chain_leaves(flow)[: checkpoint.size]
    assert check_chain(chain).ok
    assert [c.ok for c in check_against_chain([checkpoint], chain)] == [True]
    anchor_one_more(flow)  # the contract grew the head itself: one more leaf, the old head a prefix of it
    grown = _chain(flow)
    assert grown.size == chain.size + 1 and check_chain(grown).ok
    assert tlog.verify_consistency(chain.size, grown.size, chain.root, grown.root,
                                   tlog.consistency_proof(grown.leaves, chain.size))  # fmt: skip


def test_checkpoints_the_operator_signs_for_another_history_are_caught_against_the_chain(flow: Flow) -> None:
    _, honest = latest(flow)
    chain = _chain(flow)
    log_key = flow.services.transparency_log.key  # the operator's own key: a dishonest operator
    leaves = chain.leaves[: honest.size]

    def signed(size: int, root: bytes) -> Checkpoint:
        return Checkpoint(honest.origin, size, root)  # what open_note gives for a note the operator signed

    left_out = signed(honest.size - 1, tlog.root(leaves[:-2] + leaves[-1:]))  # a batch left out of the log
    rewritten = signed(honest.size, tlog.root([*leaves[:-1], tlog.leaf_hash(b"another batch")]))
    ahead = signed(chain.size + 1, tlog.root([*chain.leaves, tlog.leaf_hash(b"not anchored")]))
    checks = check_against_chain([honest, left_out, rewritten, ahead], chain)
    verdicts = {(c.what.split()[3], c.ok) for c in checks}
    assert verdicts == {(str(honest.size), True), (str(honest.size), False), (str(honest.size - 1), False),
                        (str(chain.size + 1), False)}  # fmt: skip
    note = sign_note(checkpoint_body(honest.origin, rewritten.size, rewritten.root), "provenance-ledger", log_key)
    assert open_note(note, flow.api.get("/v1/log/key").json()["verifier_key"]) == rewritten  # its signature is valid


def test_an_rpc_endpoint_that_hides_an_event_is_caught_by_the_contracts_head(flow: Flow) -> None:
    chain = _chain(flow)
    hidden = ChainLog(chain.block, chain.size, chain.root, chain.leaves[:1] + chain.leaves[2:])
    assert check_chain(chain).ok and not check_chain(hidden).ok


def _pinned_bundle(flow: Flow) -> tuple[dict[str, Any], Any]:
    flow.api.get("/v1/log/checkpoint")  # the log has looked at the mirror: the flow's batches are in it
    bundle = flow.api.get(f"/v1/readings/{flow.readings[0]}/proof").json()
    trust = anchor_from_document(flow.api.get("/.well-known/provenance-ledger.json").json(), "the trust document")
    return bundle, trust


def test_a_bundle_carries_its_batchs_log_path_which_verifies_under_the_pinned_log_key(flow: Flow) -> None:
    bundle, trust = _pinned_bundle(flow)
    log = bundle["log"]
    assert bundle["format"] == "provenance-ledger/proof@3" and log["leaf_index"] == bundle["anchor"]["batch_id"]
    checkpoint = open_note(log["checkpoint"], trust.log_key or "")
    assert checkpoint.size == log["tree_size"] and checkpoint.root == tlog.root(_chain(flow).leaves[: checkpoint.size])
    result = verify_bundle(bundle, trust, flow.chain.client.rpc_url)
    assert result.complete, [(c.name, c.detail) for c in result.checks if not c.ok]
    names = [c.name for c in result.checks]
    assert names[names.index("merkle-path") + 1 :][:2] == ["log-leaf", "log-path"] and "log-checkpoint" in names
    earlier = {**{k: v for k, v in bundle.items() if k != "log"}, "format": "provenance-ledger/proof@2"}
    assert verify_bundle(earlier, trust, flow.chain.client.rpc_url).complete  # bundles saved before still verify


def test_a_log_section_for_another_batch_a_bent_path_or_a_checkpoint_signed_by_another_key_fails(
    flow: Flow,
) -> None:
    bundle, trust = _pinned_bundle(flow)
    log = bundle["log"]
    neighbour = {"index": (log["leaf_index"] + 1) % log["tree_size"], "size": log["tree_size"]}
    other = flow.api.get("/v1/log/proof/inclusion", params=neighbour).json()
    swapped = {**bundle, "log": {**log, "leaf_data": other["leaf_data"], "proof": other["proof"]}}
    bent = {**bundle, "log": {**log, "proof": [*log["proof"][:-1], "0x" + "00" * 32]}}
    # A forger's own log: junk, then this batch at its place, under a checkpoint the forger signed.
    forger = Ed25519PrivateKey.generate()
    origin = open_note(log["checkpoint"], trust.log_key or "").origin
    index = log["leaf_index"]
    leaves = [tlog.leaf_hash(b"junk %d" % i) for i in range(index)] + [
        tlog.leaf_hash(bytes.fromhex(log["leaf_data"][2:]))
    ]
    note = sign_note(checkpoint_body(origin, index + 1, tlog.root(leaves)), "provenance-ledger", forger)
    path = ["0x" + p.hex() for p in tlog.inclusion_proof(leaves, index)]
    forged = {**bundle, "log": {**log, "tree_size": index + 1, "proof": path, "checkpoint": note}}
    assert verify_bundle(forged, None, None).ok  # self-consistent: only the pinned key tells
    for tampered, failing in ((swapped, "log-leaf"), (bent, "log-path")):
        assert [c.name for c in verify_bundle(tampered, trust, None).checks if not c.ok] == [failing]
    assert [c.name for c in verify_bundle(forged, trust, None).checks if not c.ok] == ["log-checkpoint"]
    unpinned_log = replace(trust, log_key=None)
    said = {c.name: c for c in verify_bundle(bundle, unpinned_log, None).checks}
    assert said["log-checkpoint"].ok and said["log-checkpoint"].detail.startswith("not checked")
