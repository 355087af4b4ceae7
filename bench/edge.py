"""The edge gateway: readings/s it accepts, next to the service taking the same load directly, and how
fast it catches up after an outage of its upstream link.

    .venv/bin/python bench/edge.py [--devices 4] [--readings 5000] [--batch 100] [--outage 60] [--rate 200]
                                   [--aggregate 10000] [--only aggregation]

Starts `provenance up` (the upstream, rate limits off) and `provenance edge` in front of it, each in a
temporary directory, with pre-signed readings from the device library:

1. acceptance: `--devices` clients, one thread each, post `--readings` readings per device in
   batches of `--batch` (`POST /v1/readings/batch`) to the gateway, then fresh devices do the same
   straight to the service (the same-run baseline); also one connection posting single readings;
2. catch-up: the gateway's link to upstream (a TCP proxy) is cut for `--outage` seconds while
   devices send `--rate` readings/s through the gateway; the link comes back with the load still on;
   reported: the backlog, the seconds until the gateway has forwarded every reading it holds, and
   the catch-up rate (readings forwarded per second above the incoming load).

3. aggregation: a second gateway with its own registered key (`--key`) takes `--aggregate` readings,
   seals them under one root it signs, and forwards that one reading; reported: the anchor
   transaction's gasUsed per reading, next to the same number of readings sent straight to the
   service and anchored there (same run, same batch limit), and the size of one chained proof.

`--only aggregation` runs the third part alone.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_service.core.chain.node import free_port  # noqa: E402
from ledger_service.core.readings import GATEWAY_MODEL  # noqa: E402
from provenance_device import DeviceKey, Domain, Reading  # noqa: E402
from tests.utils.edge import register_key_file  # noqa: E402
from tests.utils.service import RunningService  # noqa: E402
from tests.utils.tcp_proxy import TcpProxy  # noqa: E402

QUIET = {"PROVENANCE_LOG_LEVEL": "WARNING", "PROVENANCE_DEVICE_RATE": "0", "PROVENANCE_API_CLIENT_RATE": "0",
         "PROVENANCE_INGEST_CLIENT_RATE": "0", "PROVENANCE_API_KEY_RATE": "0", "PROVENANCE_INDEX": "false",
         "PROVENANCE_ORACLE": "false"}  # fmt: skip


class BenchDevice:
    """A registered device key signing its next readings."""

    def __init__(self, upstream: RunningService, workdir: Path, index: int, domain: Domain) -> None:
        self.key = DeviceKey.generate("p256" if index % 2 else "secp256k1")
        key_file = workdir / f"device-{index}.key"
        self.key.save(key_file)
        register_key_file(upstream, key_file)
        self.domain, self.sequence = domain, 0

    def bodies(self, count: int) -> list[dict[str, object]]:
        out = []
        for _ in range(count):
            self.sequence += 1
            reading = Reading(self.key.default_device_id, self.sequence, int(time.time()), "temperature", 400, 2, "Cel")
            out.append(reading.body(self.key.sign(reading.digest(self.domain))))
        return out


def post_batches(url: str, batches: list[list[dict[str, object]]]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        for batch in batches:
            answer = client.post("/v1/readings/batch", json={"readings": batch})
            answer.raise_for_status()
            if answer.json()["refused"]:
                raise SystemExit(f"refused: {answer.json()['results'][:2]}")


def acceptance(url: str, devices: list[BenchDevice], readings: int, batch: int) -> float:
    """Readings/s taken by `url` from one thread per device posting batches."""
    work = [[d.bodies(batch) for _ in range(readings // batch)] for d in devices]
    threads = [threading.Thread(target=post_batches, args=(url, w)) for w in work]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(devices) * (readings // batch) * batch / (time.perf_counter() - start)


def single(url: str, device: BenchDevice, count: int) -> float:
    """Readings/s over one keep-alive connection, one reading per request."""
    bodies = device.bodies(count)
    with httpx.Client(base_url=url, timeout=30) as client:
        start = time.perf_counter()
        for body in bodies:
            client.post("/v1/readings", json=body).raise_for_status()
        return count / (time.perf_counter() - start)


def held_and_forwarded(workdir: Path) -> tuple[int, int]:
    with sqlite3.connect(workdir / ".provenance" / "provenance.db") as db:
        held = db.execute("SELECT count(*) FROM reading").fetchone()[0]
        done = db.execute("SELECT count(*) FROM edge_forwarded").fetchone()[0]
    return int(held), int(done)


def steady(url: str, device: BenchDevice, rate: float, stop: threading.Event) -> None:
    """`rate` readings/s, in batches of a tenth of a second's worth."""
    per = max(1, int(rate / 10))
    with httpx.Client(base_url=url, timeout=30) as client:
        next_at = time.monotonic()
        while not stop.is_set():
            client.post("/v1/readings/batch", json={"readings": device.bodies(per)}).raise_for_status()
            next_at += per / rate
            time.sleep(max(0.0, next_at - time.monotonic()))


