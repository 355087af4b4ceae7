"""A lean JSON-RPC client for bulk reads: batched calls over keep-alive HTTP, parsed by orjson."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson

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


class RpcError(Exception):
    """The node answered a call with an error."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.method = method
        self.code = int(error.get("code", 0))
        self.message = str(error.get("message", ""))
        super().__init__(f"{method}: {self.message} (code {self.code})")

    @property
    def too_many_results(self) -> bool:
        """True when the node refuses a log query for its size: ask again over fewer blocks."""
        text = self.message.lower()
        return any(hint in text for hint in _TOO_MANY_HINTS) or (
            self.code in _TOO_MANY_CODES and "log" in self.method.lower() and "range" in text
        )

    @property
    def unsupported(self) -> bool:
        """True when the node lacks the method."""
        text = self.message.lower()
        return self.code == -32601 or "not supported" in text or "does not exist" in text or "unknown method" in text


class RpcUnavailable(Exception):
    """The node could not be reached (after retries)."""


class JsonRpc:
    """Thread-safe batched JSON-RPC over one HTTP connection pool; transport errors are retried."""

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

    def _post(self, body: Any) -> Any:
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(self.url, content=orjson.dumps(body))
                if response.status_code >= 500 or response.status_code == 429:
                    raise httpx.HTTPStatusError("server busy", request=response.request, response=response)
                return orjson.loads(response.content)
            except (httpx.TransportError, httpx.HTTPStatusError, orjson.JSONDecodeError) as exc:
                if attempt == self.retries:
                    raise RpcUnavailable(f"{self.url}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def call(self, method: str, *params: Any) -> Any:
        """One call; its result, or `RpcError`."""
        answer = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in answer:
            raise RpcError(method, answer["error"])
        return answer.get("result")

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one request; results in the order of `calls`, or the first `RpcError`."""
        if not calls:
            return []
        body = [{"jsonrpc": "2.0", "id": index, "method": m, "params": p} for index, (m, p) in enumerate(calls)]
        answers = self._post(body)
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
        answers = self._post(body)
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
        answers = self._post(body)
        results: list[Any] = [None] * len(calls)
        if isinstance(answers, dict):
            return results
        for answer in answers:
            index = answer.get("id")
            if isinstance(index, int) and 0 <= index < len(calls) and "result" in answer:
                results[index] = answer["result"]
        return results
