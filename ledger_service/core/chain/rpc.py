"""The one way the project talks to a node: JSON-RPC over keep-alive HTTP, parsed by orjson.

`JsonRpc` makes single and batched calls with typed errors: `RpcError` when the node answered with
an error (a refusal: asking again gets the same answer), `RpcUnavailable` when it could not be
reached. Transport failures are retried with backoff, but only where a repeat cannot do harm:
reads are repeated after any transport failure, state-changing calls (sending a transaction,
mining, snapshots) only when the request never left this machine (the connection was refused).
`Web3Transport` puts web3's contract and transaction machinery on the same client, so the
service, the indexer and the node manager share one transport and one error policy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, cast

import httpx
import orjson
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from ledger_service.core.errors import ChainError

#: Words providers use when a log query is too large (Infura, Alchemy, QuickNode, geth, erigon...).
_TOO_MANY_HINTS = (
    "too many",
    "more than",
    "limit exceeded",
    "response size",
    "range too large",
    "block range",
    "exceeds",
    "query timeout",
)
_TOO_MANY_CODES = (-32005, -32602, -32614)


#: Methods that only read, by name or prefix: asked again after a lost answer, they cannot change
#: the outcome. Anything else (sending, signing, filters, the nodes' test controls, a method this
#: list does not know) is repeated only when the request cannot have reached the node.
_READ_PREFIXES = (
    "eth_get", "eth_call", "eth_estimateGas", "eth_createAccessList", "eth_simulateV1", "eth_chainId",
    "eth_blockNumber", "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_feeHistory", "eth_blobBaseFee",
    "eth_syncing", "eth_protocolVersion", "eth_accounts", "net_version", "net_listening", "net_peerCount",
    "web3_clientVersion", "debug_trace", "trace_", "ots_", "txpool_",
)  # fmt: skip
#: Reads that still are not idempotent: a filter's changes are handed out once.
_READ_ONCE = ("eth_getFilterChanges",)


def idempotent(method: str) -> bool:
    """True when asking again cannot change the outcome (reads, `eth_call`, `eth_estimateGas`...);
    False for anything not known to be such a read."""
    return method.startswith(_READ_PREFIXES) and not method.startswith(_READ_ONCE)


class RpcError(ChainError):
    """The node answered a call with an error; `rpc_code` is the JSON-RPC error code. Many such
    answers are lasting (a method the node lacks, bad parameters) but some pass (a load-balanced
    node behind on a block), so a loop retries them with its capped backoff."""

    code = "rpc-error"

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.rpc_code = int(error.get("code", 0))
        self.message = str(error.get("message", ""))
        super().__init__(f"{method}: {self.message} (code {self.rpc_code})")

    @property
    def too_many_results(self) -> bool:
        """True when the node refuses a log query for its size: ask again over fewer blocks."""
        text = self.message.lower()
        return any(hint in text for hint in _TOO_MANY_HINTS) or (
            self.rpc_code in _TOO_MANY_CODES and "log" in self.method.lower() and "range" in text
        )

    @property
    def unsupported(self) -> bool:
        """True when the node lacks the method."""
        text = self.message.lower()
        hints = ("not supported", "does not exist", "unknown method", "not available", "method not found")
        return self.rpc_code == -32601 or any(hint in text for hint in hints)


class RpcUnavailable(ChainError):
    """The node could not be reached, or answered with no JSON-RPC at all (after the retries)."""

    code = "rpc-unavailable"


class JsonRpc:
    """Thread-safe JSON-RPC over one HTTP connection pool, with the retry policy above."""

    def __init__(self, url: str, timeout: float = 60.0, retries: int = 5) -> None:
        self.url = url
        self.retries = retries
        self._http = httpx.Client(
            timeout=timeout,
            headers={"content-type": "application/json"},
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )
        self._ids = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def _post(self, body: bytes, repeatable: bool = True) -> Any:
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(self.url, content=body)
                if response.status_code >= 500 or response.status_code == 429:
                    raise httpx.HTTPStatusError("server busy", request=response.request, response=response)
                return orjson.loads(response.content)
            except (httpx.TransportError, httpx.HTTPStatusError, orjson.JSONDecodeError) as exc:
                unsent = isinstance(exc, httpx.ConnectError)
                if attempt == self.retries or not (repeatable or unsent):
                    raise RpcUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def request(self, method: str, params: Sequence[Any] | bytes) -> dict[str, Any]:
        """The node's whole answer to one call (`result` or `error`), for callers that read errors
        themselves; `params` may come encoded already (web3's own encoding)."""
        body = (
            params
            if isinstance(params, bytes)
            else orjson.dumps({"jsonrpc": "2.0", "id": self._next_id(), "method": method, "params": list(params)})
        )
        answer = self._post(body, idempotent(method))
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise RpcUnavailable(f"{self.url}: {method} got no JSON-RPC answer (a gateway's refusal?)")
        return answer

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def call(self, method: str, *params: Any) -> Any:
        """One call; its result, or `RpcError`."""
        answer = self.request(method, params)
        if "error" in answer:
            raise RpcError(method, answer["error"])
        return answer.get("result")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one request; results in the order of `calls`, or the first `RpcError`."""
        if not calls:
            return []
        body = [{"jsonrpc": "2.0", "id": index, "method": m, "params": p} for index, (m, p) in enumerate(calls)]
        answers = self._post(orjson.dumps(body), all(idempotent(m) for m, _ in calls))
        if isinstance(answers, dict):  # a node that refuses batches answers with one error
            if "error" in answers:
                raise RpcError(calls[0][0], answers["error"])
            raise RpcError(calls[0][0], {"message": "unexpected answer to a batch"})
        results: list[Any] = [None] * len(calls)
        for answer in answers:
            index = answer.get("id")
            if not isinstance(index, int) or not 0 <= index < len(calls):
                continue
            if "error" in answer:
                raise RpcError(calls[index][0], answer["error"])
            results[index] = answer.get("result")
        return results

    def batch_errors(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any] | None]:
        """Several calls in one request; for each, the error the node answered with, or None."""
        if not calls:
            return []
        body = [{"jsonrpc": "2.0", "id": index, "method": m, "params": p} for index, (m, p) in enumerate(calls)]
        answers = self._post(orjson.dumps(body), all(idempotent(m) for m, _ in calls))
        errors: list[dict[str, Any] | None] = [None] * len(calls)
        if isinstance(answers, dict):
            return [answers.get("error")] * len(calls)
        for answer in answers:
            index = answer.get("id")
            if isinstance(index, int) and 0 <= index < len(calls) and isinstance(answer.get("error"), dict):
                errors[index] = answer["error"]
        return errors

    def batch_lenient(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Like `batch`, with None in place of each call the node answered with an error."""
        if not calls:
            return []
        body = [{"jsonrpc": "2.0", "id": index, "method": m, "params": p} for index, (m, p) in enumerate(calls)]
        answers = self._post(orjson.dumps(body), all(idempotent(m) for m, _ in calls))
        results: list[Any] = [None] * len(calls)
        if isinstance(answers, dict):
            return results
        for answer in answers:
            index = answer.get("id")
            if isinstance(index, int) and 0 <= index < len(calls) and "result" in answer:
                results[index] = answer["result"]
        return results


def rpc_answers(url: str, timeout: float = 1.0) -> bool:
    """True when a JSON-RPC node answers `eth_chainId` at `url` (one try, no retries)."""
    rpc = JsonRpc(url, timeout=timeout, retries=0)
    try:
        return "result" in rpc.request("eth_chainId", [])
    except (RpcUnavailable, httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError):
        return False
    finally:
        rpc.close()


class Web3Transport(JSONBaseProvider):
    """A web3 provider over `JsonRpc`: web3 encodes and interprets, the project's client carries."""

    def __init__(self, rpc: JsonRpc) -> None:
        super().__init__()
        self.rpc = rpc
        self.endpoint_uri = rpc.url

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """One call; the node's answer as web3 expects it (web3 raises on an `error` in it)."""
        return cast(RPCResponse, self.rpc.request(method, self.encode_rpc_request(method, params)))

    def is_connected(self, show_traceback: bool = False) -> bool:
        """True when the node answers."""
        try:
            return "result" in self.rpc.request("web3_clientVersion", [])
        except RpcUnavailable:
            if show_traceback:
                raise
            return False
