"""Sending readings over HTTP: `POST /v1/readings/batch` with the standard library's client.

Only a 200 answer with one result per reading settles anything; every other answer (a redirect,
which is never followed, a 404 from a proxy, a 5xx, a whole-batch refusal) leaves every reading
queued: a reading is never set aside for what was not an answer about it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from provenance_device.outcome import Outcome, SplitBatch, TooLarge, TransportError

#: A whole-batch refusal that a smaller batch may not get (too many bad signatures in one request).
SPLIT_CODES = frozenset({"too-many-bad-signatures"})


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: a POST would turn into a GET, and the API key would go along."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class HttpTransport:
    """Posts batches of signed readings to the service; a reading counts as sent once the service
    answers it stored or duplicate (committed before the answer)."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        self.url = base_url.rstrip("/") + "/v1/readings/batch"
        self.api_key = api_key
        self.timeout = timeout

    def send(self, bodies: list[dict[str, Any]]) -> list[Outcome]:
        """One outcome per body, in order; raises `TransportError` when the service did not answer them."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps({"readings": bodies}).encode()
        request = urllib.request.Request(self.url, data=data, method="POST", headers=headers)
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise self._failure(exc) from exc
        except (OSError, ValueError) as exc:  # refused, reset, timed out, not JSON
            raise TransportError(f"{self.url}: {exc}") from exc
        return outcomes_of(answer, bodies, self.url)

    def _failure(self, exc: urllib.error.HTTPError) -> TransportError:
        with exc:
            try:
                problem = json.loads(exc.read())
            except (OSError, ValueError):
                problem = {}
        problem = problem if isinstance(problem, dict) else {}
        code, detail = problem.get("code"), problem.get("detail")
        message = f"{self.url}: HTTP {exc.code} {code or ''} {detail or ''}".strip()
        if exc.code == 413:
            return TooLarge(message)
        if exc.code == 422 and code in SPLIT_CODES:
            return SplitBatch(message)
        return TransportError(message, _seconds(exc.headers.get("Retry-After")))


def outcomes_of(answer: Any, bodies: list[dict[str, Any]], where: str) -> list[Outcome]:
    """The outcomes in a batch answer, one per body, each a well-formed result; else `TransportError`."""
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != len(bodies):
        raise TransportError(f"{where}: the answer does not hold one result per reading")
    outcomes = []
    for body, result in zip(bodies, results, strict=True):
        if not isinstance(result, dict) or not isinstance(result.get("status"), str):
            raise TransportError(f"{where}: a result is not an object with a status")
        reading_id = result.get("id")
        outcomes.append(Outcome(body["sequence"], result["status"], result.get("code"), result.get("detail"),
                                reading_id if isinstance(reading_id, str) else None))  # fmt: skip
    return outcomes


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
