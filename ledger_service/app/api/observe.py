"""Request metrics for Prometheus: a count and a latency histogram per route template (not per
raw path, so ids do not explode the label space), method and status. Every label is bounded: a
method outside the standard ones is `OTHER`, a path no route matched is `unmatched`, a status
outside 100-599 is `other`. The registry belongs to the app; `/metrics` exposes it beside the
pipeline gauges."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The method as a label: one of the standard methods, else `OTHER`."""
    return method if method in METHODS else "OTHER"


def status_label(status: int) -> str:
    """The status as a label: 100-599, else `other`."""
    return str(status) if 100 <= status <= 599 else "other"


class RequestMetrics:
    """Counts requests and times them."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "provenance_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "provenance_http_request_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"  # a template, or one label
            method = method_label(str(scope.get("method", "")))
            self.requests.labels(method=method, route=str(route), status=status_label(status)).inc()
            self.latency.labels(method=method, route=route).observe(time.perf_counter() - started)
