"""Notarization at scale, measured end to end against a real `provenance up` on this machine.

    .venv/bin/python bench/notarization.py [--readings 50000] [--mqtt-readings 10000]

Reports, in one run:
- verified readings per second through POST /v1/readings/batch (signatures checked, stored,
  committed), and through MQTT (Mosquitto at 127.0.0.1:1883, QoS 1, arrays of 100 per message);
- latency from acknowledgement to anchored (reading.received_at to batch.anchored_at), median and
  p99, under a steady load of single readings;
- GET /v1/readings/{id}/proof latency, median and p99, while that load runs;
- gas per reading when anchoring batches of 100, 1,000 and 10,000, side by side with the baseline
  of one anchoring transaction per reading.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.ledger import Ledger  # noqa: E402
from ledger_service.core.chain.manifest import load_manifest  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402
from tests.utils.factories import Device, signed_body  # noqa: E402
from tests.utils.service import RunningService  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fleet(ledger: Ledger, count: int) -> list[Device]:
    devices = []
    for index in range(count):
        device = Device(key=DeviceKey.generate(KeyType.P256 if index % 2 else KeyType.SECP256K1))
        ledger.register_device(device.device_id, device.key.public_key)
        devices.append(device)
    return devices


def wait_for_stored(db: Path, count: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            stored = conn.execute("select count(*) from reading").fetchone()[0]
        if stored >= count:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"only {stored} of {count} readings stored after {timeout}s")


def batch_endpoint(api_url: str, devices: list[Device], ledger: Ledger, total: int) -> dict[str, float]:
    """Two clients, each with its own half of the devices (a device's requests must not overlap:
    its sequence numbers have to arrive in order), posting requests of 5,000 readings."""
    per_device = total // len(devices)
    streams: list[list[bytes]] = []
    for group in (devices[0::2], devices[1::2]):
        bodies = [signed_body(d, ledger.domain) for _ in range(per_device) for d in group]
        streams.append([json.dumps({"readings": bodies[i : i + 5000]}).encode() for i in range(0, len(bodies), 5000)])
    with httpx.Client(base_url=api_url, timeout=300) as http:

        def post_all(payloads: list[bytes]) -> int:
            stored = 0
            for payload in payloads:
                response = http.post(
                    "/v1/readings/batch", content=payload, headers={"content-type": "application/json"}
                )
                response.raise_for_status()
                stored += int(response.json()["stored"])
            return stored

        start = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            stored = sum(pool.map(post_all, streams))
        elapsed = time.perf_counter() - start
    return {"readings": per_device * len(devices), "stored": stored, "seconds": elapsed, "per_second": stored / elapsed}


def mqtt_ingest(devices: list[Device], ledger: Ledger, total: int, db: Path, already: int) -> dict[str, float]:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}")
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    per_device = total // len(devices)
    messages = []
    for device in devices:
        readings = [signed_body(device, ledger.domain) for _ in range(per_device)]
        for i in range(0, len(readings), 100):
            topic = f"devices/0x{device.device_id.hex()}/readings"
            messages.append((topic, json.dumps(readings[i : i + 100])))
    start = time.perf_counter()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=120)
    done = wait_for_stored(db, already + per_device * len(devices), timeout=600)
    elapsed = done - (time.monotonic() - (time.perf_counter() - start))
    client.loop_stop()
    client.disconnect()
    count = per_device * len(devices)
    return {"readings": count, "seconds": elapsed, "per_second": count / elapsed}


def steady_load_with_proofs(
    api_url: str, devices: list[Device], ledger: Ledger, rate: float, seconds: float, proof_ids: list[str]
) -> dict[str, Any]:
    """Single readings at `rate`/s for `seconds`, while one client asks for proofs."""
    proof_latencies: list[float] = []
    stop = threading.Event()

    def ask_for_proofs() -> None:
        with httpx.Client(base_url=api_url, timeout=30) as http:
            while not stop.is_set():
                reading_id = random.choice(proof_ids)
                start = time.perf_counter()
                response = http.get(f"/v1/readings/{reading_id}/proof")
                proof_latencies.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text

    prover = threading.Thread(target=ask_for_proofs)
    prover.start()
    ids: list[str] = []
    with httpx.Client(base_url=api_url, timeout=30) as http:
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < seconds:
            device = devices[sent % len(devices)]
            ids.append(http.post("/v1/readings", json=signed_body(device, ledger.domain)).json()["id"])
            sent += 1
            time.sleep(max(0.0, start + sent / rate - time.monotonic()))
    stop.set()
    prover.join()
    return {"ids": ids, "proof_latencies": proof_latencies}


def ack_to_anchor(db: Path, ids: list[str], timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    marks = ",".join("?" * len(ids))
    query = (
        "select r.received_at, b.anchored_at from reading r join batch b on r.batch_id = b.id "
        f"where b.anchored_at is not null and r.id in ({marks})"
    )
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(query, ids).fetchall()
        if len(rows) == len(ids):
            return [anchored - received for received, anchored in rows]
        time.sleep(0.2)
    raise RuntimeError("readings of the steady load were not all anchored")


def gas_table(ledger: Ledger) -> dict[int, int]:
    gas = {}
    cid = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"
    anchorer = ledger.client.for_role("anchorer")  # the only account DataNotary lets anchor
    anchorer.transact(ledger.notary.functions.anchor(os.urandom(32), 1, 1, 1, cid))  # warm the counter
    for size in (1, 100, 1000, 10_000):
        receipt = anchorer.transact(ledger.notary.functions.anchor(os.urandom(32), size, 1, 2, cid))
        gas[size] = int(receipt["gasUsed"])
    return gas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=50_000, help="readings through the batch endpoint")
    parser.add_argument("--mqtt-readings", type=int, default=10_000, help="readings through MQTT (0: skip)")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--steady-rate", type=float, default=200.0)
    parser.add_argument("--steady-seconds", type=float, default=15.0)
    parser.add_argument("--no-index", action="store_true", help="run `up` without its indexer (for comparison)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-notarization-"))
    env = {
        "PROVENANCE_DEVICE_RATE": "0",
        "PROVENANCE_BATCH_SIZE": "10000",
        "PROVENANCE_BATCH_AGE": "1",
        "PROVENANCE_LOG_LEVEL": "WARNING",
        "PROVENANCE_MQTT_HOST": "127.0.0.1" if args.mqtt_readings else "",
        "PROVENANCE_MQTT_CLIENT_ID": f"bench-ingest-{os.getpid()}",
        "PROVENANCE_INDEX": "false" if args.no_index else "",
    }
    env = {k: v for k, v in env.items() if v}
    with RunningService(workdir, env=env, timeout=120) as service:
        settings = Settings(_env_file=None, data_dir=workdir / ".provenance")  # type: ignore[call-arg]
        client = connect(settings, service.rpc_url)
        deployment = load_manifest(settings.manifest_path)
        assert deployment is not None
        ledger = Ledger(client, deployment, compile_contracts(settings.build_dir))
        db = workdir / ".provenance" / "provenance.db"
        print(f"registering {args.devices} devices (half secp256k1, half P-256) ...", flush=True)
        devices = fleet(ledger, args.devices)

        print(f"batch endpoint: {args.readings} readings in requests of 5,000 ...", flush=True)
        batch = batch_endpoint(service.api_url, devices, ledger, args.readings)
        mqtt = None
        if args.mqtt_readings:
            print(f"MQTT: {args.mqtt_readings} readings ...", flush=True)
            mqtt = mqtt_ingest(devices, ledger, args.mqtt_readings, db, int(batch["stored"]))
        with sqlite3.connect(db) as conn:
            wait_start = time.monotonic()
            while conn.execute("select count(*) from batch where anchored_at is null").fetchone()[0] > 0 or (
                conn.execute("select count(*) from reading where batch_id is null").fetchone()[0] > 0
            ):
                if time.monotonic() - wait_start > 300:
                    raise RuntimeError("backlog not anchored")
                time.sleep(0.5)
            proof_ids = [row[0] for row in conn.execute("select id from reading order by random() limit 2000")]
        print(f"steady load: {args.steady_rate}/s single readings for {args.steady_seconds}s, with proof requests ...")
        steady = steady_load_with_proofs(
            service.api_url, devices, ledger, args.steady_rate, args.steady_seconds, proof_ids
        )
        latencies = ack_to_anchor(db, steady["ids"], timeout=120)
        gas = gas_table(ledger)
        service.stop()

    print()
    print("Ingest throughput (verified, stored, committed), 2 cores, client on the same machine")
    stored, seconds = batch["stored"], batch["seconds"]
    print(f"  batch endpoint : {batch['per_second']:>9,.0f} readings/s  ({stored:,.0f} in {seconds:.1f}s)")
    if mqtt:
        count, seconds = mqtt["readings"], mqtt["seconds"]
        print(f"  MQTT (QoS 1)   : {mqtt['per_second']:>9,.0f} readings/s  ({count:,.0f} in {seconds:.1f}s)")
    print(f"Acknowledged -> anchored ({len(latencies)} readings at {args.steady_rate:g}/s, batch age 1 s)")
    print(f"  median {statistics.median(latencies):.2f}s   p99 {percentile(latencies, 0.99):.2f}s")
    proofs = steady["proof_latencies"]
    print(f"GET /v1/readings/{{id}}/proof under that load ({len(proofs)} requests)")
    print(f"  median {statistics.median(proofs) * 1000:.1f} ms   p99 {percentile(proofs, 0.99) * 1000:.1f} ms")
    print("Gas per reading (anchor transaction gasUsed / readings), with the one-transaction-per-reading baseline")
    print(f"  {'batch size':>10} {'gas per tx':>11} {'gas/reading':>12} {'baseline gas/reading':>21} {'saving':>8}")
    for size in (100, 1000, 10_000):
        per = gas[size] / size
        print(f"  {size:>10,} {gas[size]:>11,} {per:>12,.1f} {gas[1]:>21,} {gas[1] / per:>7,.0f}x")


if __name__ == "__main__":
    main()
