"""Read throughput and latency of the API and the explorer, under load from wrk on loopback.

    .venv/bin/python bench/api.py [--duration 10] [--connections 16] [--threads 1]

Starts `provenance up` on a fresh anvil in a temporary directory (rate limits off), fills it with
the cold-chain shipment demo, waits for the SQL mirror, then runs wrk (a separate process;
`apt-get install wrk`) against each endpoint in turn and reports requests per second and the
p50/p99 latency wrk measured:

- GET /v1/readings/{id}/proof (a proof bundle of an anchored reading)
- GET /v1/items/{id}/history (the item's timeline from the mirror)
- GET /v1/devices/{id} (a device from the mirror)
- GET /explorer (home) and GET /explorer/tx/{hash} (a decoded transaction page)
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
    return {
        "proof": f"/v1/readings/{reading}/proof",
        "item history": f"/v1/items/{item}/history",
        "device": f"/v1/devices/{state['devices'][0]}",
        "explorer home": "/explorer",
        "explorer tx": f"/explorer/tx/{checkpoint['transaction_hash']}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        env = {"PROVENANCE_API_KEY_RATE": "0", "PROVENANCE_API_CLIENT_RATE": "0", "PROVENANCE_LOG_LEVEL": "WARNING"}
        with RunningService(workdir, env=env, timeout=120) as service:
            print("filling the service with the shipment demo...", flush=True)
            paths = fill(service, workdir)
            print(f"wrk: {args.connections} connections, {args.threads} thread(s), {args.duration}s per endpoint")
            print(f"{'endpoint':<16} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'non-2xx':>8}")
            for name, path in paths.items():
                result = wrk(service.api_url + path, args.duration, args.connections, args.threads)
                print(
                    f"{name:<16} {result['rps']:>9,.0f} {result['p50']:>9.2f} {result['p99']:>9.2f} "
                    f"{int(result['errors']):>8}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
