"""A shipment watched by the oracle, with a sensor whose readings go through the service's ingestor."""

from __future__ import annotations

import os
from dataclasses import dataclass

from eth_utils import keccak

from ledger_service.core.enums import KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.core.readings import Reading
from ledger_service.services.container import Services
from oracles.contract import SensorOracleContract


@dataclass
class Sensor:
    device_id: bytes
    key: DeviceKey
    sequence: int = 0


def now(services: Services) -> int:
    return int(services.ledger.client.w3.eth.get_block("latest")["timestamp"])


def shipment(services: Services) -> tuple[bytes, Sensor]:
    key = DeviceKey.generate(KeyType.SECP256K1)
    sensor = Sensor(os.urandom(32), key)
    services.ledger.register_device(sensor.device_id, key.public_key)
    services.registry.refresh(force=True)
    item_id = os.urandom(32)
    supply = services.supply_chain()
    supply.register_item(item_id, supply.client.operator.address, keccak(b"vaccines"), "", [sensor.device_id])
    return item_id, sensor


def ingest(
    services: Services,
    sensor: Sensor,
    values: list[int],
    start: int,
    metric: str = "temperature",
    unit: str = "Cel",
    scale: int = 2,
    spacing: int = 10,
) -> list[str]:
    ids = []
    for offset, value in enumerate(values):
        sensor.sequence += 1
        reading = Reading(sensor.device_id, sensor.sequence, start + spacing * offset, metric, value, scale, unit)
        result = services.ingestor.ingest(reading, sensor.key.sign(reading.digest(services.ledger.domain)))
        ids.append(result.reading.id)
    return ids


def oracle_of(services: Services) -> SensorOracleContract:
    return SensorOracleContract(services.ledger.client, services.ledger.deployment, services.artifacts)


def fired_events(services: Services, rule_id: int) -> list[dict]:
    oracle = oracle_of(services)
    start = services.ledger.deployment.contracts["SensorOracle"].block_number
    return list(oracle.contract.events.RuleFired().get_logs(argument_filters={"ruleId": rule_id}, from_block=start))
