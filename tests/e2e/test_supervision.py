"""`provenance up` heals itself: a child killed with SIGKILL (the indexer, the batcher, the
managed chain) is started again, the chain from its saved state, and the service is ready and
anchoring again without a person; /metrics counts the restarts."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from eth_account import Account

from ledger_service.core.chain.rpc import rpc_answers
from ledger_service.core.compiler import Artifact
from tests.utils.service import RunningService, child_with
from tests.utils.skeleton import register_with_cli, sign_outside, verify_on_chain, wait_for_status
from tests.utils.waiting import wait_until


def child_running(service: RunningService, marker: bytes) -> int | None:
    """The pid of the service's child whose command line holds `marker`."""
    assert service.process is not None
    return child_with(service.process.pid, marker)


def restarts(api: httpx.Client, component: str) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(f'provenance_component_restarts{{component="{component}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_killed_components_and_chain_come_back_and_the_service_anchors_again(
    tmp_path: Path, artifacts: dict[str, Artifact]
) -> None:
    device = Account.create()
    with RunningService(tmp_path) as service, httpx.Client(base_url=service.api_url, timeout=30) as api:
        register_with_cli(service, device.address)
        time.sleep(2.5)  # anvil saves its state every 2 s: the registration is then in what it reloads
        for marker in (b"index", b"batcher", b"/anvil"):
            killed = child_running(service, marker)
            assert killed is not None, f"no child {marker!r}"
            os.kill(killed, signal.SIGKILL)
            wait_until(
                lambda marker=marker, killed=killed: child_running(service, marker) not in (None, killed),
                30,
                f"{marker!r} started again",
            )
        assert wait_until(lambda: rpc_answers(service.rpc_url), 30, "the chain answers on its old URL")
        body = sign_outside(service, device.key.to_0x_hex(), sequence=1, value=7)
        accepted = api.post("/v1/readings", json=body)
        assert accepted.status_code == 201, accepted.text
        reading_id = accepted.json()["id"]
        wait_for_status(api, reading_id, "anchored", timeout=60)
        assert verify_on_chain(service.rpc_url, artifacts, api.get(f"/v1/readings/{reading_id}/proof").json()) == (
            True,
            False,
        )
        wait_until(lambda: api.get("/readyz").status_code == 200, 60, "ready again")
        checks = api.get("/readyz").json()["checks"]
        assert checks["loop:process:index"]["ok"] and checks["loop:process:chain"]["ok"]
        assert {name: restarts(api, name) for name in ("index", "batcher", "chain")} == {
            "index": 1.0,
            "batcher": 1.0,
            "chain": 1.0,
        }
        assert "component exited; restarting" in service.log()
