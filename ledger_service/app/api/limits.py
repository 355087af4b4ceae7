"""A cap on request body size, enforced while the body streams in (with or without Content-Length).

Before answering 413 the rest of the body is read and dropped (up to `DRAIN_BYTES`, for at most
`DRAIN_SECONDS`): a server that closes a connection with unread data in it makes the kernel reset
the connection, and a client that sends its whole body before reading the answer then sees the
reset instead of the 413.
"""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger_service.app.api.problems import MEDIA_TYPE, PROBLEM_TYPE_BASE

DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 15.0


class BodySizeLimit:
    """Answers 413 `payload-too-large` as soon as a request body passes `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _drain(receive)
            await self._refuse(scope, send)
            return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            if refused:
                await _drain(receive)
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": PROBLEM_TYPE_BASE + "payload-too-large",
                "title": "Payload too large",
                "status": 413,
                "detail": f"the request body is larger than {self.max_bytes} bytes",
                "instance": scope.get("path", ""),
                "code": "payload-too-large",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive) -> None:
    """Reads and drops what is left of the body, within `DRAIN_BYTES` and `DRAIN_SECONDS`."""
    drained = 0
    deadline = time.monotonic() + DRAIN_SECONDS
    while drained <= DRAIN_BYTES and time.monotonic() < deadline:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class _TooLarge(Exception):
    """Raised inside the app's receive when the body grows past the limit."""
