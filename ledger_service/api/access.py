"""Who may read, and how often anyone may ask.

`RequestRateLimit` is ASGI middleware: a request that carries an API key counts against that key
(`PROVENANCE_API_KEY_RATE` requests per second), any other against its client address
(`PROVENANCE_API_CLIENT_RATE`); past the limit it answers 429 `too-many-requests` with
`Retry-After`. Probes (`/healthz`, `/readyz`, `/metrics`) and the explorer's static files are not
counted, nor are readings posted without a key: ingest has its own limit per device, and a fleet
often shares one gateway address. `read_access` is the dependency of the read routes: with
`PROVENANCE_PRIVATE_READS=true` they need a valid API key of any role."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated

from fastapi import Depends, Header
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger_service.api.deps import ServicesDep
from ledger_service.api.problems import MEDIA_TYPE, PROBLEM_TYPE_BASE
from ledger_service.apikeys import authenticate
from ledger_service.ratelimit import RateLimiter

EXEMPT = ("/healthz", "/readyz", "/metrics", "/explorer/static/")
INGEST = "/v1/readings"


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <key>` header, or None."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


class RequestRateLimit:
    """Limits requests per API key and per client address (token buckets, in memory)."""

    def __init__(self, app: ASGIApp, per_key: float, per_client: float, burst_seconds: float = 2.0) -> None:
        self.app = app
        self.keys = RateLimiter(per_key, max(1.0, per_key * burst_seconds))
        self.clients = RateLimiter(per_client, max(1.0, per_client * burst_seconds))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        secret = bearer_secret(headers.get(b"authorization", b"").decode("latin-1") or None)
        if secret is None and scope.get("method") == "POST" and path.startswith(INGEST):
            await self.app(scope, receive, send)
            return
        if secret is not None:
            wait = self.keys.take(hashlib.sha256(secret.encode()).digest())
            who = "API key"
        else:
            client = scope.get("client")
            wait = self.clients.take(client[0] if client else "unknown")
            who = "client address"
        if wait > 0:
            await self._refuse(scope, send, wait, who)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, wait: float, who: str) -> None:
        retry = max(1, math.ceil(wait))
        body = json.dumps(
            {
                "type": PROBLEM_TYPE_BASE + "too-many-requests",
                "title": "Too many requests",
                "status": 429,
                "detail": f"this {who} sends requests faster than allowed; retry in {retry}s",
                "instance": scope.get("path", ""),
                "code": "too-many-requests",
                "retry_after": retry,
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _read_access(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> None:
    if services.settings.private_reads:
        authenticate(services.engine, bearer_secret(authorization))


#: The dependency of every read route: public, or any valid API key when reads are private.
read_access = Depends(_read_access)
