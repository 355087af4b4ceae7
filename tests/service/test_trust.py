"""Verifiers pin their trust anchors: a bundle anchored in contracts other than the pinned ones never
verifies, however consistent it is, and without a pin `provenance verify` says it proved nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import keccak
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ledger_service.app.api.app import create_app
from ledger_service.app.cli import app as cli_app
from ledger_service.core.chain.client import connect
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.deploy import deploy
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.compiler import Artifact
from ledger_service.core.enums import KeyType
from ledger_service.core.errors import TransactionReverted, TrustAnchorError
from ledger_service.core.keys import DeviceKey, recover_secp256k1
from ledger_service.core.readings import Domain, Reading, leaf_values, reading_leaf
from ledger_service.services.container import Services
from ledger_service.services.trust import TRUST_FORMAT, anchor_from_document, fingerprint, load_trust, trust_document
from ledger_service.services.verify import verify_bundle
from tests.utils.factories import Device, new_device, signed_body
from tests.utils.settings import make_settings


def _services(data_dir: Path, chain: ChainContext) -> Services:
    settings = make_settings(data_dir, database_url=f"sqlite:///{data_dir / 'p.db'}", batch_size=100, batch_age=60.0)
    return Services.build(settings, chain.client, chain.deployment, chain.artifacts)


@pytest.fixture(scope="module")
def real(chain: ChainContext, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The operator's service over the session's deployment."""
    built = _services(tmp_path_factory.mktemp("operator"), chain)
    yield built
    built.close()


