"""Webhook deliveries per second and event-to-delivery latency at a steady event rate.

    .venv/bin/python bench/webhooks.py [--rate 1000] [--duration 20] [--subscriptions 1] [--database sqlite]

On a fresh anvil, in one process: readings are ingested at `--rate`/s for `--duration` s (each
becomes a `reading.anchored` event once its batch is anchored and confirmed); the batcher (batches
every 0.5 s), the indexer (polling every 0.05 s) and the webhook deliverer run as threads; each
subscription posts to a receiver on loopback (HTTP/1.1, keep-alive) that notes when each event
arrives. A watcher notes when each block becomes confirmed in the mirror, the moment its events
enter the feed.

Reported, with the same run's event rate as the baseline:
- deliveries/s while the load runs, and for a backlog (a second subscription made at the end,
  starting from the first event: how fast one subscription catches up);
- latency p50/p99 from an event entering the feed to its delivery (the deliverer's share), and
  from the reading's acknowledgement to its delivery (batching, anchoring and indexing included).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.notarization import fleet  # noqa: E402
from indexer.runner import ChainIndexer, target_of  # noqa: E402
from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.deploy import deploy  # noqa: E402
from ledger_service.core.chain.node import ManagedAnvil  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402
from ledger_service.services.apikeys import Role, create_key  # noqa: E402
from ledger_service.services.container import Services  # noqa: E402
from ledger_service.services.events import START, EventFeed  # noqa: E402
from ledger_service.services.webhooks import WebhookDeliverer, create_subscription  # noqa: E402
from tests.utils.postgres import postgres_database  # noqa: E402


class Receiver:
    """A receiver in a process of its own (as a receiver would be): notes the wall-clock arrival of
    each (subscription, event id), answers 204 on a kept-alive connection; `arrivals()` fetches them."""

    SCRIPT = r"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
arrivals, lock = {}, threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        subscription, _, event = self.headers["webhook-id"].partition(".")
        with lock:
            arrivals.setdefault(subscription, {}).setdefault(event, time.time())
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def do_GET(self):
        with lock:
            body = json.dumps(arrivals).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", self.SCRIPT], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{self.process.stdout.readline().strip()}/hook"

    def arrivals(self) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = httpx.get(self.url, timeout=30).json()
        return found

    def count(self, subscription: int) -> int:
        return len(self.arrivals().get(str(subscription), {}))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def watch_confirmed(services: Services, seen: dict[int, float], stop: threading.Event) -> None:
    """When each block became confirmed in the mirror (its events entered the feed)."""
    last = -1
    while not stop.wait(0.005):
        with services.engine.connect() as conn:
            row = conn.execute(text("SELECT confirmed_through FROM index_state")).first()
        if row is not None and row[0] > last:
            now = time.time()
            for block in range(last + 1, row[0] + 1):
                seen[block] = now
            last = row[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="readings (so events) per second")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--subscriptions", type=int, default=1)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    database = postgres_database() if args.database == "postgresql" else None
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=workdir, batch_age=0.5, batch_poll=0.05, device_rate=0,
        webhook_allow_private=True, webhook_poll=0.02,
        database_url=next(database) if database is not None else None,
    )  # fmt: skip
    receiver = Receiver()
    try:
        arrivals, events, acknowledged, confirmed_at, total, load, backlog_seconds = run(args, settings, receiver)
    finally:
        receiver.close()
        if database is not None:
            next(database, None)
    report(args, arrivals, events, acknowledged, confirmed_at, total, load, backlog_seconds)


def run(args: argparse.Namespace, settings: Settings, receiver: Receiver) -> tuple[Any, ...]:
    """The run: load, deliveries, then the backlog subscription; what `report` needs."""
    artifacts = compile_contracts(settings.build_dir)
    with ManagedAnvil(state_dir=None) as node:
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        services = Services.build(settings, client, deployment, artifacts)
        devices = fleet(services.ledger, 8)
        services.registry.refresh(force=True)
        key, _ = create_key(services.engine, "bench", [Role.ADMIN])
        for _ in range(args.subscriptions):
            create_subscription(services.engine, settings, key, None, receiver.url, ["reading.anchored"], START)
        stop = threading.Event()
        indexer = ChainIndexer(services.engine, node.url, target_of(deployment, artifacts), poll=0.05)
        deliverer = WebhookDeliverer(services.engine, settings, batch=500, threads=8)
        confirmed_at: dict[int, float] = {}

        def deliver() -> None:
            while not stop.is_set():
                if deliverer.step() == 0:
                    time.sleep(settings.webhook_poll)

        threads = [
            threading.Thread(target=services.batcher().run, args=(stop, settings.batch_poll), daemon=True),
            threading.Thread(target=indexer.run, args=(stop,), daemon=True),
            threading.Thread(target=deliver, daemon=True),
            threading.Thread(target=watch_confirmed, args=(services, confirmed_at, stop), daemon=True),
        ]
        for thread in threads:
            thread.start()
        acknowledged: dict[str, float] = {}
        total = int(args.rate * args.duration)
        signed = []
        for n in range(total):  # signed before the clock starts: the devices' work, not the service's
            device = devices[n % len(devices)]
            reading = device.reading()
            signed.append((reading, device.sign(reading, services.ledger.domain)))
        print(f"{total:,} readings at {args.rate:,.0f}/s to {args.subscriptions} subscription(s) ...", flush=True)
        chunk = max(1, int(args.rate / 20))  # a request of readings every 50 ms
        started = time.monotonic()
        for n in range(0, total, chunk):
            wait = started + n / args.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            results = services.ingestor.ingest_many(signed[n : n + chunk])
            now = time.time()
            for result in results:
                assert result.reading_id is not None, result
                acknowledged[result.reading_id] = now
        load_end = time.monotonic()
        print(f"  sent in {load_end - started:.1f}s; waiting for every delivery ...", flush=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and any(receiver.count(s) < total for s in range(1, args.subscriptions + 1)):
            time.sleep(0.5)
        events = _events(services)  # event id -> (reading id, block)
        backlog_id = args.subscriptions + 1
        create_subscription(services.engine, settings, key, None, receiver.url, ["reading.anchored"], START)
        backlog_start = time.time()
        while time.monotonic() < deadline and receiver.count(backlog_id) < total:
            time.sleep(0.2)
        arrivals = receiver.arrivals()
        receiver.close()
        backlog_seconds = max(arrivals.get(str(backlog_id), {"": backlog_start}).values()) - backlog_start
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        deliverer.close()
        indexer.close()
        services.close()
    return arrivals, events, acknowledged, confirmed_at, total, (started, load_end), backlog_seconds


def _events(services: Services) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    feed, after = EventFeed(services.engine), START
    while True:
        page = feed.read(after, 1000, None, ["reading.anchored"])
        for event in page.events:
            found[event.id] = (event.data["reading_id"], event.block_number)
        if page.next == after:
            return found
        after = page.next


def report(
    args: argparse.Namespace,
    received: dict[str, dict[str, float]],
    events: dict[str, tuple[str, int]],
    acknowledged: dict[str, float],
    confirmed_at: dict[int, float],
    total: int,
    load: tuple[float, float],
    backlog_seconds: float,
) -> None:
    print()
    print(f"event rate (baseline): {total / (load[1] - load[0]):,.0f} events/s for {load[1] - load[0]:.1f}s")
    for subscription in range(1, args.subscriptions + 1):
        arrivals = received.get(str(subscription), {})
        missing = total - len(arrivals)
        in_feed = [t - confirmed_at[events[e][1]] for e, t in arrivals.items() if events[e][1] in confirmed_at]
        end_to_end = [t - acknowledged[events[e][0]] for e, t in arrivals.items()]
        span = max(arrivals.values()) - min(arrivals.values())
        print(f"subscription {subscription}: {len(arrivals):,} delivered ({missing} missing), "
              f"{len(arrivals) / span:,.0f} deliveries/s over the run")  # fmt: skip
        print(f"  feed to delivery:        p50 {statistics.median(in_feed) * 1000:7.1f} ms   "
              f"p99 {percentile(in_feed, 0.99) * 1000:7.1f} ms")  # fmt: skip
        print(f"  acknowledged to delivery: p50 {statistics.median(end_to_end) * 1000:7.1f} ms   "
              f"p99 {percentile(end_to_end, 0.99) * 1000:7.1f} ms")  # fmt: skip
    backlog = len(received.get(str(args.subscriptions + 1), {}))
    print(f"backlog: {backlog:,} events delivered to a new subscription in {backlog_seconds:.1f}s "
          f"({backlog / max(backlog_seconds, 1e-9):,.0f} deliveries/s)")  # fmt: skip


if __name__ == "__main__":
    main()
