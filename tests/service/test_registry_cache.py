"""The registry cache against a device owner who writes bytes that are not UTF-8 into its metadata:
the contract takes any bytes as a string, so a strict decoder would fail on that log for ever and
the cache would stop seeing every later event, revocations included. And the block times it keeps
(suspension periods, key validity) are the same whether the node puts them in its logs or not."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from eth_abi import encode
from eth_utils import function_abi_to_4byte_selector
from web3 import Web3
from web3.types import TxParams

from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.event_decoder import event_decoders
from ledger_service.core.chain.rpc import JsonRpc, Web3Transport
from ledger_service.core.device_state import Metadata
from ledger_service.core.enums import DeviceStatus, KeyType
from ledger_service.core.keys import DeviceKey
from ledger_service.services.container import Services
from ledger_service.services.registry import RegistryCache
from tests.utils.accounts import outsider
from tests.utils.factories import new_device
from tests.utils.rpc_proxy import LogRangeLimitProxy


def write_metadata_that_is_not_utf8(services: Services, chain: ChainContext, device_id: bytes) -> None:
    """The device's owner (the operator) sends raw bytes where the contract takes a string."""
    ledger = services.ledger
    entry = next(e for e in ledger.registry.abi if e.get("name") == "updateDeviceMetadata")
    # strings and bytes share one ABI encoding: this sends raw bytes where the contract takes a string
    data = function_abi_to_4byte_selector(entry) + encode(
        ["bytes32", "(bytes,bytes32,bytes)"], [device_id, (b"\xff\xfe model", bytes(32), b"\xc3")]
    )
    owner = chain.client
    tx: TxParams = {
        "from": owner.operator.address, "to": ledger.registry.address, "data": data, "gas": 300_000,
        "chainId": owner.chain_id,
    }  # fmt: skip
    with owner._lock:
        assert owner.sender.send(tx, "updateDeviceMetadata")["status"] == 1


def test_metadata_that_is_not_utf8_cannot_freeze_the_registry_cache(services: Services, chain: ChainContext) -> None:
    ledger = services.ledger
    device = new_device(ledger)  # owned by the operator
    services.registry.refresh(force=True)
    write_metadata_that_is_not_utf8(services, chain, device.device_id)
    ledger.revoke_device(device.device_id)  # the event the attacker would like the service to miss
    services.registry.refresh(force=True)
    record = services.registry.get(device.device_id, refresh=False)
    assert record is not None and record.status is DeviceStatus.REVOKED
    assert record.metadata.model == "\ufffd\ufffd model" and record.metadata.metadata_cid == "\ufffd"
    # the contract's own answer reads the same through the chain client
    model = ledger.registry.functions.getDevice(device.device_id).call()[3][0]
    assert model == "\ufffd\ufffd model"


def test_a_cache_over_a_strict_web3_reads_past_metadata_that_is_not_utf8(
    services: Services, chain: ChainContext
) -> None:
    """The edge gateway reads the registry through a plain web3 (a strict codec): the cache decodes
    leniently whatever codec it is given, so a revocation after bad metadata is still seen there."""
    ledger = services.ledger
    device = new_device(ledger)
    write_metadata_that_is_not_utf8(services, chain, device.device_id)
    ledger.revoke_device(device.device_id)
    plain_w3 = Web3(Web3.HTTPProvider(chain.client.rpc_url))
    registry = plain_w3.eth.contract(address=ledger.registry.address, abi=ledger.registry.abi)
    cache = RegistryCache(registry, ledger.deployment.contracts["DeviceRegistry"].block_number)
    cache.sync()
    record = cache.get(device.device_id, refresh=False)
    assert record is not None and record.status is DeviceStatus.REVOKED and record.metadata.metadata_cid == "\ufffd"


@pytest.mark.parametrize("batches", ["taken", "refused"])
def test_block_times_are_the_same_from_a_node_whose_logs_carry_none(
    services: Services, chain: ChainContext, batches: str
) -> None:
    """Anvil and geth put `blockTimestamp` in logs, which the cache takes; without it (ganache), the
    cache asks for the blocks, in batches or, from a node that refuses batches, one by one, and
    keeps the same suspension periods and key times."""
    ledger = services.ledger
    device = new_device(ledger)
    ledger.suspend_device(device.device_id)
    ledger.reactivate_device(device.device_id)
    start = ledger.deployment.contracts["DeviceRegistry"].block_number
    refuse = batches == "refused"
    with LogRangeLimitProxy(
        chain.client.rpc_url, max_blocks=10**9, strip=("blockTimestamp",), refuse_batches=refuse
    ) as proxy:
        w3 = Web3(Web3Transport(JsonRpc(proxy.url)))
        registry = w3.eth.contract(address=ledger.registry.address, abi=ledger.registry.abi)
        without = RegistryCache(registry, start)
        without.sync()
    with_times = RegistryCache(ledger.registry, start)
    with_times.sync()
    record = without.get(device.device_id, refresh=False)
    assert record is not None and record.suspensions and record == with_times.get(device.device_id, refresh=False)
    assert without.devices() == with_times.devices()


def plain(value: object) -> object:
    """web3's AttributeDicts as dicts, all the way down."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def test_the_cache_decodes_every_registry_log_as_web3_does(services: Services, chain: ChainContext) -> None:
    """The cache's own decoder against web3's `process_log`, on every registry event of the session's
    chain (bad UTF-8 metadata included, read by the chain client's lenient codec), and refusing a
    log of another event or with a topic too many."""
    ledger = services.ledger
    device = new_device(ledger)
    write_metadata_that_is_not_utf8(services, chain, device.device_id)
    ledger.rotate_key(device.device_id, DeviceKey.generate(KeyType.P256).public_key)
    ledger.update_metadata(device.device_id, Metadata(model="m-2", metadata_cid="bafy-meta"))
    ledger.suspend_device(device.device_id)
    ledger.transfer_device(device.device_id, outsider(chain.client).operator.address)
    logs = chain.client.w3.eth.get_logs({"address": ledger.registry.address, "fromBlock": 0, "toBlock": "latest"})
    decoders = event_decoders(ledger.registry.abi, RegistryCache.EVENTS, chain.client.w3.codec)
    seen = set()
    for log in logs:
        decoder = decoders.get(bytes(log["topics"][0]))
        if decoder is None:
            continue
        expected = getattr(ledger.registry.events, decoder.name)().process_log(log)["args"]
        assert decoder.decode(log) == plain(expected)
        seen.add(decoder.name)
    assert seen == set(RegistryCache.EVENTS)
    registered = decoders[next(t for t, d in decoders.items() if d.name == "DeviceRegistered")]
    status = next(log for log in logs if bytes(log["topics"][0]) != registered.topic)
    with pytest.raises(ValueError, match="not a DeviceRegistered event"):
        registered.decode(status)
    with pytest.raises(ValueError):
        registered.decode({**status, "topics": [registered.topic, *status["topics"][1:], bytes(32)]})


def test_the_decoder_refuses_argument_types_it_would_not_shape_as_web3_does(chain: ChainContext) -> None:
    event = {"type": "event", "name": "Listed", "anonymous": False,
             "inputs": [{"name": "owners", "type": "address[]", "indexed": False}]}  # fmt: skip
    with pytest.raises(ValueError, match="arrays"):
        event_decoders([event], ["Listed"], chain.client.w3.codec)
