"""What a coordinator sends a committee member and gets back: signed readings and sign requests as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger_service.core.readings import Reading
from oracles.contract import CommitteeReport, SignedReading


def signed_reading_to_json(signed: SignedReading) -> dict[str, Any]:
    """A signed reading with its proof as JSON (hex strings)."""
    reading = signed.reading
    return {
        "device_id": "0x" + reading.device_id.hex(),
        "sequence": reading.sequence,
        "timestamp": reading.timestamp,
        "metric": reading.metric,
        "value": str(reading.value),
        "scale": reading.scale,
        "unit": reading.unit,
        "payload_hash": "0x" + reading.payload_hash.hex(),
        "signature": "0x" + signed.signature.hex(),
        "root": "0x" + signed.root.hex(),
        "proof": ["0x" + p.hex() for p in signed.proof],
    }


def _hex(value: Any, size: int | None = None) -> bytes:
    text = str(value)
    if not text.startswith("0x"):
        raise ValueError(f"{text[:20]!r} is not 0x-hex")
    raw = bytes.fromhex(text[2:])
    if size is not None and len(raw) != size:
        raise ValueError(f"expected {size} bytes, got {len(raw)}")
    return raw


def signed_reading_from_json(data: dict[str, Any]) -> SignedReading:
    """Reads `signed_reading_to_json`'s form."""
    reading = Reading(
        _hex(data["device_id"], 32),
        int(data["sequence"]),
        int(data["timestamp"]),
        str(data["metric"]),
        int(data["value"]),
        int(data["scale"]),
        str(data["unit"]),
        _hex(data["payload_hash"], 32),
    )
    return SignedReading(reading, _hex(data["signature"]), _hex(data["root"], 32), [_hex(p, 32) for p in data["proof"]])


def sign_request(report: CommitteeReport, readings: Sequence[SignedReading], scheme: str) -> dict[str, Any]:
    """The body of `POST /sign`."""
    return {"scheme": scheme, "report": report.to_json(), "readings": [signed_reading_to_json(r) for r in readings]}


# ------------------------------------------------------------------------------------ the checks
