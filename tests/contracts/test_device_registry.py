"""DeviceRegistry on real anvils: roles, key types and their checks, rotation, lifecycle, and
signature verification through the P256VERIFY precompile (Osaka) and the Solidity fallback (Prague)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.device_state import Metadata
from ledger_service.core.enums import KeyType
from ledger_service.core.keys import P256_N, SECP256K1_N, DeviceKey, PublicKey
from ledger_service.core.readings import READING_TYPEHASH, Domain
from tests.utils.accounts import outsider
from tests.utils.chain import block_time
from tests.utils.factories import Device, new_device
from tests.utils.p256 import P256_PRECOMPILE, WYCHEPROOF_VECTOR
from tests.utils.reverts import error_of

KEY_TYPES = [KeyType.SECP256K1, KeyType.P256]


@pytest.fixture(scope="module")
def stranger(ledger: Ledger) -> Ledger:
    client = outsider(ledger.client)
    stranger = Ledger.__new__(Ledger)
    stranger.client, stranger.deployment, stranger.domain = client, ledger.deployment, ledger.domain
    stranger.registry = client.w3.eth.contract(address=ledger.registry.address, abi=ledger.registry.abi)
    stranger.notary = client.w3.eth.contract(address=ledger.notary.address, abi=ledger.notary.abi)
    return stranger


def key_record(ledger: Ledger, device: Device, index: int) -> Any:
    return ledger.registry.functions.getKey(device.device_id, index).call()


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_register_records_owner_key_metadata_and_event(ledger: Ledger, key_type: KeyType) -> None:
    key = DeviceKey.generate(key_type)
    device_id, owner = os.urandom(32), Account.create().address
    metadata = Metadata("TH-100", keccak(b"firmware 1.2"), "bafkreiexample")
    receipt = ledger.register_device(device_id, key.public_key, owner=owner, metadata=metadata)

    (event,) = ledger.registry.events.DeviceRegistered().process_receipt(receipt)
    registrar = ledger.client.for_role("registrar").operator.address
    assert event["args"]["owner"] == owner and event["args"]["registrar"] == registrar
    assert PublicKey.from_tuple(event["args"]["key"]) == key.public_key
    assert Metadata.from_tuple(event["args"]["metadata"]) == metadata
    device = ledger.registry.functions.getDevice(device_id).call()
    assert device[0] == owner and device[1] == 1  # Active
    assert Metadata.from_tuple(device[3]) == metadata
    assert ledger.registry.functions.keyCount(device_id).call() == 1
    record = ledger.registry.functions.getKey(device_id, 0).call()
    assert PublicKey.from_tuple(record[0]) == key.public_key
    assert record[1] == block_time(ledger, receipt) and record[3] == 0


def test_revert_when_caller_is_not_registrar(stranger: Ledger, ledger: Ledger) -> None:
    device_id = os.urandom(32)
    key = DeviceKey.generate(KeyType.SECP256K1).public_key
    assert error_of(lambda: stranger.register_device(device_id, key)) == "AccessControlUnauthorizedAccount"
    assert not ledger.registry.functions.isRegistered(device_id).call()


@pytest.mark.parametrize(
    "action",
    ["rotate", "suspend", "reactivate", "transfer", "metadata", "revoke"],
)
def test_revert_when_caller_is_not_device_owner(stranger: Ledger, ledger: Ledger, action: str) -> None:
    device = new_device(ledger)
    if action == "reactivate":
        ledger.suspend_device(device.device_id)
    calls = {
        "rotate": lambda: stranger.rotate_key(device.device_id, DeviceKey.generate(KeyType.P256).public_key),
        "suspend": lambda: stranger.suspend_device(device.device_id),
        "reactivate": lambda: stranger.reactivate_device(device.device_id),
        "transfer": lambda: stranger.transfer_device(device.device_id, stranger.client.operator.address),
        "metadata": lambda: stranger.update_metadata(device.device_id, Metadata("hijacked")),
        "revoke": lambda: stranger.revoke_device(device.device_id),
    }
    before = ledger.registry.functions.getDevice(device.device_id).call()
    assert error_of(calls[action]) == "DeviceRegistryUnauthorizedOwner"
    assert ledger.registry.functions.getDevice(device.device_id).call() == before
    assert ledger.registry.functions.keyCount(device.device_id).call() == 1


def test_owner_manages_and_a_new_owner_takes_over(stranger: Ledger, ledger: Ledger) -> None:
    device = new_device(ledger)
    receipt = ledger.transfer_device(device.device_id, stranger.client.operator.address)
    (event,) = ledger.registry.events.DeviceOwnershipTransferred().process_receipt(receipt)
    assert event["args"]["previousOwner"] == ledger.client.operator.address
    assert error_of(lambda: ledger.suspend_device(device.device_id)) == "DeviceRegistryUnauthorizedOwner"
    stranger.suspend_device(device.device_id)
    stranger.update_metadata(device.device_id, Metadata("v2"))
    assert ledger.registry.functions.getDevice(device.device_id).call()[3][0] == "v2"


def test_admin_may_revoke_any_device(ledger: Ledger, stranger: Ledger, chain: ChainContext) -> None:
    device = Device(key=DeviceKey.generate(KeyType.SECP256K1))
    ledger.register_device(device.device_id, device.key.public_key, owner=stranger.client.operator.address)
    admin = Ledger(ledger.client.for_role("admin"), ledger.deployment, chain.artifacts)
    assert error_of(lambda: ledger.revoke_device(device.device_id)) == "DeviceRegistryUnauthorizedOwner"
    receipt = admin.revoke_device(device.device_id)  # the admin holds DEFAULT_ADMIN_ROLE
    (event,) = ledger.registry.events.DeviceStatusChanged().process_receipt(receipt)
    assert (event["args"]["previousStatus"], event["args"]["newStatus"]) == (1, 3)


def _raw_key(key_type: int, signer: str = "0x" + "00" * 20, x: int = 0, y: int = 0) -> tuple[int, str, bytes, bytes]:
    return (key_type, signer, x.to_bytes(32, "big"), y.to_bytes(32, "big"))


P256_POINT = DeviceKey.generate(KeyType.P256).public_key


@pytest.mark.parametrize(
    "raw",
    [
        _raw_key(0, signer="0x" + "11" * 20),  # KeyType.None
        _raw_key(1),  # secp256k1 with a zero address
        _raw_key(1, signer="0x" + "11" * 20, x=1),  # secp256k1 with coordinates
        _raw_key(2, x=P256_POINT.x or 0, y=(P256_POINT.y or 0) ^ 1),  # not on the curve
        _raw_key(2, x=0, y=0),  # the point at infinity encoding
        _raw_key(2, x=2**256 - 1, y=2**256 - 1),  # coordinates above the field prime
        _raw_key(2, signer="0x" + "11" * 20, x=P256_POINT.x or 0, y=P256_POINT.y or 0),  # mixed
    ],
    ids=["type-none", "zero-address", "k1-with-point", "off-curve", "zero-point", "out-of-field", "mixed"],
)
def test_revert_when_key_is_malformed(ledger: Ledger, raw: tuple[int, str, bytes, bytes]) -> None:
    device_id = os.urandom(32)
    call = ledger.registry.functions.registerDevice(device_id, ledger.client.operator.address, raw, ("", bytes(32), ""))
    assert error_of(lambda: ledger.client.for_role("registrar").transact(call)) == "DeviceRegistryInvalidKey"
    device = new_device(ledger)
    rotate = ledger.registry.functions.rotateKey(device.device_id, raw)
    assert error_of(lambda: ledger.client.transact(rotate)) == "DeviceRegistryInvalidKey"
    assert ledger.registry.functions.keyCount(device.device_id).call() == 1


def test_revert_when_registration_is_malformed_or_repeated(ledger: Ledger) -> None:
    key = DeviceKey.generate(KeyType.SECP256K1).public_key
    assert error_of(lambda: ledger.register_device(bytes(32), key)) == "DeviceRegistryZeroDeviceId"
    assert error_of(lambda: ledger.register_device(os.urandom(32), key, owner="0x" + "00" * 20)) == (
        "DeviceRegistryZeroOwner"
    )
    device = new_device(ledger)
    assert error_of(lambda: ledger.register_device(device.device_id, key)) == "DeviceRegistryDeviceAlreadyRegistered"
    with pytest.raises(ContractCustomError) as info:
        ledger.registry.functions.getDevice(os.urandom(32)).call()
    assert ledger.client.errors.name_of(info.value) == "DeviceRegistryUnknownDevice"


def test_lifecycle_transitions_and_revocation_is_final(ledger: Ledger) -> None:
    device = new_device(ledger)
    d = device.device_id
    assert error_of(lambda: ledger.reactivate_device(d)) == "DeviceRegistryInvalidStatus"
    ledger.suspend_device(d)
    assert error_of(lambda: ledger.suspend_device(d)) == "DeviceRegistryInvalidStatus"
    ledger.reactivate_device(d)
    ledger.revoke_device(d)
    new_key = DeviceKey.generate(KeyType.P256).public_key
    for call in (
        lambda: ledger.revoke_device(d),
        lambda: ledger.reactivate_device(d),
        lambda: ledger.suspend_device(d),
        lambda: ledger.rotate_key(d, new_key),
        lambda: ledger.transfer_device(d, Account.create().address),
        lambda: ledger.update_metadata(d, Metadata("x")),
    ):
        assert error_of(call) == "DeviceRegistryInvalidStatus"
    assert ledger.registry.functions.getDevice(d).call()[1] == 3


def test_rotation_to_the_same_key_is_refused(ledger: Ledger) -> None:
    device = new_device(ledger)
    assert error_of(lambda: ledger.rotate_key(device.device_id, device.key.public_key)) == "DeviceRegistrySameKey"


@pytest.fixture(params=["precompile", "fallback"])
def chain_path(request: pytest.FixtureRequest, ledger: Ledger) -> Ledger:
    """The registry on a chain with the P256VERIFY precompile (Osaka), or without it (Prague)."""
    target: Ledger = ledger if request.param == "precompile" else request.getfixturevalue("fallback_ledger")
    has_precompile = target.client.w3.eth.call(
        {"to": P256_PRECOMPILE, "data": "0x" + WYCHEPROOF_VECTOR}  # type: ignore[typeddict-item]
    )
    assert (len(has_precompile) == 32) == (request.param == "precompile")
    return target


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_signatures_verify_on_chain_and_every_forgery_is_refused(chain_path: Ledger, key_type: KeyType) -> None:
    ledger = chain_path
    device = new_device(ledger, key_type)
    reading = device.reading(value=-(2**200), scale=-5, unit="µS/cm", payload_hash=keccak(b"payload"))
    digest = reading.digest(ledger.domain)
    assert ledger.reading_digest(reading) == digest
    assert ledger.registry.functions.READING_TYPEHASH().call() == READING_TYPEHASH
    signature = device.sign(reading, ledger.domain)
    d = device.device_id
    assert ledger.verify_reading(d, digest, signature)
    assert ledger.verify_signed_reading(reading, signature)
    assert ledger.verify_reading_at(d, digest, signature, reading.timestamp)

    other_chain = Domain(ledger.domain.chain_id + 1, ledger.domain.verifying_contract)
    other_contract = Domain(ledger.domain.chain_id, "0x" + "42" * 20)
    n = SECP256K1_N if key_type is KeyType.SECP256K1 else P256_N
    high_s = signature[:32] + (n - int.from_bytes(signature[32:64], "big")).to_bytes(32, "big") + signature[64:]
    if key_type is KeyType.SECP256K1:  # the malleable twin flips v as well
        high_s = high_s[:64] + bytes([55 - signature[64]])
    forgeries = {
        "other chain id": device.key.sign(reading.digest(other_chain)),
        "other contract": device.key.sign(reading.digest(other_contract)),
        "other key": DeviceKey.generate(key_type).sign(digest),
        "high s": high_s,
        "truncated": signature[:-1],
        "empty": b"",
        "extended": signature + b"\x00",
    }
    for name, forged in forgeries.items():
        assert not ledger.verify_reading(d, digest, forged), name
    assert not ledger.verify_reading(d, keccak(b"another reading"), signature)
    assert not ledger.verify_reading(os.urandom(32), digest, signature)
    assert not ledger.verify_signed_reading(
        device.reading(sequence=reading.sequence, timestamp=reading.timestamp, value=0), signature
    )


def test_rotation_keeps_old_readings_verifiable_and_refuses_the_old_key_after(ledger: Ledger) -> None:
    device = new_device(ledger, KeyType.SECP256K1)
    d = device.device_id
    registered = int(key_record(ledger, device, 0)[1])
    before = device.reading(timestamp=registered)
    old_signature = device.sign(before, ledger.domain)
    time.sleep(1.1)  # the rotation lands in a later second than the registration

    new_key = DeviceKey.generate(KeyType.P256)
    receipt = ledger.rotate_key(d, new_key.public_key)
    rotated_at = block_time(ledger, receipt)
    (event,) = ledger.registry.events.DeviceKeyRotated().process_receipt(receipt)
    assert event["args"]["keyIndex"] == 1
    old, new = key_record(ledger, device, 0), key_record(ledger, device, 1)
    assert old[3] == rotated_at and old[4] == receipt["blockNumber"]
    assert new[1] == rotated_at and new[3] == 0

    # Readings signed with the old key while it was valid still verify at their time.
    assert ledger.verify_signed_reading(before, old_signature)
    # Now only the new key counts: the old key is refused, whatever timestamp it claims later on.
    digest = before.digest(ledger.domain)
    assert not ledger.verify_reading(d, digest, old_signature)
    after = device.reading(timestamp=rotated_at + 1)
    assert not ledger.verify_signed_reading(after, device.sign(after, ledger.domain))
    device.key = new_key
    assert ledger.verify_signed_reading(after, device.sign(after, ledger.domain))
    assert not ledger.verify_signed_reading(before, device.sign(before, ledger.domain))  # new key, old time


def test_suspended_and_revoked_devices_fail_now_but_past_readings_verify(ledger: Ledger) -> None:
    device = new_device(ledger, KeyType.P256)
    d = device.device_id
    registered = int(key_record(ledger, device, 0)[1])
    reading = device.reading(timestamp=registered)
    signature = device.sign(reading, ledger.domain)
    digest = reading.digest(ledger.domain)
    time.sleep(1.1)  # the suspension starts after the reading was taken
    ledger.suspend_device(d)
    assert not ledger.verify_reading(d, digest, signature)
    assert ledger.verify_signed_reading(reading, signature)
    ledger.reactivate_device(d)
    assert ledger.verify_reading(d, digest, signature)
    time.sleep(1.1)
    receipt = ledger.revoke_device(d)
    revoked_at = block_time(ledger, receipt)
    assert not ledger.verify_reading(d, digest, signature)
    assert ledger.verify_signed_reading(reading, signature)
    later = device.reading(timestamp=revoked_at)
    assert not ledger.verify_signed_reading(later, device.sign(later, ledger.domain))


def test_reading_dated_inside_a_past_suspension_never_verifies_on_chain(ledger: Ledger) -> None:
    """Attack: a reading dated while the device was suspended, presented after its reactivation."""
    device = new_device(ledger, KeyType.SECP256K1)
    d = device.device_id
    registered = int(key_record(ledger, device, 0)[1])
    time.sleep(1.1)
    suspended_at = block_time(ledger, ledger.suspend_device(d))
    time.sleep(1.1)
    reactivated_at = block_time(ledger, ledger.reactivate_device(d))
    assert registered < suspended_at < reactivated_at

    assert ledger.registry.functions.suspensionCount(d).call() == 1
    assert tuple(ledger.registry.functions.getSuspension(d, 0).call()) == (suspended_at, reactivated_at)
    for timestamp, verifies in (
        (registered, True),
        (suspended_at - 1, True),
        (suspended_at, False),
        (reactivated_at - 1, False),
        (reactivated_at, True),
    ):
        reading = device.reading(timestamp=timestamp)
        signature = device.sign(reading, ledger.domain)
        assert ledger.verify_signed_reading(reading, signature) is verifies, timestamp
        digest = reading.digest(ledger.domain)
        assert ledger.verify_reading_at(d, digest, signature, timestamp) is verifies, timestamp
        assert ledger.registry.functions.isSuspendedAt(d, timestamp).call() is not verifies
    assert ledger.verify_reading(d, device.reading().digest(ledger.domain), b"") is False  # still needs a signature
    now = device.reading(timestamp=reactivated_at)
    assert ledger.verify_reading(d, now.digest(ledger.domain), device.sign(now, ledger.domain))


def test_every_suspension_is_kept_and_an_open_one_has_no_end(ledger: Ledger) -> None:
    device = new_device(ledger, KeyType.P256)
    d = device.device_id
    first = block_time(ledger, ledger.suspend_device(d))
    first_end = block_time(ledger, ledger.reactivate_device(d))
    time.sleep(1.1)
    second = block_time(ledger, ledger.suspend_device(d))
    receipt = ledger.revoke_device(d)  # revocation leaves the open period open
    assert ledger.registry.functions.suspensionCount(d).call() == 2
    assert tuple(ledger.registry.functions.getSuspension(d, 0).call()) == (first, first_end)
    assert tuple(ledger.registry.functions.getSuspension(d, 1).call()) == (second, 0)
    assert ledger.registry.functions.isSuspendedAt(d, block_time(ledger, receipt) + 10**6).call()
    with pytest.raises(ContractCustomError) as info:
        ledger.registry.functions.getSuspension(d, 2).call()
    assert ledger.client.errors.name_of(info.value) == "DeviceRegistryUnknownSuspension"
    never = new_device(ledger)
    assert ledger.registry.functions.suspensionCount(never.device_id).call() == 0
    assert not ledger.registry.functions.isSuspendedAt(never.device_id, 2**64 - 1).call()


def test_refused_suspension_changes_leave_no_period(ledger: Ledger, stranger: Ledger) -> None:
    device = new_device(ledger)
    d = device.device_id
    assert error_of(lambda: ledger.reactivate_device(d)) == "DeviceRegistryInvalidStatus"
    assert error_of(lambda: stranger.suspend_device(d)) == "DeviceRegistryUnauthorizedOwner"
    ledger.suspend_device(d)
    assert error_of(lambda: ledger.suspend_device(d)) == "DeviceRegistryInvalidStatus"
    assert error_of(lambda: stranger.reactivate_device(d)) == "DeviceRegistryUnauthorizedOwner"
    assert ledger.registry.functions.suspensionCount(d).call() == 1
    assert ledger.registry.functions.getSuspension(d, 0).call()[1] == 0
