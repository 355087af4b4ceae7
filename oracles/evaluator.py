"""Incremental rule evaluation: feed each device's verified readings in sequence order, learn when
a threshold rule's debounce is met, with the readings that prove it.

The evidence the contract accepts is a stretch of one device's readings with consecutive sequence
numbers, starting with a reading of the rule's metric; readings of other metrics inside it are
carried (proven, not compared). A compliant reading of the metric, a reading taken before the
rule, or a gap in the sequence (a reading that never reached the store) ends the stretch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oracles.rules import Rule, RuleKind


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


@dataclass
class _Run:
    readings: list[Observed] = field(default_factory=list)
    matching: int = 0
    last_match_timestamp: int = 0

    @property
    def last_sequence(self) -> int:
        return self.readings[-1].sequence

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


class ThresholdEvaluator:
    """Tracks, per threshold rule and device, the current stretch of breaching readings."""

    def __init__(self) -> None:
        self._runs: dict[tuple[int, bytes], _Run] = {}

    def observe(self, rule: Rule, reading: Observed) -> Breach | None:
        """Feeds one reading of a device the rule watches (in the device's sequence order); returns
        the breach when this reading completes the rule's debounce."""
        if rule.kind is not RuleKind.THRESHOLD or not rule.armed:
            return None
        key = (rule.rule_id, reading.device_id)
        run = self._runs.get(key)
        if run is not None and reading.sequence != run.last_sequence + 1:
            run = None  # a gap: the evidence could not chain across it
        if not rule.matches_metric(reading.metric, reading.scale):
            if run is not None:
                run.readings.append(reading)
                self._runs[key] = run
            return None
        if reading.timestamp < rule.created_at or not rule.breaches(reading.value):
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