@pytest.fixture(scope="module")
def rogue(
    anvil: ManagedAnvil, artifacts: dict[str, Artifact], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    """An attacker running the same software against a DataNotary and DeviceRegistry of their own."""
    data_dir = tmp_path_factory.mktemp("attacker")
    settings = make_settings(data_dir)
    client = connect(settings, anvil.url)
    deployment, _ = deploy(client, artifacts, settings.manifest_path)
    built = _services(data_dir, ChainContext(client, deployment, artifacts, True))
    yield built
    built.close()


def _anchored_bundle(service: Services, device: Device, **overrides: Any) -> dict[str, Any]:
    with TestClient(create_app(service)) as http:
        answer = http.post("/v1/readings", json=signed_body(device, service.ledger.domain, **overrides))
        assert answer.status_code in (200, 201, 202), answer.text
        batcher = service.batcher()
        batcher.batch_age = 0
        batcher.run_once()
        bundle: dict[str, Any] = http.get(f"/v1/readings/{answer.json()['id']}/proof").json()
        return bundle


@pytest.fixture(scope="module")
def victim(real: Services) -> Device:
    """A device registered in the operator's registry."""
    return new_device(real.ledger)


@pytest.fixture(scope="module")
def forged(rogue: Services, victim: Device) -> dict[str, Any]:
    """The victim's device id registered in the attacker's registry with the attacker's key, and a
    reading with a changed value anchored in the attacker's notary."""
    impostor = Device(key=DeviceKey.generate(KeyType.SECP256K1), device_id=victim.device_id, sequence=100)
    rogue.ledger.register_device(impostor.device_id, impostor.key.public_key)
    return _anchored_bundle(rogue, impostor, value=-4000)


def _pin(service: Services) -> Any:
    return anchor_from_document(trust_document(service.ledger.deployment), "the operator's trust document")


def failed(result: Any) -> list[str]:
    return [str(name) for name in result.failed()]


def test_genuine_bundle_verifies_against_the_pinned_trust_document(
    real: Services, victim: Device, anvil: ManagedAnvil
) -> None:
    bundle = _anchored_bundle(real, victim)
    result = verify_bundle(bundle, _pin(real), anvil.url)
    assert result.complete and failed(result) == []
    assert [c.name for c in result.checks] == [
        "pinned-contracts", "format", "reading", "digest", "signature", "leaf", "merkle-path", "log-path",
        "chain-id", "genesis", "contract-code", "contract-code", "transaction", "anchor-event", "anchor-record",
        "timeline", "confirmations", "device-key", "registry-verify",
    ]  # fmt: skip


def test_rogue_contract_bundle_is_self_consistent_but_fails_against_the_pin(
    real: Services, rogue: Services, forged: dict[str, Any], anvil: ManagedAnvil
) -> None:
    unpinned = verify_bundle(forged, None, anvil.url)
    assert unpinned.ok and not unpinned.complete and not unpinned.chain_checked
    result = verify_bundle(forged, _pin(real), anvil.url)
    assert failed(result)[:1] == ["pinned-contracts"] and not result.complete
    assert rogue.ledger.deployment.address_of("DataNotary") in result.checks[0].detail


def test_bundle_signed_under_the_pinned_domain_but_anchored_elsewhere_fails_on_chain(
    real: Services, rogue: Services, victim: Device, anvil: ManagedAnvil
) -> None:
    """The attacker signs a changed reading under the operator's domain with their own key, anchors its
    leaf in their own notary, and hands over a bundle naming the operator's contracts: every offline
    check passes, but the anchor event is not the pinned notary's and the pinned registry's key did
    not sign."""
    template = _anchored_bundle(real, victim)
    impostor = Device(key=DeviceKey.generate(KeyType.SECP256K1), device_id=victim.device_id, sequence=300)
    reading = impostor.reading(value=-4000)
    digest = reading.digest(real.ledger.domain)
    signature = impostor.sign(reading, real.ledger.domain)
    leaf = reading_leaf(digest, signature)
    anchored = rogue.ledger.anchor(leaf, 1, reading.timestamp, reading.timestamp, "bafkrei-forged")
    forged = copy.deepcopy(template)
    signer = impostor.key.public_key.signer
    forged["reading"] = {**reading.message(), "signature": "0x" + signature.hex(), "signer": signer}
    forged["eip712"]["message"] = reading.message()
    forged["digest"] = "0x" + digest.hex()
    forged["key"] = impostor.key.public_key.to_json()
    forged["leaf"]["values"] = ["0x" + v.hex() for v in leaf_values(digest, signature)]
    forged["leaf"]["hash"] = forged["reading_id"] = "0x" + leaf.hex()
    forged["merkle"] = {"root": "0x" + leaf.hex(), "proof": [], "leaf_count": 1}
    forged["anchor"].update(
        transaction_hash=anchored.transaction_hash, block_number=anchored.block_number,
        block_hash=anchored.block_hash, batch_id=anchored.chain_batch_id,
    )  # fmt: skip
    result = verify_bundle(forged, _pin(real), anvil.url)
    names = [c.name for c in result.checks]
    assert failed(result) == ["anchor-event"] and not result.complete
    assert names.index("anchor-event") > names.index("merkle-path")  # every offline check had passed


def test_attacker_cannot_anchor_in_the_pinned_notary(real: Services, rogue: Services) -> None:
    notary = real.ledger.notary
    call = notary.functions.anchor(b"\x01" * 32, 1, 1, 1, "bafkrei-not-yours")
    with pytest.raises(TransactionReverted, match="AccessControlUnauthorizedAccount"):
        rogue.ledger.client.for_role("anchorer").transact(call)  # an anchorer, of another deployment


def test_pinned_code_hash_and_genesis_are_checked(real: Services, victim: Device, anvil: ManagedAnvil) -> None:
    bundle = _anchored_bundle(real, victim)
    document = trust_document(real.ledger.deployment)
    wrong_code = copy.deepcopy(document)
    wrong_code["contracts"]["DataNotary"]["code_hash"] = "0x" + "ab" * 32
    assert failed(verify_bundle(bundle, anchor_from_document(wrong_code, "edited"), anvil.url)) == ["contract-code"]
    wrong_genesis = copy.deepcopy(document)
    wrong_genesis["genesis_hash"] = "0x" + "cd" * 32
    assert failed(verify_bundle(bundle, anchor_from_document(wrong_genesis, "edited"), anvil.url)) == ["genesis"]


def test_registry_key_is_read_from_the_pinned_registry_not_the_bundle(
    real: Services, victim: Device, anvil: ManagedAnvil
) -> None:
    """A bundle whose `key` and signature are swapped for another key's passes the offline signature
    check, yet the pinned registry's key for the device at the reading's time did not sign it."""
    bundle = _anchored_bundle(real, victim)
    other = DeviceKey.generate(KeyType.SECP256K1)
    digest = bytes.fromhex(bundle["digest"][2:])
    swapped = copy.deepcopy(bundle)
    swapped["key"] = other.public_key.to_json()
    swapped["reading"]["signature"] = "0x" + other.sign(digest).hex()
    result = verify_bundle(swapped, _pin(real), anvil.url)
    assert "signature" not in failed(result)
    assert failed(result)[:1] in (["leaf"], ["device-key"])


def test_trust_document_is_served_and_exported_identically(real: Services, tmp_path: Path) -> None:
    with TestClient(create_app(real)) as http:
        served = http.get("/.well-known/provenance-ledger.json").json()
    assert served["format"] == TRUST_FORMAT and served["chain_id"] == real.ledger.deployment.chain_id
    assert served["eip712_domain"]["verifyingContract"] == real.ledger.deployment.address_of("DeviceRegistry")
    for name, entry in real.ledger.deployment.contracts.items():
        assert served["contracts"][name]["address"] == entry.address
        assert served["contracts"][name]["code_hash"] == entry.code_hash
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps(real.ledger.deployment.to_json()))
    out = tmp_path / "trust.json"
    exported = CliRunner().invoke(
        cli_app,
        ["trust", "export", "--manifest", str(manifest), "--out", str(out)],
        env={"PROVENANCE_DATA_DIR": str(real.settings.data_dir)},
    )  # the same log key
    assert served["transparency_log"]["verifier_key"] == real.transparency_log.verifier
    assert exported.exit_code == 0, exported.output
    assert json.loads(out.read_text()) == served and fingerprint(served) in exported.output


