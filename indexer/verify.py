"""`provenance index verify`: the mirror against the contracts' own state, at the mirror's head.

Every check reads the chain at the block the mirror has reached, so a mirror that merely lags is
not reported; what differs is a divergence: a row that is wrong, missing or extra.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from sqlalchemy import text
from sqlalchemy.engine import Engine
from web3 import Web3

from indexer.store import Store
from ledger_service.core import tlog
from ledger_service.core.chain.rpc import JsonRpc
from ledger_service.core.enums import DeviceStatus
from ledger_service.core.log_leaf import BATCH_ANCHORED_TOPIC, leaf_data

_CALLS_PER_REQUEST = 200


@dataclass
class Report:
    """What `verify` checked and what it found different."""

    head: int | None
    checked: dict[str, int] = field(default_factory=dict)
    divergences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing diverges."""
        return not self.divergences


class _Caller:
    """Batched `eth_call`s of one contract at one block."""

    def __init__(self, rpc: JsonRpc, w3: Web3, address: str, abi: list[dict[str, Any]], block: int) -> None:
        self.rpc = rpc
        self.contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        self.address = address
        self.block = hex(block)

    def many(self, function: str, argument_lists: list[list[Any]]) -> Iterator[tuple[Any, ...] | None]:
        """The decoded results of `function` for each argument list (None where it reverted)."""
        abi: list[dict[str, Any]] = list(self.contract.abi)  # type: ignore[arg-type]
        fn_abi = next(e for e in abi if e.get("type") == "function" and e["name"] == function)
        types = [_type(o) for o in fn_abi["outputs"]]
        for start in range(0, len(argument_lists), _CALLS_PER_REQUEST):
            part = argument_lists[start : start + _CALLS_PER_REQUEST]
            calls = [
                ("eth_call", [{"to": self.address, "data": self.contract.encode_abi(function, args)}, self.block])
                for args in part
            ]
            for result in self.rpc.batch_lenient(calls):
                yield None if result is None else abi_decode(types, bytes.fromhex(result[2:]))


