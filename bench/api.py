"""Read throughput and latency of the API and the explorer, under load from wrk on loopback.

    .venv/bin/python bench/api.py [--duration 10] [--connections 1,16] [--threads 1] [--workers 1]

Starts `provenance up` on a fresh anvil in a temporary directory (rate limits off; its batcher,
indexer and oracle daemon running), fills it with the cold-chain shipment demo, waits for the SQL
mirror, then runs wrk (a separate process; `apt-get install wrk`) against each endpoint in turn,
at each number of connections, and reports requests per second and the p50/p99 latency wrk
measured, with each endpoint's share of the ceiling:

- the ceiling: GET /ping of a trivial FastAPI app served the same way (its own process);
- GET /healthz;
- GET /v1/readings/{id}/proof (a proof bundle of an anchored reading);
- GET /v1/readings?device=... (the readings query: a page of 100);
- GET /v1/items/{id}/history (the item's timeline from the mirror);
- GET /v1/devices/{id} (a device);
- GET /explorer (home) and GET /explorer/tx/{hash} (a decoded transaction page).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.utils.service import VENV_BIN, RunningService  # noqa: E402

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, duration: int, connections: int, threads: int) -> dict[str, float]:
    """Runs wrk against `url`; returns requests/s, p50 and p99 (ms) and the count of non-2xx."""
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": float(bad.group(1)) if bad else 0.0}


def fill(service: RunningService, workdir: Path) -> dict[str, str]:
    """Runs the shipment demo and returns the paths to load."""
    demo = subprocess.run(
        [str(VENV_BIN / "provenance"), "demo", "--shipment"],
        cwd=workdir, env=service.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if demo.returncode != 0:
        raise SystemExit(f"the shipment demo failed:\n{demo.stderr}")
    item = demo.stderr.split("item ")[-1].split(",")[0].strip()
    with httpx.Client(base_url=service.api_url, timeout=10) as api:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = api.get(f"/v1/items/{item}").json()
            if state.get("status") == "delivered":
                break
            time.sleep(0.25)
        history = api.get(f"/v1/items/{item}/history").json()["entries"]
        batch = api.get("/v1/batches", params={"limit": 1}).json()["data"][0]
        page = api.get(f"/explorer/batch/{batch['id']}").text
    reading = page.split('href="/explorer/reading/')[1].split('"')[0]
    checkpoint = next(e for e in history if e["type"] == "checkpoint")
    device = state["devices"][0]
    return {
        "healthz": "/healthz",
        "proof": f"/v1/readings/{reading}/proof",
        "readings query": f"/v1/readings?device={device}&limit=100",
        "item history": f"/v1/items/{item}/history",
        "device": f"/v1/devices/{device}",
        "explorer home": "/explorer",
        "explorer tx": f"/explorer/tx/{checkpoint['transaction_hash']}",
    }


TRIVIAL = """
import sys, uvicorn
from fastapi import FastAPI
from ledger_service.app.runtime import bind_socket
app = FastAPI()

@app.get("/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}

sock = bind_socket("127.0.0.1", 0)
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")).run(sockets=[sock])
"""


def trivial_server() -> tuple[subprocess.Popen[str], str]:
    """A trivial FastAPI app served as the service serves its API: the machine's ceiling."""
    process = subprocess.Popen(
        [sys.executable, "-c", TRIVIAL], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    time.sleep(1.0)
    return process, f"http://127.0.0.1:{port}/ping"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint")
    parser.add_argument("--connections", default="1,16", help="comma-separated connection counts")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="PROVENANCE_API_WORKERS")
    parser.add_argument("--api-threads", type=int, default=40, help="PROVENANCE_API_THREADS")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    counts = [int(c) for c in args.connections.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        env = {
            "PROVENANCE_API_KEY_RATE": "0", "PROVENANCE_API_CLIENT_RATE": "0", "PROVENANCE_LOG_LEVEL": "WARNING",
            "PROVENANCE_API_WORKERS": str(args.workers), "PROVENANCE_API_THREADS": str(args.api_threads),
        }  # fmt: skip
        with RunningService(workdir, env=env, timeout=120) as service:
            print("filling the service with the shipment demo...", flush=True)
            paths = fill(service, workdir)
            trivial, ceiling_url = trivial_server()
            try:
                urls = {
                    "trivial (ceiling)": ceiling_url,
                    **{name: service.api_url + path for name, path in paths.items()},
                }
                print(
                    f"wrk: {args.threads} thread(s), {args.duration}s per endpoint; "
                    f"API workers: {args.workers}, threads each: {args.api_threads}"
                )
                header = ("endpoint", "conns", "req/s", "p50 ms", "p99 ms", "non-2xx", "ceiling")
                print("{:<18} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8}".format(*header))
                for connections in counts:
                    ceiling = 0.0
                    for name, url in urls.items():
                        result = wrk(url, args.duration, connections, args.threads)
                        ceiling = ceiling or result["rps"]
                        print(
                            f"{name:<18} {connections:>5} {result['rps']:>9,.0f} {result['p50']:>8.2f} "
                            f"{result['p99']:>8.2f} {int(result['errors']):>8} {result['rps'] / ceiling:>7.0%}",
                            flush=True,
                        )
            finally:
                trivial.terminate()
                trivial.wait(timeout=10)


if __name__ == "__main__":
    main()