def test_trust_documents_that_cannot_pin_are_refused(real: Services, tmp_path: Path) -> None:
    document = trust_document(real.ledger.deployment)
    no_registry = copy.deepcopy(document)
    del no_registry["contracts"]["DeviceRegistry"]
    bad_domain = copy.deepcopy(document)
    bad_domain["eip712_domain"]["verifyingContract"] = real.ledger.deployment.address_of("DataNotary")
    bad_address = copy.deepcopy(document)
    bad_address["contracts"]["DataNotary"]["address"] = "0x1234"
    for broken in (no_registry, bad_domain, bad_address, ["not", "an", "object"]):
        with pytest.raises(TrustAnchorError):
            anchor_from_document(broken, "broken")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(TrustAnchorError):
        load_trust(str(tmp_path / "junk.json"))
    with pytest.raises(TrustAnchorError, match="cannot fetch"):
        load_trust("http://127.0.0.1:9")


def _cli(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(cwd)
    for name in ("PROVENANCE_DATA_DIR", "PROVENANCE_RPC_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner().invoke(cli_app, args)


def test_verify_command_inside_the_operator_data_dir_refuses_the_rogue_bundle(
    real: Services, victim: Device, forged: dict[str, Any], anvil: ManagedAnvil, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    operator_dir = tmp_path / "operator"
    (operator_dir / ".provenance").mkdir(parents=True)
    (operator_dir / ".provenance" / "deployment.json").write_text(json.dumps(real.ledger.deployment.to_json()))
    rogue_file, good_file = tmp_path / "rogue.json", tmp_path / "good.json"
    rogue_file.write_text(json.dumps(forged))
    good_file.write_text(json.dumps(_anchored_bundle(real, victim)))

    refused = _cli(["verify", str(rogue_file), "--rpc", anvil.url], operator_dir, monkeypatch)
    assert refused.exit_code == 1 and "FAIL pinned-contracts" in refused.output, refused.output
    assert "the bundle verifies" not in refused.output
    passed = _cli(["verify", str(good_file), "--rpc", anvil.url], operator_dir, monkeypatch)
    assert passed.exit_code == 0 and "against the pinned trust anchor" in passed.output, passed.output
    assert "deployment manifest" in passed.output

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    unpinned = _cli(["verify", str(rogue_file), "--rpc", anvil.url], elsewhere, monkeypatch)
    assert unpinned.exit_code == 2 and "only self-consistency was checked" in unpinned.output
    assert "not verified" in unpinned.output
    asked = _cli(["verify", str(rogue_file), "--self-consistency-only"], elsewhere, monkeypatch)
    assert asked.exit_code == 0 and "only self-consistency was checked" in asked.output

    deployment = real.ledger.deployment
    flags = ["--chain-id", str(deployment.chain_id), "--notary", deployment.address_of("DataNotary"),
             "--registry", deployment.address_of("DeviceRegistry"),
             "--genesis-hash", deployment.genesis_hash]  # fmt: skip
    by_flags = _cli(["verify", str(good_file), "--rpc", anvil.url, *flags], elsewhere, monkeypatch)
    assert by_flags.exit_code == 0, by_flags.output
    rogue_by_flags = _cli(["verify", str(rogue_file), "--rpc", anvil.url, *flags], elsewhere, monkeypatch)
    assert rogue_by_flags.exit_code == 1 and "FAIL pinned-contracts" in rogue_by_flags.output
    half = _cli(["verify", str(good_file), "--rpc", anvil.url, "--chain-id", "1"], elsewhere, monkeypatch)
    assert half.exit_code == 2 and "invalid-trust-anchor" in half.output


def _rpc(url: str, method: str, *params: Any) -> Any:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=30)
    return answer.json()["result"]


def _call_words(url: str, to: str, data: str) -> list[int]:
    out = _rpc(url, "eth_call", {"to": to, "data": data}, "latest")[2:]
    return [int(out[i : i + 64], 16) for i in range(0, len(out), 64)]


def _word(value: int | str) -> str:
    return (value[2:] if isinstance(value, str) else f"{value:x}").rjust(64, "0")


def test_documented_json_rpc_walkthrough_verifies_a_bundle(real: Services, victim: Device, anvil: ManagedAnvil) -> None:
    """docs/proof-format.md's plain JSON-RPC steps, done with httpx and keccak alone."""
    bundle = _anchored_bundle(real, victim)
    pin = trust_document(real.ledger.deployment)
    notary, registry = pin["contracts"]["DataNotary"], pin["contracts"]["DeviceRegistry"]
    url = anvil.url
    assert int(_rpc(url, "eth_chainId"), 16) == pin["chain_id"]
    assert _rpc(url, "eth_getBlockByNumber", "0x0", False)["hash"] == pin["genesis_hash"]
    for contract in (notary, registry):
        code = bytes.fromhex(_rpc(url, "eth_getCode", contract["address"], "latest")[2:])
        assert "0x" + keccak(code).hex() == contract["code_hash"]
    receipt = _rpc(url, "eth_getTransactionReceipt", bundle["anchor"]["transaction_hash"])
    assert receipt["status"] == "0x1" and receipt["blockHash"] == bundle["anchor"]["block_hash"]
    topic0 = "0xa3f635427327b0640836ab18e4bdd5fcd9ce8ace27c6b37763cd594707e751d4"
    logs = [log for log in receipt["logs"] if log["address"].lower() == notary["address"].lower()
            and log["topics"][0] == topic0 and log["topics"][2] == bundle["merkle"]["root"]]  # fmt: skip
    assert int(logs[0]["topics"][1], 16) == bundle["anchor"]["batch_id"]
    batch = bundle["batch"]  # the event's data words: readingCount, firstTimestamp, lastTimestamp, ...
    words = [int(logs[0]["data"][2 + 64 * i : 66 + 64 * i], 16) for i in range(3)]
    assert words == [batch["reading_count"], batch["first_timestamp"], batch["last_timestamp"]]
    block = _rpc(url, "eth_getBlockByHash", receipt["blockHash"], False)
    assert int(bundle["eip712"]["message"]["timestamp"]) <= int(block["timestamp"], 16)
    node = bytes.fromhex(_word(bundle["leaf"]["hash"]))
    for sibling in bundle["merkle"]["proof"]:
        node = keccak(b"".join(sorted([node, bytes.fromhex(_word(sibling))])))
    assert "0x" + node.hex() == bundle["merkle"]["root"]
    message = bundle["eip712"]["message"]
    device_id, timestamp = _word(message["deviceId"]), int(message["timestamp"])
    count = _call_words(url, registry["address"], "0x4422cf0b" + device_id)[0]
    key = None
    for index in range(count - 1, -1, -1):
        words = _call_words(url, registry["address"], "0x13fb4b8f" + device_id + _word(index))
        key_type, signer, valid_from, valid_until = words[0], words[1], words[4], words[6]
        if valid_from <= timestamp:
            key = (key_type, signer) if valid_until == 0 or timestamp < valid_until else None
            break
    assert key is not None and key[0] == int(KeyType.SECP256K1)
    domain = Domain(pin["chain_id"], pin["eip712_domain"]["verifyingContract"])
    digest = Reading(
        device_id=bytes.fromhex(device_id), sequence=int(message["sequence"]), timestamp=timestamp,
        metric=message["metric"], value=int(message["value"]), scale=int(message["scale"]), unit=message["unit"],
        payload_hash=bytes.fromhex(message["payloadHash"][2:]),
    ).digest(domain)  # fmt: skip
    signer = recover_secp256k1(digest, bytes.fromhex(bundle["reading"]["signature"][2:]))
    assert signer is not None and int.from_bytes(signer, "big") == key[1]