def catch_up(gateway_dir: Path, url: str, proxy: TcpProxy, device: BenchDevice, rate: float, outage: float) -> None:
    stop = threading.Event()
    load = threading.Thread(target=steady, args=(url, device, rate, stop))
    load.start()
    try:
        time.sleep(2)
        proxy.cut()
        time.sleep(outage)
        held, done = held_and_forwarded(gateway_dir)
        backlog = held - done
        proxy.restore()
        start = time.monotonic()
        while True:
            held, done = held_and_forwarded(gateway_dir)
            if held - done <= rate:  # within a second's worth of the live load
                break
            time.sleep(0.2)
        seconds = time.monotonic() - start
    finally:
        stop.set()
        load.join()
    print(f"catch-up after {outage:.0f} s cut off at {rate:.0f} readings/s: backlog {backlog}, forwarded in "
          f"{seconds:.1f} s = {backlog / seconds:,.0f} readings/s above the live load")  # fmt: skip


def anchor_gas(upstream: RunningService, reading_ids: list[str]) -> tuple[int, int]:
    """(total gasUsed, anchor transactions) of the upstream batches holding `reading_ids`, once all
    are anchored."""
    from web3 import Web3

    database = upstream.workdir / ".provenance" / "provenance.db"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            marks = ",".join("?" * len(reading_ids))
            query = "SELECT DISTINCT b.transaction_hash FROM reading r LEFT JOIN batch b ON b.id = r.batch_id"
            rows = db.execute(f"{query} WHERE r.id IN ({marks})", reading_ids).fetchall()
            stored = db.execute(f"SELECT count(*) FROM reading WHERE id IN ({marks})", reading_ids).fetchone()[0]
        if stored == len(reading_ids) and rows and all(r[0] for r in rows):
            w3 = Web3(Web3.HTTPProvider(upstream.rpc_url))
            gas = sum(int(w3.eth.get_transaction_receipt(r[0])["gasUsed"]) for r in rows)
            return gas, len(rows)
        time.sleep(0.5)
    raise SystemExit("the readings were not anchored upstream within 300 s")


