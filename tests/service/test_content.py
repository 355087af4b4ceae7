"""The content store: local CIDs, and the same CIDs on a real IPFS node (js-ipfs, offline, loopback)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger_service.services.container import Services
from ledger_service.services.content import ContentError, IpfsContentStore, LocalContentStore, cid_of
from tests.utils.external import IN_CI
from tests.utils.factories import new_device
from tests.utils.ipfs_node import IpfsNode, ipfs_available
from tests.utils.readings import store


def test_local_store_names_blobs_by_cid_and_detects_corruption(tmp_path: Path) -> None:
    content = LocalContentStore(tmp_path)
    data = b'{"readings":[]}'
    cid = content.put(data)
    assert cid == cid_of(data) == content.put(data)
    assert content.get(cid) == data
    stored = next(p for p in tmp_path.rglob(cid))
    stored.write_bytes(b"tampered")
    with pytest.raises(ContentError, match="corrupted"):
        content.get(cid)
    with pytest.raises(ContentError, match="no content"):
        content.get(cid_of(b"never stored"))
    with pytest.raises(ContentError, match="not a CID"):
        content.get("../../etc/passwd")


def test_known_cid() -> None:
    # The CIDv1 (raw, sha2-256) of "hello", as `ipfs add --cid-version 1 --raw-leaves` gives it.
    assert cid_of(b"hello") == "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"


@pytest.fixture(scope="module")
def ipfs() -> Iterator[IpfsNode]:
    if not ipfs_available():
        if IN_CI:
            pytest.fail("js-ipfs is not installed (tools/ipfs): `make install` installs it")
        pytest.skip("js-ipfs is not installed (tools/ipfs)")
    with IpfsNode() as node:
        yield node


@pytest.mark.parametrize("size", [0, 1, 262_144, 262_145, 1_000_000, 4_500_000])
def test_ipfs_gives_the_same_cid_as_the_local_store(ipfs: IpfsNode, size: int) -> None:
    data = os.urandom(size)
    content = IpfsContentStore(ipfs.api_url)
    cid = content.put(data)
    assert cid == cid_of(data)
    assert content.get(cid) == data
    pins = httpx.post(f"{ipfs.api_url}/api/v0/pin/ls", params={"arg": cid}, timeout=30).json()
    assert any(str(v.get("Type")) == "recursive" for v in pins.get("Keys", {}).values())


def test_ipfs_store_refuses_when_the_node_is_gone(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="IPFS add failed"):
        IpfsContentStore("http://127.0.0.1:9", timeout=2).put(b"x")


def test_batch_payload_goes_to_ipfs_when_configured(services: Services, ipfs: IpfsNode) -> None:
    services.settings = services.settings.model_copy(update={"ipfs_api_url": ipfs.api_url})
    device = new_device(services.ledger)
    ids = store(services, device, 3)
    batcher = services.batcher()
    batcher.batch_age = 0.0
    (batch_id,) = batcher.seal_due()
    payload = IpfsContentStore(ipfs.api_url).get(_content_id(services, batch_id))
    assert sorted(r["id"] for r in json.loads(payload)["readings"]) == sorted(ids)


def _content_id(services: Services, batch_id: int) -> str:
    from sqlmodel import Session

    from ledger_service.core.models import Batch

    with Session(services.engine) as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        return batch.content_id
