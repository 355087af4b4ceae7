"""The JSON-RPC client repeats a call whose answer was lost only when asking again cannot change
anything: reads yes; sending, signing, filters, test controls and unknown methods no."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ledger_service.core.chain.rpc import JsonRpc, RpcUnavailable, idempotent


class AnswerlessNode:
    """A TCP server that reads each request whole, then closes without answering: the node got
    the call, the client never hears back."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.requests = 0
        self.server.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    self.requests += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()


@pytest.fixture
def node() -> Iterator[AnswerlessNode]:
    server = AnswerlessNode()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("method", ["eth_blockNumber", "eth_getLogs", "eth_call", "eth_getBlockByNumber"])
def test_a_read_whose_answer_was_lost_is_asked_again(node: AnswerlessNode, method: str) -> None:
    rpc = JsonRpc(node.url, timeout=5, retries=2)
    try:
        with pytest.raises(RpcUnavailable):
            rpc.call(method)
    finally:
        rpc.close()
    assert node.requests == 3


@pytest.mark.parametrize(
    "method", ["eth_sendRawTransaction", "eth_sendTransaction", "eth_getFilterChanges", "anvil_mine", "foo_bar"]
)
def test_a_call_that_may_have_acted_is_never_sent_twice(node: AnswerlessNode, method: str) -> None:
    rpc = JsonRpc(node.url, timeout=5, retries=2)
    try:
        with pytest.raises(RpcUnavailable):
            rpc.call(method, "0x00")
    finally:
        rpc.close()
    assert node.requests == 1


def test_a_batch_with_one_state_changing_call_is_not_repeated(node: AnswerlessNode) -> None:
    rpc = JsonRpc(node.url, timeout=5, retries=2)
    try:
        with pytest.raises(RpcUnavailable):
            rpc.batch([("eth_blockNumber", []), ("eth_sendRawTransaction", ["0x00"])])
    finally:
        rpc.close()
    assert node.requests == 1


def test_only_known_reads_count_as_idempotent() -> None:
    assert all(idempotent(m) for m in ("eth_chainId", "eth_estimateGas", "eth_feeHistory", "debug_traceCall"))
    assert not any(
        idempotent(m)
        for m in ("eth_sendRawTransactionSync", "eth_sign", "eth_newFilter", "evm_mine", "personal_sign", "x")
    )