def aggregation(root: Path, upstream: RunningService, manifest: Path, fleet: list[BenchDevice], count: int) -> None:
    """Gas per reading: `count` readings under one gateway root, next to `count` sent directly. One
    reading is anchored first, so that neither side pays for the notary's first writes."""
    with httpx.Client(base_url=upstream.api_url, timeout=60) as client:
        warm = client.post("/v1/readings/batch", json={"readings": fleet[-1].bodies(1)}).json()
    anchor_gas(upstream, [warm["results"][0]["id"]])
    key_file = root / "gateway.key"
    DeviceKey.generate().save(key_file)
    register_key_file(upstream, key_file, "--model", GATEWAY_MODEL)
    edge_port = free_port()
    env = {**QUIET, "PROVENANCE_RPC_URL": upstream.rpc_url, "PROVENANCE_API_PORT": str(edge_port),
           "PROVENANCE_EDGE_AGGREGATE_EVERY": "15", "PROVENANCE_EDGE_AGGREGATE_MAX": str(count)}  # fmt: skip
    command = ("edge", "--upstream", upstream.api_url, "--manifest", str(manifest), "--key", str(key_file))
    with RunningService(root / "edge-aggregating", env=env, command=command, ready_text="edge gateway on"):
        edge_url = f"http://127.0.0.1:{edge_port}"
        time.sleep(2)
        bodies = [b for d in fleet[:4] for b in d.bodies(count // 4)]
        with httpx.Client(base_url=edge_url, timeout=60) as client:
            ids = []
            for start in range(0, len(bodies), 1000):
                answer = client.post("/v1/readings/batch", json={"readings": bodies[start : start + 1000]}).json()
                ids += [r["id"] for r in answer["results"]]
            deadline = time.monotonic() + 120
            while (status := client.get("/v1/edge/status").json())["aggregated"] < len(ids):
                if time.monotonic() > deadline:
                    raise SystemExit(f"not sealed after 120 s: {status}")
                time.sleep(0.5)
            seal_seconds = 120 - (deadline - time.monotonic())
            roots = _root_ids(root / "edge-aggregating")
            edge_gas, edge_tx = anchor_gas(upstream, roots)
            proof = client.get(f"/v1/readings/{ids[len(ids) // 2]}/proof")
            while proof.status_code == 409:
                time.sleep(0.5)
                proof = client.get(f"/v1/readings/{ids[len(ids) // 2]}/proof")
            bundle = proof.json()
    direct_bodies = [b for d in fleet[4:8] for b in d.bodies(count // 4)]
    with httpx.Client(base_url=upstream.api_url, timeout=60) as client:
        direct_ids = []
        for start in range(0, len(direct_bodies), 1000):
            answer = client.post("/v1/readings/batch", json={"readings": direct_bodies[start : start + 1000]}).json()
            direct_ids += [r["id"] for r in answer["results"]]
    direct_gas, direct_tx = anchor_gas(upstream, direct_ids)
    print(
        f"aggregation, {len(ids):,} readings under {len(roots)} gateway root(s) (sealed within {seal_seconds:.0f} s):"
        f" {edge_gas:,} gas in {edge_tx} anchor(s) = {edge_gas / len(ids):.2f} gas/reading;"
        f" sent directly: {direct_gas:,} gas in {direct_tx} anchor(s) = {direct_gas / len(direct_ids):.2f} gas/reading"
    )
    print(f"one chained proof: {len(json.dumps(bundle)):,} bytes, {len(bundle['gateway']['proof'])} gateway siblings"
          f" + {len(bundle['upstream']['merkle']['proof'])} upstream siblings")  # fmt: skip


def _root_ids(gateway_dir: Path) -> list[str]:
    with sqlite3.connect(gateway_dir / ".provenance" / "provenance.db") as db:
        return [r[0] for r in db.execute("SELECT DISTINCT root_reading_id FROM edge_aggregate")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--readings", type=int, default=5000, help="per device")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the upstream link is cut")
    parser.add_argument("--rate", type=float, default=200.0, help="readings/s during the outage")
    parser.add_argument("--aggregate", type=int, default=10_000, help="readings under one gateway root")
    parser.add_argument("--only", choices=["aggregation"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with RunningService(root / "upstream", env={**QUIET, "PROVENANCE_BATCH_SIZE": "10000"}) as upstream:
            manifest = upstream.workdir / ".provenance" / "deployment.json"
            deployment = json.loads(manifest.read_text())
            domain = Domain(int(deployment["chain_id"]), deployment["contracts"]["DeviceRegistry"]["address"])
            fleet = [BenchDevice(upstream, root, i, domain) for i in range(max(8, 2 * args.devices + 3))]
            if args.only == "aggregation":
                aggregation(root, upstream, manifest, fleet, args.aggregate)
                return
            port = int(upstream.api_url.rsplit(":", 1)[1])
            with TcpProxy(port) as proxy:
                edge_port = free_port()
                env = {**QUIET, "PROVENANCE_RPC_URL": upstream.rpc_url, "PROVENANCE_API_PORT": str(edge_port)}
                command = ("edge", "--upstream", proxy.url, "--manifest", str(manifest))
                with RunningService(root / "edge", env=env, command=command, ready_text="edge gateway on"):
                    edge_url = f"http://127.0.0.1:{edge_port}"
                    time.sleep(2)  # the registry copy syncs
                    gateway = acceptance(edge_url, fleet[: args.devices], args.readings, args.batch)
                    others = fleet[args.devices : 2 * args.devices]
                    direct = acceptance(upstream.api_url, others, args.readings, args.batch)
                    print(f"batches of {args.batch}, {args.devices} clients: gateway {gateway:,.0f} readings/s, "
                          f"the service directly {direct:,.0f} readings/s")  # fmt: skip
                    one_gw = single(edge_url, fleet[-3], 1000)
                    one_direct = single(upstream.api_url, fleet[-2], 1000)
                    print(f"one reading per request, one connection: gateway {one_gw:,.0f} readings/s, "
                          f"the service directly {one_direct:,.0f} readings/s")  # fmt: skip
                    catch_up(root / "edge", edge_url, proxy, fleet[-1], args.rate, args.outage)
            aggregation(root, upstream, manifest, fleet, args.aggregate)


if __name__ == "__main__":
    main()
