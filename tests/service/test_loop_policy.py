"""The one loop policy (`ledger_service.core.loops`): retry with a capped backoff, stop on fatal
errors, health recorded where `/metrics` and `/readyz` read it; and the indexer riding out an RPC
outage longer than its client's own retries (before, it exited and nobody restarted it)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from indexer.runner import ChainIndexer, target_of
from ledger_service.app.api.app import create_app
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.db import make_engine, upgrade_schema
from ledger_service.core.errors import ChainError, ConfigurationError, IndexChainChanged
from ledger_service.core.loops import Backoff, HealthRecorder, recent_health, retryable, run_loop
from ledger_service.core.models import LoopHealthRow
from ledger_service.services.container import Services
from tests.utils.tcp_proxy import TcpProxy
from tests.utils.waiting import wait_until


def scripted(outcomes: list[Exception | bool], stop: threading.Event) -> Callable[[], bool]:
    """A step that raises or returns each outcome in turn, setting `stop` with the last one."""
    pending = list(outcomes)

    def step() -> bool:
        outcome = pending.pop(0)
        if not pending:
            stop.set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return step


def retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [r.retry_in for r in caplog.records if r.getMessage() == "loop step failed"]  # type: ignore[attr-defined]


def test_errors_say_whether_a_loop_may_try_again() -> None:
    assert retryable(ChainError("node down")) and retryable(ConnectionRefusedError()) and retryable(KeyError("x"))
    assert not retryable(ConfigurationError("bad setting"))
    assert not retryable(IndexChainChanged("another chain"))


def test_backoff_doubles_up_to_its_cap_and_starts_over_after_a_reset() -> None:
    backoff = Backoff(0.5, cap=3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_a_failing_step_is_retried_with_a_capped_backoff_that_starts_over_after_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    down = ConnectionRefusedError("refused")
    step = scripted([down, down, down, down, True, False, down], stop)
    with caplog.at_level(logging.INFO, logger="ledger_service.core.loops"):
        health = run_loop("test", step, stop, poll=0.01, cap=0.04)
    assert retry_delays(caplog) == [0.01, 0.02, 0.04, 0.04, 0.01]
    assert health.failures == 5 and health.consecutive == 1 and health.last_ok_at is not None
    failure = next(r for r in caplog.records if r.getMessage() == "loop step failed")
    assert (failure.component, failure.error_type, failure.attempt) == ("test", "ConnectionRefusedError", 1)  # type: ignore[attr-defined]
    assert any(r.getMessage() == "loop recovered" for r in caplog.records)


def test_a_fatal_error_ends_the_loop_and_reaches_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    step = scripted([ChainError("blip"), IndexChainChanged("the chain was reset"), True], stop)
    with caplog.at_level(logging.INFO, logger="ledger_service.core.loops"), pytest.raises(IndexChainChanged):
        run_loop("test", step, stop, poll=0.01)
    assert retry_delays(caplog) == [0.01]
    assert any(r.getMessage() == "loop stopped by a fatal error" for r in caplog.records)
    assert not stop.is_set()  # ended by the error, not by a stop


def test_loop_health_is_recorded_without_secrets_and_read_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'health.db'}")
    upgrade_schema(engine)
    recorder = HealthRecorder(engine)
    stop = threading.Event()
    # a plain exception, not redacted where it was made: the loop must redact what it stores
    secret = RuntimeError("cannot reach https://user:hunter2@rpc.example/v3/0123456789abcdef0123456789abcdef")
    run_loop("batcher", scripted([secret, secret], stop), stop, poll=0.01, recorder=recorder)
    (row,) = recent_health(engine)
    assert (row.component, row.failures_total, row.consecutive_failures, row.pid) == ("batcher", 2, 2, os.getpid())
    assert row.last_error and row.last_error.startswith("RuntimeError: cannot reach")
    assert "hunter2" not in row.last_error and "0123456789abcdef0123456789abcdef" not in row.last_error
    run_loop("batcher", scripted([True], stop := threading.Event()), stop, poll=0.01, recorder=recorder)
    (row,) = recent_health(engine)
    assert row.consecutive_failures == 0 and row.last_ok_at is not None
    with Session(engine) as session:  # a loop that stopped writing long ago is no longer reported
        stale = session.get(LoopHealthRow, "batcher")
        assert stale is not None
        stale.updated_at = time.time() - 3600
        session.add(stale)
        session.commit()
    assert recent_health(engine) == []


def test_readiness_and_metrics_report_each_loop(services: Services) -> None:
    client = TestClient(create_app(services))
    recorder = HealthRecorder(services.engine)
    stop = threading.Event()
    down = ChainError("node refused the connection")
    run_loop("oracle:test", scripted([down, down, down], stop), stop, poll=0.01, recorder=recorder)
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["status"] == 503 and body["code"] == "not-ready"  # RFC 9457: the status is the number
    assert body["checks"]["loop:oracle:test"] == {
        "ok": False, "consecutive_failures": 3, "stopped": False, "error": "ChainError"
    }  # fmt: skip
    assert "node refused" not in answer.text  # the error's text stays in the database and the log
    metrics = client.get("/metrics").text
    assert 'provenance_loop_consecutive_failures{component="oracle:test"} 3.0' in metrics
    assert 'provenance_loop_failures{component="oracle:test"} 3.0' in metrics
    run_loop("oracle:test", scripted([True], stop := threading.Event()), stop, poll=0.01, recorder=recorder)
    assert client.get("/readyz").json()["checks"]["loop:oracle:test"]["ok"] is True


def test_a_loop_ended_by_a_fatal_error_keeps_the_service_not_ready(services: Services) -> None:
    client = TestClient(create_app(services))
    stop, recorder = threading.Event(), HealthRecorder(services.engine)
    with pytest.raises(ConfigurationError):
        run_loop("batcher", scripted([ConfigurationError("bad setting")], stop), stop, 0.01, recorder)
    with Session(services.engine) as session:  # long after its last word, a dead loop is still reported
        row = session.get(LoopHealthRow, "batcher")
        assert row is not None and row.fatal and row.consecutive_failures == 1
        row.updated_at = time.time() - 3600
        session.add(row)
        session.commit()
    check = client.get("/readyz").json()["checks"]["loop:batcher"]
    assert check == {"ok": False, "consecutive_failures": 1, "stopped": True, "error": "ConfigurationError"}
    stop = threading.Event()  # the component runs again: reported as it is now
    run_loop("batcher", scripted([True], stop), stop, 0.01, recorder)
    assert client.get("/readyz").json()["checks"]["loop:batcher"]["ok"] is True


def test_the_indexer_rides_out_an_rpc_outage_longer_than_its_clients_retries(
    chain: ChainContext, anvil: ManagedAnvil, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}", bulk=True)
    upgrade_schema(engine)
    with TcpProxy(int(anvil.url.rsplit(":", 1)[1])) as proxy:
        indexer = ChainIndexer(engine, proxy.url, target_of(chain.deployment, chain.artifacts), poll=0.05)
        indexer.rpc.retries = 2  # the client gives up after about 0.6 s; the loop must not
        stop = threading.Event()
        thread = threading.Thread(target=indexer.run, args=(stop, True), daemon=True)
        thread.start()
        try:
            wait_until(lambda: mirrored(indexer) >= head(chain), 60, "backfill")
            proxy.cut()
            chain.client.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            wait_until(lambda: loop_failures(engine) >= 3, 30, "failures recorded while the node is cut off")
            assert thread.is_alive()
            proxy.restore()
            target = head(chain)
            wait_until(lambda: mirrored(indexer) >= target, 60, "catching up after the outage")
            wait_until(lambda: loop_failures(engine) == 0, 30, "recovery recorded")
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(timeout=30)
            indexer.close()
        assert not thread.is_alive()


def head(chain: ChainContext) -> int:
    return int(chain.client.w3.eth.block_number)


def mirrored(indexer: ChainIndexer) -> int:
    state = indexer.store.state()
    return -1 if state is None or state.head_number is None else int(state.head_number)


def loop_failures(engine: object) -> int:
    rows = [row for row in recent_health(engine) if row.component == "indexer"]  # type: ignore[arg-type]
    return rows[0].consecutive_failures if rows else -1
