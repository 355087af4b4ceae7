"""Sending readings over HTTP: `POST /v1/readings/batch` with the standard library's client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from provenance_device.outcome import Outcome, TooLarge, TransportError


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
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return self._problem(exc, bodies)
        except (OSError, ValueError) as exc:  # refused, reset, timed out, not JSON
            raise TransportError(f"{self.url}: {exc}") from exc
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != len(bodies):
            raise TransportError(f"{self.url}: the answer does not hold one result per reading")
        return [
            Outcome(body["sequence"], str(r.get("status")), r.get("code"), r.get("detail"))
            for body, r in zip(bodies, results, strict=True)
        ]

    def _problem(self, exc: urllib.error.HTTPError, bodies: list[dict[str, Any]]) -> list[Outcome]:
        with exc:
            try:
                problem = json.loads(exc.read())
            except (OSError, ValueError):
                problem = {}
        code = problem.get("code") if isinstance(problem, dict) else None
        detail = problem.get("detail") if isinstance(problem, dict) else None
        if exc.code == 413:
            raise TooLarge(f"{self.url}: {detail or 'batch too large'}")
        if exc.code == 429 or exc.code >= 500 or exc.code in (401, 403, 408):
            retry = exc.headers.get("Retry-After")
            raise TransportError(f"{self.url}: HTTP {exc.code} {code or ''} {detail or ''}".strip(), _seconds(retry))
        return [Outcome(body["sequence"], "refused", code or f"http-{exc.code}", detail) for body in bodies]


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
