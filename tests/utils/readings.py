"""Readings stored through the service's ingestor, and counted in its database."""

from __future__ import annotations

from sqlmodel import Session, func, select

from ledger_service.core.models import StoredReading
from ledger_service.services.container import Services
from tests.utils.factories import Device


def store(services: Services, device: Device, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        reading = device.reading()
        signature = device.sign(reading, services.ledger.domain)
        ids.append(services.ingestor.ingest(reading, signature).reading.id)
    return ids


def stored_count(services: Services) -> int:
    with Session(services.engine) as session:
        return int(session.exec(select(func.count()).select_from(StoredReading)).one())
