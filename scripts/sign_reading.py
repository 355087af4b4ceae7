#!/usr/bin/env python3
"""Sign a sensor reading as a device would, outside the service, and print the JSON to POST.

Needs only eth-account. The EIP-712 domain (chain id, DeviceRegistry address) comes from the
service's /health, or from --chain-id and --registry.

    python scripts/sign_reading.py --key 0x... --api http://127.0.0.1:8000 --sequence 1 --value 2150 \
        | curl -s -X POST http://127.0.0.1:8000/v1/readings -H 'content-type: application/json' -d @-
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request

from eth_account import Account


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", required=True, help="the device's private key (0x + 64 hex digits)")
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="service URL, to read the EIP-712 domain")
    parser.add_argument("--chain-id", type=int, help="chain id (default: from the service)")
    parser.add_argument("--registry", help="DeviceRegistry address (default: from the service)")
    parser.add_argument("--device-id", help="0x + 64 hex digits (default: the key's address, left-padded)")
    parser.add_argument("--sequence", type=int, required=True, help="strictly increasing per device")
    parser.add_argument("--timestamp", type=int, default=None, help="unix seconds (default: now)")
    parser.add_argument("--metric", default="temperature")
    parser.add_argument("--value", type=int, required=True, help="fixed-point integer: quantity = value / 10**scale")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--unit", default="Cel")
    args = parser.parse_args()

    account = Account.from_key(args.key)
    chain_id, registry = args.chain_id, args.registry
    if chain_id is None or registry is None:
        with urllib.request.urlopen(f"{args.api}/health", timeout=10) as response:
            health = json.load(response)
        chain_id, registry = health["chain_id"], health["contracts"]["DeviceRegistry"]
    device_id = args.device_id or "0x" + "00" * 12 + account.address[2:].lower()
    message = {
        "deviceId": device_id,
        "sequence": args.sequence,
        "timestamp": args.timestamp if args.timestamp is not None else int(time.time()),
        "metric": args.metric,
        "value": args.value,
        "scale": args.scale,
        "unit": args.unit,
        "payloadHash": "0x" + "00" * 32,
    }
    typed_data = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Reading": [
                {"name": "deviceId", "type": "bytes32"},
                {"name": "sequence", "type": "uint64"},
                {"name": "timestamp", "type": "uint64"},
                {"name": "metric", "type": "string"},
                {"name": "value", "type": "int256"},
                {"name": "scale", "type": "int8"},
                {"name": "unit", "type": "string"},
                {"name": "payloadHash", "type": "bytes32"},
            ],
        },
        "primaryType": "Reading",
        "domain": {"name": "ProvenanceLedger", "version": "1", "chainId": chain_id, "verifyingContract": registry},
        "message": message,
    }
    signed = Account.sign_typed_data(account.key, full_message=typed_data)
    body = {
        "device_id": message["deviceId"],
        "sequence": message["sequence"],
        "timestamp": message["timestamp"],
        "metric": message["metric"],
        "value": message["value"],
        "scale": message["scale"],
        "unit": message["unit"],
        "payload_hash": message["payloadHash"],
        "signature": signed.signature.to_0x_hex(),
    }
    print(json.dumps(body))


if __name__ == "__main__":
    main()
