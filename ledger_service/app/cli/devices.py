"""`provenance device`: keys, registration and lifecycle of devices in the on-chain registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ledger_service.app.cli.common import connect_ledger, console, fail, load_settings
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.device_state import DeviceRecord, Metadata
from ledger_service.core.enums import KeyType
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.keys import DeviceKey, KeyError_
from ledger_service.services.devices import default_device_id, parse_device_id, parse_public_key
from ledger_service.services.registry import RegistryCache

app = typer.Typer(help="Manage devices in the on-chain registry.", no_args_is_help=True)

DeviceIdArg = Annotated[str, typer.Argument(help="Device id: 0x + 64 hex digits, or a name hashed with keccak256.")]


def _registry(ledger: Ledger) -> RegistryCache:
    cache = RegistryCache(ledger.registry, ledger.deployment.contracts["DeviceRegistry"].block_number)
    cache.sync()
    return cache


def _describe(device: DeviceRecord) -> dict[str, Any]:
    return {
        "device_id": "0x" + device.device_id.hex(),
        "owner": device.owner,
        "status": device.status.label,
        "registered_block": device.registered_block,
        "metadata": {"model": device.metadata.model, "firmware_hash": "0x" + device.metadata.firmware_hash.hex(),
                     "metadata_cid": device.metadata.metadata_cid},
        "keys": [
            {**k.key.to_json(), "valid_from": k.valid_from, "valid_from_block": k.valid_from_block,
             "valid_until": k.valid_until, "valid_until_block": k.valid_until_block}
            for k in device.keys
        ],
    }  # fmt: skip


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option(help="Key file to write (readable by its owner only; never overwritten).")],
    key_type: Annotated[str, typer.Option("--type", help="secp256k1 or p256.")] = "secp256k1",
) -> None:
    """Create a device key and write it to a file with mode 0600."""
    try:
        key = DeviceKey.generate(KeyType.parse(key_type))
        key.save(out)
    except FileExistsError:
        fail(ValueError(f"{out} exists: refusing to overwrite a key"))
    except ValueError as exc:
        fail(exc)
    console.print(f"wrote {key.key_type.label} key to {out}")
    print(json.dumps({"public": key.public_key.to_json(), "device_id": "0x" + default_device_id(key.public_key).hex()}))


@app.command("register")
def register(
    key: Annotated[str, typer.Argument(help="The device's key: an address (secp256k1) or a key file from keygen.")],
    device_id: Annotated[str | None, typer.Option("--id", help="Device id; default derived from the key.")] = None,
    owner: Annotated[str | None, typer.Option(help="Owner address; default the operator.")] = None,
    model: Annotated[str, typer.Option(help="Device model.")] = "",
    metadata_cid: Annotated[str, typer.Option(help="Content id of a metadata document.")] = "",
) -> None:
    """Register a device whose key lives elsewhere (a secure element, another host)."""
    settings = load_settings()
    try:
        public = parse_public_key(key)
        id_bytes = parse_device_id(device_id, public)
        ledger = connect_ledger(settings)
        receipt = ledger.register_device(
            id_bytes, public, owner=owner, metadata=Metadata(model, bytes(32), metadata_cid)
        )
    except (ProvenanceError, ValueError, KeyError_) as exc:
        fail(exc)
    console.print(f"registered device 0x{id_bytes.hex()} ({public.key_type.label}) in block {receipt['blockNumber']}")
    print(f"0x{id_bytes.hex()}")


@app.command("show")
def show(device_id: DeviceIdArg) -> None:
    """Show a device: owner, status, metadata and key history (JSON)."""
    settings = load_settings()
    try:
        id_bytes = parse_device_id(device_id)
        device = _registry(connect_ledger(settings)).get(id_bytes)
    except (ProvenanceError, ValueError) as exc:
        fail(exc)
    if device is None:
        console.print(f"[red]error[/red] (unknown-device): no device 0x{id_bytes.hex()}")
        raise typer.Exit(code=1)
    print(json.dumps(_describe(device), indent=2))


@app.command("list")
def list_command(
    owner: Annotated[str | None, typer.Option(help="Only devices of this owner.")] = None,
    status: Annotated[str | None, typer.Option(help="active, suspended or revoked.")] = None,
) -> None:
    """List registered devices."""
    settings = load_settings()
    try:
        devices = _registry(connect_ledger(settings)).devices()
    except ProvenanceError as exc:
        fail(exc)
    table = Table("device id", "key", "status", "owner", "keys")
    for device in devices:
        if owner and device.owner.lower() != owner.lower() or status and device.status.label != status:
            continue
        table.add_row("0x" + device.device_id.hex(), device.current_key.key.key_type.label, device.status.label,
                      device.owner, str(len(device.keys)))  # fmt: skip
    console.print(table)


def _change(device_id: str, what: str, action: Callable[[Ledger, bytes], Any]) -> None:
    settings = load_settings()
    try:
        id_bytes = parse_device_id(device_id)
        receipt = action(connect_ledger(settings), id_bytes)
    except (ProvenanceError, ValueError, KeyError_) as exc:
        fail(exc)
    console.print(f"{what} device 0x{id_bytes.hex()} in block {receipt['blockNumber']}")


@app.command("rotate")
def rotate(
    device_id: DeviceIdArg,
    key: Annotated[str, typer.Argument(help="The new key: an address or a key file.")],
) -> None:
    """Replace a device's key; readings signed with the old key before now stay verifiable."""
    _change(device_id, "rotated the key of", lambda ledger, d: ledger.rotate_key(d, parse_public_key(key)))


@app.command("suspend")
def suspend(device_id: DeviceIdArg) -> None:
    """Suspend a device: its readings are refused until it is reactivated."""
    _change(device_id, "suspended", lambda ledger, d: ledger.suspend_device(d))


@app.command("reactivate")
def reactivate(device_id: DeviceIdArg) -> None:
    """Reactivate a suspended device."""
    _change(device_id, "reactivated", lambda ledger, d: ledger.reactivate_device(d))


@app.command("revoke")
def revoke(device_id: DeviceIdArg) -> None:
    """Revoke a device for good."""
    _change(device_id, "revoked", lambda ledger, d: ledger.revoke_device(d))


@app.command("transfer")
def transfer(
    device_id: DeviceIdArg, new_owner: Annotated[str, typer.Argument(help="The new owner's address.")]
) -> None:
    """Hand a device over to another owner."""
    _change(device_id, f"transferred to {new_owner}", lambda ledger, d: ledger.transfer_device(d, new_owner))
