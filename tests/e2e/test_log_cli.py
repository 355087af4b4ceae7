"""The transparency log from the shell against `provenance up`: a witness cosigns the log's
checkpoint (exit 0) and `provenance log verify` passes the saved checkpoint under the pinned key,
and against the chain (the notary's log head), and fails (exit 1) under another key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.utils.service import VENV_BIN, RunningService


def provenance(service: RunningService, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "provenance"), *args], cwd=service.workdir, env=service.env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_witness_and_an_audit_from_the_shell(tmp_path: Path) -> None:
    with RunningService(tmp_path) as service, httpx.Client(base_url=service.api_url, timeout=30) as api:
        key = api.get("/v1/log/key").json()["verifier_key"]
        saved = tmp_path / "checkpoint.note"
        saved.write_text(api.get("/v1/log/checkpoint").text)
        witnessed = provenance(service, "witness", "--key", key, "--state", str(tmp_path / "w"),
                               "--url", service.api_url, "--once")  # fmt: skip
        assert witnessed.returncode == 0, witnessed.stdout + witnessed.stderr
        assert "cosigned at size" in witnessed.stdout + witnessed.stderr
        audited = provenance(service, "log", "verify", str(saved), "--key", key, "--url", service.api_url, "--latest")
        assert audited.returncode == 0, audited.stdout + audited.stderr
        assert "signed by the pinned key" in audited.stdout + audited.stderr
        other = "provenance-ledger+00000000+AQ" + "A" * 42 + "="
        refused = provenance(service, "log", "verify", str(saved), "--key", other, "--url", service.api_url)
        assert refused.returncode == 1 and "FAIL" in refused.stdout + refused.stderr
        notary = json.loads((tmp_path / ".provenance" / "deployment.json").read_text())["contracts"]["DataNotary"]
        chained = provenance(service, "log", "verify", str(saved), "--key", key, "--url", service.api_url,
                             "--rpc", service.rpc_url, "--notary", notary["address"])  # fmt: skip
        assert chained.returncode == 0, chained.stdout + chained.stderr
        said = chained.stdout + chained.stderr
        assert "is the root of its events" in said and "is the chain's log at that size" in said
        alone = provenance(service, "log", "verify", str(saved), "--key", key, "--rpc", service.rpc_url)
        assert alone.returncode == 2 and "--rpc and --notary go together" in alone.stdout + alone.stderr
