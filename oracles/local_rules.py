"""Sensor rules evaluated where the readings arrive (an edge gateway), with alarms raised at once,
online or not: a log line, a row in the local database and, when set, a POST to a local webhook.

The rules are the SensorOracle's threshold rules as last read from the chain (with the item
attachments they depend on), kept on disk as JSON so that a gateway restarted offline still has
them. The evaluation is the oracle daemon's own (`oracles/evaluator.py`), so a local alarm means
the same stretch of readings that the contract would take as evidence; the evidence itself goes on
chain from upstream's oracle once the readings are anchored there (docs/edge.md)."""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine
from web3 import Web3

from ledger_service.core.chain.manifest import Deployment
from ledger_service.core.enums import RuleKind
from ledger_service.core.supply_chain import Attachment
from oracles.evaluator import Breach, Observed, ThresholdEvaluator
from oracles.rules import ZERO32, Rule

log = logging.getLogger(__name__)
#: Reading ids kept with an alarm at most (the stretch's first ones); the evidence upstream has them all.
MAX_IDS = 1000
_ALARMS = (
    "CREATE TABLE IF NOT EXISTS edge_alarm (id INTEGER PRIMARY KEY AUTOINCREMENT, rule_id INTEGER NOT NULL,"
    " device_id VARCHAR(66) NOT NULL, first_sequence INTEGER NOT NULL, last_sequence INTEGER NOT NULL,"
    " reading_ids TEXT NOT NULL, raised_at REAL NOT NULL, delivered BOOLEAN NOT NULL DEFAULT 0)"
)


def _plain(value: Any) -> Any:
    """A `getRule` tuple as JSON (bytes as 0x-hex)."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _raw(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x"):
        return bytes.fromhex(value[2:])
    if isinstance(value, list):
        return [_raw(v) for v in value]
    return value


class RuleBook:
    """The threshold rules and the attachments they need, as last read from the chain."""

    def __init__(self, w3: Web3, deployment: Deployment, oracle_abi: list[dict[str, Any]],
                 supply_abi: list[dict[str, Any]], path: Path, min_interval: float = 60.0) -> None:  # fmt: skip
        self.oracle = w3.eth.contract(address=Web3.to_checksum_address(deployment.address_of("SensorOracle")),
                                      abi=oracle_abi).functions  # fmt: skip
        self.supply = w3.eth.contract(address=Web3.to_checksum_address(deployment.address_of("SupplyChain")),
                                      abi=supply_abi).functions  # fmt: skip
        self.path = path
        self.min_interval = min_interval
        self._read_at = float("-inf")
        self.rules: dict[int, Rule] = {}
        self.devices: dict[int, list[bytes]] = {}  # rule id -> devices it watches (item rules: the item's history)
        self.periods: dict[tuple[bytes, bytes], list[Attachment]] = {}
        self.synced_at: float | None = None
        self._last: dict[str, Any] | None = None
        self._load()

    def refresh(self) -> None:
        """Reads every rule and the attachments of their items, at most once per `min_interval`
        seconds; raises when the chain is out of reach (the copy stays as it was)."""
        if time.monotonic() - self._read_at < self.min_interval:
            return
        raw_rules, raw_devices, raw_periods = {}, {}, {}
        for rule_id in range(1, int(self.oracle.ruleCount().call()) + 1):
            value = self.oracle.getRule(rule_id).call()
            rule = Rule.from_tuple(rule_id, value)
            if rule.kind is not RuleKind.THRESHOLD or not rule.armed:
                continue
            raw_rules[rule_id] = _plain(value)
            devices = [rule.device_id]
            if rule.item_id != ZERO32:
                history = [bytes(d) for d in self.supply.deviceHistoryOf(rule.item_id).call()]
                devices = history if rule.device_id == ZERO32 else [rule.device_id]
                for device in devices:
                    rows = self.supply.attachmentsOf(rule.item_id, device).call()
                    raw_periods[f"0x{rule.item_id.hex()}:0x{device.hex()}"] = [[int(a), int(d)] for a, d in rows]
            raw_devices[rule_id] = ["0x" + d.hex() for d in devices]
        document = {"rules": raw_rules, "devices": raw_devices, "periods": raw_periods, "synced_at": time.time()}
        changed = {k: v for k, v in document.items() if k != "synced_at"} != self._last
        self._apply(document)
        self._read_at, self._last = time.monotonic(), {k: v for k, v in document.items() if k != "synced_at"}
        if changed:  # written whole, then renamed: a crash never leaves half a file
            partial = self.path.with_suffix(".partial")
            partial.write_text(json.dumps(document))
            os.replace(partial, self.path)

    def _load(self) -> None:
        try:
            self._apply(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the saved rules are unreadable; starting without", extra={"error": str(exc)[:200]})

    def _apply(self, document: dict[str, Any]) -> None:
        rules = {int(k): Rule.from_tuple(int(k), _raw(v)) for k, v in document["rules"].items()}
        devices = {int(k): [bytes.fromhex(d[2:]) for d in v] for k, v in document["devices"].items()}
        periods = {}
        for key, rows in document["periods"].items():
            item, device = key.split(":")
            periods[(bytes.fromhex(item[2:]), bytes.fromhex(device[2:]))] = [Attachment(a, d) for a, d in rows]
        self.rules, self.devices, self.periods = rules, devices, periods
        self.synced_at = float(document["synced_at"])

    def watching(self, device: bytes) -> list[Rule]:
        """The armed threshold rules that watch `device`."""
        return [self.rules[r] for r, devices in self.devices.items() if device in devices and r in self.rules]

    def periods_of(self, item: bytes, device: bytes) -> list[Attachment]:
        """The device's attachment periods to the item, as last read."""
        return self.periods.get((item, device), [])


