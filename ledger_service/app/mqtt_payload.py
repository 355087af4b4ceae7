"""What an MQTT message may hold: one reading (the body of `POST /v1/readings`) or a non-empty JSON
array of at most `max_batch` readings, each published on its own device's topic (docs/mqtt.md).
A message or reading that breaks these rules is `Refused` with a stable code."""

from __future__ import annotations

import json
from typing import Any, Final

from pydantic import ValidationError

from ledger_service.app.api.schemas import ReadingIn

INVALID_JSON: Final = "invalid-json"
VALIDATION_ERROR: Final = "validation-error"
TOPIC_MISMATCH: Final = "topic-mismatch"


class Refused(Exception):
    """A message or reading that cannot be stored; it is answered and acknowledged."""

    def __init__(self, code: str, detail: str, sequence: int | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.sequence = sequence


def validation_detail(exc: ValidationError) -> str:
    """Pydantic's complaints as one line: `field.path: message; ...`."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(reading)'}: {err['msg']}" for err in exc.errors())


def parse_payload(payload: bytes | bytearray, max_batch: int) -> list[Any]:
    """The readings of a message, still unchecked."""
    try:
        document = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise Refused(INVALID_JSON, f"payload is not UTF-8 JSON: {exc}") from exc
    if isinstance(document, dict):
        return [document]
    if not isinstance(document, list):
        raise Refused(VALIDATION_ERROR, "payload must be a JSON object (one reading) or array of readings")
    if not document:
        raise Refused(VALIDATION_ERROR, "payload is an empty array")
    if len(document) > max_batch:
        raise Refused(VALIDATION_ERROR, f"payload holds {len(document)} readings, more than {max_batch}")
    return document


def validate_reading(item: Any, device: str) -> ReadingIn:
    """One reading, checked against the schema and the topic's device."""
    sequence = item.get("sequence") if isinstance(item, dict) else None
    sequence = sequence if isinstance(sequence, int) and not isinstance(sequence, bool) else None
    try:
        body = ReadingIn.model_validate(item)
    except ValidationError as exc:
        raise Refused(VALIDATION_ERROR, validation_detail(exc), sequence) from exc
    if body.device_id[2:].lower() != device.lower().removeprefix("0x"):
        raise Refused(TOPIC_MISMATCH, f"reading of device {body.device_id} published on topic of {device}", sequence)
    return body
