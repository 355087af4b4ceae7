"""Sensor rules at the edge: wires `oracles/local_rules.py` to a gateway (the app layer is the one that
sees both): each reading the gateway stores is evaluated at once, and the rules are read again from
the chain after each registry sync."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from web3 import Web3

from edge.gateway import Gateway
from ledger_service.core.chain.manifest import Deployment
from ledger_service.core.readings import Reading
from oracles.evaluator import Observed
from oracles.local_rules import LocalAlarms, RuleBook

log = logging.getLogger(__name__)


def attach_local_rules(
    gateway: Gateway, w3: Web3, deployment: Deployment, artifacts: dict[str, Any], path: Path,
    webhook_url: str | None = None,
) -> LocalAlarms | None:  # fmt: skip
    """Local alarms on `gateway`, or None when the deployment has no SensorOracle and SupplyChain."""
    if not {"SensorOracle", "SupplyChain"} <= set(deployment.contracts):
        log.info("no SensorOracle in the deployment: no local rules")
        return None
    book = RuleBook(w3, deployment, artifacts["SensorOracle"].abi, artifacts["SupplyChain"].abi, path)
    alarms = LocalAlarms(gateway.engine, book, webhook_url)

    def observe(taken: list[tuple[str, Reading, float]]) -> None:
        alarms.observe([Observed(rid, r.device_id, r.sequence, r.timestamp, r.metric, r.value, r.scale, at, r.unit)
                        for rid, r, at in taken])  # fmt: skip

    gateway.ingestor.observers.append(observe)
    gateway.refreshers.append(book.refresh)
    return alarms
