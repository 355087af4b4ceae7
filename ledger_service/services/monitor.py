"""A monitor of one device's record in the log, run by the device's owner: each look takes the log's
completeness proof for the device over every batch appended since the last look (by log position,
so nothing the operator says about times can narrow it), checks it under the pinned log key, checks
its checkpoint extends the last one seen (a consistency proof), and raises an alert on a gap in the
device's sequences, a fork, rollback or rewrite of the log, a proof that skips batches or does not
verify, or a signing key it did not expect. Its state (a directory, `monitor.json`): the last
checkpoint, and per key index the last sequence seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger_service.services.completeness_check import CompletenessReport, check_completeness
from ledger_service.services.log_audit import FetchConsistency, audit
from ledger_service.services.verification import Check

#: first log leaf -> the device's completeness proof from that leaf to the latest checkpoint.
FetchProof = Callable[[int], dict[str, Any]]
#: a batch's log leaf data -> the checks of its payload audit (`services.payload_audit`).
AuditBatch = Callable[[bytes], list[Check]]


@dataclass(frozen=True)
class Alert:
    kind: str  # gap, fork, invalid-proof, unexpected-key
    detail: str


@dataclass
class Look:
    alerts: list[Alert] = field(default_factory=list)
    size: int = 0
    sequences: dict[int, int] = field(default_factory=dict)  # key index -> highest sequence seen


class DeviceMonitor:
    def __init__(self, state: Path, device_id: str, log_key: str, expected_keys: set[int] | None = None) -> None:
        self.path, self.device_id, self.log_key = state / "monitor.json", device_id.lower(), log_key
        self.expected_keys = expected_keys
        state.mkdir(parents=True, exist_ok=True)

    def _state(self) -> dict[str, Any]:
        return json.loads(self.path.read_text()) if self.path.exists() else {"note": None, "keys": {}}

    def look(
        self, fetch_proof: FetchProof, fetch_consistency: FetchConsistency, audit_batch: AuditBatch | None = None
    ) -> Look:
        """One look; the state moves on only when no alert was raised about the log itself. With
        `audit_batch`, each batch that holds the device is audited from its payload first, so readings
        the operator made up (to fill a gap, or to move the last sequence seen) raise an alert."""
        state = self._state()
        seen: dict[int, int] = {int(k): int(v) for k, v in state["keys"].items()}
        first = int(state.get("size", 0))
        proof = fetch_proof(first)
        report = check_completeness(proof, self.log_key, self.device_id)
        look = Look()
        if not report.ok:
            failed = next(c for c in report.checks if not c.ok)
            look.alerts.append(Alert("invalid-proof", f"{failed.name}: {failed.detail}"))
            return look
        assert report.checkpoint is not None
        look.size = report.checkpoint.size
        if look.size < first or report.start > first:
            what = "rollback" if look.size < first else "skipped"
            look.alerts.append(Alert(what, f"asked from leaf {first}, shown leaves {report.start} to {look.size - 1}"))
            return look
        note = proof["log"]["checkpoint"]
        if state["note"] is not None:
            broken = [c for c in audit([state["note"], note], self.log_key, fetch_consistency) if not c.ok]
            if broken:
                look.alerts.append(Alert("fork", f"{broken[0].what}: {broken[0].detail}"))
                return look
        if audit_batch is not None:
            for batch in sorted({r["batch"] for r in report.readings}):
                data = bytes.fromhex(proof["log"]["leaves"][batch - report.start][2:])
                refused = [c for c in audit_batch(data) if not c.ok]
                if refused:
                    look.alerts.append(Alert("forged-batch", f"batch {batch}: {refused[0].name}: {refused[0].detail}"))
                    return look
        look.alerts += self._sequence_alerts(report, seen)
        look.sequences = seen
        document = {"note": note, "size": look.size, "keys": {str(k): v for k, v in seen.items()}}
        self.path.write_text(json.dumps(document))
        return look

    def _sequence_alerts(self, report: CompletenessReport, seen: dict[int, int]) -> list[Alert]:
        """Gaps after the last sequence seen per key, and keys not allowed; `seen` moves on."""
        alerts = []
        expect = {key: last + 1 for key, last in seen.items()}
        for key, runs in report.gaps(expect).items():
            for first, last in runs:
                if last is None or last < expect.get(key, 0):
                    continue  # nothing after it yet (a quiet device), or alerted on an earlier look
                missing = f"{first}" if first == last else f"{first}-{last}"
                alerts.append(Alert("gap", f"key {key}: sequence {missing} missing from the log"))
        allowed = self.expected_keys if self.expected_keys is not None else set(seen) or None
        for key in sorted(report.sequences):
            if allowed is not None and key not in allowed:
                alerts.append(Alert("unexpected-key", f"readings signed with key {key} of the device"))
            seen[key] = max(seen.get(key, -1), report.sequences[key][-1])
        return alerts
