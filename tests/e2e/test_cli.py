"""The device and API-key commands, as a user runs them against a running `provenance up`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from tests.utils.service import VENV_BIN, RunningService


def cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    return subprocess.run(
        [str(VENV_BIN / "provenance"), *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("key_type", ["secp256k1", "p256"])
def test_keygen_writes_a_private_key_file_and_never_overwrites(tmp_path: Path, key_type: str) -> None:
    path = tmp_path / "keys" / "device.json"
    made = cli(tmp_path, "device", "keygen", "--type", key_type, "--out", str(path))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = DeviceKey.load(path)
    assert key.key_type is KeyType.parse(key_type)
    printed = json.loads(made.stdout)
    assert printed["public"] == key.public_key.to_json()
    again = cli(tmp_path, "device", "keygen", "--type", key_type, "--out", str(path))
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr
    assert DeviceKey.load(path) == key


def test_keygen_refuses_an_unknown_key_type(tmp_path: Path) -> None:
    result = cli(tmp_path, "device", "keygen", "--type", "ed25519", "--out", str(tmp_path / "k.json"))
    assert result.returncode != 0 and "unknown key type" in result.stderr
    assert not (tmp_path / "k.json").exists()


def test_device_lifecycle_and_api_keys_from_the_cli(tmp_path: Path) -> None:
    with RunningService(tmp_path) as service:
        key_file, new_key_file = tmp_path / "p256.json", tmp_path / "next.json"
        assert cli(tmp_path, "device", "keygen", "--type", "p256", "--out", str(key_file)).returncode == 0
        assert cli(tmp_path, "device", "keygen", "--out", str(new_key_file)).returncode == 0

        registered = cli(tmp_path, "device", "register", str(key_file), "--model", "TH-9")
        assert registered.returncode == 0, registered.stderr
        device_id = registered.stdout.strip().splitlines()[-1]
        assert cli(tmp_path, "device", "register", str(key_file)).returncode == 1  # already registered

        assert cli(tmp_path, "device", "rotate", device_id, str(new_key_file)).returncode == 0
        assert cli(tmp_path, "device", "suspend", device_id).returncode == 0
        refused = cli(tmp_path, "device", "suspend", device_id)
        assert refused.returncode == 1 and "DeviceRegistryInvalidStatus" in refused.stderr
        assert cli(tmp_path, "device", "reactivate", device_id).returncode == 0
        shown = json.loads(cli(tmp_path, "device", "show", device_id).stdout)
        assert shown["status"] == "active" and shown["metadata"]["model"] == "TH-9"
        assert [k["type"] for k in shown["keys"]] == ["p256", "secp256k1"]
        assert shown["keys"][0]["valid_until"] is not None
        listed = cli(tmp_path, "device", "list", "--status", "active")
        assert device_id[:20] in listed.stderr
        assert cli(tmp_path, "device", "revoke", device_id).returncode == 0
        assert json.loads(cli(tmp_path, "device", "show", device_id).stdout)["status"] == "revoked"
        missing = cli(tmp_path, "device", "show", "0x" + "ab" * 32)
        assert missing.returncode == 1 and "unknown-device" in missing.stderr

        created = cli(tmp_path, "apikey", "create", "ops", "--role", "registrar")
        assert created.returncode == 0, created.stderr
        secret = created.stdout.strip()
        body = {"key": DeviceKey.generate(KeyType.SECP256K1).public_key.to_json()}
        with httpx.Client(base_url=service.api_url, timeout=30) as api:
            assert api.post("/v1/devices", json=body, headers={"Authorization": f"Bearer {secret}"}).status_code == 201
            prefix = secret.split("_")[1]
            assert prefix in cli(tmp_path, "apikey", "list").stderr
            assert cli(tmp_path, "apikey", "revoke", prefix).returncode == 0
            body = {"key": DeviceKey.generate(KeyType.P256).public_key.to_json()}
            denied = api.post("/v1/devices", json=body, headers={"Authorization": f"Bearer {secret}"})
            assert denied.status_code == 401
        bad_role = cli(tmp_path, "apikey", "create", "x", "--role", "superuser")
        assert bad_role.returncode != 0


def test_tx_list_shows_the_outbox_and_cancel_needs_a_chain(tmp_path: Path) -> None:
    listed = cli(tmp_path, "tx", "list", "--status", "pending")
    assert listed.returncode == 0, listed.stderr
    assert "nonce" in listed.stdout + listed.stderr  # the table's header, with no rows yet
    refused = cli(tmp_path, "tx", "cancel", "0")
    assert refused.returncode == 1 and "provenance up" in refused.stderr  # no chain to cancel on: says how to start one