def _type(output: dict[str, Any]) -> str:
    kind = str(output["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in output["components"]) + ")" + kind[5:]
    return kind


def _status_label(status: int) -> str:
    """The mirror's name of a `DeviceRegistry.Status` value (anything unknown as its number)."""
    return DeviceStatus(status).label if status in DeviceStatus._value2member_map_ else str(status)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def verify(engine: Engine, rpc_url: str, contracts: dict[str, str], abis: dict[str, list[dict[str, Any]]]) -> Report:
    """Compares devices, keys, batches, roles and blocks of the mirror with the chain."""
    store = Store(engine)
    state = store.state()
    report = Report(head=None if state is None else state.head_number)
    if state is None or state.head_number is None:
        report.divergences.append("the mirror is empty: run `provenance index` first")
        return report
    head = state.head_number
    rpc = JsonRpc(rpc_url)
    w3 = Web3()
    try:
        with engine.connect() as conn:
            query: Callable[[str], list[Any]] = lambda sql: list(conn.execute(text(sql)))  # noqa: E731
            _check_blocks(rpc, query, state.start_block, head, report)
            registry = _Caller(rpc, w3, contracts["DeviceRegistry"], abis["DeviceRegistry"], head)
            _check_devices(registry, query, report)
            notary = _Caller(rpc, w3, contracts["DataNotary"], abis["DataNotary"], head)
            _check_batches(notary, state.start_block, query, report)
            _check_roles(rpc, w3, contracts, abis, head, query, report)
            if "SupplyChain" in contracts:
                chain = _Caller(rpc, w3, contracts["SupplyChain"], abis["SupplyChain"], head)
                _check_items(chain, query, report)
            if "AssetToken" in contracts:
                tokens = _Caller(rpc, w3, contracts["AssetToken"], abis["AssetToken"], head)
                _check_tokens(tokens, query, report)
    finally:
        rpc.close()
    return report


def _check_blocks(rpc: JsonRpc, query: Callable[[str], list[Any]], start: int, head: int, report: Report) -> None:
    rows = query("SELECT number, hash, transaction_count FROM chain_block ORDER BY number")
    report.checked["blocks"] = len(rows)
    numbers = [int(r[0]) for r in rows]
    expected = list(range(start, head + 1))
    if numbers != expected:
        missing = sorted(set(expected) - set(numbers))[:10]
        extra = sorted(set(numbers) - set(expected))[:10]
        report.divergences.append(f"blocks: expected {start}..{head}, missing {missing}, extra {extra}")
    tx_counts = {
        int(n): int(c) for n, c in query("SELECT block_number, COUNT(*) FROM chain_transaction GROUP BY block_number")
    }
    for start_index in range(0, len(rows), 100):
        part = rows[start_index : start_index + 100]
        chain = rpc.batch([("eth_getBlockByNumber", [hex(int(r[0])), False]) for r in part])
        for (number, block_hash, count), block in zip(part, chain, strict=True):
            if block is None or block["hash"] != block_hash:
                report.divergences.append(f"block {number}: mirror hash {block_hash}, chain {block and block['hash']}")
            elif len(block["transactions"]) != count or tx_counts.get(int(number), 0) != count:
                report.divergences.append(
                    f"block {number}: chain has {len(block['transactions'])} transactions, "
                    f"mirror {tx_counts.get(int(number), 0)} (header says {count})"
                )


def _check_devices(registry: _Caller, query: Callable[[str], list[Any]], report: Report) -> None:
    devices = query("SELECT device_id, owner, status, model, firmware_hash, metadata_cid, key_index FROM device")
    report.checked["devices"] = len(devices)
    registered = query("SELECT COUNT(DISTINCT device_id) FROM ev_device_registered")[0][0]
    if registered != len(devices):
        report.divergences.append(f"devices: {registered} registered in the event log, {len(devices)} in `device`")
    ids = [bytes.fromhex(d[0][2:]) for d in devices]
    for row, found in zip(devices, registry.many("getDevice", [[i] for i in ids]), strict=True):
        device_id = row[0]
        if found is None:
            report.divergences.append(f"device {device_id}: in the mirror, unknown to the registry")
            continue
        owner, status, _registered_at, (model, firmware, cid) = found[0]
        chain_values = {
            "owner": owner.lower(), "status": _status_label(status), "model": model,
            "firmware_hash": _hex(firmware), "metadata_cid": cid,
        }  # fmt: skip
        mirror_values = dict(zip(("owner", "status", "model", "firmware_hash", "metadata_cid"), row[1:6], strict=True))
        for name, value in chain_values.items():
            if mirror_values[name] != value:
                report.divergences.append(f"device {device_id}: {name} is {mirror_values[name]!r}, chain {value!r}")
    keys = query(
        "SELECT device_id, key_index, key_type, signer, x, y, valid_from, valid_from_block, "
        "valid_until, valid_until_block FROM device_key ORDER BY device_id, key_index"
    )
    report.checked["device keys"] = len(keys)
    counts: dict[str, int] = {}
    for key in keys:
        counts[key[0]] = counts.get(key[0], 0) + 1
    for row, found in zip(devices, registry.many("keyCount", [[i] for i in ids]), strict=True):
        if found is not None and found[0] != counts.get(row[0], 0):
            report.divergences.append(f"device {row[0]}: {found[0]} keys on chain, {counts.get(row[0], 0)} mirrored")
    args = [[bytes.fromhex(k[0][2:]), int(k[1])] for k in keys]
    for row, found in zip(keys, registry.many("getKey", args), strict=True):
        if found is None:
            report.divergences.append(f"device {row[0]} key {row[1]}: in the mirror, not on chain")
            continue
        (key_type, signer, x, y), valid_from, from_block, valid_until, until_block = found[0]
        key_values = (
            key_type, signer.lower(), _hex(x), _hex(y), valid_from, from_block,
            valid_until or None, until_block or None,
        )  # fmt: skip
        if tuple(row[2:]) != key_values:
            report.divergences.append(f"device {row[0]} key {row[1]}: mirror {tuple(row[2:])}, chain {key_values}")


def _check_batches(notary: _Caller, start: int, query: Callable[[str], list[Any]], report: Report) -> None:
    """The mirror's batches against the chain: the notary keeps no per-batch state, so each batch is
    compared with its `BatchAnchored` event, and all of them with the log head the contract grew."""
    batches = query(
        "SELECT batch_id, root, reading_count, first_timestamp, last_timestamp, block_number, content_id "
        "FROM anchored_batch ORDER BY batch_id"
    )
    report.checked["batches"] = len(batches)
    head = next(notary.many("logHead", [[]]))
    if head is not None and head[0] != len(batches):
        report.divergences.append(f"batches: {head[0]} anchored on chain, {len(batches)} mirrored")
    ids = [int(b[0]) for b in batches]
    if ids != list(range(len(ids))):
        report.divergences.append("batches: batch ids are not 0..n-1 without gaps")
    elif head is not None and head[0] == len(batches):
        leaves = [tlog.leaf_hash(leaf_data(int(b[0]), b[1], int(b[2]), int(b[3]), int(b[4]), b[6])) for b in batches]
        if tlog.root(leaves) != bytes(head[1]):
            report.divergences.append("batches: the mirror's batches are not the chain's log (another log root)")
    topics = ["0x" + BATCH_ANCHORED_TOPIC.hex()]
    logs = notary.rpc.call(
        "eth_getLogs", {"address": notary.address, "fromBlock": hex(start), "toBlock": notary.block, "topics": topics}
    )
    events = {int(log["topics"][1], 16): log for log in logs}
    for row in batches:
        log = events.get(int(row[0]))
        if log is None:
            report.divergences.append(f"batch {row[0]}: root {row[1]} has no BatchAnchored event on chain")
            continue
        count, first, last, content_id = abi_decode(
            ["uint64", "uint64", "uint64", "string"], bytes.fromhex(log["data"][2:])
        )
        chain_values = (log["topics"][2], count, first, last, int(log["blockNumber"], 16), content_id)
        mirror_values = (row[1], *map(int, row[2:6]), row[6])
        if mirror_values != chain_values:
            report.divergences.append(f"batch {row[0]} ({row[1]}): mirror {mirror_values}, chain {chain_values}")


ITEM_STATUSES = {1: "active", 2: "delivered", 3: "recalled"}
CONDITIONS = {0: "compliant", 1: "out_of_compliance"}


def _check_items(chain: _Caller, query: Callable[[str], list[Any]], report: Report) -> None:
    items = query(
        "SELECT item_id, manufacturer, status, condition, held, custodian, transfer_count, content_hash "
        "FROM item ORDER BY item_id"
    )
    report.checked["items"] = len(items)
    registered = query("SELECT COUNT(*) FROM ev_item_registered")[0][0]
    if registered != len(items):
        report.divergences.append(f"items: {registered} registered in the event log, {len(items)} in `item`")
    attached: dict[str, set[str]] = {}
    for item_id, device_id in query("SELECT item_id, device_id FROM item_device"):
        attached.setdefault(item_id, set()).add(device_id)
    ids = [[bytes.fromhex(i[0][2:])] for i in items]
    for row, found in zip(items, chain.many("getItem", ids), strict=True):
        if found is None:
            report.divergences.append(f"item {row[0]}: in the mirror, unknown to SupplyChain")
            continue
        manufacturer, status, condition, held, _registered, transfers, custodian, _closed, content_hash = found[0]
        chain_values = (
            manufacturer.lower(), ITEM_STATUSES.get(status, str(status)), CONDITIONS.get(condition, str(condition)),
            bool(held), custodian.lower(), transfers, _hex(content_hash),
        )  # fmt: skip
        mirror_values = (row[1], row[2], row[3], bool(row[4]), row[5], int(row[6]), row[7])
        if mirror_values != chain_values:
            report.divergences.append(f"item {row[0]}: mirror {mirror_values}, chain {chain_values}")
    for row, found in zip(items, chain.many("devicesOf", ids), strict=True):
        if found is not None and {_hex(d) for d in found[0]} != attached.get(row[0], set()):
            report.divergences.append(f"item {row[0]}: attached devices differ from the chain's")


def _check_tokens(tokens: _Caller, query: Callable[[str], list[Any]], report: Report) -> None:
    rows = query("SELECT token_id, owner, uri FROM asset_token ORDER BY token_id")
    report.checked["tokens"] = len(rows)
    ids = [[int(r[0])] for r in rows]
    for row, owner, uri in zip(rows, tokens.many("ownerOf", ids), tokens.many("tokenURI", ids), strict=True):
        if owner is None or owner[0].lower() != row[1]:
            report.divergences.append(f"token {row[0]}: owner {row[1]} in the mirror, {owner and owner[0]} on chain")
        if uri is None or uri[0] != row[2]:
            report.divergences.append(f"token {row[0]}: URI differs from the chain's")


def _check_roles(
    rpc: JsonRpc,
    w3: Web3,
    contracts: dict[str, str],
    abis: dict[str, list[dict[str, Any]]],
    head: int,
    query: Callable[[str], list[Any]],
    report: Report,
) -> None:
    members = query("SELECT contract, role, account FROM role_member ORDER BY contract, role, account")
    report.checked["role members"] = len(members)
    by_address = {address.lower(): name for name, address in contracts.items()}
    for address, rows in _group(members).items():
        name = by_address.get(address)
        if name is None:
            report.divergences.append(f"role members of {address}, which is not a project contract")
            continue
        caller = _Caller(rpc, w3, address, abis[name], head)
        args = [[bytes.fromhex(r[1][2:]), Web3.to_checksum_address(r[2])] for r in rows]
        for row, found in zip(rows, caller.many("hasRole", args), strict=True):
            if not found or not found[0]:
                report.divergences.append(f"{name}: {row[2]} holds role {row[1]} in the mirror, not on chain")


def _group(rows: list[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped
