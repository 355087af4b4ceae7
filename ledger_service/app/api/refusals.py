"""The contracts' custom errors as the API reports them, in one place: error name -> (HTTP status,
problem code). `problems.refusal` applies them; an error not listed answers 409 `chain-refused`."""

from __future__ import annotations

DEVICE_REGISTRY_REFUSALS: dict[str, tuple[int, str]] = {
    "DeviceRegistryDeviceAlreadyRegistered": (409, "device-exists"),
    "DeviceRegistryUnknownDevice": (404, "unknown-device"),
    "DeviceRegistryUnauthorizedOwner": (403, "not-device-owner"),
    "DeviceRegistryInvalidStatus": (409, "invalid-device-status"),
    "DeviceRegistrySameKey": (409, "same-key"),
    "DeviceRegistryInvalidKey": (422, "invalid-key"),
    "DeviceRegistryZeroOwner": (422, "invalid-owner"),
    "DeviceRegistryZeroDeviceId": (422, "invalid-device-id"),
}

SUPPLY_CHAIN_REFUSALS: dict[str, tuple[int, str]] = {
    "SupplyChainUnknownItem": (404, "unknown-item"),
    "SupplyChainItemExists": (409, "item-exists"),
    "SupplyChainNotCustodian": (403, "not-custodian"),
    "SupplyChainNotReceiver": (403, "not-receiver"),
    "SupplyChainNotTransferParty": (403, "not-transfer-party"),
    "SupplyChainNotManufacturer": (403, "not-manufacturer"),
    "SupplyChainNotCheckpointer": (403, "not-checkpointer"),
    "AccessControlUnauthorizedAccount": (403, "missing-chain-role"),
    "SupplyChainItemClosed": (409, "item-closed"),
    "SupplyChainItemOnHold": (409, "item-on-hold"),
    "SupplyChainTransferPending": (409, "transfer-pending"),
    "SupplyChainNoPendingTransfer": (409, "no-pending-transfer"),
    "SupplyChainTransferExpired": (409, "transfer-expired"),
    "SupplyChainDeviceAlreadyAttached": (409, "device-already-attached"),
    "SupplyChainSameCondition": (409, "same-condition"),
    "SupplyChainInvalidReceiver": (422, "invalid-receiver"),
    "SupplyChainInvalidExpiry": (422, "invalid-expiry"),
    "SupplyChainEvidenceNotAnchored": (422, "evidence-not-anchored"),
    "SupplyChainUnknownDevice": (422, "unknown-device"),
    "SupplyChainZeroItemId": (422, "invalid-item-id"),
    "SupplyChainNoOwnerConsent": (403, "no-owner-consent"),
    "SupplyChainNotDeviceOwner": (403, "not-device-owner"),
    "SupplyChainDeviceLocked": (409, "device-locked"),
    "SupplyChainDeviceNotAttached": (409, "device-not-attached"),
    "SupplyChainEvidenceNotAttached": (422, "evidence-not-attached"),
    "SupplyChainInvalidEvidenceSignature": (422, "invalid-evidence-signature"),
}

SENSOR_ORACLE_REFUSALS: dict[str, tuple[int, str]] = {
    "OracleNotRuleManager": (403, "not-rule-manager"),
    "AccessControlUnauthorizedAccount": (403, "missing-chain-role"),
    "OracleItemNotActive": (409, "item-not-active"),
    "OracleInvalidRule": (422, "invalid-rule"),
    "OracleRuleProtected": (409, "rule-protected"),
    "OracleUnknownDevice": (422, "unknown-device"),
}
