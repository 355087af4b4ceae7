"""Incremental rule evaluation: feed each device's verified readings in sequence order, learn when
a threshold rule's debounce is met, with the readings that prove it.

The evaluator applies exactly the tests `SensorOracle.submitEvidence` applies, so it never hands
over a stretch the contract would refuse. The evidence is a stretch of one device's readings with
consecutive sequence numbers, in time order (no reading older than the one before it), none taken
before the rule was added, all inside one period the device was attached to the rule's item,
starting with a reading of the rule's metric; readings of other metrics inside it are carried
(proven, not compared). A reading of the rule's metric in another unit or scale would make the
contract refuse the whole stretch (`OracleUnitMismatch`): it ends the stretch and is reported as
`refused` (never taken for another metric). A compliant reading of the metric, a gap in the
sequence (a reading that never reached the store), a reading out of time order or outside the
attachment period ends the stretch too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from ledger_service.core.enums import RuleKind
from ledger_service.core.supply_chain import Attachment, attached_throughout
from oracles.rules import ZERO32, Rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observed:
    """A stored reading, as much of it as evaluation needs."""

    reading_id: str
    device_id: bytes
    sequence: int
    timestamp: int
    metric: str
    value: int
    scale: int
    received_at: float
    unit: str = ""


@dataclass
class _Run:
    readings: list[Observed] = field(default_factory=list)
    matching: int = 0
    last_match_timestamp: int = 0

    @property
    def last_sequence(self) -> int:
        return self.readings[-1].sequence

    @property
    def last_timestamp(self) -> int:
        return self.readings[-1].timestamp

    @property
    def duration(self) -> int:
        return max(0, self.last_match_timestamp - self.readings[0].timestamp)


@dataclass(frozen=True)
class Breach:
    """A threshold rule whose debounce is met by `readings` (in sequence order)."""

    rule: Rule
    device_id: bytes
    readings: tuple[Observed, ...]

    @property
    def first_sequence(self) -> int:
        """The sequence number the contract derives the report id from."""
        return self.readings[0].sequence


#: The attachment periods of a device to an item: (item, device) -> periods, oldest first.
Periods = Callable[[bytes, bytes], list[Attachment]]


def integer_mean(values: list[int]) -> int:
    """The mean of `values` in integer arithmetic, rounded toward zero (Solidity's division)."""
    total, count = sum(values), len(values)
    quotient = abs(total) // count
    return quotient if total >= 0 else -quotient


class ThresholdEvaluator:
    """Tracks, per threshold rule and device, the current stretch of breaching readings."""

    def __init__(self, periods: Periods | None = None) -> None:
        self._runs: dict[tuple[int, bytes], _Run] = {}
        self._periods: Periods = periods or (lambda item, device: [])
        #: readings of a rule's metric in another unit or scale: (rule id, reading id)
        self.refused: list[tuple[int, str]] = []

    def _attached(self, rule: Rule, device: bytes, start: int, end: int) -> bool:
        if rule.item_id == ZERO32:
            return True
        return attached_throughout(self._periods(rule.item_id, device), start, end)

    def observe(self, rule: Rule, reading: Observed) -> Breach | None:
        """Feeds one reading of a device the rule watches (in the device's sequence order); returns
        the breach when this reading completes the rule's debounce."""
        if rule.kind is not RuleKind.THRESHOLD or not rule.armed:
            return None
        key = (rule.rule_id, reading.device_id)
        run = self._runs.get(key)
        if run is not None and (
            reading.sequence != run.last_sequence + 1
            or reading.timestamp < run.last_timestamp
            or not self._attached(rule, reading.device_id, run.readings[0].timestamp, reading.timestamp)
        ):
            run = None  # the contract could not chain the evidence across this reading
            self._runs.pop(key, None)
        usable = reading.timestamp >= rule.created_at and self._attached(
            rule, reading.device_id, reading.timestamp, reading.timestamp
        )
        if not rule.is_metric(reading.metric):
            if run is not None and usable:
                run.readings.append(reading)
            return None
        if not rule.same_unit(reading.unit, reading.scale):
            self._runs.pop(key, None)
            self.refused.append((rule.rule_id, reading.reading_id))
            log.warning(
                "reading of the rule's metric in another unit or scale: not evidence for the rule",
                extra={"rule_id": rule.rule_id, "reading_id": reading.reading_id, "unit": reading.unit},
            )
            return None
        if not usable or not rule.breaches(reading.value):
            self._runs.pop(key, None)
            return None
        if run is None:
            run = _Run()
        run.readings.append(reading)
        run.matching += 1
        run.last_match_timestamp = reading.timestamp
        self._runs[key] = run
        if run.matching >= rule.min_readings and run.duration >= rule.min_duration:
            self._runs.pop(key, None)
            return Breach(rule, reading.device_id, tuple(run.readings))
        return None

    def forget(self, rule_id: int) -> None:
        """Drops the state of a rule that fired or was disabled."""
        for key in [k for k in self._runs if k[0] == rule_id]:
            del self._runs[key]
