"""Ingest and anchoring with one replica and with two, on PostgreSQL, in the same run.

    .venv/bin/python bench/replicas.py [--readings 30000] [--devices 40]

One chain (`provenance chain`), one fresh PostgreSQL database; then, in turn:
- one API process (`provenance serve`) and one batcher (`provenance batcher`);
- two API processes behind one port (`PROVENANCE_API_WORKERS=2`) and two batchers.
Each phase posts `--readings` signed readings through the batch endpoint (two clients, requests of
5,000) and reports verified readings per second, then the seconds until every one of them is
anchored, and checks that each is in exactly one anchored batch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.notarization import batch_endpoint, fleet  # noqa: E402
from ledger_service.core.chain.client import connect  # noqa: E402
from ledger_service.core.chain.ledger import Ledger  # noqa: E402
from ledger_service.core.chain.manifest import load_manifest  # noqa: E402
from ledger_service.core.compiler import compile_contracts  # noqa: E402
from ledger_service.core.db import create_schema, make_engine  # noqa: E402
from ledger_service.core.settings import Settings  # noqa: E402
from tests.e2e.test_end_to_end import run_cli  # noqa: E402
from tests.utils.postgres import postgres_database  # noqa: E402
from tests.utils.service import RunningService  # noqa: E402

_ANCHORED = text("SELECT COUNT(*) FROM reading r JOIN batch b ON b.id = r.batch_id WHERE b.anchored_at IS NOT NULL")


def phase(
    workdir: Path, env: dict[str, str], replicas: int, ledger: Ledger, readings: int, devices: int
) -> dict[str, float]:
    """Runs one phase; returns readings/s, seconds until all anchored, and readings anchored."""
    engine = make_engine(env["PROVENANCE_DATABASE_URL"])
    create_schema(engine)
    with engine.connect() as conn:
        before = int(conn.execute(_ANCHORED).scalar_one())
    fleet_now = fleet(ledger, devices)
    with ExitStack() as stack:
        api_env = {**env, "PROVENANCE_API_WORKERS": str(replicas)}
        api = stack.enter_context(
            RunningService(workdir / f"api-{replicas}", command=("serve",), ready_text="API on http://", env=api_env)
        )
        for number in range(replicas):
            stack.enter_context(
                RunningService(
                    workdir / f"batcher-{replicas}-{number}", command=("batcher",), ready_text="running", env=env
                )
            )
        url = api.log().split("API on ")[-1].split()[0]
        ingest = batch_endpoint(url, fleet_now, ledger, readings)
        started = time.monotonic()
        while True:
            with engine.connect() as conn:
                anchored = int(conn.execute(_ANCHORED).scalar_one()) - before
            if anchored >= ingest["stored"] or time.monotonic() - started > 600:
                break
            time.sleep(0.2)
        to_anchor = time.monotonic() - started
    engine.dispose()
    return {
        "per_second": ingest["per_second"],
        "stored": ingest["stored"],
        "anchored": anchored,
        "to_anchor": to_anchor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=30_000)
    parser.add_argument("--devices", type=int, default=40)
    args = parser.parse_args()
    database = postgres_database()
    database_url = next(database)
    workdir = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    env = {
        "PROVENANCE_DATABASE_URL": database_url, "PROVENANCE_DATA_DIR": str(workdir / ".provenance"),
        "PROVENANCE_DEVICE_RATE": "0", "PROVENANCE_BATCH_SIZE": "10000", "PROVENANCE_BATCH_AGE": "1",
        "PROVENANCE_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    results = {}
    try:
        with RunningService(workdir, command=("chain",), ready_text="chain up", env=env) as chain:
            deployed = run_cli(workdir, "deploy", env={"PROVENANCE_DATA_DIR": env["PROVENANCE_DATA_DIR"]})
            if deployed.returncode != 0:
                raise SystemExit(deployed.stderr)
            settings = Settings(_env_file=None, data_dir=workdir / ".provenance", database_url=database_url)  # type: ignore[call-arg]
            deployment = load_manifest(settings.manifest_path)
            assert deployment is not None
            ledger = Ledger(connect(settings, chain.rpc_url), deployment, compile_contracts(settings.build_dir))
            for replicas in (1, 2):
                print(
                    f"{replicas} API process(es) and {replicas} batcher(s): {args.readings:,} readings ...", flush=True
                )
                results[replicas] = phase(workdir, env, replicas, ledger, args.readings, args.devices)
    finally:
        next(database, None)
    print()
    print("replicas   readings/s (batch endpoint)   all anchored after   anchored / stored")
    for replicas, r in results.items():
        print(
            f"{replicas:>8}   {r['per_second']:>27,.0f}   {r['to_anchor']:>17.1f}s   "
            f"{r['anchored']:,.0f} / {r['stored']:,.0f}"
        )


if __name__ == "__main__":
    main()
