"""Faults injected for real into a running service under load, one after another; per fault, the
time until the service is ready and anchoring again, and at the end the readings lost and the
batches anchored twice (both must be 0).

    .venv/bin/python bench/chaos.py [--rate 20] [--outage 60] [--faults all]

The service: `provenance up` on PostgreSQL (a fresh database), with Redis as the Celery broker
(so a `provenance worker` child anchors), MQTT ingest from Mosquitto, and an anvil behind a TCP
proxy (so the RPC node can refuse connections). Readings are posted over HTTP at `--rate`/s the
whole time; a reading counts as acknowledged when the service answered 201.

Faults (each with the command it runs):
- SIGKILL of the batcher, the indexer, the oracle daemon, the worker and one of the two API server
  processes (`provenance up` restarts them);
- the RPC node refusing connections for `--outage` seconds (the proxy closes its port);
- the broker restarted (`service redis-server restart`; with `--broker rabbitmq`, `rabbitmqctl
  stop_app` then `start_app`, since the node's init script hangs in this container);
- Mosquitto restarted (`service mosquitto restart`); PostgreSQL restarted (`pg_ctlcluster 15 main
  restart`);
- the content store's disk full for `--disk-full` seconds (a 64 KiB tmpfs mounted over it and
  filled, then unmounted).
Sensor rules fire during the faults: each fault has its own item, device and cold-chain rule
(above 8 °C for 3 readings), and the device sends its three breaching readings as the fault is
injected. At the end each rule must have fired exactly once: one `RuleFired` event on chain and one
fired report in the database.
This restarts the machine's shared services: do not run it beside a test run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eth_utils import keccak  # noqa: E402

from bench.notarization import fleet  # noqa: E402
from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.ledger import Ledger  # noqa: E402
from ledger_service.core.chain.manifest import load_manifest  # noqa: E402
from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.compiler import Artifact, compile_contracts  # noqa: E402
from ledger_service.core.enums import Action, KeyType  # noqa: E402
from ledger_service.core.keys import DeviceKey  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402
from ledger_service.core.supply_chain import SupplyChainContract  # noqa: E402
from oracles.contract import SensorOracleContract  # noqa: E402
from oracles.rules import RuleSpec  # noqa: E402
from tests.utils.factories import Device, signed_body  # noqa: E402
from tests.utils.postgres import postgres_database  # noqa: E402
from tests.utils.service import RunningService, child_with  # noqa: E402
from tests.utils.tcp_proxy import TcpProxy  # noqa: E402


class Load:
    """Posts one signed reading every 1/rate seconds; keeps the ids the service acknowledged."""

    def __init__(self, api_url: str, devices: list[Device], ledger: Ledger, rate: float) -> None:
        self.api_url, self.devices, self.ledger, self.rate = api_url, devices, ledger, rate
        self.acknowledged: list[str] = []
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._lock = threading.Lock()

    def _run(self) -> None:
        with httpx.Client(base_url=self.api_url, timeout=10) as http:
            index = 0
            while not self.stop.wait(1 / self.rate):
                device = self.devices[index % len(self.devices)]
                index += 1
                with self._lock:  # a device's readings go out in sequence order
                    body = signed_body(device, self.ledger.domain)
                try:
                    answer = http.post("/v1/readings", json=body)
                except httpx.HTTPError:
                    self.refused += 1
                    continue
                if answer.status_code == 201:
                    self.acknowledged.append(answer.json()["id"])
                else:
                    self.refused += 1

    def probe(self, http: httpx.Client) -> str | None:
        """One more reading, outside the steady load: its id when acknowledged."""
        with self._lock:
            body = signed_body(self.devices[0], self.ledger.domain)
        try:
            answer = http.post("/v1/readings", json=body)
        except httpx.HTTPError:
            return None
        if answer.status_code != 201:
            return None
        self.acknowledged.append(answer.json()["id"])
        return str(answer.json()["id"])


class Breaches:
    """One item per fault with its own device attached and a rule on it; `breach(name)` sends that
    device's three breaching readings in the background, each retried until acknowledged (a resend
    of the same signed reading is answered 200 with the same id)."""

    def __init__(self, ledger: Ledger, artifacts: dict[str, Artifact], names: list[str], load: Load) -> None:
        self.ledger, self.load = ledger, load
        self.oracle = SensorOracleContract(ledger.client, ledger.deployment, artifacts)
        supply = SupplyChainContract(ledger.client, ledger.deployment, artifacts)
        self.devices: dict[str, Device] = {}
        self.rules: dict[str, int] = {}
        self.threads: list[threading.Thread] = []
        for name in names:
            device = Device(key=DeviceKey.generate(KeyType.SECP256K1))
            ledger.register_device(device.device_id, device.key.public_key)
            item = os.urandom(32)
            supply.register_item(item, ledger.client.operator.address, keccak(item), "", [device.device_id])
            spec = RuleSpec(item, "temperature", unit="Cel", upper=800, scale=2, min_readings=3,
                            actions=Action.MARK_OUT_OF_COMPLIANCE)  # fmt: skip
            self.rules[name], _ = self.oracle.add_rule(spec)
            self.devices[name] = device

    def breach(self, api_url: str, name: str) -> None:
        bodies = [signed_body(self.devices[name], self.ledger.domain) for _ in range(3)]  # 21.5 °C and up

        def send() -> None:
            with httpx.Client(base_url=api_url, timeout=10) as http:
                for body in bodies:
                    while True:
                        try:
                            answer = http.post("/v1/readings", json=body)
                            if answer.status_code in (200, 201):
                                self.load.acknowledged.append(answer.json()["id"])
                                break
                        except httpx.HTTPError:
                            pass
                        time.sleep(0.5)

        self.threads.append(threading.Thread(target=send, daemon=True))
        self.threads[-1].start()

    def fired(self, database_url: str, timeout: float = 300) -> tuple[int, int, int]:
        """Waits until every rule has fired (or `timeout`); returns the rules fired, the `RuleFired`
        events on chain for them and the fired reports in the database."""
        for thread in self.threads:
            thread.join(timeout)
        ids = set(self.rules.values())
        engine = create_engine(database_url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                logs = self.oracle.contract.events.RuleFired.get_logs(from_block=0)
                events = [log for log in logs if log["args"]["ruleId"] in ids]
                with engine.connect() as conn:
                    rows = conn.execute(text("SELECT rule_id FROM oracle_report WHERE status = 'fired'")).all()
                reports = [row[0] for row in rows if row[0] in ids]
                fired = {log["args"]["ruleId"] for log in events}
                if fired == ids or time.monotonic() > deadline:
                    return len(fired), len(events), len(reports)
                time.sleep(1)
        finally:
            engine.dispose()


def kill_child(service: RunningService, marker: bytes) -> Callable[[], None]:
    def inject() -> None:
        assert service.process is not None
        pid = child_with(service.process.pid, marker)
        if pid is None:
            raise RuntimeError(f"no child {marker!r}")
        os.kill(pid, signal.SIGKILL)

    return inject


BROKERS = {
    "redis": ("redis://127.0.0.1:6379/5", "service redis-server restart"),
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672//", "rabbitmqctl stop_app;rabbitmqctl start_app"),
}


def fill_disk(folder: Path) -> Callable[[], None]:
    """Mounts a 64 KiB tmpfs over `folder` and fills it: the content store's disk is full."""

    def inject() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True, timeout=30)
        with (folder / "filler").open("wb") as handle:
            try:
                handle.write(b"\0" * (1 << 20))
            except OSError:
                pass  # full, as wanted

    return inject


