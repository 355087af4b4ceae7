"""The walking skeleton as a user runs it: `provenance up`, a device registered with the CLI, a
reading signed outside the service and posted over HTTP, anchored, proven, verified on chain,
and Ctrl-C leaving no process behind. Also: an acknowledged reading survives a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from ledger_service.core.compiler import Artifact
from tests.utils.service import VENV_BIN, RunningService, alive, children_of
from tests.utils.skeleton import exercise_skeleton, register_with_cli, sign_outside, verify_on_chain, wait_for_status


def test_skeleton_on_managed_anvil_and_ctrl_c_leaves_nothing_running(
    tmp_path: Path, artifacts: dict[str, Artifact]
) -> None:
    with RunningService(tmp_path) as service:
        assert service.process is not None
        children = children_of(service.process.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children]
        assert any(b"anvil" in c for c in commands), "the managed anvil should be a child process"
        exercise_skeleton(service, artifacts)
        assert service.stop(signal.SIGINT) == 0
    # multiprocessing's resource tracker leaves when it reads the end of its pipe, a moment after
    # its parent has gone: give stragglers a few seconds under load, then nothing may be left
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in children:
        assert not alive(pid), f"child {pid} outlived provenance up"
    assert not (tmp_path / ".provenance" / "runtime.json").exists()
    assert "anvil stopped" in service.log()


def test_restart_keeps_the_chain_and_the_deployment(tmp_path: Path) -> None:
    with RunningService(tmp_path) as first:
        manifest = json.loads((tmp_path / ".provenance" / "deployment.json").read_text())
        time.sleep(2.5)  # let anvil's periodic state dump catch up
        first.stop()
    with RunningService(tmp_path) as second:
        assert "contracts already deployed" in second.log()
        with httpx.Client(base_url=second.api_url) as api:
            contracts = api.get("/health").json()["contracts"]
        assert contracts == {name: c["address"] for name, c in manifest["contracts"].items()}


def test_acknowledged_reading_is_anchored_after_a_crash(tmp_path: Path, artifacts: dict[str, Artifact]) -> None:
    device = Account.create()
    with RunningService(tmp_path, env={"PROVENANCE_BATCH_AGE": "3600"}) as service:
        register_with_cli(service, device.address)
        body = sign_outside(service, device.key.to_0x_hex(), sequence=1, value=-40)
        reading_id = httpx.post(f"{service.api_url}/v1/readings", json=body, timeout=30).json()["id"]
        service.kill()  # SIGKILL right after the acknowledgement
    with RunningService(tmp_path) as restarted, httpx.Client(base_url=restarted.api_url, timeout=30) as api:
        wait_for_status(api, reading_id, "anchored", timeout=60)
        bundle = api.get(f"/v1/readings/{reading_id}/proof").json()
        assert verify_on_chain(restarted.rpc_url, artifacts, bundle) == (True, False)


@pytest.mark.parametrize(
    "command", [["device", "register", "0x1234"], ["device", "register", "0x" + "11" * 20, "--id", "0xabc"]]
)
def test_cli_refuses_bad_device_arguments(tmp_path: Path, command: list[str]) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "provenance"), *command], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": str(VENV_BIN), "PROVENANCE_RPC_URL": "http://127.0.0.1:9"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "error" in result.stderr.lower()


def test_cli_without_a_chain_says_how_to_start_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "provenance"), "device", "register", "0x" + "11" * 20],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={"PATH": str(VENV_BIN)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "provenance up" in result.stderr and "configuration-error" in result.stderr


def run_cli(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    return subprocess.run(
        [str(VENV_BIN / "provenance"), *args], cwd=workdir, env={**base, **(env or {})},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_each_component_runs_alone(tmp_path: Path, artifacts: dict[str, Artifact]) -> None:
    """`provenance chain`, `deploy`, `serve` and `batcher` as separate processes make one service."""
    fast = {"PROVENANCE_BATCH_AGE": "1", "PROVENANCE_BATCH_POLL": "0.1"}
    with RunningService(tmp_path, command=("chain",), ready_text="chain up") as chain:
        deployed = run_cli(tmp_path, "deploy")
        assert deployed.returncode == 0, deployed.stderr
        assert "deployed on chain 31337" in deployed.stderr
        again = run_cli(tmp_path, "deploy")
        assert "already deployed" in again.stderr
        with (
            RunningService(tmp_path, command=("serve",), ready_text="API on http://") as api_process,
            RunningService(tmp_path, command=("batcher",), ready_text="batcher running", env=fast),
        ):
            api_url = api_process.log().split("API on ")[1].split()[0]
            device = Account.create()
            registered = run_cli(tmp_path, "device", "register", device.address)
            assert registered.returncode == 0, registered.stderr
            api_process.info = {"api_url": api_url, "rpc_url": chain.rpc_url}
            body = sign_outside(api_process, device.key.to_0x_hex(), sequence=1, value=7)
            with httpx.Client(base_url=api_url, timeout=30) as api:
                reading_id = api.post("/v1/readings", json=body).json()["id"]
                wait_for_status(api, reading_id, "anchored", timeout=60)
                bundle = api.get(f"/v1/readings/{reading_id}/proof").json()
        assert verify_on_chain(chain.rpc_url, artifacts, bundle) == (True, False)


def test_demo_sends_signed_readings_that_get_anchored(tmp_path: Path) -> None:
    with RunningService(tmp_path) as service:
        result = run_cli(tmp_path, "demo", "--devices", "2", "--rate", "20", "--duration", "1")
        assert result.returncode == 0, result.stderr
        assert "rejected 0" in result.stderr
        assert "(p256, secp256k1)" in result.stderr  # the simulated fleet mixes both key types
        with httpx.Client(base_url=service.api_url) as api:
            deadline = time.monotonic() + 15
            while api.get("/health").json()["counts"]["pending_readings"] and time.monotonic() < deadline:
                time.sleep(0.2)
            counts = api.get("/health").json()["counts"]
        assert (
            counts["pending_readings"] == 0
            and counts["anchored_batches"] + counts["confirmed_batches"] + counts["final_batches"] >= 1
        )


def test_cold_chain_shipment_demo_ends_in_the_item_history(tmp_path: Path) -> None:
    """`provenance demo --shipment` against `provenance up` and a second oracle daemon: three
    handovers with evidence, an excursion that the oracles prove on chain exactly once (lot out of
    compliance, token frozen, buyer refunded), a delivery; the indexer inside `up` puts all of it
    in the item's timeline."""
    with RunningService(tmp_path) as service:
        second = RunningService(tmp_path, command=("oracle", "--name", "second"), ready_text="running")
        with second:
            result = run_cli(tmp_path, "demo", "--shipment")
            assert result.returncode == 0, result.stderr + service.log()[-3000:]
            item = result.stderr.split("item ")[-1].split(",")[0].strip()
            assert "the oracle proved it on chain" in result.stderr and "delivered to the pharmacy" in result.stderr
            with httpx.Client(base_url=service.api_url) as api:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    found = api.get(f"/v1/items/{item}")
                    history = api.get(f"/v1/items/{item}/history").json()["entries"]
                    kinds = [e["type"] for e in history]
                    if found.json().get("status") == "delivered" and "escrow_settled" in kinds:
                        break
                    time.sleep(0.2)
                state = found.json()
                reports = api.get("/v1/oracle/reports", params={"item": item}).json()["data"]
                token = api.get(f"/v1/tokens/{state['token']['token_id']}").json() if state.get("token") else {}
            assert second.stop() == 0
    assert state["status"] == "delivered" and state["condition"] == "out_of_compliance"
    assert len(state["custody"]) == 4 and state["custody"][-1]["until_block"] is not None
    assert kinds.count("handover_accepted") == 3 and kinds.count("checkpoint") == 3
    assert {"registered", "condition_changed", "token_minted", "delivered", "sensor_batch"} <= set(kinds)
    assert all(e["details"].get("evidence_proof") for e in history if e["type"] == "checkpoint")
    # two daemons watched; the breach was reported and fired once, with all three actions
    assert [r["status"] for r in reports] == ["fired"], reports
    assert kinds.count("oracle_report") == 1 and kinds.count("rule_added") == 1
    assert {"escrow_opened", "escrow_settled", "token_frozen"} <= set(kinds)
    settled = next(e for e in history if e["type"] == "escrow_settled")
    assert settled["details"]["outcome"] == "refunded_on_breach"
    assert token.get("frozen") is True  # the demo mints a token and the breach freezes it
