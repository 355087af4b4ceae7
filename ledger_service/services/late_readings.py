"""Late readings (`accept_late_readings`): a reading below its device's last sequence, stored without
moving the device's cursor when no other reading of the device and key holds its sequence. The
unique index (device_id, key_index, sequence) of `reading` keeps two from taking one sequence."""

from __future__ import annotations

from sqlmodel import Session, col, select

from ledger_service.core.errors import SequenceTaken
from ledger_service.core.models import StoredReading
from ledger_service.services.reading_checks import VerifiedReading

IN_CHUNK = 900  # values per IN (...) clause, under SQLite's bound on variables
Cursor = tuple[int, int]  # last sequence, last timestamp
CursorKey = tuple[str, int]  # device id, key index


def taken_sequences(
    session: Session, accepted: list[tuple[int, VerifiedReading]], cursors: dict[CursorKey, Cursor]
) -> set[tuple[str, int, int]]:
    """(device, key index, sequence) already stored, among the late readings of `accepted` (those
    at or below their device's cursor)."""
    late: dict[CursorKey, set[int]] = {}
    for _, verified in accepted:
        key = ("0x" + verified.reading.device_id.hex(), verified.key_index)
        if key in cursors and verified.reading.sequence <= cursors[key][0]:
            late.setdefault(key, set()).add(verified.reading.sequence)
    found: set[tuple[str, int, int]] = set()
    for (device_id, key_index), sequences in late.items():
        ordered = sorted(sequences)
        for start in range(0, len(ordered), IN_CHUNK):
            rows = session.exec(
                select(StoredReading.sequence).where(
                    StoredReading.device_id == device_id,
                    StoredReading.key_index == key_index,
                    col(StoredReading.sequence).in_(ordered[start : start + IN_CHUNK]),
                )
            )
            found.update((device_id, key_index, int(sequence)) for sequence in rows)
    return found


def check_free(session: Session, device_id: str, key_index: int, sequence: int) -> None:
    """Refuses a late reading whose sequence another reading of the device and key holds."""
    held = session.exec(
        select(StoredReading.id).where(
            StoredReading.device_id == device_id,
            StoredReading.key_index == key_index,
            StoredReading.sequence == sequence,
        )
    ).first()
    if held is not None:
        raise taken_refusal(device_id, sequence)


def taken_refusal(device_id: str, sequence: int) -> SequenceTaken:
    """The refusal of a late reading whose sequence is taken."""
    return SequenceTaken(f"sequence {sequence} of device {device_id} already holds another reading", sequence=sequence)