def run(commands: str) -> Callable[[], None]:
    """Runs each `;`-separated command in turn. A daemon keeps any pipe it inherits open: hand it none."""

    def inject() -> None:
        for command in commands.split(";"):
            quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            subprocess.run(command.split(), check=True, timeout=300, **quiet)  # type: ignore[call-overload]

    return inject


def recovered(http: httpx.Client, load: Load, timeout: float = 300) -> float:
    """Seconds until /readyz answers 200 and a reading sent then is anchored."""
    start = time.monotonic()
    probe = None
    while time.monotonic() - start < timeout:
        try:
            ready = http.get("/readyz").status_code == 200
            if probe is None:
                probe = load.probe(http)
            if probe is not None and ready:
                status = http.get(f"/v1/readings/{probe}").json().get("status")
                if status in ("anchored", "confirmed", "final"):
                    return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"not recovered in {timeout}s")


_ANCHORED = text("SELECT r.id FROM reading r JOIN batch b ON b.id = r.batch_id WHERE b.anchored_at IS NOT NULL")
_BATCHES = text("SELECT COUNT(*) FROM batch WHERE anchored_at IS NOT NULL")


def settle(database_url: str, acknowledged: list[str], timeout: float = 300) -> tuple[set[str], int]:
    """Waits until every acknowledged reading is anchored (or `timeout`); returns the anchored
    readings and the count of anchored batches."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                anchored = {row[0] for row in conn.execute(_ANCHORED)}
                batches = int(conn.execute(_BATCHES).scalar_one())
            if set(acknowledged) <= anchored or time.monotonic() > deadline:
                return anchored, batches
            time.sleep(1)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the RPC node refuses connections")
    parser.add_argument("--faults", default="all", help="comma-separated names, or all")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis", help="the Celery broker")
    parser.add_argument("--disk-full", type=float, default=20.0, help="seconds the content store's disk is full")
    args = parser.parse_args()
    database = postgres_database()
    database_url = next(database)
    workdir = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    try:
        with ManagedAnvil(state_dir=None) as node, TcpProxy(int(node.url.rsplit(":", 1)[1])) as proxy:
            env = {
                "PROVENANCE_RPC_URL": proxy.url, "PROVENANCE_DATABASE_URL": database_url,
                "PROVENANCE_BROKER_URL": BROKERS[args.broker][0], "PROVENANCE_MQTT_HOST": "127.0.0.1",
                "PROVENANCE_MQTT_CLIENT_ID": f"chaos-{os.getpid()}", "PROVENANCE_DEVICE_RATE": "0",
                "PROVENANCE_LOG_LEVEL": "WARNING", "PROVENANCE_API_WORKERS": "2",
            }  # fmt: skip
            with RunningService(workdir, env=env, timeout=180) as service:
                settings = Settings(_env_file=None, data_dir=workdir / ".provenance", database_url=database_url)  # type: ignore[call-arg]
                deployment = load_manifest(settings.manifest_path)
                assert deployment is not None
                artifacts = compile_contracts(settings.build_dir)
                ledger = Ledger(connect(settings, node.url), deployment, artifacts)
                load = Load(service.api_url, fleet(ledger, 4), ledger, args.rate)
                content = workdir / ".provenance" / "content"
                faults: dict[str, tuple[Callable[[], None], Callable[[], None] | None, float]] = {
                    "kill batcher": (kill_child(service, b"batcher"), None, 0),
                    "kill indexer": (kill_child(service, b"index"), None, 0),
                    "kill oracle": (kill_child(service, b"oracle"), None, 0),
                    "kill worker": (kill_child(service, b"worker"), None, 0),
                    "kill an API server": (kill_child(service, b"--reuse-port"), None, 0),
                    f"RPC refuses {args.outage:g}s": (proxy.cut, proxy.restore, args.outage),
                    f"restart {args.broker}": (run(BROKERS[args.broker][1]), None, 0),
                    "restart Mosquitto": (run("service mosquitto restart"), None, 0),
                    "restart PostgreSQL": (run("pg_ctlcluster 15 main restart"), None, 0),
                    f"content disk full {args.disk_full:g}s": (
                        fill_disk(content),
                        run(f"umount {content}"),
                        args.disk_full,
                    ),
                }
                chosen = faults if args.faults == "all" else {k: v for k, v in faults.items() if k in args.faults}
                breaches = Breaches(ledger, artifacts, list(chosen), load)
                results: list[tuple[str, float]] = []
                load.thread.start()
                with httpx.Client(base_url=service.api_url, timeout=10) as http:
                    recovered(http, load)
                    for name, (inject, restore, hold) in chosen.items():
                        print(f"{name} ...", flush=True)
                        inject()
                        breaches.breach(service.api_url, name)
                        if restore is not None:
                            time.sleep(hold)
                            restore()
                        results.append((name, recovered(http, load)))
                        print(f"  ready and anchoring again after {results[-1][1]:.1f}s", flush=True)
                    load.stop.set()
                    load.thread.join()
                    rules_fired, fired_events, fired_reports = breaches.fired(database_url)
                    anchored, batches = settle(database_url, load.acknowledged)
                    on_chain = ledger.notary.functions.batchCount().call()
                service.stop()
    finally:
        next(database, None)
    lost = len(set(load.acknowledged) - anchored)
    print()
    print(f"{'fault':<24} {'recovered after':>16}")
    for name, seconds in results:
        print(f"{name:<24} {seconds:>15.1f}s")
    print(f"readings acknowledged {len(load.acknowledged)}, not acknowledged (refused or unreachable) {load.refused}")
    print(f"lost (acknowledged, never anchored): {lost}")
    print(f"anchored twice: {on_chain - batches} (batches anchored on chain {on_chain}, in the database {batches})")
    print(f"rules fired: {rules_fired} of {len(breaches.rules)}; fired twice: {fired_events - rules_fired} "
          f"(RuleFired events {fired_events}, fired reports in the database {fired_reports})")  # fmt: skip


if __name__ == "__main__":
    main()