class LocalAlarms:
    """Feeds each stored reading to the rules that watch its device; raises an alarm once per rule
    and device when a stretch meets the rule's debounce, and again only after a compliant reading."""

    def __init__(self, engine: Engine, book: RuleBook, webhook_url: str | None = None, timeout: float = 3.0) -> None:
        self.engine = engine
        self.book = book
        self.evaluator = ThresholdEvaluator(book.periods_of)
        self.webhook_url = webhook_url
        self.timeout = timeout
        self._raised: set[tuple[int, bytes]] = set()
        self._lock = threading.Lock()
        self._outgoing: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=10_000)
        with engine.begin() as connection:
            connection.exec_driver_sql(_ALARMS)
        self._sender: threading.Thread | None = None
        if webhook_url:
            for alarm in reversed(self.recent(1000, undelivered=True)):  # those a restart left unsent, oldest first
                self._outgoing.put_nowait(alarm)
            self._sender = threading.Thread(target=self._deliver, name="edge-alarms", daemon=True)
            self._sender.start()

    def observe(self, readings: Sequence[Observed]) -> list[Breach]:
        """Evaluates readings just stored (each device's in sequence order); the breaches raised."""
        raised = []
        with self._lock:
            for reading in readings:
                for rule in self.book.watching(reading.device_id):
                    key = (rule.rule_id, reading.device_id)
                    compliant = rule.matches_metric(reading.metric, reading.scale, reading.unit)
                    if compliant and not rule.breaches(reading.value):
                        self._raised.discard(key)
                    breach = self.evaluator.observe(rule, reading)
                    if breach is not None and key not in self._raised:
                        self._raised.add(key)
                        raised.append(breach)
            self.evaluator.refused.clear()  # logged by the evaluator; kept nowhere here
        for breach in raised:
            try:
                self._raise(breach)
            except Exception:  # the alarm could not be kept: it may be raised again
                with self._lock:
                    self._raised.discard((breach.rule.rule_id, breach.device_id))
                raise
        return raised

    def _raise(self, breach: Breach) -> None:
        alarm = {"rule_id": breach.rule.rule_id, "device_id": "0x" + breach.device_id.hex(),
                 "first_sequence": breach.readings[0].sequence, "last_sequence": breach.readings[-1].sequence,
                 "reading_ids": [r.reading_id for r in breach.readings[:MAX_IDS]],
                 "raised_at": time.time()}  # fmt: skip
        with self.engine.begin() as connection:
            alarm["id"] = connection.execute(
                text("INSERT INTO edge_alarm (rule_id, device_id, first_sequence, last_sequence, reading_ids,"
                     " raised_at) VALUES (:rule_id, :device_id, :first_sequence, :last_sequence, :ids, :raised_at)"),
                {**alarm, "ids": json.dumps(alarm["reading_ids"])},
            ).lastrowid  # fmt: skip
        fields = {k: v for k, v in alarm.items() if k != "reading_ids"}
        log.warning("edge alarm: a sensor rule is breached", extra=fields)
        if self._sender is not None:
            try:
                self._outgoing.put_nowait(alarm)
            except queue.Full:
                log.error("edge alarm webhook queue full; the alarm stays in the database only")

    def _deliver(self) -> None:
        """Posts alarms to the webhook, one at a time; a failure is logged and the alarm kept in the database."""
        while (alarm := self._outgoing.get()) is not None:
            try:
                httpx.post(str(self.webhook_url), json={"type": "edge.alarm", **alarm}, timeout=self.timeout,
                           follow_redirects=False).raise_for_status()  # fmt: skip
                with self.engine.begin() as connection:
                    connection.execute(text("UPDATE edge_alarm SET delivered = 1 WHERE id = :id"), {"id": alarm["id"]})
            except Exception as exc:  # noqa: BLE001 - the sender must outlive any one alarm; it stays undelivered
                log.warning("edge alarm webhook failed", extra={"error": type(exc).__name__})

    def recent(self, limit: int = 100, undelivered: bool = False) -> list[dict[str, Any]]:
        """The latest alarms (only those the webhook did not take, with `undelivered`), newest first."""
        where = "WHERE delivered = 0 " if undelivered else ""
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT id, rule_id, device_id, first_sequence, last_sequence, reading_ids, raised_at, delivered"
                f" FROM edge_alarm {where}ORDER BY id DESC LIMIT {int(limit)}"
            ).all()
        names = ("id", "rule_id", "device_id", "first_sequence", "last_sequence", "reading_ids", "raised_at",
                 "delivered")  # fmt: skip
        alarms = [dict(zip(names, row, strict=True)) for row in rows]
        for alarm in alarms:
            alarm["reading_ids"], alarm["delivered"] = json.loads(alarm["reading_ids"]), bool(alarm["delivered"])
        return alarms

    def close(self) -> None:
        """Stops the webhook sender (alarms not yet posted stay in the database, `delivered` false)."""
        if self._sender is not None:
            try:
                self._outgoing.put(None, timeout=1)
            except queue.Full:
                return
            self._sender.join(timeout=self.timeout + 1)
