"""The walking skeleton driven as a user drives it, against a running `provenance up`: a device registered
with the CLI, a reading signed outside the service and posted over HTTP, anchored, proven, verified on chain
and by a third party."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from web3 import Web3

from ledger_service.core.chain.notary_log import record_call
from ledger_service.core.compiler import Artifact
from tests.utils.service import VENV_BIN, RunningService

ROOT = Path(__file__).resolve().parents[2]


def register_with_cli(service: RunningService, address: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "provenance"), "device", "register", address],
        cwd=service.workdir,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def sign_outside(service: RunningService, key: str, sequence: int, value: int) -> dict[str, Any]:
    result = subprocess.run(
        [str(VENV_BIN / "python"), str(ROOT / "scripts" / "sign_reading.py"), "--key", key,
         "--api", service.api_url, "--sequence", str(sequence), "--value", str(value)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    body: dict[str, Any] = json.loads(result.stdout)
    return body


#: A reading's way to the chain, in order.
STAGES = ("pending", "sealed", "anchored", "confirmed", "final")


def wait_for_status(api: httpx.Client, reading_id: str, wanted: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = api.get(f"/v1/readings/{reading_id}").json()
        if status["status"] in STAGES and STAGES.index(status["status"]) >= STAGES.index(wanted):
            return status  # there, or past it: a batch may go from anchored to final between two looks
        time.sleep(0.1)
    raise AssertionError(f"reading {reading_id} not {wanted} after {timeout}s: {status}")


def verify_on_chain(rpc_url: str, artifacts: dict[str, Artifact], bundle: dict[str, Any]) -> tuple[bool, bool]:
    """DataNotary.verify for the bundle's leaf, and for the leaf with one bit flipped (the batch is
    recorded first, from one of the node's unlocked accounts: anyone may record a batch the log holds)."""
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    notary = w3.eth.contract(address=bundle["anchor"]["notary"], abi=artifacts["DataNotary"].abi)
    root = bytes.fromhex(bundle["merkle"]["root"][2:])
    if not notary.functions.isRecorded(root).call():
        call = record_call(notary, root, 0)
        assert call is not None, "the bundle's batch is not in the notary's log"
        w3.eth.wait_for_transaction_receipt(call.transact({"from": w3.eth.accounts[0]}))
    leaf = bytes.fromhex(bundle["leaf"]["hash"][2:])
    proof = [bytes.fromhex(p[2:]) for p in bundle["merkle"]["proof"]]
    tampered = leaf[:-1] + bytes([leaf[-1] ^ 1])
    return notary.functions.verify(root, leaf, proof).call(), notary.functions.verify(root, tampered, proof).call()


def exercise_skeleton(service: RunningService, artifacts: dict[str, Artifact]) -> None:
    device = Account.create()
    device_id = register_with_cli(service, device.address)
    assert device_id == "0x" + "00" * 12 + device.address[2:].lower()
    with httpx.Client(base_url=service.api_url, timeout=30) as api:
        body = sign_outside(service, device.key.to_0x_hex(), sequence=1, value=2150)
        posted = api.post("/v1/readings", json=body)
        assert posted.status_code == 201, posted.text
        reading_id = posted.json()["id"]
        assert api.post("/v1/readings", json=body).status_code == 200

        forged = {**body, "value": 9999}
        assert api.post("/v1/readings", json=forged).json()["code"] == "invalid-signature"

        status = wait_for_status(api, reading_id, "anchored", timeout=60)
        assert status["batch"]["transaction_hash"].startswith("0x")
        bundle = api.get(f"/v1/readings/{reading_id}/proof").json()
    assert verify_on_chain(service.rpc_url, artifacts, bundle) == (True, False)
    verify_as_third_party(service, bundle)


def verify_as_third_party(service: RunningService, bundle: dict[str, Any]) -> None:
    """`provenance verify` run elsewhere, pinning the service's published trust document by URL."""
    elsewhere = service.workdir.parent / f"verifier-{service.workdir.name}"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / "proof.json").write_text(json.dumps(bundle))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    run = subprocess.run(
        [str(VENV_BIN / "provenance"), "verify", "proof.json", "--trust", service.api_url, "--rpc", service.rpc_url],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the bundle verifies" in run.stderr and "/.well-known/provenance-ledger.json" in run.stderr
