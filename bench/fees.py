"""Anchoring through a base fee spike, against a real `provenance up` on an anvil that mines a
block every 2 seconds (automine off).

    .venv/bin/python bench/fees.py [--seconds 60] [--rate 10] [--spike-from 20] [--spike-for 20]

A steady load of single readings runs for `--seconds`, with every block's base fee held at
`--base-gwei`; from `--spike-from` for `--spike-for` seconds it is held at three times that, so
the anchoring transactions priced just before the spike (at twice the base fee plus the tip) are
underpriced until the transaction manager replaces them. Reports the
batches anchored, the replacements, what is left pending in the outbox (stuck), and the latency
from acknowledgement to anchored before, during and after the spike: the phases before and after
are the same run's baseline.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.notarization import fleet, percentile  # noqa: E402
from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.ledger import Ledger  # noqa: E402
from ledger_service.core.chain.manifest import load_manifest  # noqa: E402
from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402
from tests.utils.factories import signed_body  # noqa: E402
from tests.utils.service import RunningService  # noqa: E402


def metric(api: httpx.Client, name: str) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return 0.0


class BaseFee:
    """Holds every next block's base fee at `wei` (changed with `set`) until stopped."""

    def __init__(self, rpc_url: str, wei: int) -> None:
        self.rpc_url, self.wei = rpc_url, wei
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                request = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "anvil_setNextBlockBaseFeePerGas",
                    "params": [hex(self.wei)],
                }
                http.post(self.rpc_url, json=request)
                self.stop.wait(0.1)

    def __enter__(self) -> BaseFee:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady load")
    parser.add_argument("--rate", type=float, default=10.0, help="readings per second")
    parser.add_argument("--spike-from", type=float, default=20.0)
    parser.add_argument("--spike-for", type=float, default=20.0)
    parser.add_argument("--replace-after", type=float, default=4.0, help="PROVENANCE_TX_REPLACE_AFTER")
    parser.add_argument("--base-gwei", type=float, default=10.0, help="the base fee held outside the spike")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-fees-"))
    with ManagedAnvil(state_dir=None, extra_args=["--block-time", "2"]) as node:
        env = {
            "PROVENANCE_RPC_URL": node.url, "PROVENANCE_DEVICE_RATE": "0", "PROVENANCE_BATCH_AGE": "1",
            "PROVENANCE_LOG_LEVEL": "WARNING", "PROVENANCE_INDEX": "false", "PROVENANCE_ORACLE": "false",
            "PROVENANCE_TX_REPLACE_AFTER": str(args.replace_after),
        }  # fmt: skip
        with RunningService(workdir, env=env, timeout=180) as service:
            settings = Settings(_env_file=None, data_dir=workdir / ".provenance")  # type: ignore[call-arg]
            deployment = load_manifest(settings.manifest_path)
            assert deployment is not None
            ledger = Ledger(connect(settings, node.url), deployment, compile_contracts(settings.build_dir))
            devices = fleet(ledger, 4)
            db = workdir / ".provenance" / "provenance.db"
            sent: list[tuple[float, str]] = []
            base = int(args.base_gwei * 10**9)
            print(f"{args.rate:g} readings/s for {args.seconds:g}s on 2 s blocks; base fee {args.base_gwei:g} gwei, "
                  f"x3 from {args.spike_from:g}s for {args.spike_for:g}s ...", flush=True)  # fmt: skip
            with httpx.Client(base_url=service.api_url, timeout=60) as api, BaseFee(node.url, base) as fee:
                start = time.monotonic()
                while (elapsed := time.monotonic() - start) < args.seconds:
                    spiking = args.spike_from <= elapsed < args.spike_from + args.spike_for
                    fee.wei = 3 * base if spiking else base
                    device = devices[len(sent) % len(devices)]
                    sent.append(
                        (elapsed, api.post("/v1/readings", json=signed_body(device, ledger.domain)).json()["id"])
                    )
                    time.sleep(max(0.0, start + len(sent) / args.rate - time.monotonic()))
                fee.wei = base
                deadline = time.monotonic() + 180
                query = (
                    "select count(*) from reading r left join batch b on b.id = r.batch_id where b.anchored_at is null"
                )
                while time.monotonic() < deadline:
                    with sqlite3.connect(db) as conn:
                        left = conn.execute(query).fetchone()[0]
                    if left == 0:
                        break
                    time.sleep(0.5)
                with sqlite3.connect(db) as conn:
                    anchored = dict(
                        conn.execute(
                            "select r.id, b.anchored_at - r.received_at from reading r join batch b "
                            "on b.id = r.batch_id where b.anchored_at is not null"
                        ).fetchall()
                    )
                    batches = conn.execute("select count(*), sum(anchored_at is not null) from batch").fetchone()
                    pending = conn.execute("select count(*) from outbox_tx where status = 'pending'").fetchone()[0]
                replacements = metric(api, "provenance_transaction_replacements")
            service.stop()
    phases = {"before the spike": [], "during the spike": [], "after the spike": []}
    for at, reading_id in sent:
        phase = (
            "before the spike" if at < args.spike_from
            else "during the spike" if at < args.spike_from + args.spike_for else "after the spike"
        )  # fmt: skip
        if reading_id in anchored:
            phases[phase].append(anchored[reading_id])
    print()
    print(f"readings sent {len(sent)}, anchored {len(anchored)}; batches {batches[0]}, anchored {batches[1]}")
    print(f"replacements {replacements:.0f}; outbox transactions left pending (stuck): {pending}")
    print("acknowledged -> anchored        readings   median s    p99 s")
    for phase, values in phases.items():
        if values:
            print(f"  {phase:<28} {len(values):>8} {statistics.median(values):>10.2f} {percentile(values, 0.99):>8.2f}")


if __name__ == "__main__":
    main()
