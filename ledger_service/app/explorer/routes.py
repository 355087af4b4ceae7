"""The block explorer: server-rendered pages at /explorer over the SQL mirror and the service's
own tables. Unknown ids answer a 404 page, malformed ids a 422 page; every value is escaped."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Connection

from indexer import history as timeline
from indexer import queries
from ledger_service.app.api.deps import ServicesDep, mirror_cache
from ledger_service.app.api.mirror_cache import mirror_version
from ledger_service.app.explorer import pages
from ledger_service.app.explorer.charts import Point, Threshold, line_chart
from ledger_service.app.explorer.decoding import ProjectAbi
from ledger_service.services.container import Services

HERE = Path(__file__).parent
BLOCKS_PER_PAGE = 25
HOME_TTL = 1.0
_BATCH_ID = re.compile(r"^[0-9]{1,18}$")

router = APIRouter(prefix="/explorer", include_in_schema=False)
static = StaticFiles(directory=HERE / "static")


def _when(timestamp: int | float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(float(timestamp), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(value: str | None, keep: int = 10) -> str:
    if not value:
        return "-"
    return value if len(value) <= 2 * keep + 1 else f"{value[:keep]}…{value[-6:]}"


def _ether(wei: str | int | None) -> str:
    return "-" if wei is None else f"{int(wei) / 10**18:.6g} ETH"


def _scaled(raw: str | int, scale: int) -> str:
    value = int(raw)
    return f"{value / 10**scale:.{max(scale, 0)}f}" if scale > 0 else str(value * 10 ** (-scale))


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    env.filters.update(when=_when, short=_short, ether=_ether, scaled=_scaled)
    return Jinja2Templates(env=env)


_TEMPLATES = _templates()


def _abi(request: Request, services: Services) -> ProjectAbi:
    """The project's ABIs, built once per app."""
    cached: ProjectAbi | None = getattr(request.app.state, "explorer_abi", None)
    if cached is None:
        cached = request.app.state.explorer_abi = ProjectAbi(services.ledger.deployment, services.artifacts)
    return cached


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return _TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def not_found(request: Request, what: str, key: str) -> HTMLResponse:
    """The 404 page: nothing called `key` of kind `what`."""
    return _page(request, "not_found.html", 404, what=what, key=key, title="Not found")


def malformed(request: Request, what: str, key: str, expected: str) -> HTMLResponse:
    """The 422 page: `key` cannot be a `what`."""
    return _page(request, "not_found.html", 422, what=what, key=key, expected=expected, title="Malformed id")


