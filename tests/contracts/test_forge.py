"""The Foundry suite (tests/forge): fuzz tests of every external contract function and the
invariant tests of the threat model's contract properties, run by forge as a subprocess.

Forge comes from npm (`@foundry-rs/forge`, installed by `make install`), compiles with the
project's solc shim and never touches the network. The fuzz seed is fixed (foundry.toml), so a
run is reproducible; the number of runs is sized for this machine (FORGE_FUZZ_RUNS and
FORGE_INVARIANT_RUNS override it). On failure the test shows forge's own report.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORGE = ROOT / "node_modules" / "@foundry-rs" / "forge-linux-amd64" / "bin" / "forge"
SEED = "0x5eed"
# One suite per contract, and the invariant suites of the threat model's contract properties.
SUITES = (
    "DataNotaryTest",
    "DataNotaryInvariantTest",
    "AssetTokenTest",
    "AssetTokenInvariantTest",
    "BN254Test",
    "DeviceRegistryTest",
    "SupplyChainTest",
    "RolesInvariantTest",
    "ShipmentEscrowTest",
    "ShipmentEscrowInvariantTest",
    "SensorOracleTest",
    "OracleInvariantTest",
)
SUMMARY = re.compile(r"(\d+) tests passed, (\d+) failed, (\d+) skipped \((\d+) total tests\)")

pytestmark = pytest.mark.slow


def _forge(*args: str) -> subprocess.CompletedProcess[str]:
    assert FORGE.is_file(), f"no forge at {FORGE}: run `make install` (npm ci installs @foundry-rs/forge)"
    return subprocess.run(
        [str(FORGE), *args],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_forge_is_the_pinned_release_from_npm() -> None:
    version = _forge("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("forge Version: 1.7.1"), version.stdout


@pytest.mark.timeout(900)
def test_forge_suite_passes_offline_with_a_fixed_seed() -> None:
    run = _forge(
        "test",
        "--use",
        "scripts/solc",
        "--offline",
        "--fuzz-seed",
        SEED,
    )
    report = run.stdout + run.stderr
    summary = SUMMARY.search(report)
    assert run.returncode == 0 and summary is not None, f"forge test failed (exit {run.returncode}):\n{report}"
    passed, failed, skipped, total = (int(n) for n in summary.groups())
    assert failed == 0 and skipped == 0 and passed == total > 0, report
    ran = set(re.findall(r"^Ran \d+ tests? for tests/forge/\S+\.t\.sol:(\w+)$", report, re.MULTILINE))
    assert ran >= set(SUITES), f"suites that did not run: {sorted(set(SUITES) - ran)}"
