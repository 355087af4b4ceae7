"""`provenance rule` and `provenance oracle` against the session's chain, as separate processes:
rules added, listed and disabled, refusals with a message and a non-zero exit, the committee
created and shown, reports listed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.settings import Settings
from oracles.contract import SensorOracleContract


def table_of(output: str) -> list[str]:
    """What a command printed, without its log lines (which carry times)."""
    return [line for line in output.splitlines() if not re.match(r"^\d\d:\d\d:\d\d ", line)]


def test_rule_and_oracle_commands(
    chain: ChainContext, chain_settings: Settings, ledger: Ledger, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PROVENANCE_DATA_DIR": str(chain_settings.data_dir),
        "PROVENANCE_RPC_URL": chain.client.rpc_url,
        "PROVENANCE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "ledger_service.app.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    device = os.urandom(32)
    ledger.register_device(device, DeviceKey.generate(KeyType.SECP256K1).public_key)
    item = cli("item", "register", "--device", "0x" + device.hex()).stdout.strip()

    added = cli("rule", "add", item, "--metric", "temperature", "--unit", "Cel", "--above", "8", "--scale", "2",
                "--readings", "3", "--for", "60", "--actions", "mark,freeze")  # fmt: skip
    rule_id = added.stderr.split("rule ")[1].split(":")[0]
    assert "temperature > 8 Cel for 3 readings over at least 60s" in added.stderr and "mark, freeze" in added.stderr
    heartbeat = cli("rule", "add", item, "--heartbeat", "600")
    assert "no reading for more than 600s" in heartbeat.stderr

    # bad input: a message, a non-zero exit, nothing added
    before = table_of(cli("rule", "list", "--item", item).stderr)
    for args, message in (
        (("--metric", "temperature", "--above", "eight", "--scale", "2"), "eight"),
        (("--metric", "temperature", "--above", "8.125", "--scale", "2"), "more decimals"),
        (("--metric", "temperature"), "above, below"),
        (("--metric", "temperature", "--above", "8", "--actions", "explode"), "explode"),
        (("--metric", "temperature", "--above", "8", "--scale", "2"), "unit"),
    ):
        refused = cli("rule", "add", item, *args, ok=False)
        assert refused.returncode != 0 and message in refused.stderr, (args, refused.stderr)
    stranger = cli(
        "rule", "add", item, "--metric", "temperature", "--unit", "Cel", "--above", "8", "--as", "stranger", ok=False
    )
    assert stranger.returncode == 1 and "OracleNotRuleManager" in stranger.stderr
    assert table_of(cli("rule", "list", "--item", item).stderr) == before

    listed = cli("rule", "list", "--item", item).stderr
    assert "2 rule(s)" in listed and "armed" in listed and "heartbeat" in listed
    cli("rule", "disable", rule_id)
    assert "disabled" in cli("rule", "list", "--item", item).stderr
    again = cli("rule", "disable", rule_id, ok=False)
    assert again.returncode == 1 and "OracleRuleDisabled" in again.stderr

    committee = cli("oracle", "committee", "init", "--members", "4", "--quorum", "3")
    assert "created 4 member keys" in committee.stderr and "quorum 3" in committee.stderr
    shown = cli("oracle", "committee", "show").stderr
    assert shown.count("(key held here)") == 4
    too_big = cli("oracle", "committee", "init", "--members", "2", "--quorum", "5", ok=False)
    assert too_big.returncode != 0 and "quorum" in too_big.stderr
    assert "0 report(s)" in cli("oracle", "reports", "--item", item).stderr
    # a silence rule left armed would fire for any later daemon on this chain
    heartbeat_id = int(heartbeat.stderr.split("rule ")[1].split(":")[0])
    SensorOracleContract(chain.client, chain.deployment, chain.artifacts).disable_rule(heartbeat_id)
