"""Sensor rules as `SensorOracle` stores them, and the breach test the contract applies."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger_service.core.enums import Action, Comparison, RuleKind
from ledger_service.core.hashing import keccak256

ZERO32 = bytes(32)


@dataclass(frozen=True)
class RuleSpec:
    """A rule as its manager gives it (`SensorOracle.RuleParams`)."""

    item_id: bytes
    metric: str
    kind: RuleKind = RuleKind.THRESHOLD
    unit: str = ""
    comparison: Comparison = Comparison.ABOVE
    lower: int = 0
    upper: int = 0
    scale: int = 0
    min_readings: int = 1
    min_duration: int = 0
    actions: Action = Action.NONE
    device_id: bytes = ZERO32

    def as_tuple(self) -> tuple[Any, ...]:
        """The struct tuple for `addRule`."""
        return (
            self.item_id,
            self.device_id,
            self.metric,
            self.unit,
            int(self.kind),
            int(self.comparison),
            self.lower,
            self.upper,
            self.scale,
            self.min_readings,
            self.min_duration,
            int(self.actions),
        )


@dataclass(frozen=True)
class Rule:
    """A rule as stored on chain, with its id."""

    rule_id: int
    item_id: bytes
    device_id: bytes
    metric_hash: bytes
    unit_hash: bytes
    lower: int
    upper: int
    scale: int
    min_readings: int
    min_duration: int
    actions: Action
    kind: RuleKind
    comparison: Comparison
    active: bool
    created_at: int
    fired_at: int
    protections: int = 0

    @classmethod
    def from_tuple(cls, rule_id: int, value: Any) -> Rule:
        """Reads the `getRule` result."""
        return cls(
            rule_id,
            bytes(value[0]),
            bytes(value[1]),
            bytes(value[2]),
            bytes(value[3]),
            int(value[4]),
            int(value[5]),
            int(value[6]),
            int(value[7]),
            int(value[8]),
            Action(int(value[9])),
            RuleKind(int(value[10])),
            Comparison(int(value[11])),
            bool(value[12]),
            int(value[13]),
            int(value[14]),
            int(value[15]),
        )

    @property
    def armed(self) -> bool:
        """True while the rule can still fire."""
        return self.active and self.fired_at == 0

    def watches(self, device_id: bytes, attached: bool) -> bool:
        """True when readings of `device_id` count for this rule (`attached`: to the rule's item)."""
        if self.device_id != ZERO32 and device_id != self.device_id:
            return False
        return self.item_id == ZERO32 or attached

    def is_metric(self, metric: str) -> bool:
        """True when a reading of `metric` is of the rule's metric (whatever its unit and scale)."""
        return keccak256(metric.encode()) == self.metric_hash

    def same_unit(self, unit: str, scale: int) -> bool:
        """True when a reading of the rule's metric is in the rule's unit and scale (the contract
        refuses evidence with any other: `OracleUnitMismatch`)."""
        return keccak256(unit.encode()) == self.unit_hash and scale == self.scale

    def matches_metric(self, metric: str, scale: int, unit: str) -> bool:
        """True when a reading is what the rule compares: its metric, unit and scale."""
        return self.is_metric(metric) and self.same_unit(unit, scale)

    def breaches(self, value: int) -> bool:
        """The contract's comparison."""
        return self.comparison.breached(value, self.lower, self.upper)


def fixed_point(value: Decimal | float | str, scale: int) -> int:
    """A decimal threshold as the integer readings use at `scale` (value * 10**scale, exact)."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    scaled = number.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more decimals than scale {scale} allows")
    return int(scaled)


def build_spec(
    item_id: bytes,
    *,
    metric: str = "",
    unit: str = "",
    above: Decimal | float | str | None = None,
    below: Decimal | float | str | None = None,
    scale: int = 0,
    heartbeat: int | None = None,
    mean_over: int | None = None,
    readings: int = 1,
    duration: int = 0,
    actions: Action = Action.NONE,
    device_id: bytes = ZERO32,
) -> RuleSpec:
    """A rule from what people say: above and/or below a value (both: outside the band), a
    heartbeat silence in seconds, or a mean over a window of seconds."""
    if heartbeat is not None:
        if above is not None or below is not None or mean_over is not None:
            raise ValueError("a heartbeat rule takes no thresholds")
        return RuleSpec(
            item_id, metric, RuleKind.HEARTBEAT, unit=unit, upper=heartbeat, actions=actions, device_id=device_id
        )
    if above is None and below is None:
        raise ValueError("give a threshold: above, below, or both for a band")
    upper = fixed_point(above, scale) if above is not None else 0
    lower = fixed_point(below, scale) if below is not None else 0
    if above is not None and below is not None:
        comparison = Comparison.OUTSIDE
        lower, upper = fixed_point(below, scale), fixed_point(above, scale)
        if lower > upper:
            raise ValueError("for a band, 'below' is its lower edge and 'above' its upper edge")
    else:
        comparison = Comparison.ABOVE if above is not None else Comparison.BELOW
    kind = RuleKind.AGGREGATE if mean_over is not None else RuleKind.THRESHOLD
    if not unit:
        raise ValueError("give the unit of the metric (as the devices report it, e.g. Cel)")
    return RuleSpec(
        item_id,
        metric,
        kind,
        unit,
        comparison,
        lower=lower,
        upper=upper,
        scale=scale,
        min_readings=readings,
        min_duration=mean_over if mean_over is not None else duration,
        actions=actions,
        device_id=device_id,
    )


def describe(rule: Rule | RuleSpec, metric: str = "") -> str:
    """A one-line human description of a rule."""
    name = metric or getattr(rule, "metric", "") or "value"
    scale = 10**rule.scale if rule.scale >= 0 else 1

    def show(v: int) -> str:
        return f"{v / scale:g}"

    if rule.kind is RuleKind.HEARTBEAT:
        return f"no reading for more than {rule.upper}s"
    unit = getattr(rule, "unit", "")
    suffix = f" {unit}" if unit else ""
    if rule.comparison is Comparison.ABOVE:
        test = f"{name} > {show(rule.upper)}{suffix}"
    elif rule.comparison is Comparison.BELOW:
        test = f"{name} < {show(rule.lower)}{suffix}"
    else:
        test = f"{name} outside [{show(rule.lower)}, {show(rule.upper)}]{suffix}"
    if rule.kind is RuleKind.AGGREGATE:
        return f"mean {test} over {rule.min_duration}s"
    debounce = f"{rule.min_readings} reading{'s' if rule.min_readings != 1 else ''}"
    if rule.min_duration:
        debounce += f" over at least {rule.min_duration}s"
    return f"{test} for {debounce}"