@router.get("", response_class=HTMLResponse)
def home(request: Request, services: ServicesDep) -> HTMLResponse:
    """Latest blocks and transactions, counts, and the anchoring lag (queried and rendered at most
    once per HOME_TTL seconds: a busy explorer's home page costs one set of queries and one
    rendering a second)."""
    cached: tuple[float, bytes] | None = getattr(request.app.state, "explorer_home", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > HOME_TTL:
        page = _page(request, "home.html", **_home_context(request, services))
        cached = request.app.state.explorer_home = (now, bytes(page.body))
    return HTMLResponse(cached[1])


def _home_context(request: Request, services: Services) -> dict[str, Any]:
    from ledger_service.app.api.routes.batches import lag_report

    with services.engine.connect() as conn:
        data = pages.home(conn, len(services.registry.devices()))
    lag = lag_report(services)
    abi = _abi(request, services)
    abi.annotate(data["transactions"])
    return {"data": data, "lag": lag, "title": "Explorer"}


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, services: ServicesDep, q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Goes to the page of what `q` names, or says that nothing matches."""
    with services.engine.connect() as conn:
        target = pages.resolve(conn, q) if q.strip() else None
    if target is None:
        return _page(request, "not_found.html", 404, what="search", key=q, title="Nothing found")
    return RedirectResponse(target, status_code=303)


@router.get("/blocks", response_class=HTMLResponse)
def block_list(
    request: Request, services: ServicesDep, before: Annotated[int | None, Query(ge=0, lt=2**63)] = None
) -> HTMLResponse:
    """Blocks, newest first, a page at a time."""
    with services.engine.connect() as conn:
        rows = pages.blocks(conn, before, BLOCKS_PER_PAGE)
        head = queries.indexed_block(conn)
    older = rows[-1]["number"] if len(rows) == BLOCKS_PER_PAGE else None
    return _page(request, "blocks.html", blocks=rows, older=older, head=head, title="Blocks")


@router.get("/block/{number}", response_class=HTMLResponse)
def block_page(request: Request, services: ServicesDep, number: str) -> HTMLResponse:
    """A block and its transactions."""
    if not pages.DIGITS.match(number) or int(number) >= pages.BLOCK_LIMIT:
        return malformed(request, "block", number, "a block number")
    with services.engine.connect() as conn:
        found = pages.block(conn, int(number))
    if found is None:
        return not_found(request, "block", number)
    abi = _abi(request, services)
    abi.annotate(found["transactions"])
    return _page(request, "block.html", block=found, title=f"Block {number}")


@router.get("/tx/{tx_hash}", response_class=HTMLResponse)
def transaction_page(request: Request, services: ServicesDep, tx_hash: str) -> HTMLResponse:
    """A transaction: status, gas, value, the decoded call and logs of project contracts. The
    rendered page is kept while the mirror's checkpoint reads the same (see `mirror_cache`)."""
    key = tx_hash.lower()
    if not pages.HASH32.match(key):
        return malformed(request, "transaction", tx_hash, "a 0x-prefixed 32-byte hash")
    with services.engine.connect() as conn:
        version = mirror_version(conn)
        body = mirror_cache(request).get(
            ("explorer-tx", key), version, lambda: _transaction_body(request, services, conn, key)
        )
    if body is None:
        return not_found(request, "transaction", tx_hash)
    return HTMLResponse(body)


def _transaction_body(request: Request, services: Services, conn: Connection, key: str) -> bytes | None:
    found = pages.transaction(conn, key)
    if found is None:
        return None
    abi = _abi(request, services)
    data = bytes(found["input"] or b"")
    call = abi.decode_call(found["to_address"], data)
    logs = []
    for log in found["logs"]:
        topics = [t for t in (log["topic0"], log["topic1"], log["topic2"], log["topic3"]) if t]
        decoded = abi.decode_log(log["address"], topics, bytes(log["data"] or b""))
        logs.append({**log, "topics": topics, "decoded": decoded, "contract": abi.contract_name(log["address"])})
    page = _page(
        request,
        "tx.html",
        tx=found,
        call=call,
        input_hex="0x" + data.hex(),
        logs=logs,
        contract=abi.contract_name(found["to_address"]),
        revert=abi.decode_error(found.get("revert_data")),
        revert_hex="0x" + bytes(found["revert_data"]).hex() if found.get("revert_data") else None,
        title=f"Transaction {_short(key)}",
    )
    return bytes(page.body)


@router.get("/address/{account}", response_class=HTMLResponse)
def address_page(request: Request, services: ServicesDep, account: str) -> HTMLResponse:
    """An account: transactions, roles, devices owned, items held, tokens owned."""
    key = account.lower()
    if not pages.ADDRESS.match(key):
        return malformed(request, "address", account, "a 0x-prefixed 20-byte address")
    owned = [d for d in services.registry.devices() if d.owner.lower() == key]
    with services.engine.connect() as conn:
        data = pages.address(conn, key, owned=owned)
    abi = _abi(request, services)
    for role in data["roles"]:
        role["name"] = abi.roles.get(role["role"], role["role"])
        role["contract_name"] = abi.contract_name(role["contract"])
    abi.annotate(data["transactions"])
    return _page(request, "address.html", data=data, contract=abi.contract_name(key), title=f"Address {_short(key)}")


@router.get("/device/{device_id}", response_class=HTMLResponse)
def device_page(request: Request, services: ServicesDep, device_id: str) -> HTMLResponse:
    """A device: status, key history, readings charted against its rules, batches, reports."""
    key = device_id.lower()
    if not pages.HASH32.match(key):
        return malformed(request, "device", device_id, "a 0x-prefixed 32-byte device id")
    record = services.registry.get(bytes.fromhex(key[2:]), wait=False)
    with services.engine.connect() as conn:
        found = pages.device(conn, record)
    if found is None:
        return not_found(request, "device", device_id)
    charts = []
    for series in found["series"]:
        points = [Point(t, v, b) for t, v, b in series["points"]]
        lines = [Threshold(v, label) for rule in series["rules"] for v, label in pages.threshold_lines(rule)]
        charts.append(line_chart(points, lines, series["metric"], series["unit"]))
    return _page(request, "device.html", device=found, charts=charts, title=f"Device {_short(key)}")


@router.get("/batch/{batch_id}", response_class=HTMLResponse)
def batch_page(request: Request, services: ServicesDep, batch_id: str) -> HTMLResponse:
    """A batch: root, content id, status and confirmations, its readings with proof downloads."""
    if not _BATCH_ID.match(batch_id):
        return malformed(request, "batch", batch_id, "a batch number")
    with services.engine.connect() as conn:
        found = pages.batch(conn, int(batch_id))
    if found is None:
        return not_found(request, "batch", batch_id)
    return _page(request, "batch.html", batch=found, title=f"Batch {batch_id}")


@router.get("/reading/{reading_id}", response_class=HTMLResponse)
def reading_page(request: Request, services: ServicesDep, reading_id: str) -> HTMLResponse:
    """A reading: what the device signed, its batch and its proof bundle."""
    key = reading_id.lower()
    if not pages.HASH32.match(key):
        return malformed(request, "reading", reading_id, "a 0x-prefixed 32-byte reading id")
    with services.engine.connect() as conn:
        found = pages.reading(conn, key)
    if found is None:
        return not_found(request, "reading", reading_id)
    return _page(request, "reading.html", reading=found, title=f"Reading {_short(key)}")


@router.get("/item/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, services: ServicesDep, item_id: str) -> HTMLResponse:
    """An item: state, custody chain, token, escrow and its whole history."""
    key = item_id.lower()
    if not pages.HASH32.match(key):
        return malformed(request, "item", item_id, "a 0x-prefixed 32-byte item id")
    with services.engine.connect() as conn:
        item = queries.item_view(conn, key)
        history = timeline.item_history(conn, key) if item is not None else []
    if item is None:
        return not_found(request, "item", item_id)
    escrow = [e for e in history if e["type"] in ("escrow_opened", "escrow_settled")]
    return _page(request, "item.html", item=item, history=history, escrow=escrow, title=f"Item {_short(key)}")


@router.get("/token/{token_id}", response_class=HTMLResponse)
def token_page(request: Request, services: ServicesDep, token_id: str) -> HTMLResponse:
    """A token: its item, owner history, frozen state and metadata."""
    if not pages.DIGITS.match(token_id):
        return malformed(request, "token", token_id, "a decimal token id")
    with services.engine.connect() as conn:
        token = queries.token_view(conn, str(int(token_id)))
    if token is None:
        return not_found(request, "token", token_id)
    return _page(request, "token.html", token=token, title=f"Token {_short(token_id)}")


@router.get("/{rest:path}", response_class=HTMLResponse)
def unknown_page(request: Request, rest: str) -> HTMLResponse:
    """Any other explorer path."""
    return not_found(request, "page", "/explorer/" + rest)
