"""A Celery worker (`provenance worker`) as a separate process, and the Redis that brokers its tasks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ledger_service.core.settings import Settings

REDIS_URL = os.environ.get("PROVENANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def start_worker(
    chain_settings: Settings, database_url: str, broker_url: str, rpc_url: str, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")},
        "PROVENANCE_DATA_DIR": str(chain_settings.data_dir),
        "PROVENANCE_DATABASE_URL": database_url,
        "PROVENANCE_BROKER_URL": broker_url,
        "PROVENANCE_RPC_URL": rpc_url,
        "PROVENANCE_WORKER_CONCURRENCY": "2",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ledger_service.app.cli", "worker"], env=env, stdout=out, stderr=out,
            start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
