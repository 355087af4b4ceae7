"""What the edge gateway's fault tests share: devices as processes (the device library, recording at
a steady rate while they send), `provenance edge` as a process, the upstream database read directly,
and a network namespace joined to this one by a veth pair."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from edge.gateway import Gateway
from ledger_service.app.edge_api import create_edge_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.db import create_schema, make_engine
from ledger_service.core.readings import Domain
from tests.utils.external import IN_CI
from tests.utils.factories import Device, signed_body
from tests.utils.service import VENV_BIN, RunningService

ROOT = Path(__file__).resolve().parents[2]

# argv: key file, chain id, registry, outbox, url, seconds to record, seconds between readings
DEVICE_SCRIPT = """
import json, sys, threading, time
from pathlib import Path
from provenance_device import DeviceKey, Domain, HttpTransport, Outbox, Sender
key_file, chain_id, registry, outbox_path, url, seconds, every = sys.argv[1:]
key = DeviceKey.load(Path(key_file))
outbox = Outbox(outbox_path, first_sequence=1)
sender = Sender(key, key.default_device_id, Domain(int(chain_id), registry), outbox, HttpTransport(url, timeout=3))
stop = threading.Event()
worker = threading.Thread(target=sender.run, args=(stop, 0.05, 1.0))
worker.start()
end = time.monotonic() + float(seconds)
while time.monotonic() < end:
    sender.record("temperature", 400)
    time.sleep(float(every))
recorded = outbox.next_sequence - 1
while len(outbox) and not outbox.refused():
    time.sleep(0.05)
stop.set()
worker.join()
print(json.dumps({"recorded": recorded, "refused": outbox.refused(), "pending": len(outbox)}), flush=True)
"""


@dataclass
class DeviceProcess:
    """A device program running the library, and its outbox on disk."""

    device_id: str
    outbox: Path
    process: subprocess.Popen[str]

    def result(self, timeout: float) -> dict[str, object]:
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, err
        summary: dict[str, object] = json.loads(out.strip().splitlines()[-1])
        return summary

    def pending(self) -> int:
        with sqlite3.connect(self.outbox) as db:
            return int(db.execute("SELECT count(*) FROM pending").fetchone()[0])


def start_device(
    key_file: Path, device_id: str, domain: tuple[int, str], url: str, seconds: float, every: float,
    prefix: tuple[str, ...] = (),
) -> DeviceProcess:  # fmt: skip
    """Starts a device process (inside a network namespace when `prefix` is `ip netns exec NS`)."""
    outbox = key_file.with_suffix(".outbox.db")
    args = [str(key_file), str(domain[0]), domain[1], str(outbox), url, str(seconds), str(every)]
    command = [*prefix, sys.executable, "-c", DEVICE_SCRIPT, *args]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return DeviceProcess(device_id, outbox, process)


def register_key_file(upstream: RunningService, key_file: Path, *options: str) -> str:
    """Registers the device of a key file with the CLI (`options`: `--model ...`, say); its id."""
    done = subprocess.run(
        [str(VENV_BIN / "provenance"), "device", "register", str(key_file), *options],
        cwd=upstream.workdir, env=upstream.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def upstream_rows(upstream: RunningService, device_id: str) -> list[tuple[int, int | None]]:
    """(sequence, batch id) of a device's readings upstream, in the order they were taken in."""
    with sqlite3.connect(upstream.workdir / ".provenance" / "provenance.db") as db:
        rows = db.execute(
            "SELECT sequence, batch_id FROM reading WHERE device_id = ? ORDER BY received_at, sequence", (device_id,)
        ).fetchall()
    return [(int(s), b) for s, b in rows]


def anchored_batches(upstream: RunningService) -> set[int]:
    """Ids of the upstream batches with an anchoring transaction."""
    with sqlite3.connect(upstream.workdir / ".provenance" / "provenance.db") as db:
        return {row[0] for row in db.execute("SELECT id FROM batch WHERE transaction_hash IS NOT NULL")}


def gateway_counts(workdir: Path) -> tuple[int, int]:
    """(readings held, readings answered upstream) in a gateway's database."""
    with sqlite3.connect(workdir / ".provenance" / "provenance.db") as db:
        held = db.execute("SELECT count(*) FROM reading").fetchone()[0]
        answered = db.execute("SELECT count(*) FROM edge_forwarded").fetchone()[0]
    return int(held), int(answered)


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not {what} after {timeout}s")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass(frozen=True)
class Namespace:
    """A network namespace and the veth pair joining it to this one."""

    name: str
    host_link: str
    host_address: str
    inside_address: str

    @property
    def prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.name)

    def link(self, up: bool) -> None:
        """Takes the veth link down or brings it back (the cable pulled out, then plugged in)."""
        _ip("link", "set", "dev", self.host_link, "up" if up else "down")


@contextmanager
def namespace() -> Iterator[Namespace]:
    """A fresh namespace with lo up and a veth pair 10.77.N.1 (here) <-> 10.77.N.2 (inside)."""
    tag = uuid.uuid4().hex[:6]
    name, host_link, inside_link = f"pl-edge-{tag}", f"vh{tag}", f"ve{tag}"
    subnet = int(tag, 16) % 250 + 1
    host_address, inside_address = f"10.77.{subnet}.1", f"10.77.{subnet}.2"
    try:
        _ip("netns", "add", name)
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"cannot create a network namespace (root and iproute2 needed): {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        _ip("link", "add", host_link, "type", "veth", "peer", "name", inside_link)
        _ip("link", "set", inside_link, "netns", name)
        _ip("addr", "add", f"{host_address}/30", "dev", host_link)
        _ip("link", "set", host_link, "up")
        for command in (("addr", "add", f"{inside_address}/30", "dev", inside_link), ("link", "set", inside_link, "up"),
                        ("link", "set", "lo", "up")):  # fmt: skip
            _ip("netns", "exec", name, "ip", *command)
        yield Namespace(name, host_link, host_address, inside_address)
    finally:
        subprocess.run(["ip", "link", "del", host_link], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def make_gateway(path: Path, chain: ChainContext, upstream: str, rpc: str | None = None, **options: Any) -> Gateway:
    """A gateway over a fresh SQLite file at `path` (or the one there), on the session's chain or, with
    `rpc`, on another endpoint (a dead one: offline)."""
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    w3 = chain.client.w3 if rpc is None else Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 2}))
    return Gateway(engine, w3, chain.deployment, chain.artifacts["DeviceRegistry"].abi, upstream, **options)


def hand_in(gateway: Gateway, device: Device, domain: Domain, count: int = 1, **overrides: Any) -> list[str]:
    """Posts `count` of the device's next readings to the gateway's API; each must be taken (201)."""
    api = TestClient(create_edge_app(gateway))
    ids = []
    for _ in range(count):
        answer = api.post("/v1/readings", json=signed_body(device, domain, **overrides))
        assert answer.status_code == 201, answer.text
        ids.append(str(answer.json()["id"]))
    return ids


def stop_all(devices: list[DeviceProcess], *services: RunningService | None) -> None:
    """Kills the device processes and stops the services (SIGTERM, then SIGKILL)."""
    for device in devices:
        device.process.kill()
        device.process.wait()
    for service in services:
        if service is not None:
            service.__exit__(None, None, None)
