"""`provenance item` and `provenance token` against the session's chain, as separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.settings import Settings


def test_item_and_token_commands(chain: ChainContext, chain_settings: Settings, ledger: Ledger, tmp_path: Path) -> None:
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
    registered = cli("item", "register", "--description", '{"product": "insulin"}', "--device", "0x" + device.hex())
    item = registered.stdout.strip()
    assert item.startswith("0x") and len(item) == 66 and "registered item" in registered.stderr

    cli("item", "handover", item, "--to", "party:carrier", "--lat", "53.55", "--lon", "9.99", "--site", "4012345000009")
    refused = cli("item", "accept", item, "--as", "warehouse", ok=False)
    assert refused.returncode == 1 and "SupplyChainNotReceiver" in refused.stderr
    cli("item", "accept", item, "--as", "carrier", "--lat", "51.9", "--lon", "4.5")
    cli("item", "checkpoint", item, "--as", "carrier", "--status", "201", "--lat", "51.9", "--lon", "4.5")
    missing = cli("item", "checkpoint", item, "--as", "carrier", "--evidence", "0x" + "ab" * 32, ok=False)
    assert missing.returncode == 1 and "not-found" in missing.stderr

    minted = cli("token", "mint", item)
    token_id = minted.stdout.strip()
    assert token_id == str(int(item, 16))
    cli("item", "recall", item, "--reason", "temperature excursion")
    shown = cli("item", "show", item)
    assert "recalled" in shown.stderr and "carrier" not in shown.stderr
    frozen = cli("token", "transfer", token_id, "--to", "party:carrier", ok=False)
    assert frozen.returncode == 1 and "AssetTokenFrozen" in frozen.stderr
    assert "frozen True" in cli("token", "show", token_id).stderr

    cli("index", "--once")
    timeline = cli("item", "history", item).stderr
    for kind in (
        "registered",
        "device_attached",
        "handover_proposed",
        "handover_accepted",
        "checkpoint",
        "token_minted",
        "recalled",
    ):
        assert kind in timeline

    for bad in (
        ("item", "show", "0x12"),
        ("item", "history", "0x" + "ef" * 32),
        ("item", "register", "--description", "[1]"),
    ):
        done = cli(*bad, ok=False)
        assert done.returncode != 0 and "Traceback" not in done.stderr
