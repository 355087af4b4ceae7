"""The oracle's threshold evaluator on readings made up in memory: the stretch it reports, the contract's
own tests applied before anything is handed over, and integer means rounded like Solidity's."""

from __future__ import annotations

from eth_utils import keccak

from ledger_service.core.enums import Action, Comparison, RuleKind
from ledger_service.core.supply_chain import Attachment
from oracles.evaluator import Observed, ThresholdEvaluator, integer_mean
from oracles.rules import Rule

RULE = Rule(
    rule_id=1, item_id=b"\1" * 32, device_id=bytes(32), metric_hash=keccak(b"temperature"), unit_hash=keccak(b"Cel"),
    lower=0, upper=800, scale=2, min_readings=3, min_duration=20, actions=Action.NONE, kind=RuleKind.THRESHOLD,
    comparison=Comparison.ABOVE, active=True, created_at=1000, fired_at=0,
)  # fmt: skip
ALWAYS = [Attachment(1, 0)]


def observed(
    sequence: int,
    value: int,
    timestamp: int | None = None,
    metric: str = "temperature",
    unit: str = "Cel",
    scale: int = 2,
) -> Observed:
    stamp = timestamp or 1000 + 10 * sequence
    return Observed(f"r{sequence}", b"\2" * 32, sequence, stamp, metric, value, scale, 0.0, unit)


def feed(readings: list[Observed], rule: Rule = RULE, periods: list[Attachment] = ALWAYS) -> list[list[str]]:
    evaluator = ThresholdEvaluator(lambda item, device: periods)
    found = []
    for reading in readings:
        breach = evaluator.observe(rule, reading)
        if breach is not None:
            found.append([r.reading_id for r in breach.readings])
    return found


def test_evaluator_finds_the_first_stretch_that_meets_the_debounce() -> None:
    assert feed([observed(1, 900), observed(2, 900), observed(3, 900)]) == [["r1", "r2", "r3"]]
    # too short in time: 3 readings 10 s apart span 20 s; 5 s apart do not
    assert feed([observed(i, 900, 1000 + 5 * i) for i in range(1, 4)]) == []
    # a compliant reading, a gap in the sequence, or a reading before the rule resets the stretch
    assert feed([observed(1, 900), observed(2, 700), observed(3, 900), observed(4, 900)]) == []
    assert feed([observed(1, 900), observed(2, 900), observed(4, 900), observed(5, 900)]) == []
    assert feed([observed(1, 900, 990), observed(2, 900), observed(3, 900)]) == []
    # readings of other metrics inside the stretch are carried along, not compared
    humid = [observed(1, 900), observed(2, 10, metric="humidity"), observed(3, 900), observed(4, 900)]
    assert feed(humid) == [["r1", "r2", "r3", "r4"]]
    # the threshold is strict, and a band breaches on both sides
    assert feed([observed(i, 800) for i in range(1, 4)]) == []
    band = Rule(**{**RULE.__dict__, "comparison": Comparison.OUTSIDE, "lower": 200, "upper": 800})
    assert feed([observed(1, 100), observed(2, 900), observed(3, 150)], band) == [["r1", "r2", "r3"]]
    fired = Rule(**{**RULE.__dict__, "fired_at": 5})
    assert feed([observed(i, 900) for i in range(1, 4)], fired) == []


def test_evaluator_applies_the_contracts_tests() -> None:
    """What SensorOracle refuses, the evaluator never hands over."""
    hot = [observed(i, 900) for i in range(1, 4)]
    assert feed(hot) == [["r1", "r2", "r3"]]
    # a reading of the metric in another unit or scale ends the stretch (it is not another metric)
    assert feed([observed(1, 900), observed(2, 29_000, unit="K"), observed(3, 900), observed(4, 900)]) == []
    assert feed([observed(1, 900), observed(2, 90, scale=1), observed(3, 900), observed(4, 900)]) == []
    evaluator = ThresholdEvaluator(lambda item, device: ALWAYS)
    evaluator.observe(RULE, observed(1, 900, unit="Far"))
    assert evaluator.refused == [(1, "r1")]
    # timestamps must not decrease inside a stretch (other metrics included)
    assert feed([observed(1, 900, 1040), observed(2, 900, 1030), observed(3, 900, 1050)]) == []
    backwards = [observed(1, 900, 1010), observed(2, 5, 1005, metric="humidity"), observed(3, 900, 1030)]
    assert feed([*backwards, observed(4, 900, 1040)]) == []
    # readings outside the attachment periods are no evidence; a stretch stays inside one period
    assert feed(hot, periods=[]) == []
    assert feed(hot, periods=[Attachment(1015, 0)]) == []  # attached after the first reading
    assert feed(hot, periods=[Attachment(1, 1030)]) == []  # detached at the third reading's time
    assert feed(hot, periods=[Attachment(1, 1025), Attachment(1025, 0)]) == []  # two periods
    late = [observed(i, 900) for i in range(1, 5)]  # r1 before the attachment: the stretch starts at r2
    assert feed(late, periods=[Attachment(1015, 0)]) == [["r2", "r3", "r4"]]
    # a device rule (no item) has no attachment to check
    device_rule = Rule(**{**RULE.__dict__, "item_id": bytes(32), "device_id": b"\2" * 32})
    assert feed(hot, device_rule, periods=[]) == [["r1", "r2", "r3"]]


def test_means_are_integers_rounded_toward_zero_like_solidity() -> None:
    assert integer_mean([801, 802]) == 801
    assert integer_mean([-801, -802]) == -801
    big = [10**40 + 1, 10**40 + 2, 10**40 + 2]  # floats would lose the last digits
    assert integer_mean(big) == 10**40 + 1
