"""A monitor of one device's record in the log, run by the device's owner: each look takes the log's
completeness proof for the device, checks it under the pinned log key, checks its checkpoint
extends the last one seen (a consistency proof), and raises an alert on a gap in the device's
sequences, a fork or rewrite of the log, a proof that does not verify, or a signing key it did not
expect. Its state (a directory, `monitor.json`): the last checkpoint, and per key index the last
sequence and reading time seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger_service.services.completeness_check import check_completeness
from ledger_service.services.log_audit import FetchConsistency, audit

#: from (Unix seconds) -> the device's completeness proof.
FetchProof = Callable[[int], dict[str, Any]]
#: How far before the last reading seen each look starts (late readings land in later batches).
LOOKBACK = 3600


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

    def look(self, fetch_proof: FetchProof, fetch_consistency: FetchConsistency) -> Look:
        """One look; the state moves on only when no alert was raised about the log itself."""
        state = self._state()
        seen: dict[int, dict[str, int]] = {int(k): v for k, v in state["keys"].items()}
        since = max(0, min((v["timestamp"] for v in seen.values()), default=0) - LOOKBACK)
        proof = fetch_proof(since)
        report = check_completeness(proof, self.log_key, self.device_id)
        look = Look()
        if not report.ok:
            failed = next(c for c in report.checks if not c.ok)
            look.alerts.append(Alert("invalid-proof", f"{failed.name}: {failed.detail}"))
            return look
        assert report.checkpoint is not None
        look.size = report.checkpoint.size
        note = proof["log"]["checkpoint"]
        if state["note"] is not None:
            broken = [c for c in audit([state["note"], note], self.log_key, fetch_consistency) if not c.ok]
            if broken:
                look.alerts.append(Alert("fork", f"{broken[0].what}: {broken[0].detail}"))
                return look
        expect = {key: v["sequence"] + 1 for key, v in seen.items()}
        for key, runs in report.gaps(expect).items():
            for first, last in runs:
                if last is None or last < expect.get(key, 0):
                    continue  # nothing after it yet (a quiet device), or alerted on an earlier look
                missing = f"{first}" if first == last else f"{first}-{last}"
                look.alerts.append(Alert("gap", f"key {key}: sequence {missing} missing from the log"))
        allowed = self.expected_keys if self.expected_keys is not None else set(seen) or None
        for key in sorted(report.sequences):
            if allowed is not None and key not in allowed:
                look.alerts.append(Alert("unexpected-key", f"readings signed with key {key} of the device"))
        for reading in report.readings:
            key = reading["key_index"]
            if reading["sequence"] >= seen.get(key, {}).get("sequence", -1):
                seen[key] = {"sequence": reading["sequence"], "timestamp": reading["timestamp"]}
        look.sequences = {k: v["sequence"] for k, v in seen.items()}
        self.path.write_text(json.dumps({"note": note, "keys": {str(k): v for k, v in seen.items()}}))
        return look
