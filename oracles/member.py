"""A committee member's own process: serves `POST /sign`, and signs a committee report only after
checking it, reading the chain through its own RPC URL, against the pinned chain and oracle: the
rule, the committee, the device and its attachment, each reading's signature (the key
DeviceRegistry held at its time) and anchor, and the breach recomputed from those readings. It signs
the digest it computed itself, never one it was sent; anything else is refused with a stable code
(`SignRefused.code`, listed in docs/oracles.md); the key file is `oracles.member_keys`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_typing import Hash32
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from ledger_service.core.chain.notary_log import batch_anchored_logs
from ledger_service.core.compiler import Artifact
from ledger_service.core.enums import RuleKind
from ledger_service.core.merkle import process_proof
from ledger_service.core.readings import reading_leaf
from oracles import bls
from oracles.contract import CommitteeReport, SignedReading
from oracles.evaluator import integer_mean
from oracles.member_keys import MemberFile
from oracles.member_wire import signed_reading_from_json
from oracles.rules import ZERO32, Rule

log = logging.getLogger(__name__)

SCHEMES = ("bls", "ecdsa")
#: How far ahead of the member's clock a report's observation may be (as the contract allows).
CLOCK_TOLERANCE = 30
_MAX_BODY = 4 * 1024 * 1024


class SignRefused(Exception):
    """The member will not sign: `code` says why (stable), the message says more."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Member:
    """One member's signing service over its own view of the chain (`rpc_url`)."""

    def __init__(
        self,
        keys: MemberFile,
        rpc_url: str,
        artifacts: dict[str, Artifact],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.file = keys
        self.keys = keys.keys
        self.clock = clock
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        oracle = to_checksum_address(keys.oracle)
        self.oracle: Contract = self.w3.eth.contract(address=oracle, abi=artifacts["SensorOracle"].abi)
        # the oracle's own immutable references: the contracts it checks evidence against
        functions = self.oracle.functions
        self.registry = self.w3.eth.contract(address=functions.registry().call(), abi=artifacts["DeviceRegistry"].abi)
        self.notary = self.w3.eth.contract(address=functions.notary().call(), abi=artifacts["DataNotary"].abi)
        self.supply = self.w3.eth.contract(address=functions.supplyChain().call(), abi=artifacts["SupplyChain"].abi)
        self._chain_checked = False

    @property
    def address(self) -> str:
        """The member's signer address."""
        return self.keys.address

    def _check_chain(self) -> None:
        if self._chain_checked:
            return
        chain_id = int(self.w3.eth.chain_id)
        genesis = HexBytes(self.w3.eth.get_block(0)["hash"]).to_0x_hex()
        if chain_id != self.file.chain_id or genesis != self.file.genesis_hash:
            raise SignRefused(
                "wrong-chain", f"this member serves chain {self.file.chain_id}, the node is on {chain_id}"
            )
        if not self.w3.eth.get_code(to_checksum_address(self.file.oracle)):
            raise SignRefused("wrong-chain", f"no SensorOracle at {self.file.oracle} on this node")
        self._chain_checked = True

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        """Checks the report in `body` (`sign_request`'s form) and signs it, or raises `SignRefused`."""
        scheme = body.get("scheme")
        if scheme not in SCHEMES:
            raise SignRefused("bad-request", f"unknown scheme {scheme!r} (known: {', '.join(SCHEMES)})")
        try:
            report = CommitteeReport.from_json(body["report"])
            readings = [signed_reading_from_json(r) for r in body.get("readings", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise SignRefused("bad-request", f"malformed report: {exc}") from exc
        self._check_chain()
        self.check(report, readings)
        digest = bytes(self.oracle.functions.committeeDigest(report.as_tuple()).call())
        answer: dict[str, Any] = {"address": self.address, "scheme": scheme, "digest": "0x" + digest.hex()}
        if scheme == "ecdsa":
            answer["signature"] = "0x" + bytes(self.keys.account.unsafe_sign_hash(Hash32(digest)).signature).hex()
        else:
            point = self.keys.bls_key.sign(bls.REPORT_DOMAIN, digest)
            answer["signature"] = [hex(point[0]), hex(point[1])]
        log.info("signed report", extra={"member": self.address, "rule_id": report.rule_id, "scheme": scheme})
        return answer

    def check(self, report: CommitteeReport, readings: Sequence[SignedReading]) -> None:
        """Raises `SignRefused` unless the chain, as this member sees it, bears the report out."""
        functions = self.oracle.functions
        if self.address not in [str(m[0]) for m in functions.members().call()]:
            raise SignRefused("not-a-member", f"{self.address} is not on the committee")
        version = int(functions.configVersion().call())
        if report.config_version != version:
            raise SignRefused("stale-committee", f"the report is for committee {report.config_version}, not {version}")
        if not 0 < report.rule_id <= int(functions.ruleCount().call()):
            raise SignRefused("unknown-rule", f"no rule {report.rule_id}")
        rule = Rule.from_tuple(report.rule_id, functions.getRule(report.rule_id).call())
        if not rule.armed:
            raise SignRefused("rule-not-armed", f"rule {rule.rule_id} is disabled or has fired")
        if rule.kind is RuleKind.THRESHOLD:
            raise SignRefused("wrong-path", f"rule {rule.rule_id} fires on evidence, not on a committee report")
        self._check_device(rule, report)
        self._check_times(rule, report)
        self._check_readings(report, readings)
        if rule.kind is RuleKind.HEARTBEAT:
            self._check_silence(rule, report, readings)
        else:
            self._check_mean(rule, report, readings)

    def _check_device(self, rule: Rule, report: CommitteeReport) -> None:
        device_id = report.device_id
        if rule.device_id != ZERO32 and device_id != rule.device_id:
            raise SignRefused("wrong-device", f"rule {rule.rule_id} watches another device")
        if (
            rule.item_id != ZERO32
            and not self.supply.functions.attachedThroughout(
                rule.item_id, device_id, report.window_start, report.observed_at
            ).call()
        ):
            raise SignRefused(
                "device-not-attached",
                f"device 0x{device_id.hex()} was not attached to the rule's item throughout the report's window",
            )

    def _check_times(self, rule: Rule, report: CommitteeReport) -> None:
        now = int(self.clock())
        if report.observed_at > now + CLOCK_TOLERANCE:
            raise SignRefused("invalid-report-time", f"observed at {report.observed_at}, the member's clock says {now}")
        if report.window_start > report.observed_at or report.window_start < rule.created_at:
            raise SignRefused("invalid-report-time", "the window does not lie between the rule's creation and now")

    def _check_readings(self, report: CommitteeReport, readings: Sequence[SignedReading]) -> None:
        registry = self.registry.functions
        for index, signed in enumerate(readings):
            reading = signed.reading
            if reading.device_id != report.device_id:
                raise SignRefused("wrong-device", f"reading {index} is another device's")
            if index and reading.sequence != readings[index - 1].reading.sequence + 1:
                raise SignRefused("not-consecutive", f"reading {index} does not follow reading {index - 1}")
            if reading.timestamp > report.observed_at:
                raise SignRefused("invalid-report-time", f"reading {index} was taken after the observation")
            digest = bytes(registry.readingDigest(reading.as_tuple()).call())
            if not registry.verifyReadingAt(reading.device_id, digest, signed.signature, reading.timestamp).call():
                raise SignRefused("invalid-signature", f"reading {index} is not signed by the device's key of its time")
            leaf = reading_leaf(digest, signed.signature)
            anchored = batch_anchored_logs(self.notary, 0, int(self.w3.eth.block_number), signed.root)  # its event
            if process_proof(leaf, signed.proof) != signed.root or not anchored:
                raise SignRefused("not-anchored", f"reading {index} is not proven under an anchored root")

    def _check_silence(self, rule: Rule, report: CommitteeReport, readings: Sequence[SignedReading]) -> None:
        silence = report.observed_at - report.window_start
        if report.value != silence:
            raise SignRefused("value-mismatch", f"the report says {report.value}, the window is {silence} s")
        if silence <= rule.upper:
            raise SignRefused("no-breach", f"silent {silence} s, within the rule's {rule.upper} s")
        last = max((r.reading.timestamp for r in readings), default=None)
        if last is None:
            if report.window_start != rule.created_at:
                raise SignRefused("no-evidence", "a silence since a reading needs that reading, anchored")
        elif last != report.window_start:
            raise SignRefused(
                "no-evidence", f"the last reading shown is at {last}, the window starts at {report.window_start}"
            )

    def _check_mean(self, rule: Rule, report: CommitteeReport, readings: Sequence[SignedReading]) -> None:
        window = report.observed_at - report.window_start
        if window < rule.min_duration:
            raise SignRefused(
                "window-too-short", f"a window of {window} s, the rule averages over {rule.min_duration} s"
            )
        values = [
            r.reading.value
            for r in readings
            if rule.matches_metric(r.reading.metric, r.reading.scale, r.reading.unit)
            and report.window_start <= r.reading.timestamp <= report.observed_at
        ]
        if len(values) < max(1, rule.min_readings):
            raise SignRefused("not-enough-readings", f"{len(values)} reading(s) of the rule's metric in the window")
        mean = integer_mean(values)
        if mean != report.value:
            raise SignRefused("value-mismatch", f"the readings' mean is {mean}, the report says {report.value}")
        if not rule.breaches(mean):
            raise SignRefused("no-breach", f"a mean of {mean} does not breach rule {rule.rule_id}")


# ------------------------------------------------------------------------------------ the endpoint


def _handler(member: Member) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "provenance-member"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            log.debug("member request: " + format, *args)

        def _send(self, status: int, body: dict[str, Any], content_type: str = "application/json") -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _problem(self, status: int, code: str, detail: str) -> None:
            body = {"type": "about:blank", "title": "Refused", "status": status, "code": code, "detail": detail}
            self._send(status, body, "application/problem+json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path != "/healthz":
                self._problem(404, "not-found", "GET /healthz or POST /sign")
                return
            self._send(200, {"address": member.address, "oracle": member.file.oracle})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/sign":
                self._problem(404, "not-found", "POST /sign")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > _MAX_BODY:
                self._problem(413 if length > 0 else 400, "bad-request", "a JSON body up to 4 MiB")
                return
            try:
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                self._problem(400, "bad-request", f"the body is not a JSON object: {exc}")
                return
            try:
                self._send(200, member.sign(body))
            except SignRefused as exc:
                log.info("refused to sign", extra={"member": member.address, "code": exc.code, "reason": str(exc)})
                self._problem(422, exc.code, str(exc))
            except Exception as exc:  # noqa: BLE001 - the node failed, not the report: say so, keep serving
                log.warning("member check failed", extra={"member": member.address, "error": str(exc)})
                self._problem(503, "chain-unavailable", "the member could not read the chain")

    return Handler


class MemberServer:
    """The member's HTTP endpoint (`POST /sign`, `GET /healthz`) on a thread."""

    def __init__(self, member: Member, host: str = "127.0.0.1", port: int = 0) -> None:
        self.member = member
        self.httpd = ThreadingHTTPServer((host, port), _handler(member))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where the endpoint listens."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        """Serves until `shutdown`."""
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> MemberServer:
        """Serves on a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="member", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stops serving and closes the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
