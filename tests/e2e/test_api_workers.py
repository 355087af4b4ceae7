"""`PROVENANCE_API_WORKERS`: several API processes behind one port, each answering, all stopped
with the service."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
from eth_account import Account

from ledger_service.core.compiler import Artifact
from tests.utils.service import RunningService, alive, children_of
from tests.utils.skeleton import register_with_cli, sign_outside, wait_for_status


def test_three_api_processes_share_the_port_and_stop_with_the_service(
    tmp_path: Path, artifacts: dict[str, Artifact]
) -> None:
    with RunningService(tmp_path, env={"PROVENANCE_API_WORKERS": "3"}) as service:
        assert service.process is not None
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:  # the workers start after the port is bound
            workers = [
                pid for pid in children_of(service.process.pid)
                if b"--reuse-port" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]  # fmt: skip
            time.sleep(0.2)
        assert len(workers) == 2
        answered: set[int] = set()
        deadline = time.monotonic() + 30
        while len(answered) < 3 and time.monotonic() < deadline:
            with httpx.Client(base_url=service.api_url, timeout=10) as fresh:  # a new connection each time
                answer = fresh.get("/healthz")
            if answer.status_code == 200:
                answered.add(answer.json()["pid"])
        assert answered == {service.process.pid, *workers}
        device = Account.create()
        register_with_cli(service, device.address)
        with httpx.Client(base_url=service.api_url, timeout=30) as api:
            for sequence in range(1, 4):  # whichever process takes them, each is stored once and anchored
                body = sign_outside(service, device.key.to_0x_hex(), sequence=sequence, value=sequence)
                assert api.post("/v1/readings", json=body).status_code == 201
            ids = [r["id"] for r in api.get("/v1/readings", params={"device": body["device_id"]}).json()["data"]]
            assert len(ids) == 3
            for reading_id in ids:
                wait_for_status(api, reading_id, "anchored", timeout=30)
        assert service.stop(signal.SIGINT) == 0
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
