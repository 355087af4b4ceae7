"""provenance_device: what a device needs to take part in provenance-ledger, and nothing more.

Needs only `coincurve` and `cryptography` (and the standard library): key files, EIP-712 signing of
readings with secp256k1 or P-256 keys, a durable outbox and a sender over HTTP or MQTT.

    key = DeviceKey.load(Path("device.key"))
    sender = Sender(key, device_id, Domain(chain_id, registry), Outbox("outbox.db"),
                    HttpTransport("http://ledger:8000"))
    sender.record("temperature", 2150, scale=2, unit="Cel")
    sender.flush()
"""

from provenance_device.eip712 import Domain, InvalidReading, Reading
from provenance_device.http import HttpTransport
from provenance_device.keccak import keccak256
from provenance_device.keys import P256, SECP256K1, DeviceKey, InvalidKey
from provenance_device.mqtt import MqttTransport
from provenance_device.outbox import Outbox
from provenance_device.outcome import Outcome, TooLarge, TransportError
from provenance_device.sender import FlushReport, Sender

__all__ = [
    "P256",
    "SECP256K1",
    "DeviceKey",
    "Domain",
    "FlushReport",
    "HttpTransport",
    "InvalidKey",
    "InvalidReading",
    "MqttTransport",
    "Outbox",
    "Outcome",
    "Reading",
    "Sender",
    "TooLarge",
    "TransportError",
    "keccak256",
]
