"""A JSON-RPC proxy in front of anvil that refuses log queries over too many blocks, with the
error public providers give (anvil itself has no such limit), and can play a node that hides logs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson


class LogRangeLimitProxy:
    """Forwards to `upstream`; an `eth_getLogs` over more than `max_blocks` blocks gets -32005. The
    block ranges of the log queries served are kept in `queries`; the logs `hide` is true of are
    left out of their answers, and the fields `strip` names are taken out of the others (a node
    without `blockTimestamp` in its logs, as ganache and older geth); with `refuse_batches`, a batch
    request gets one error, as from providers that take no batches."""

    def __init__(
        self,
        upstream: str,
        max_blocks: int,
        hide: Callable[[dict[str, Any]], bool] | None = None,
        strip: tuple[str, ...] = (),
        refuse_batches: bool = False,
    ) -> None:
        self.upstream = upstream
        self.refuse_batches = refuse_batches
        self.max_blocks = max_blocks
        self.hide = hide
        self.strip = strip
        self.refused = 0
        self.served = 0
        self.queries: list[tuple[int, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = orjson.loads(self.rfile.read(int(self.headers["content-length"])))
                answer = proxy.handle(body)
                data = orjson.dumps(answer)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._http = httpx.Client(timeout=60, headers={"content-type": "application/json"})

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, body: Any) -> Any:
        if isinstance(body, list) and self.refuse_batches:
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch requests are not served"}}
        if isinstance(body, list):
            return [self.handle(item) for item in body]
        if body.get("method") == "eth_getLogs":
            query = body["params"][0]
            span = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
            if span > self.max_blocks:
                self.refused += 1
                return {
                    "jsonrpc": "2.0",
                    "id": body.get("id"),
                    "error": {"code": -32005, "message": "query returned more than 10000 results"},
                }
            self.served += 1
            self.queries.append((int(query["fromBlock"], 16), int(query["toBlock"], 16)))
        answer = orjson.loads(self._http.post(self.upstream, content=orjson.dumps(body)).content)
        if body.get("method") == "eth_getLogs" and isinstance(answer.get("result"), list):
            kept = [log for log in answer["result"] if self.hide is None or not self.hide(log)]
            answer["result"] = [{k: v for k, v in log.items() if k not in self.strip} for log in kept]
        return answer

    def __enter__(self) -> LogRangeLimitProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()
