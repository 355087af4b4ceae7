"""Devices: the on-chain registry, read from the event-fed cache; changes need an API key.

Every change acts with the authority of the key's party, never the operator's: a key issued for
a party registers devices owned by that party only, and changes only devices that party owns on
chain, in transactions sent from the party's own account. A key with no party is an operator
key and acts as the operator. A refusal is decided before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, status

from ledger_service.app.api.access import bearer_secret
from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.device_schemas import (
    DeviceCreate,
    DeviceList,
    DevicePublic,
    MetadataIn,
    RotateKeyIn,
    TransferIn,
)
from ledger_service.app.api.problems import refusal, write_errors
from ledger_service.app.api.refusals import DEVICE_REGISTRY_REFUSALS
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.device_state import DeviceRecord
from ledger_service.core.enums import DeviceStatus
from ledger_service.core.errors import ChainRefused, NotDeviceOwner, NotFound, OwnerNotKeyParty, TransactionReverted
from ledger_service.core.models import ApiKey
from ledger_service.services.apikeys import Role, authorize
from ledger_service.services.container import Services
from ledger_service.services.devices import default_device_id

router = APIRouter(prefix="/v1/devices", tags=["devices"])

DeviceIdPath = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="The device's 32-byte id")
_ERRORS = write_errors(
    {
        401: "No valid API key",
        403: "The API key lacks the role, or its party does not own the device (not-device-owner, owner-not-key-party)",
        404: "No such device",
        409: "The registry refused the change",
        422: "Invalid body or key, or the key's party does not exist (unknown-party)",
    }
)


def _bearer(authorization: Annotated[str | None, Header()] = None) -> str | None:
    return bearer_secret(authorization)


def require(role: Role) -> Any:
    """A dependency that admits only API keys with `role`."""

    def check(services: ServicesDep, secret: Annotated[str | None, Depends(_bearer)]) -> ApiKey:
        return authorize(services.engine, secret, role)

    return Depends(check)


RegistrarKey = Annotated[ApiKey, require(Role.REGISTRAR)]
ManagerKey = Annotated[ApiKey, require(Role.DEVICE_MANAGER)]


def _refused(exc: TransactionReverted) -> ChainRefused:
    return refusal(exc, DEVICE_REGISTRY_REFUSALS, "the registry")


def _known(services: Services, device_id: str, force: bool = False) -> DeviceRecord:
    """The device from the cache; when unknown, a sync if its slot is free (`force`: at once, for
    writes, which need a key) and a second look. Never a sleep on the request thread."""
    wanted = bytes.fromhex(device_id[2:])
    device = services.registry.get(wanted, refresh=False)
    if device is None and services.registry.refresh(force=force, wait=False):
        device = services.registry.get(wanted, refresh=False)
    if device is None:
        raise NotFound(f"no device {device_id}")
    return device


def _after_change(services: Services, device_id: bytes) -> DevicePublic:
    services.registry.refresh(force=True)
    device = services.registry.get(device_id)
    assert device is not None
    return DevicePublic.of(device)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DevicePublic, responses=_ERRORS)
def register_device(body: DeviceCreate, services: ServicesDep, api_key: RegistrarKey) -> DevicePublic:
    """Registers a device on chain (API key with the `registrar` role). A key acting for a party
    registers devices owned by that party (the default owner); naming another owner is refused."""
    key = body.key.to_public_key()
    device_id = bytes.fromhex(body.device_id[2:]) if body.device_id else default_device_id(key)
    owner = body.owner
    if api_key.party is not None:
        party = services.parties.address(api_key.party)
        if owner is not None and owner.lower() != party.lower():
            raise OwnerNotKeyParty(
                f"the API key '{api_key.name}' acts for party {api_key.party} ({party}) and registers devices "
                f"owned by it only, not by {owner}",
                party=api_key.party,
            )
        owner = party
    try:
        services.ledger.register_device(device_id, key, owner=owner, metadata=body.metadata.to_metadata())
    except TransactionReverted as exc:
        raise _refused(exc) from exc
    return _after_change(services, device_id)


@router.get("", response_model=DeviceList)
def list_devices(
    services: ServicesDep,
    owner: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(active|suspended|revoked)$")] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^0x[0-9a-fA-F]{64}$", description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, deprecated=True, description="Use `cursor`")] = 0,
) -> DeviceList:
    """Devices in registration order, filtered by owner and status; cursor pagination."""
    devices = services.registry.devices()
    if owner:
        devices = [d for d in devices if d.owner.lower() == owner.lower()]
    if status_:
        devices = [d for d in devices if d.status is DeviceStatus[status_.upper()]]
    start = offset
    if cursor is not None:
        ids = ["0x" + d.device_id.hex() for d in devices]
        start = ids.index(cursor.lower()) + 1 if cursor.lower() in ids else len(ids)
    page = devices[start : start + limit]
    more = start + limit < len(devices)
    return DeviceList(
        data=[DevicePublic.of(d) for d in page],
        count=len(devices),
        next_cursor="0x" + page[-1].device_id.hex() if page and more else None,
        indexed_block=services.registry.synced_block,
    )


@router.get("/{device_id}", response_model=DevicePublic, responses=_ERRORS)
def get_device(services: ServicesDep, device_id: str = DeviceIdPath) -> DevicePublic:
    """A device with its status, owner, metadata and key history."""
    return DevicePublic.of(_known(services, device_id)).model_copy(
        update={"indexed_block": services.registry.synced_block}
    )


def _acting(services: Services, api_key: ApiKey) -> tuple[str, str]:
    """Who the key acts as: (label, address): its party, or the operator for a key with none."""
    if api_key.party is None:
        return "the operator", services.ledger.client.operator.address
    return f"party {api_key.party}", services.parties.address(api_key.party)


def _change(
    services: Services, api_key: ApiKey, device_id: str, action: Callable[[Ledger, bytes], object]
) -> DevicePublic:
    """Runs `action` as the key's party, after checking on chain that the party owns the device."""
    device = _known(services, device_id, force=True)
    who, address = _acting(services, api_key)
    owner = str(services.ledger.registry.functions.getDevice(device.device_id).call()[0])
    if owner.lower() != address.lower():
        raise NotDeviceOwner(f"device {device_id} is owned by {owner}, not by {who} ({address})", owner=owner)
    client = services.parties.client(api_key.party)
    ledger = (
        services.ledger
        if client is services.ledger.client
        else Ledger(client, services.ledger.deployment, services.artifacts)
    )
    try:
        action(ledger, device.device_id)
    except TransactionReverted as exc:
        raise _refused(exc) from exc
    return _after_change(services, device.device_id)


