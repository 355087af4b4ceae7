"""Brownie users can compile and deploy the same contracts, from Brownie's own tools environment."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_brownie_compiles_and_deploys_on_its_anvil_network() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "brownie-smoke.sh")], cwd=ROOT, capture_output=True, text=True, timeout=880
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "DataNotary:" in output and "proof verified: True" in output
