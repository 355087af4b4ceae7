"""Webhooks through real faults: `provenance up` delivers to a receiver while its webhook deliverer
is killed with SIGKILL (the supervisor starts it again) and then the whole service is stopped and
started again. After deduplication on `webhook-id`, the receiver holds every event of the feed
exactly once, each with a valid signature."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from eth_account import Account

from ledger_service.core.readings import Domain, Reading
from ledger_service.services.webhook_signing import verify
from tests.utils.factories import body_of
from tests.utils.service import VENV_BIN, RunningService, child_with
from tests.utils.skeleton import register_with_cli
from tests.utils.waiting import wait_until
from tests.utils.webhooks import Receiver

ENV = {"PROVENANCE_WEBHOOK_ALLOW_PRIVATE": "true", "PROVENANCE_WEBHOOK_POLL": "0.1", "PROVENANCE_BATCH_AGE": "0.5"}


def admin_key(service: RunningService) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "provenance"), "apikey", "create", "hooks", "--role", "admin"],
        cwd=service.workdir, env=service.env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return next(w for w in result.stdout.split() if w.startswith("pl_"))


class Sender:
    """A device outside the service, signing its readings with its own key."""

    def __init__(self, service: RunningService, api: httpx.Client) -> None:
        self.account = Account.create()
        register_with_cli(service, self.account.address)
        self.device_id = bytes(12) + bytes.fromhex(self.account.address[2:])
        health = api.get("/health").json()
        self.domain = Domain(health["chain_id"], health["contracts"]["DeviceRegistry"])
        self.sequence = 0

    def send(self, api: httpx.Client, count: int) -> None:
        for _ in range(count):
            self.sequence += 1
            reading = Reading(
                self.device_id, self.sequence, int(time.time()), "temperature", 400 + self.sequence, 2, "Cel"
            )
            signature = bytes(Account.unsafe_sign_hash(reading.digest(self.domain), self.account.key).signature)
            answer = api.post("/v1/readings", json=body_of(reading, signature))
            assert answer.status_code == 201, answer.text


def feed(api: httpx.Client, key: str) -> list[str]:
    found, after = [], "-1-0-0"
    while True:
        page = api.get(
            "/v1/events", params={"after": after, "limit": 1000}, headers={"authorization": f"Bearer {key}"}
        ).json()
        found += [e["id"] for e in page["data"]]
        if page["next"] == after:
            return found
        after = page["next"]


def test_every_event_reaches_the_receiver_once_across_a_killed_deliverer_and_a_restarted_service(
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    try:
        with RunningService(tmp_path, env=ENV) as service, httpx.Client(base_url=service.api_url, timeout=30) as api:
            key = admin_key(service)
            made = api.post("/v1/subscriptions", json={"url": receiver.url, "after": "-1-0-0"},
                            headers={"authorization": f"Bearer {key}"})  # fmt: skip
            assert made.status_code == 201, made.text
            secret, subscription = made.json()["secret"], made.json()["id"]
            sender = Sender(service, api)
            sender.send(api, 10)
            wait_until(lambda: len(receiver.received) >= 3, 60, "the first deliveries")
            assert service.process is not None
            deliverer = child_with(service.process.pid, b"webhooks")
            assert deliverer is not None
            os.kill(deliverer, signal.SIGKILL)
            sender.send(api, 10)
            wait_until(lambda: child_with(service.process.pid, b"webhooks") not in (None, deliverer), 30, "restarted")
            service.stop()
            service.start()
            api.base_url = httpx.URL(service.api_url)
            sender.send(api, 10)

            def all_delivered() -> bool:
                expected = feed(api, key)
                got = {json.loads(body)["id"] for _, body in receiver.received}
                return len([i for i in expected if not i.endswith("-0")]) == 30 and got >= set(expected)

            wait_until(all_delivered, 120, "every event delivered")
            expected = feed(api, key)
    finally:
        receiver.close()
    seen: dict[str, str] = {}
    for headers, body in receiver.received:
        assert verify(secret, headers, body)
        seen.setdefault(headers["webhook-id"], json.loads(body)["id"])
    assert set(seen) == {f"{subscription}.{i}" for i in expected}  # each event once after deduplication
    assert list(seen.values()) == expected  # first arrivals in feed order, across both restarts
    assert len([i for i in expected if not i.endswith("-0")]) == 30  # every reading, as `reading.anchored`
    assert len(receiver.received) >= len(expected)
