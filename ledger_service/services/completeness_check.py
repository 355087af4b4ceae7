"""Checks a completeness proof (`ledger_service.services.completeness`) against a pinned log key,
and reports what it shows: the device's sequences present in the covered batches, per signing key,
and the gaps between them. A gap is reported, never hidden: a sequence the device sent and the
service acknowledged but that no covered batch holds was dropped (or is in a batch before the
covered range: ask from an earlier time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger_service.core import tlog
from ledger_service.core.device_index import check_run, index_leaf, readings_hash
from ledger_service.core.errors import InvalidFilter
from ledger_service.core.merkle import process_proof
from ledger_service.core.signed_note import Checkpoint, open_note
from ledger_service.services.completeness import COMPLETENESS_FORMAT
from ledger_service.services.transparency_log import decode_leaf_data
from ledger_service.services.verification import Check


@dataclass
class CompletenessReport:
    """The checks, and what a proof that passed them shows."""

    checks: list[Check] = field(default_factory=list)
    checkpoint: Checkpoint | None = None
    start: int = 0
    sequences: dict[int, list[int]] = field(default_factory=dict)  # key index -> sequences present
    readings: list[dict[str, Any]] = field(default_factory=list)
    absent_from: int = 0  # covered batches without the device

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def gaps(self, expect: dict[int, int] | None = None) -> dict[int, list[tuple[int, int | None]]]:
        """Per key index, the missing sequence ranges (inclusive) between the lowest and highest
        present; with `expect` (key index -> the first sequence the owner knows was sent), also
        those from it to the lowest present, and `(first, None)` for a key with none present."""
        found: dict[int, list[tuple[int, int | None]]] = {}
        for key in sorted({*self.sequences, *(expect or {})}):
            present = self.sequences.get(key, [])
            first = (expect or {}).get(key)
            runs: list[tuple[int, int | None]] = []
            if first is not None and not present:
                runs.append((first, None))
            elif first is not None and present[0] > first:
                runs.append((first, present[0] - 1))
            runs += [(a + 1, b - 1) for a, b in zip(present, present[1:], strict=False) if b > a + 1]
            if runs:
                found[key] = runs
        return found


def check_completeness(proof: dict[str, Any], log_key: str, device_id: str) -> CompletenessReport:
    """Every check of `proof` for device `device_id` under the pinned `log_key`; stops at the first failure."""
    report = CompletenessReport()
    try:
        device = bytes.fromhex(device_id.removeprefix("0x"))
        for check in _checks(proof, log_key, device, report):
            report.checks.append(check)
            if not check.ok:
                break
    except Exception as exc:  # noqa: BLE001 - a proof malformed in any way is a failed check, not a crash
        report.checks.append(Check("malformed", False, f"the proof is malformed: {type(exc).__name__}: {exc}"))
    return report


def _checks(proof: dict[str, Any], log_key: str, device: bytes, report: CompletenessReport) -> Any:
    fmt_ok = (
        proof.get("format") == COMPLETENESS_FORMAT and str(proof.get("device_id", "")).lower() == "0x" + device.hex()
    )
    yield Check("format", fmt_ok, f"{proof.get('format')} for device {proof.get('device_id')}")
    log = proof["log"]
    try:
        checkpoint = open_note(str(log["checkpoint"]), log_key)
    except InvalidFilter as exc:
        yield Check("log-checkpoint", False, f"not signed by the pinned log key: {exc.detail}")
        return
    report.checkpoint, report.start = checkpoint, int(log["start"])
    yield Check("log-checkpoint", True, f"signed by the pinned log key: size {checkpoint.size}, {checkpoint.origin}")
    data = [bytes.fromhex(d[2:]) for d in log["leaves"]]
    prefix = [bytes.fromhex(h[2:]) for h in log["prefix"]]
    whole = 0 <= report.start and report.start + len(data) == checkpoint.size
    whole = whole and tlog.range_root(report.start, prefix, [tlog.leaf_hash(d) for d in data]) == checkpoint.root
    whole = whole and all(decode_leaf_data(d).batch_id == report.start + i for i, d in enumerate(data))
    yield Check("log-range", whole, f"leaves {report.start} to {checkpoint.size - 1} are the log's, none left out"
                + ("" if whole else ": they are not"))  # fmt: skip
    batches = proof["batches"]
    places = [int(b["leaf_index"]) for b in batches] == list(range(report.start, checkpoint.size))
    yield Check("batches", places, f"{len(batches)} batches, one per covered leaf" + ("" if places else ": not so"))
    for leaf, batch in zip(data, batches, strict=True):
        problem = _batch_problem(decode_leaf_data(leaf).root, batch, device, report)
        if problem:
            yield Check("device-index", False, f"batch {batch['leaf_index']}: {problem}")
            return
    yield Check("device-index", True, f"present in {len(batches) - report.absent_from}, "
                f"provably absent from {report.absent_from} of {len(batches)} batches")  # fmt: skip


def _batch_problem(root: str, batch: dict[str, Any], device: bytes, report: CompletenessReport) -> str | None:
    """Why the batch's part of the proof fails, or None (its readings then go into `report`)."""
    index_root = bytes.fromhex(batch["index_root"][2:])
    count = int(batch["run"]["entry_count"])
    path = [bytes.fromhex(h[2:]) for h in batch["index_proof"]]
    if "0x" + process_proof(index_leaf(count, index_root), path).hex() != root:
        return "its device index is not the one its anchored root commits to"
    try:
        entries = check_run(batch["run"], device, index_root)
    except ValueError as exc:
        return str(exc)
    listed: Sequence[list[Any]] = batch["readings"]
    by_key: dict[int, list[tuple[int, int, bytes]]] = {}
    for key_index, sequence, timestamp, reading_id, reading_path in listed:
        leaf = bytes.fromhex(reading_id[2:])
        if "0x" + process_proof(leaf, [bytes.fromhex(h[2:]) for h in reading_path]).hex() != root:
            return f"reading {reading_id} is not a leaf of the batch's anchored tree"
        by_key.setdefault(int(key_index), []).append((int(sequence), int(timestamp), leaf))
    if sorted(by_key) != [e.key_index for e in entries]:
        return "the readings listed are not those of the device's entries"
    for entry in entries:
        mine = by_key[entry.key_index]
        sequences = sorted(s for s, _, _ in mine)
        if readings_hash(mine) != entry.readings_hash or len(mine) != entry.count or (
            sequences[0], sequences[-1]) != (entry.first_sequence, entry.last_sequence):  # fmt: skip
            return f"the readings listed under key {entry.key_index} are not the ones its entry hashes"
        report.sequences[entry.key_index] = sorted([*report.sequences.get(entry.key_index, []), *sequences])
        report.readings += [{"key_index": entry.key_index, "sequence": s, "timestamp": t, "id": "0x" + i.hex(),
                             "batch": batch["leaf_index"]} for s, t, i in sorted(mine)]  # fmt: skip
    if not entries:
        report.absent_from += 1
    return None