@router.post("/{device_id}/rotate-key", response_model=DevicePublic, responses=_ERRORS)
def rotate_key(
    body: RotateKeyIn, services: ServicesDep, api_key: ManagerKey, device_id: str = DeviceIdPath
) -> DevicePublic:
    """Replaces the device's key; the old one stays in the history (`device-manager` role)."""
    key = body.key.to_public_key()
    return _change(services, api_key, device_id, lambda ledger, d: ledger.rotate_key(d, key))


@router.post("/{device_id}/suspend", response_model=DevicePublic, responses=_ERRORS)
def suspend(services: ServicesDep, api_key: ManagerKey, device_id: str = DeviceIdPath) -> DevicePublic:
    """Suspends the device: its readings are refused until it is reactivated."""
    return _change(services, api_key, device_id, lambda ledger, d: ledger.suspend_device(d))


@router.post("/{device_id}/reactivate", response_model=DevicePublic, responses=_ERRORS)
def reactivate(services: ServicesDep, api_key: ManagerKey, device_id: str = DeviceIdPath) -> DevicePublic:
    """Reactivates a suspended device."""
    return _change(services, api_key, device_id, lambda ledger, d: ledger.reactivate_device(d))


@router.post("/{device_id}/revoke", response_model=DevicePublic, responses=_ERRORS)
def revoke(services: ServicesDep, api_key: ManagerKey, device_id: str = DeviceIdPath) -> DevicePublic:
    """Revokes the device for good; readings taken before stay verifiable."""
    return _change(services, api_key, device_id, lambda ledger, d: ledger.revoke_device(d))


@router.post("/{device_id}/transfer", response_model=DevicePublic, responses=_ERRORS)
def transfer(
    body: TransferIn, services: ServicesDep, api_key: ManagerKey, device_id: str = DeviceIdPath
) -> DevicePublic:
    """Hands the device to a new owner (the key's party can no longer manage it afterwards)."""
    return _change(services, api_key, device_id, lambda ledger, d: ledger.transfer_device(d, body.new_owner))


@router.post("/{device_id}/metadata", response_model=DevicePublic, responses=_ERRORS)
def update_metadata(
    body: MetadataIn, services: ServicesDep, api_key: ManagerKey, device_id: str = DeviceIdPath
) -> DevicePublic:
    """Replaces the device's metadata (model, firmware hash, metadata CID)."""
    metadata = body.to_metadata()
    return _change(services, api_key, device_id, lambda ledger, d: ledger.update_metadata(d, metadata))
