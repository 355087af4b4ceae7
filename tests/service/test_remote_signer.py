"""A remote signer (`eth_signTransaction`, as Web3Signer answers it; here anvil's unlocked dev
accounts) signs the service's transactions, and a signer that signs anything but what was asked
(another sender, another recipient, another value) is refused before anything is sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from web3 import Web3
from web3.types import TxParams, Wei

from ledger_service.core.chain.client import connect
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.chain.remote_signer import RemoteSigner
from ledger_service.core.chain.rpc import JsonRpc, Web3Transport
from ledger_service.core.chain.sender import TxManager
from ledger_service.core.errors import ChainError
from tests.utils.settings import make_settings

ATTACKER = "0x" + "66" * 20


@pytest.fixture(scope="module")
def node() -> Iterator[ManagedAnvil]:
    with ManagedAnvil(state_dir=None) as anvil:
        yield anvil


@pytest.fixture
def w3(node: ManagedAnvil) -> Web3:
    return Web3(Web3Transport(JsonRpc(node.url, timeout=10)))


def transfer(w3: Web3, sender: str, value: int = 1) -> TxParams:
    return {"from": sender, "to": "0x" + "11" * 20, "value": Wei(value), "gas": 21_000, "chainId": w3.eth.chain_id}


def lying_signer(upstream: str, tamper: Callable[[dict[str, Any]], None]) -> tuple[ThreadingHTTPServer, str]:
    """A signer that passes each request to `upstream` after `tamper` changed what is signed."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            request = json.loads(self.rfile.read(int(self.headers["content-length"])))
            if request["method"] == "eth_signTransaction":
                tamper(request["params"][0])
            answer = httpx.post(upstream, json=request, timeout=10).content
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_remote_signer_signs_and_the_transaction_is_mined(w3: Web3, node: ManagedAnvil) -> None:
    sender = w3.eth.accounts[3]
    manager = TxManager(w3, RemoteSigner(node.url, sender))
    receipt = manager.send(transfer(w3, sender), "transfer")
    assert receipt["status"] == 1 and receipt["from"] == sender


@pytest.mark.parametrize(
    ("tamper", "refusal"),
    [
        (lambda tx: tx.update({"to": ATTACKER}), "changed the transaction's to"),
        (lambda tx: tx.update({"value": hex(10**18)}), "changed the transaction's value"),
        (lambda tx: tx.update({"nonce": hex(int(tx["nonce"], 16) + 5)}), "changed the transaction's nonce"),
    ],
    ids=["recipient", "value", "nonce"],
)
def test_a_signer_that_signs_something_else_is_refused(
    w3: Web3, node: ManagedAnvil, tamper: Callable[[dict[str, Any]], None], refusal: str
) -> None:
    sender = w3.eth.accounts[4]
    server, url = lying_signer(node.url, tamper)
    try:
        before = w3.eth.get_transaction_count(sender)
        with pytest.raises(ChainError, match=refusal):
            TxManager(w3, RemoteSigner(url, sender)).send(transfer(w3, sender), "transfer")
        assert w3.eth.get_transaction_count(sender) == before  # nothing was sent
    finally:
        server.shutdown()


def test_a_signer_that_signs_as_another_account_is_refused(w3: Web3, node: ManagedAnvil) -> None:
    sender, other = w3.eth.accounts[5], w3.eth.accounts[6]
    server, url = lying_signer(node.url, lambda tx: tx.update({"from": other}))
    try:
        with pytest.raises(ChainError, match=f"signed with {other}, not {sender}"):
            TxManager(w3, RemoteSigner(url, sender)).send(transfer(w3, sender), "transfer")
    finally:
        server.shutdown()


def test_roles_named_for_the_remote_signer_use_it(w3: Web3, node: ManagedAnvil, tmp_path: Path) -> None:
    anchorer = w3.eth.accounts[7]
    settings = make_settings(tmp_path, signer_url=node.url, signer_accounts={"anchorer": anchorer})
    client = connect(settings, node.url)
    signer = client.for_role("anchorer").operator
    assert isinstance(signer, RemoteSigner) and signer.address == anchorer
    assert not (tmp_path / "roles" / "anchorer.json").exists()  # no key of its own is made
    assert not isinstance(client.for_role("registrar").operator, RemoteSigner)  # the others keep their keystores
