"""Who may read, and how often anyone may ask.

`RequestRateLimit` is ASGI middleware. A request with a valid API key counts against that key
(`PROVENANCE_API_KEY_RATE` requests per second). A bearer token that is not a valid key is
answered 401 `unauthorized` right here and counts against the client address, so random tokens
buy no fresh bucket; a token not seen lately is looked up only while the address has requests
left. Readings posted without a key count against the client address's ingest bucket
(`PROVENANCE_INGEST_CLIENT_RATE`, higher: a fleet often shares one gateway), every other request
against its client bucket (`PROVENANCE_API_CLIENT_RATE`). Past a limit the answer is 429
`too-many-requests` with `Retry-After`. Probes (`/healthz`, `/readyz`, `/metrics`) and the
explorer's static files are not counted. `read_access` is the dependency of the read routes: with
`PROVENANCE_PRIVATE_READS=true` they need a valid API key of any role."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from ledger_service.app.api.deps import ServicesDep
from ledger_service.app.api.problems import MEDIA_TYPE, PROBLEM_TYPE_BASE
from ledger_service.core.ratelimit import RateLimiter
from ledger_service.services.apikeys import authenticate, is_valid

EXEMPT = ("/healthz", "/readyz", "/metrics", "/explorer/static/")
INGEST = "/v1/readings"


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <key>` header, or None."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def client_address(scope: Scope) -> str:
    """The address a request came from (the peer of the connection)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class KnownKeys:
    """Hashes of keys found valid lately, so a key's requests skip the lookup (`ttl` seconds:
    revoking a key takes at most that long to reach requests that need no role; the write routes
    look the key up on every request)."""

    def __init__(self, ttl: float = 5.0, max_size: int = 10_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def __contains__(self, digest: bytes) -> bool:
        with self._lock:
            until = self._seen.get(digest)
            return until is not None and until > time.monotonic()

    def add(self, digest: bytes) -> None:
        with self._lock:
            if len(self._seen) >= self.max_size:
                now = time.monotonic()
                self._seen = {d: t for d, t in self._seen.items() if t > now}
                if len(self._seen) >= self.max_size:
                    self._seen.clear()
            self._seen[digest] = time.monotonic() + self.ttl


class RequestRateLimit:
    """Limits requests per API key and per client address (token buckets, in memory), and turns
    away bearer tokens that are not valid keys."""

    def __init__(
        self,
        app: ASGIApp,
        per_key: float,
        per_client: float,
        engine: Engine | None = None,
        per_ingest_client: float = 0.0,
        burst_seconds: float = 2.0,
        keys: bool = True,
    ) -> None:
        """`keys=False` (where there are no API keys, as at an edge gateway): a bearer token is
        ignored, so that no made-up token buys a bucket of its own."""
        self.app = app
        self.engine = engine
        self.use_keys = keys
        self.keys = RateLimiter(per_key, max(1.0, per_key * burst_seconds))
        self.clients = RateLimiter(per_client, max(1.0, per_client * burst_seconds))
        self.ingest = RateLimiter(per_ingest_client, max(1.0, per_ingest_client * burst_seconds))
        self.known = KnownKeys()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        secret = bearer_secret(headers.get(b"authorization", b"").decode("latin-1") or None) if self.use_keys else None
        client = client_address(scope)
        if secret is not None:
            digest = hashlib.sha256(secret.encode()).digest()
            if digest not in self.known and self.engine is not None:
                if self.clients.available(client) < 1:  # no lookup for an address already over its limit
                    await self._too_many(scope, send, self.clients.take(client), "client address")
                    return
                if not await run_in_threadpool(is_valid, self.engine, secret):
                    wait = self.clients.take(client)
                    if wait > 0:
                        await self._too_many(scope, send, wait, "client address")
                    else:
                        await self._unauthorized(scope, send)
                    return
                self.known.add(digest)
            wait, who = self.keys.take(digest), "API key"
        elif scope.get("method") == "POST" and path.startswith(INGEST):
            wait, who = self.ingest.take(client), "client address"
        else:
            wait, who = self.clients.take(client), "client address"
        if wait > 0:
            await self._too_many(scope, send, wait, who)
            return
        await self.app(scope, receive, send)

    async def _too_many(self, scope: Scope, send: Send, wait: float, who: str) -> None:
        retry = max(1, math.ceil(wait))
        detail = f"this {who} sends requests faster than allowed; retry in {retry}s"
        await _problem(scope, send, 429, "too-many-requests", "Too many requests", detail, retry)

    async def _unauthorized(self, scope: Scope, send: Send) -> None:
        detail = "the API key is not valid (unknown or revoked)"
        await _problem(scope, send, 401, "unauthorized", "API key missing or invalid", detail, None)


async def _problem(
    scope: Scope, send: Send, status: int, code: str, title: str, detail: str, retry: int | None
) -> None:
    fields: dict[str, object] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": scope.get("path", ""),
        "code": code,
    }
    headers = [(b"content-type", MEDIA_TYPE.encode())]
    if retry is not None:
        fields["retry_after"] = retry
        headers.append((b"retry-after", str(retry).encode()))
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    body = json.dumps(fields).encode()
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _read_access(services: ServicesDep, authorization: Annotated[str | None, Header()] = None) -> None:
    if services.settings.private_reads:
        authenticate(services.engine, bearer_secret(authorization))


#: The dependency of every read route: public, or any valid API key when reads are private.
read_access = Depends(_read_access)
