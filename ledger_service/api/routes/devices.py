"""Devices: the on-chain registry, read from the event-fed cache; changes need an API key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, status

from ledger_service.api.access import bearer_secret
from ledger_service.api.deps import ServicesDep
from ledger_service.api.device_schemas import DeviceCreate, DeviceList, DevicePublic, RotateKeyIn, TransferIn
from ledger_service.api.problems import refusal, write_errors
from ledger_service.apikeys import Role, authorize
from ledger_service.devices import default_device_id
from ledger_service.errors import ChainRefused, NotFound, TransactionReverted
from ledger_service.models import ApiKey
from ledger_service.registry import DeviceRecord, DeviceStatus
from ledger_service.services import Services

router = APIRouter(prefix="/v1/devices", tags=["devices"])

DeviceIdPath = Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="The device's 32-byte id")
_ERRORS = write_errors(
    {
        401: "No valid API key",
        403: "The API key lacks the role, or the service does not own the device",
        404: "No such device",
        409: "The registry refused the change",
        422: "Invalid body or key",
    }
)
# Custom errors of DeviceRegistry, as the API reports them: (status, code).
_REVERTS = {
    "DeviceRegistryDeviceAlreadyRegistered": (409, "device-exists"),
    "DeviceRegistryUnknownDevice": (404, "unknown-device"),
    "DeviceRegistryUnauthorizedOwner": (403, "not-device-owner"),
    "DeviceRegistryInvalidStatus": (409, "invalid-device-status"),
    "DeviceRegistrySameKey": (409, "same-key"),
    "DeviceRegistryInvalidKey": (422, "invalid-key"),
    "DeviceRegistryZeroOwner": (422, "invalid-owner"),
    "DeviceRegistryZeroDeviceId": (422, "invalid-device-id"),
}


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
    return refusal(exc, _REVERTS, "the registry")


def _known(services: Services, device_id: str) -> DeviceRecord:
    device = services.registry.get(bytes.fromhex(device_id[2:]))
    if device is None:
        raise NotFound(f"no device {device_id}")
    return device


def _after_change(services: Services, device_id: bytes) -> DevicePublic:
    services.registry.refresh(force=True)
    device = services.registry.get(device_id)
    assert device is not None
    return DevicePublic.of(device)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DevicePublic, responses=_ERRORS)
def register_device(body: DeviceCreate, services: ServicesDep, _: RegistrarKey) -> DevicePublic:
    """Registers a device on chain (API key with the `registrar` role)."""
    key = body.key.to_public_key()
    device_id = bytes.fromhex(body.device_id[2:]) if body.device_id else default_device_id(key)
    try:
        services.ledger.register_device(device_id, key, owner=body.owner, metadata=body.metadata.to_metadata())
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


def _change(services: Services, device_id: str, action: Any) -> DevicePublic:
    device = _known(services, device_id)
    try:
        action(device.device_id)
    except TransactionReverted as exc:
        raise _refused(exc) from exc
    return _after_change(services, device.device_id)


@router.post("/{device_id}/rotate-key", response_model=DevicePublic, responses=_ERRORS)
def rotate_key(body: RotateKeyIn, services: ServicesDep, _: ManagerKey, device_id: str = DeviceIdPath) -> DevicePublic:
    """Replaces the device's key; the old one stays in the history (`device-manager` role)."""
    key = body.key.to_public_key()
    return _change(services, device_id, lambda d: services.ledger.rotate_key(d, key))


@router.post("/{device_id}/suspend", response_model=DevicePublic, responses=_ERRORS)
def suspend(services: ServicesDep, _: ManagerKey, device_id: str = DeviceIdPath) -> DevicePublic:
    """Suspends the device: its readings are refused until it is reactivated."""
    return _change(services, device_id, services.ledger.suspend_device)


@router.post("/{device_id}/reactivate", response_model=DevicePublic, responses=_ERRORS)
def reactivate(services: ServicesDep, _: ManagerKey, device_id: str = DeviceIdPath) -> DevicePublic:
    """Reactivates a suspended device."""
    return _change(services, device_id, services.ledger.reactivate_device)


@router.post("/{device_id}/revoke", response_model=DevicePublic, responses=_ERRORS)
def revoke(services: ServicesDep, _: ManagerKey, device_id: str = DeviceIdPath) -> DevicePublic:
    """Revokes the device for good; readings taken before stay verifiable."""
    return _change(services, device_id, services.ledger.revoke_device)


@router.post("/{device_id}/transfer", response_model=DevicePublic, responses=_ERRORS)
def transfer(body: TransferIn, services: ServicesDep, _: ManagerKey, device_id: str = DeviceIdPath) -> DevicePublic:
    """Hands the device to a new owner (the service can no longer manage it afterwards)."""
    return _change(services, device_id, lambda d: services.ledger.transfer_device(d, body.new_owner))
