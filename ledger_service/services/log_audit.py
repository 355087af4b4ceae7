"""Auditing checkpoints of the transparency log, as a client, a witness or a monitor would: every
note opened with the pinned key, one origin, and each one proven consistent with the next by a
proof fetched from the log and checked here. Two checkpoints of one size with different roots (a
log showing two histories) and a newer checkpoint that does not extend an older one are caught."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger_service.core import tlog
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.signed_note import Checkpoint, open_note

#: (old size, new size) -> the consistency proof the log gives for them.
FetchConsistency = Callable[[int, int], list[bytes]]


@dataclass(frozen=True)
class Check:
    """One check: what was checked, and whether it held."""

    what: str
    ok: bool
    detail: str = ""


def audit(notes: Sequence[str], verifier: str, fetch: FetchConsistency) -> list[Check]:
    """The checks of `notes` (in any order) against the pinned `verifier` key."""
    checks: list[Check] = []
    opened: list[Checkpoint] = []
    for number, note in enumerate(notes, 1):
        try:
            opened.append(open_note(note, verifier))
            checks.append(Check(f"checkpoint {number} is signed by the pinned key", True))
        except InvalidFilter as exc:
            checks.append(Check(f"checkpoint {number} is signed by the pinned key", False, exc.detail))
    origins = {c.origin for c in opened}
    checks.append(Check("one origin", len(origins) <= 1, ", ".join(sorted(origins)) if len(origins) > 1 else ""))
    by_size: dict[int, Checkpoint] = {}
    for checkpoint in opened:
        seen = by_size.setdefault(checkpoint.size, checkpoint)
        if seen.root != checkpoint.root:
            checks.append(Check(f"one tree of size {checkpoint.size}", False, "two different roots: a forked log"))
    ordered = sorted(by_size.values(), key=lambda c: c.size)
    for old, new in zip(ordered, ordered[1:], strict=False):
        what = f"size {old.size} is a prefix of size {new.size}"
        try:
            proof = fetch(old.size, new.size)
        except Exception as exc:  # noqa: BLE001 - a log that will not prove it fails the check
            checks.append(Check(what, False, f"no proof: {type(exc).__name__}"))
            continue
        held = tlog.verify_consistency(old.size, new.size, old.root, new.root, proof)
        checks.append(Check(what, held, "" if held else "the proof does not hold: the log was rewritten"))
    return checks
