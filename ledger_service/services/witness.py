"""A witness of the transparency log: an independent process with its own Ed25519 key that
cosigns a checkpoint only when it extends the last one it cosigned (C2SP tlog-cosignature). A
client that trusts a checkpoint only with enough witnesses' cosignatures cannot be shown a fork
unless those witnesses were shown it too, and they refuse.

Its state (a directory): its key (made on first use, mode 0600), the last checkpoint it cosigned,
and every cosigned note.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger_service.core import tlog
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.secret_files import secret_file
from ledger_service.core.signed_note import Checkpoint, cosign, cosigner_verifier_key, open_note

#: (old size, new size) -> the log's consistency proof for them.
FetchConsistency = Callable[[int, int], list[bytes]]


@dataclass(frozen=True)
class Observation:
    """What the witness made of one checkpoint: `cosigned`, `unchanged`, or an alarm
    (`bad-signature`, `other-log`, `fork`, `rollback`, `inconsistent`)."""

    status: str
    size: int
    detail: str = ""
    note: str = ""

    @property
    def alarm(self) -> bool:
        return self.status not in ("cosigned", "unchanged")


class Witness:
    def __init__(self, state: Path, name: str, log_verifier: str) -> None:
        self.state, self.name, self.log_verifier = state, name, log_verifier
        self.key = Ed25519PrivateKey.from_private_bytes(
            secret_file(state / "witness-ed25519.key", lambda: os.urandom(32))[:32]
        )

    @property
    def verifier(self) -> str:
        return cosigner_verifier_key(self.name, self.key.public_key().public_bytes_raw())

    def last(self) -> tuple[Checkpoint, str] | None:
        path = self.state / "last.note"
        if not path.exists():
            return None
        note = path.read_text()
        return open_note(note, self.log_verifier), note

    def observe(self, note: str, fetch: FetchConsistency) -> Observation:
        """Checks `note` against the last cosigned checkpoint; cosigns and keeps it if it extends it."""
        try:
            checkpoint = open_note(note, self.log_verifier)
        except InvalidFilter as exc:
            return Observation("bad-signature", 0, exc.detail)
        before = self.last()
        if before is not None:
            last, _ = before
            if checkpoint.origin != last.origin:
                return Observation("other-log", checkpoint.size, checkpoint.origin)
            if checkpoint.size < last.size:
                return Observation("rollback", checkpoint.size, f"smaller than the {last.size} cosigned")
            if checkpoint.size == last.size:
                if checkpoint.root != last.root:
                    return Observation("fork", checkpoint.size, "another root for a size already cosigned")
                return Observation("unchanged", checkpoint.size)
            try:
                proof = fetch(last.size, checkpoint.size)
            except Exception as exc:  # noqa: BLE001 - a log that will not prove it is not cosigned
                return Observation("inconsistent", checkpoint.size, f"no proof: {type(exc).__name__}")
            if not tlog.verify_consistency(last.size, checkpoint.size, last.root, checkpoint.root, proof):
                return Observation("inconsistent", checkpoint.size, f"does not extend size {last.size}")
        cosigned = cosign(note, self.name, self.key, int(time.time()))
        (self.state / "cosigned").mkdir(parents=True, exist_ok=True)
        (self.state / "cosigned" / f"{checkpoint.size}.note").write_text(cosigned)
        temporary = self.state / "last.note.tmp"
        temporary.write_text(note)
        temporary.replace(self.state / "last.note")
        return Observation("cosigned", checkpoint.size, note=cosigned)
