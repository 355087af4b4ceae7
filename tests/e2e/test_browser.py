"""The explorer in a real browser: Playwright drives Debian's Chromium against `provenance up` on
loopback, filled by the cold-chain shipment demo. Every main page renders, the search box reaches
the right page for every kind of key, links between pages work, garbage finds nothing, a script
tag typed anywhere stays text. Screenshots of the main pages go to build/screenshots/."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.utils.service import VENV_BIN, RunningService

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCRIPT = "<script>window.__pwned = 1</script>"

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningService, dict[str, Any]]]:
    """`provenance up` after `provenance demo --shipment`, with the keys of what it made."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is needed for the browser tests: `apt-get install chromium` (make install does it)")
    workdir = tmp_path_factory.mktemp("browser")
    with RunningService(workdir) as service:
        demo = subprocess.run(
            [str(VENV_BIN / "provenance"), "demo", "--shipment"],
            cwd=workdir, env=service.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stderr
        item = demo.stderr.split("item ")[-1].split(",")[0].strip()
        with httpx.Client(base_url=service.api_url, timeout=10) as api:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                state = api.get(f"/v1/items/{item}").json()
                history = api.get(f"/v1/items/{item}/history").json().get("entries", [])
                if state.get("status") == "delivered" and any(e["type"] == "oracle_report" for e in history):
                    break
                time.sleep(0.25)
            latest_batch = api.get("/v1/batches?limit=1").json()["data"][0]
            batch_readings = httpx.get(f"{service.api_url}/explorer/batch/{latest_batch['id']}").text
        first_reading = batch_readings.split('href="/explorer/reading/')[1].split('"')[0]
        checkpoint = next(e for e in history if e["type"] == "checkpoint")
        yield (
            service,
            {
                "item": item,
                "device": state["devices"][0],
                "token": state["token"]["token_id"],
                "address": state["custodian"],
                "tx": checkpoint["transaction_hash"],
                "block": str(checkpoint["block_number"]),
                "batch": str(latest_batch["id"]),
                "reading": first_reading,
            },
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    try:
        yield opened
    finally:
        context.close()


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def search(page: Any, base: str, query: str) -> None:
    page.goto(f"{base}/explorer")
    page.fill("input[name=q]", query)
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state()


def test_search_reaches_every_kind_of_page(shipped: tuple[RunningService, dict[str, Any]], page: Any) -> None:
    service, keys = shipped
    base = service.api_url
    page.goto(f"{base}/explorer")
    assert page.title().startswith("Explorer") and page.locator("#latest-blocks tr").count() > 1
    assert page.locator("#latest-transactions").get_by_text("anchor").count() >= 1
    shoot(page, "home")
    expected = {
        "block": (keys["block"], f"/explorer/block/{keys['block']}", "Block"),
        "tx": (keys["tx"], f"/explorer/tx/{keys['tx']}", "SupplyChain.recordCheckpoint"),
        "address": (keys["address"], f"/explorer/address/{keys['address']}", "Roles"),
        "device": (keys["device"], f"/explorer/device/{keys['device']}", "Key history"),
        "item": (keys["item"], f"/explorer/item/{keys['item']}", "History"),
        "token": (keys["token"], f"/explorer/token/{keys['token']}", "Owners"),
        "reading": (keys["reading"], f"/explorer/reading/{keys['reading']}", "Proof bundle"),
        "batch": (f"batch {keys['batch']}", f"/explorer/batch/{keys['batch']}", "Readings"),
    }
    for name, (query, path, text) in expected.items():
        search(page, base, query)
        assert page.url == base + path, (name, page.url)
        assert page.get_by_text(text, exact=False).count() >= 1, name
        shoot(page, name)
    search(page, base, "definitely not a key")
    assert "Nothing matches" in page.content()
    shoot(page, "not-found")


def test_pages_link_to_each_other(shipped: tuple[RunningService, dict[str, Any]], page: Any) -> None:
    service, keys = shipped
    base = service.api_url
    page.goto(f"{base}/explorer/item/{keys['item']}")
    history = page.locator("#history > li")
    assert history.count() >= 10
    kinds = page.locator("#history > li > b").all_inner_texts()
    assert {"oracle report", "escrow settled", "token frozen", "delivered"} <= set(kinds), kinds
    page.click(f"a[href='/explorer/token/{keys['token']}']")
    assert page.url.endswith(f"/explorer/token/{keys['token']}") and "frozen" in page.content()
    page.click(f"a[href='/explorer/item/{keys['item']}']")
    page.click(f"a[href='/explorer/device/{keys['device']}'] >> nth=0")
    assert page.url.endswith(f"/explorer/device/{keys['device']}")
    chart = page.locator("svg.chart").first
    assert chart.is_visible()
    assert page.locator("svg.chart circle.breach").count() >= 3
    assert page.locator("svg.chart line.threshold").count() >= 1
    shoot(page, "device-chart")
    page.locator("#batches a").first.click()
    assert "/explorer/batch/" in page.url
    assert page.locator("#batch-readings a[download]").count() >= 1
    page.locator("a[href^='/explorer/tx/']").first.click()
    assert "/explorer/tx/" in page.url and "DataNotary.anchor" in page.content()
    page.locator("a[href^='/explorer/block/']").first.click()
    assert "/explorer/block/" in page.url and page.locator("#block-transactions tr").count() >= 2
    page.click("text=Blocks")
    assert page.url.endswith("/explorer/blocks") and page.locator("#blocks tr").count() >= 2


def test_bad_input_is_refused_and_never_runs(shipped: tuple[RunningService, dict[str, Any]], page: Any) -> None:
    service, _ = shipped
    base = service.api_url
    search(page, base, SCRIPT)
    assert "Nothing matches" in page.content() and page.evaluate("window.__pwned") is None
    for path in ("item", "device", "tx", "block", "token", "batch", "reading", "address"):
        response = page.goto(f"{base}/explorer/{path}/{SCRIPT}")
        assert response is not None and response.status in (404, 422), path
        assert page.evaluate("window.__pwned") is None and "&lt;script&gt;" in page.content()
    response = page.goto(f"{base}/explorer/item/0x{'ab' * 32}")
    assert response is not None and response.status == 404 and "No item" in page.content()
    response = page.goto(f"{base}/explorer/item/0x12")
    assert response is not None and response.status == 422 and "is not a valid" in page.content()
    assert page.dialogs == []
